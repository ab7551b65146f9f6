"""capabilities_restricted (restricted): containers must drop ALL capabilities, and are only permitted
to add back the NET_BIND_SERVICE capability.

Restricted fields:
    spec.containers[*].securityContext.capabilities.drop
    spec.initContainers[*].securityContext.capabilities.drop
    spec.ephemeralContainers[*].securityContext.capabilities.drop
    spec.containers[*].securityContext.capabilities.add
    spec.initContainers[*].securityContext.capabilities.add
    spec.ephemeralContainers[*].securityContext.capabilities.add
Allowed values:
    drop: any list that includes ``ALL`` (exact, case-sensitive)
    add: undefined/empty, or only ``NET_BIND_SERVICE``

Variants:
    v1.22  as above; overrides ``capabilities_baseline``.
    v1.25  pods with ``spec.os.name: windows`` are exempt.
Detail: up to two clauses joined by ``"; "``:
``containers "a", "b" must set securityContext.capabilities.drop=["ALL"]`` and
``container "c" must not include "CHOWN" in securityContext.capabilities.add`` (capabilities distinct, sorted).

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, join_quote, name, pluralize, windows_pod
from harness.policy._registry import variant
from harness.policy.tables import RESTRICTED_ADD_CAPABILITIES, RESTRICTED_DROP_CAPABILITY

ID = "capabilities_restricted"


@variant(ID, 22)
def capabilities_restricted_v1_22(meta: dict, spec: dict) -> Failure | None:
    missing_drop, adding, caps = [], [], set()
    for c in containers(spec):
        capabilities = container_sc(c).get("capabilities")
        if capabilities is None:
            missing_drop.append(name(c))
            continue
        capabilities = capabilities or {}
        if RESTRICTED_DROP_CAPABILITY not in (capabilities.get("drop") or ()):
            missing_drop.append(name(c))
        forbidden = {str(a) for a in capabilities.get("add") or () if a not in RESTRICTED_ADD_CAPABILITIES}
        if forbidden:
            adding.append(name(c))
            caps |= forbidden
    clauses = []
    if missing_drop:
        clauses.append(f'{pluralize("container", "containers", len(missing_drop))} {join_quote(missing_drop)} '
                       'must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        clauses.append(f'{pluralize("container", "containers", len(adding))} {join_quote(adding)} '
                       f"must not include {join_quote(sorted(caps))} in securityContext.capabilities.add")
    return Failure("unrestricted capabilities", "; ".join(clauses)) if clauses else None


@variant(ID, 25)
def capabilities_restricted_v1_25(meta: dict, spec: dict) -> Failure | None:
    if windows_pod(spec):
        return None
    return capabilities_restricted_v1_22(meta, spec)
