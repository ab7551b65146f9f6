"""The one table of resource kinds PodSecurity evaluates, and how to wrap a Pod into each. Pure.

PodSecurity enforces on Pods and, for audit and warn, evaluates the pod template of the eight
workload kinds: Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController
(``spec.template``), CronJob (``spec.jobTemplate.spec.template``) and PodTemplate (``template``).
Every other module takes kind facts (API group and version, plural, template path, whether a
controller creates pods at once) from ``KINDS`` here; nothing else lists them.
"""

from __future__ import annotations

import copy
import dataclasses

__all__ = ["CONTROLLER_KINDS", "KIND_NAMES", "KINDS", "Kind", "WORKLOAD_KINDS", "as_kind", "kind"]


@dataclasses.dataclass(frozen=True)
class Kind:
    """One resource kind: where it is served and where its pod template lives."""

    name: str                        #: e.g. ``CronJob``
    group: str                       #: API group (``""`` for the core group)
    version: str                     #: API version within the group
    plural: str                      #: resource name in REST paths
    template_path: tuple[str, ...]   #: path to the pod template (``()``: the object is the pod)
    creates_pods: bool = False       #: a controller creates pods from it at once (--live FailedCreate)
    runs_to_completion: bool = False  #: its pods must not restart ``Always``

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def is_workload(self) -> bool:
        return self.name != "Pod"


#: Pods first, then the workload kinds in the order reports list them
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("Pod", "", "v1", "pods", ()),
    Kind("Deployment", "apps", "v1", "deployments", ("spec", "template"), creates_pods=True),
    Kind("ReplicaSet", "apps", "v1", "replicasets", ("spec", "template"), creates_pods=True),
    Kind("StatefulSet", "apps", "v1", "statefulsets", ("spec", "template"), creates_pods=True),
    Kind("DaemonSet", "apps", "v1", "daemonsets", ("spec", "template")),  # needs nodes
    Kind("Job", "batch", "v1", "jobs", ("spec", "template"), creates_pods=True, runs_to_completion=True),
    Kind("CronJob", "batch", "v1", "cronjobs", ("spec", "jobTemplate", "spec", "template"),
         runs_to_completion=True),  # created suspended
    Kind("ReplicationController", "", "v1", "replicationcontrollers", ("spec", "template"), creates_pods=True),
    Kind("PodTemplate", "", "v1", "podtemplates", ("template",)),
)}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)
WORKLOAD_KINDS: tuple[str, ...] = tuple(n for n, k in KINDS.items() if k.is_workload)
CONTROLLER_KINDS: tuple[str, ...] = tuple(n for n, k in KINDS.items() if k.creates_pods)


def kind(name: str) -> Kind:
    """The ``Kind`` called ``name``; ``KeyError`` names the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown kind {name!r} (known: {', '.join(KIND_NAMES)})") from None


def as_kind(pod: dict, kind_name: str) -> dict:
    """The object of ``kind_name`` whose pod template is ``pod`` (a deep copy; ``pod`` is not changed)."""
    if kind_name not in KINDS:
        raise ValueError(f"unknown kind {kind_name!r}")
    k = KINDS[kind_name]
    pod = copy.deepcopy(pod)
    if not k.is_workload:
        return pod
    meta = pod.get("metadata", {})
    name = meta["name"]
    labels = dict(meta.get("labels") or {})
    labels.setdefault("pss-harness.io/scenario", name)
    template_meta = {"labels": labels}
    if meta.get("annotations"):
        template_meta["annotations"] = dict(meta["annotations"])
    spec = pod.get("spec", {})
    if k.runs_to_completion:
        if spec.get("restartPolicy", "Always") == "Always":
            spec["restartPolicy"] = "Never"
    else:
        spec.pop("restartPolicy", None)  # templates of long-running kinds must restart Always
    template = {"metadata": template_meta, "spec": spec}
    obj = {"apiVersion": k.api_version, "kind": kind_name, "metadata": {"name": name, "labels": labels}}
    selector = {"matchLabels": {"pss-harness.io/scenario": name}}
    if kind_name == "PodTemplate":
        obj["template"] = template
    elif kind_name == "ReplicationController":
        obj["spec"] = {"replicas": 1, "selector": {"pss-harness.io/scenario": name}, "template": template}
    elif kind_name in ("Deployment", "ReplicaSet"):
        obj["spec"] = {"replicas": 1, "selector": selector, "template": template}
    elif kind_name == "StatefulSet":
        obj["spec"] = {"replicas": 1, "serviceName": name, "selector": selector, "template": template}
    elif kind_name == "DaemonSet":
        obj["spec"] = {"selector": selector, "template": template}
    elif kind_name == "Job":
        obj["spec"] = {"backoffLimit": 0, "template": template}
    elif kind_name == "CronJob":
        obj["spec"] = {"schedule": "0 0 1 1 *", "suspend": True,
                       "jobTemplate": {"spec": {"backoffLimit": 0, "template": template}}}
    return obj
