"""privileged (baseline, v1.0+): privileged containers are disallowed.

Restricted fields:
    spec.containers[*].securityContext.privileged
    spec.initContainers[*].securityContext.privileged
    spec.ephemeralContainers[*].securityContext.privileged
Allowed values: false, undefined/null.

Detail: ``container "c" must not set securityContext.privileged=true`` /
``containers "a", "b" must not ...`` (containers in visiting order).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, join_quote, name, pluralize
from harness.policy._registry import variant

ID = "privileged"


@variant(ID, 0)
def privileged_v1_0(meta: dict, spec: dict) -> Failure | None:
    bad = [name(c) for c in containers(spec) if container_sc(c).get("privileged") is True]
    if not bad:
        return None
    return Failure("privileged", f'{pluralize("container", "containers", len(bad))} {join_quote(bad)} '
                                 "must not set securityContext.privileged=true")
