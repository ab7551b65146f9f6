"""Wrap a scenario's Pod into each workload kind that carries a pod template.

PodSecurity evaluates the template of Deployments, ReplicaSets, StatefulSets, DaemonSets,
Jobs, CronJobs (``spec.jobTemplate.spec.template``), ReplicationControllers and PodTemplates
for audit and warn; only Pods are enforced.
"""

from __future__ import annotations

import copy

from harness.scenarios import KINDS

__all__ = ["API_VERSIONS", "as_kind"]

API_VERSIONS = {
    "Pod": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "ReplicationController": "v1",
    "PodTemplate": "v1",
}
_RUN_TO_COMPLETION = ("Job", "CronJob")


def as_kind(pod: dict, kind: str) -> dict:
    """The object of ``kind`` whose pod template is ``pod`` (a deep copy; ``pod`` is not changed)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    pod = copy.deepcopy(pod)
    if kind == "Pod":
        return pod
    meta = pod.get("metadata", {})
    name = meta["name"]
    labels = dict(meta.get("labels") or {})
    labels.setdefault("pss-harness.io/scenario", name)
    template_meta = {"labels": labels}
    if meta.get("annotations"):
        template_meta["annotations"] = dict(meta["annotations"])
    spec = pod.get("spec", {})
    if kind in _RUN_TO_COMPLETION:
        if spec.get("restartPolicy", "Always") == "Always":
            spec["restartPolicy"] = "Never"
    else:
        spec.pop("restartPolicy", None)  # templates of long-running kinds must restart Always
    template = {"metadata": template_meta, "spec": spec}
    obj = {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": {"name": name, "labels": labels}}
    selector = {"matchLabels": {"pss-harness.io/scenario": name}}
    if kind == "PodTemplate":
        obj["template"] = template
    elif kind == "ReplicationController":
        obj["spec"] = {"replicas": 1, "selector": {"pss-harness.io/scenario": name}, "template": template}
    elif kind in ("Deployment", "ReplicaSet"):
        obj["spec"] = {"replicas": 1, "selector": selector, "template": template}
    elif kind == "StatefulSet":
        obj["spec"] = {"replicas": 1, "serviceName": name, "selector": selector, "template": template}
    elif kind == "DaemonSet":
        obj["spec"] = {"selector": selector, "template": template}
    elif kind == "Job":
        obj["spec"] = {"backoffLimit": 0, "template": template}
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "0 0 1 1 *", "suspend": True,
                       "jobTemplate": {"spec": {"backoffLimit": 0, "template": template}}}
    return obj
