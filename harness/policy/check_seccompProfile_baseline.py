"""seccompProfile_baseline (baseline): seccomp profile must not be explicitly set to Unconfined.

Variants:
    v1.0 (annotations only):
        Restricted fields:
            metadata.annotations["seccomp.security.alpha.kubernetes.io/pod"]
            metadata.annotations["container.seccomp.security.alpha.kubernetes.io/<name>"]
                (for containers, init containers and ephemeral containers that exist)
        Allowed values: undefined, ``runtime/default``, ``docker/default``, ``localhost/*``
        Detail: ``forbidden annotation(s) <key>="<value>", ...`` (Go ``%q`` value, distinct, sorted,
        joined by ``", "``, no surrounding quotes).
    v1.19 (fields only; annotations are ignored):
        Restricted fields:
            spec.securityContext.seccompProfile.type
            spec.containers[*].securityContext.seccompProfile.type
            spec.initContainers[*].securityContext.seccompProfile.type
            spec.ephemeralContainers[*].securityContext.seccompProfile.type
        Allowed values: undefined/null, ``RuntimeDefault``, ``Localhost``
        Detail: ``<setters> must not set securityContext.seccompProfile.type to "Unconfined"``.
Overridden at restricted from v1.19 by ``seccompProfile_restricted``. Reason: ``seccompProfile``.

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, go_quote, join_quote, name, pluralize, pod_sc, \
    setters
from harness.policy._helpers import profile_type as _profile_type
from harness.policy._registry import variant
from harness.policy.tables import SECCOMP_ALLOWED_TYPES, SECCOMP_CONTAINER_ANNOTATION_PREFIX, SECCOMP_POD_ANNOTATION, \
    seccomp_annotation_allowed

ID = "seccompProfile_baseline"

def profile_type(sc: dict) -> str | None:
    """The ``seccompProfile.type`` a security context sets (``None``: no profile set)."""
    return _profile_type(sc, "seccompProfile")


def explicit_bad(spec: dict) -> tuple[bool, list[str], set[str]]:
    """(pod sets a bad type, containers that set a bad type, the distinct bad types)."""
    values: set[str] = set()
    t = profile_type(pod_sc(spec))
    pod_bad = t is not None and t not in SECCOMP_ALLOWED_TYPES
    if pod_bad:
        values.add(t)
    bad = []
    for c in containers(spec):
        t = profile_type(container_sc(c))
        if t is not None and t not in SECCOMP_ALLOWED_TYPES:
            bad.append(name(c))
            values.add(t)
    return pod_bad, bad, values


@variant(ID, 0)
def seccomp_profile_baseline_v1_0(meta: dict, spec: dict) -> Failure | None:
    annotations = meta.get("annotations") or {}
    forbidden = set()
    keys = [SECCOMP_POD_ANNOTATION] + [SECCOMP_CONTAINER_ANNOTATION_PREFIX + name(c) for c in containers(spec)]
    for key in keys:
        if key in annotations:
            value = str(annotations[key] if annotations[key] is not None else "")
            if not seccomp_annotation_allowed(value):
                forbidden.add(f"{key}={go_quote(value)}")
    if not forbidden:
        return None
    return Failure("seccompProfile", f'forbidden {pluralize("annotation", "annotations", len(forbidden))} '
                                     f'{", ".join(sorted(forbidden))}')


@variant(ID, 19)
def seccomp_profile_baseline_v1_19(meta: dict, spec: dict) -> Failure | None:
    pod_bad, bad, values = explicit_bad(spec)
    if not pod_bad and not bad:
        return None
    return Failure("seccompProfile", f"{setters(pod_bad, bad)} must not set securityContext.seccompProfile.type "
                                     f"to {join_quote(sorted(values))}")
