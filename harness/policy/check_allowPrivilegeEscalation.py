"""allowPrivilegeEscalation (restricted): privilege escalation (such as via set-user-ID or set-group-ID
file mode) should not be allowed.

Restricted fields:
    spec.containers[*].securityContext.allowPrivilegeEscalation
    spec.initContainers[*].securityContext.allowPrivilegeEscalation
    spec.ephemeralContainers[*].securityContext.allowPrivilegeEscalation
Allowed values: false (must be set explicitly; unset is a violation).

Variants:
    v1.8   every container must set it to false.
    v1.25  pods with ``spec.os.name: windows`` are exempt.
Detail: ``containers "a", "b" must set securityContext.allowPrivilegeEscalation=false``.
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, join_quote, name, pluralize, windows_pod
from harness.policy._registry import variant

ID = "allowPrivilegeEscalation"


@variant(ID, 8)
def allow_privilege_escalation_v1_8(meta: dict, spec: dict) -> Failure | None:
    bad = [name(c) for c in containers(spec) if container_sc(c).get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return Failure("allowPrivilegeEscalation != false",
                   f'{pluralize("container", "containers", len(bad))} {join_quote(bad)} '
                   "must set securityContext.allowPrivilegeEscalation=false")


@variant(ID, 25)
def allow_privilege_escalation_v1_25(meta: dict, spec: dict) -> Failure | None:
    if windows_pod(spec):
        return None
    return allow_privilege_escalation_v1_8(meta, spec)
