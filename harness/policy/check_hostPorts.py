"""hostPorts (baseline, v1.0+): HostPorts should be disallowed entirely (or restricted to a known list;
upstream disallows all).

Restricted fields:
    spec.containers[*].ports[*].hostPort
    spec.initContainers[*].ports[*].hostPort
    spec.ephemeralContainers[*].ports[*].hostPort
Allowed values: undefined/null, 0.

Detail: ``container "c" uses hostPort 80`` / ``containers "a", "b" use hostPorts 10, 20``; containers
in visiting order, ports unique and sorted *as strings* (so ``10, 8080, 9``).
Note: the API server defaults ``hostPort`` to ``containerPort`` for hostNetwork *Pods* before
admission (see ``harness.policy.objects``); this module sees only what it is given.
"""

from __future__ import annotations

from harness.policy._helpers import Failure, containers, join_quote, name, pluralize
from harness.policy._registry import variant

ID = "hostPorts"


def _port(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@variant(ID, 0)
def host_ports_v1_0(meta: dict, spec: dict) -> Failure | None:
    bad, ports = [], set()
    for c in containers(spec):
        used = {str(_port(p.get("hostPort"))) for p in c.get("ports") or () if isinstance(p, dict)
                and _port(p.get("hostPort")) != 0}
        if used:
            bad.append(name(c))
            ports |= used
    if not bad:
        return None
    return Failure("hostPort", f'{pluralize("container", "containers", len(bad))} {join_quote(bad)} '
                               f'{pluralize("uses", "use", len(bad))} {pluralize("hostPort", "hostPorts", len(ports))} '
                               f'{", ".join(sorted(ports))}')
