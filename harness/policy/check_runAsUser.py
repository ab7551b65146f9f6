"""runAsUser (restricted): containers must not set runAsUser to 0.

Restricted fields:
    spec.securityContext.runAsUser
    spec.containers[*].securityContext.runAsUser
    spec.initContainers[*].securityContext.runAsUser
    spec.ephemeralContainers[*].securityContext.runAsUser
Allowed values: any non-zero value, undefined/null.

Variants:
    v1.23  as above.
    v1.35  any value is allowed when ``spec.hostUsers`` is false.
Detail: ``pod and containers "a", "b" must not set runAsUser=0``.
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, name, pod_sc, relax_for_user_namespace, setters
from harness.policy._registry import variant

ID = "runAsUser"


def _root(sc: dict) -> bool:
    v = sc.get("runAsUser")
    return v is not None and not isinstance(v, bool) and v == 0


def _strict(spec: dict) -> Failure | None:
    pod_bad = _root(pod_sc(spec))
    bad = [name(c) for c in containers(spec) if _root(container_sc(c))]
    if not pod_bad and not bad:
        return None
    return Failure("runAsUser=0", f"{setters(pod_bad, bad)} must not set runAsUser=0")


@variant(ID, 23)
def run_as_user_v1_23(meta: dict, spec: dict) -> Failure | None:
    return _strict(spec)


@variant(ID, 35)
def run_as_user_v1_35(meta: dict, spec: dict) -> Failure | None:
    if relax_for_user_namespace(spec):
        return None
    return _strict(spec)
