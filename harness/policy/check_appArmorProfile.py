"""appArmorProfile (baseline, v1.0+): overriding or disabling the default AppArmor profile is forbidden.

Restricted fields:
    spec.securityContext.appArmorProfile.type
    spec.containers[*].securityContext.appArmorProfile.type
    spec.initContainers[*].securityContext.appArmorProfile.type
    spec.ephemeralContainers[*].securityContext.appArmorProfile.type
    metadata.annotations["container.apparmor.security.beta.kubernetes.io/*"]
Allowed values:
    fields: undefined/null, ``RuntimeDefault``, ``Localhost``
    annotations: undefined, ``""``, ``runtime/default``, ``localhost/*``

The field inspection (Kubernetes 1.30+) sits in the v1.0 variant, so it applies at every version.
Reason: ``forbidden AppArmor profile``, or ``forbidden AppArmor profiles`` when more than one bad value
(distinct field types plus bad annotations) is listed.
Detail: ``<setters> must not set AppArmor profile type to <values>`` where setters are ``pod``,
``container(s) "a", ...`` and ``annotation(s)`` joined by ``" and "``; values are the distinct bad
types (sorted) followed by the bad annotations as ``key="value"`` (Go ``%q``; sorted), all wrapped by
``joinQuote`` without escaping, e.g. ``"container.apparmor.security.beta.kubernetes.io/x="unconfined""``.

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, go_quote, join_quote, name, pluralize, pod_sc, \
    profile_type, setters
from harness.policy._registry import variant
from harness.policy.tables import APPARMOR_ALLOWED_TYPES, APPARMOR_ANNOTATION_PREFIX, apparmor_annotation_allowed

ID = "appArmorProfile"


def _bad_type(sc: dict) -> str | None:
    t = profile_type(sc, "appArmorProfile")
    return None if t is None or t in APPARMOR_ALLOWED_TYPES else t


@variant(ID, 0)
def app_armor_profile_v1_0(meta: dict, spec: dict) -> Failure | None:
    values: set[str] = set()
    pod_bad = _bad_type(pod_sc(spec))
    if pod_bad is not None:
        values.add(pod_bad)
    bad_containers = []
    for c in containers(spec):
        t = _bad_type(container_sc(c))
        if t is not None:
            bad_containers.append(name(c))
            values.add(t)
    annotations = sorted(f"{k}={go_quote(str(v or ''))}" for k, v in (meta.get("annotations") or {}).items()
                         if str(k).startswith(APPARMOR_ANNOTATION_PREFIX) and not apparmor_annotation_allowed(str(v or "")))
    who = setters(pod_bad is not None, bad_containers)
    if annotations:
        who = " and ".join(filter(None, [who, pluralize("annotation", "annotations", len(annotations))]))
    if not who:
        return None
    bad_values = sorted(values) + annotations
    return Failure(pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad_values)),
                   f"{who} must not set AppArmor profile type to {join_quote(bad_values)}")
