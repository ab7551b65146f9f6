"""capabilities_baseline (baseline, v1.0+): adding capabilities beyond the default set is disallowed.

Restricted fields:
    spec.containers[*].securityContext.capabilities.add
    spec.initContainers[*].securityContext.capabilities.add
    spec.ephemeralContainers[*].securityContext.capabilities.add
Allowed values: undefined/empty, or only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT (exact, case-sensitive: ``ALL`` and
``CAP_``-prefixed names are forbidden).

Overridden at restricted from v1.22 by ``capabilities_restricted``.
Detail: ``containers "a", "b" must not include "BAR", "FOO" in securityContext.capabilities.add``
(containers in visiting order, capabilities unique and sorted).

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, join_quote, name, pluralize
from harness.policy._registry import variant
from harness.policy.tables import BASELINE_CAPABILITIES

ID = "capabilities_baseline"


@variant(ID, 0)
def capabilities_baseline_v1_0(meta: dict, spec: dict) -> Failure | None:
    bad, caps = [], set()
    for c in containers(spec):
        added = (container_sc(c).get("capabilities") or {}).get("add") or ()
        forbidden = {str(a) for a in added if a not in BASELINE_CAPABILITIES}
        if forbidden:
            bad.append(name(c))
            caps |= forbidden
    if not bad:
        return None
    return Failure("non-default capabilities",
                   f'{pluralize("container", "containers", len(bad))} {join_quote(bad)} must not include '
                   f"{join_quote(sorted(caps))} in securityContext.capabilities.add")
