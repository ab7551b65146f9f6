"""seccompProfile_restricted (restricted): seccomp profile must be explicitly set to one of the allowed values.

Restricted fields:
    spec.securityContext.seccompProfile.type
    spec.containers[*].securityContext.seccompProfile.type
    spec.initContainers[*].securityContext.seccompProfile.type
    spec.ephemeralContainers[*].securityContext.seccompProfile.type
Allowed values: ``RuntimeDefault``, ``Localhost``; a container may leave it unset if the pod sets a
valid type. ``Unconfined`` (or anything else) is a violation wherever it is set.

Variants:
    v1.19  as above; overrides ``seccompProfile_baseline``.
    v1.25  pods with ``spec.os.name: windows`` are exempt.
Detail, explicit bad type (takes precedence; nothing else is listed):
    ``pod and container "a" must not set securityContext.seccompProfile.type to "Unconfined"``
Detail, otherwise:
    ``pod or containers "a", "b" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"``

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` and ``check_seccompProfile_baseline`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, join_quote, name, pluralize, pod_sc, setters, \
    windows_pod
from harness.policy._registry import variant
from harness.policy.check_seccompProfile_baseline import explicit_bad, profile_type
from harness.policy.tables import SECCOMP_ALLOWED_TYPES

ID = "seccompProfile_restricted"


@variant(ID, 19)
def seccomp_profile_restricted_v1_19(meta: dict, spec: dict) -> Failure | None:
    pod_bad, explicit, values = explicit_bad(spec)
    if pod_bad or explicit:
        return Failure("seccompProfile", f"{setters(pod_bad, explicit)} must not set "
                                         f"securityContext.seccompProfile.type to {join_quote(sorted(values))}")
    pod_ok = profile_type(pod_sc(spec)) in SECCOMP_ALLOWED_TYPES
    if pod_ok:
        return None
    implicit = [name(c) for c in containers(spec) if profile_type(container_sc(c)) is None]
    if not implicit:
        return None
    return Failure("seccompProfile", f'pod or {pluralize("container", "containers", len(implicit))} '
                                     f'{join_quote(implicit)} must set securityContext.seccompProfile.type to '
                                     '"RuntimeDefault" or "Localhost"')


@variant(ID, 25)
def seccomp_profile_restricted_v1_25(meta: dict, spec: dict) -> Failure | None:
    if windows_pod(spec):
        return None
    return seccomp_profile_restricted_v1_19(meta, spec)
