"""runAsNonRoot (restricted): containers must be required to run as non-root users.

Restricted fields:
    spec.securityContext.runAsNonRoot
    spec.containers[*].securityContext.runAsNonRoot
    spec.initContainers[*].securityContext.runAsNonRoot
    spec.ephemeralContainers[*].securityContext.runAsNonRoot
Allowed values: true (pod level, or on every container); a container may leave it unset if the pod
sets true. An explicit false anywhere is a violation. A non-zero ``runAsUser`` does not satisfy it.
Windows pods are *not* exempt.

Variants:
    v1.0   as above.
    v1.35  any value is allowed when ``spec.hostUsers`` is false.
Detail, explicit false (takes precedence; nothing else is listed):
    ``pod and containers "a", "b" must not set securityContext.runAsNonRoot=false``
Detail, otherwise (containers that leave it unset without a pod-level true):
    ``pod or containers "a", "b" must set securityContext.runAsNonRoot=true``
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, join_quote, name, pluralize, pod_sc, \
    relax_for_user_namespace, setters
from harness.policy._registry import variant

ID = "runAsNonRoot"


def _strict(spec: dict) -> Failure | None:
    pod_value = pod_sc(spec).get("runAsNonRoot")
    pod_bad = pod_value is False
    pod_ok = pod_value is True
    explicit, implicit = [], []
    for c in containers(spec):
        value = container_sc(c).get("runAsNonRoot")
        if value is not None:
            if value is False:
                explicit.append(name(c))
        elif not pod_ok:
            implicit.append(name(c))
    if pod_bad or explicit:
        return Failure("runAsNonRoot != true",
                       f"{setters(pod_bad, explicit)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return Failure("runAsNonRoot != true",
                       f'pod or {pluralize("container", "containers", len(implicit))} {join_quote(implicit)} '
                       "must set securityContext.runAsNonRoot=true")
    return None


@variant(ID, 0)
def run_as_non_root_v1_0(meta: dict, spec: dict) -> Failure | None:
    return _strict(spec)


@variant(ID, 35)
def run_as_non_root_v1_35(meta: dict, spec: dict) -> Failure | None:
    if relax_for_user_namespace(spec):
        return None
    return _strict(spec)
