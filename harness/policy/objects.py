"""Which pod an object carries, and what the API server changes in a Pod before PodSecurity sees it. Pure.

``pod_template(obj)`` extracts ``(metadata, spec)`` the way PodSecurity admission does:
a Pod's own metadata and spec; ``spec.template`` for Deployment, ReplicaSet, StatefulSet,
DaemonSet, Job and ReplicationController; ``spec.jobTemplate.spec.template`` for CronJob;
the top-level ``template`` for PodTemplate. Anything else has no pod template and is not
evaluated (``NotPodBearing``).

``admitted_pod(metadata, spec)`` applies the request-time mutations of a *Pod* create that
change what the checks see (kube-apiserver v1.37; templates get none of them):

* defaulting (``SetDefaults_Pod``): with ``spec.hostNetwork: true``, every ``ports[*].hostPort``
  of containers and init containers that is unset or 0 becomes the ``containerPort``, so such a
  pod also fails ``hostPorts``;
* AppArmor version skew (pod strategy ``PrepareForCreate``, non-Windows pods): a
  ``container.apparmor.security.beta.kubernetes.io/<name>`` annotation of a container that has
  no ``appArmorProfile`` field is copied into that container's field (``unconfined`` ->
  ``Unconfined``, ``runtime/default`` -> ``RuntimeDefault``, ``localhost/<p>`` -> ``Localhost``),
  unless it equals the pod-level profile; other values are not copied.
* volumes with no source are defaulted to ``emptyDir`` (templates too); the checks treat a
  sourceless volume that way already, so nothing is done here.

May import: ``harness.core.kinds`` and ``harness.policy.tables`` (pure).
"""

from __future__ import annotations

import copy

from harness.core.kinds import KINDS
from harness.policy.tables import APPARMOR_ANNOTATION_PREFIX, LOCALHOST_ANNOTATION_PREFIX

__all__ = ["POD_BEARING_KINDS", "NotPodBearing", "admitted_pod", "pod_template"]

#: kind -> path of its pod template (``()``: the object is the pod)
POD_BEARING_KINDS: dict[str, tuple[str, ...]] = {name: k.template_path for name, k in KINDS.items()}


class NotPodBearing(ValueError):
    """The object is not a Pod and carries no pod template, so PodSecurity does not evaluate it."""


def pod_template(obj: dict) -> tuple[dict, dict]:
    """``(metadata, spec)`` of the pod ``obj`` is or carries; raises ``NotPodBearing``."""
    if not isinstance(obj, dict):
        raise NotPodBearing(f"not a pod-bearing object: expected a mapping, got {type(obj).__name__}")
    kind = obj.get("kind")
    if kind not in POD_BEARING_KINDS:
        raise NotPodBearing(f"not a pod-bearing object: kind {kind!r} has no pod template "
                            f"(PodSecurity evaluates {', '.join(POD_BEARING_KINDS)})")
    node = obj
    for step in POD_BEARING_KINDS[kind]:
        node = node.get(step) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            where = ".".join(POD_BEARING_KINDS[kind])
            raise NotPodBearing(f"not a pod-bearing object: {kind} has no {where} (a workload without a "
                                "template is skipped by PodSecurity)")
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        raise NotPodBearing(f"not a pod-bearing object: {kind} metadata/spec is not a mapping")
    return meta, spec


def _apparmor_field(annotation: str) -> dict | None:
    if annotation == "unconfined":
        return {"type": "Unconfined"}
    if annotation == "runtime/default":
        return {"type": "RuntimeDefault"}
    if annotation.startswith(LOCALHOST_ANNOTATION_PREFIX) and len(annotation) > len(LOCALHOST_ANNOTATION_PREFIX):
        return {"type": "Localhost", "localhostProfile": annotation[len(LOCALHOST_ANNOTATION_PREFIX):]}
    return None


def _same_profile(a: dict | None, b: dict | None) -> bool:
    def norm(p):
        return None if p is None else ((p or {}).get("type") or "", (p or {}).get("localhostProfile") or "")
    return norm(a) == norm(b)


def admitted_pod(meta: dict, spec: dict) -> tuple[dict, dict]:
    """``(metadata, spec)`` as PodSecurity sees a Pod *create*; inputs are not modified."""
    host_network = spec.get("hostNetwork") is True
    annotations = meta.get("annotations") or {}
    apparmor = any(str(k).startswith(APPARMOR_ANNOTATION_PREFIX) for k in annotations)
    windows = ((spec.get("os") or {}).get("name")) == "windows"
    if not host_network and not (apparmor and not windows):
        return meta, spec
    spec = copy.deepcopy(spec)
    if host_network:
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or ():
                for p in (c or {}).get("ports") or ():
                    if isinstance(p, dict) and not p.get("hostPort"):
                        p["hostPort"] = p.get("containerPort") or 0
    if apparmor and not windows:
        pod_profile = (spec.get("securityContext") or {}).get("appArmorProfile")
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in spec.get(key) or ():
                if not isinstance(c, dict):
                    continue
                ann = annotations.get(APPARMOR_ANNOTATION_PREFIX + str(c.get("name") or ""))
                sc = c.get("securityContext") or {}
                if ann is None or sc.get("appArmorProfile") is not None:
                    continue
                field = _apparmor_field(str(ann))
                if field is not None and not _same_profile(field, pod_profile):
                    c["securityContext"] = {**sc, "appArmorProfile": field}
    return meta, spec
