"""hostProbesAndHostLifecycle (baseline, v1.34+): probes and lifecycle handlers must not target a host
other than the pod's own (``host`` lets the kubelet be used to reach arbitrary endpoints).

Restricted fields (for containers, initContainers and ephemeralContainers):
    spec.containers[*].livenessProbe.httpGet.host
    spec.containers[*].livenessProbe.tcpSocket.host
    spec.containers[*].readinessProbe.httpGet.host
    spec.containers[*].readinessProbe.tcpSocket.host
    spec.containers[*].startupProbe.httpGet.host
    spec.containers[*].startupProbe.tcpSocket.host
    spec.containers[*].lifecycle.postStart.httpGet.host
    spec.containers[*].lifecycle.postStart.tcpSocket.host
    spec.containers[*].lifecycle.preStop.httpGet.host
    spec.containers[*].lifecycle.preStop.tcpSocket.host
Allowed values: undefined/"".

Reason: ``probe or lifecycle host``. Detail: ``container "a" uses probe or lifecycle hosts "127.0.0.1", "::1"``;
containers and hosts are distinct and sorted.

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, containers, join_quote, name, pluralize
from harness.policy._registry import variant
from harness.policy.tables import HOST_HANDLERS, LIFECYCLE_HOOKS, PROBE_FIELDS

ID = "hostProbesAndHostLifecycle"


def _hosts(handler) -> list[str]:
    if not isinstance(handler, dict):
        return []
    out = []
    for kind in HOST_HANDLERS:
        host = (handler.get(kind) or {}).get("host")
        if host:
            out.append(str(host))
    return out


@variant(ID, 34)
def host_probes_and_host_lifecycle_v1_34(meta: dict, spec: dict) -> Failure | None:
    bad, hosts = set(), set()
    for c in containers(spec):
        found = [h for p in PROBE_FIELDS for h in _hosts(c.get(p))]
        lifecycle = c.get("lifecycle") or {}
        found += [h for p in LIFECYCLE_HOOKS for h in _hosts(lifecycle.get(p))]
        if found:
            bad.add(name(c))
            hosts.update(found)
    if not bad:
        return None
    return Failure("probe or lifecycle host",
                   f'{pluralize("container", "containers", len(bad))} {join_quote(sorted(bad))} '
                   f'{pluralize("uses", "use", len(bad))} '
                   f'{pluralize("probe or lifecycle host", "probe or lifecycle hosts", len(hosts))} '
                   f"{join_quote(sorted(hosts))}")
