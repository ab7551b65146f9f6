"""Objects as a real API server returns them: what `kubectl get pods,deploy,rs,jobs -n team-a -o yaml` prints.

``build_export(cluster)`` creates, in a namespace ``team-a`` of a real (embedded) server, what a
user's cluster has: a ServiceAccount and a PriorityClass of its own, a Deployment using both (its
ReplicaSet and Pod made by the controller manager, with ownerReferences), a Pod bound to a node
with a built-in PriorityClass and host namespaces, a mirror (static) pod, a Job and its Pod, a
Pod that got a privileged ephemeral container through ``kubectl debug``, and a terminating Pod.
It returns them read back from the server as a ``List``, items with ``apiVersion``/``kind`` set
as kubectl prints them (server-set fields, ``status``, ``managedFields`` and all).

``python tests/integration/_cluster_export.py`` regenerates ``tests/fixtures/cluster-export/team-a.json``
(used by the unit tests) from a fresh embedded control plane.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

NAMESPACE = "team-a"
PAUSE = "registry.k8s.io/pause:3.10"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cluster-export" / "team-a.json"
_RESTRICTED_CONTAINER = {"name": "app", "image": PAUSE,
                         "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                             "runAsNonRoot": True, "runAsUser": 1000,
                                             "seccompProfile": {"type": "RuntimeDefault"}}}
_LISTS = (("/api/v1/namespaces/{ns}/pods", "v1", "Pod"),
          ("/apis/apps/v1/namespaces/{ns}/deployments", "apps/v1", "Deployment"),
          ("/apis/apps/v1/namespaces/{ns}/replicasets", "apps/v1", "ReplicaSet"),
          ("/apis/batch/v1/namespaces/{ns}/jobs", "batch/v1", "Job"))


def _pod(name: str, spec: dict, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta}, "spec": spec}


def build_export(cluster, timeout: float = 60.0) -> dict:
    """Create the objects in ``team-a`` of ``cluster`` (a ``harness.cluster.client.Cluster``); return the List."""
    ns = NAMESPACE
    post = lambda path, body: cluster.checked("POST", path, body, what=f"creating {body['kind']} {body['metadata']['name']}")
    post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster.wait_for("serviceaccounts", ns, "default", timeout=timeout)
    post(f"/api/v1/namespaces/{ns}/serviceaccounts",
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web-sa"}})
    post("/apis/scheduling.k8s.io/v1/priorityclasses",
         {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "team-a-high"},
          "value": 1000, "preemptionPolicy": "Never"})
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"serviceAccountName": "web-sa", "priorityClassName": "team-a-high",
                         "containers": [_RESTRICTED_CONTAINER]}}
    post(f"/apis/apps/v1/namespaces/{ns}/deployments",
         {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}})
    post(f"/apis/batch/v1/namespaces/{ns}/jobs",
         {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
          "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [_RESTRICTED_CONTAINER]}}}})
    host = {"hostNetwork": True, "nodeName": "node-1", "priorityClassName": "system-node-critical",
            "containers": [{"name": "agent", "image": PAUSE, "volumeMounts": [{"name": "root", "mountPath": "/host"}]}],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}
    post(f"/api/v1/namespaces/{ns}/pods", _pod("node-agent", host))
    post(f"/api/v1/namespaces/{ns}/pods", _pod(
        "etcd-node-1", {**host, "containers": [{"name": "etcd", "image": PAUSE}]},
        annotations={"kubernetes.io/config.mirror": "0123456789abcdef", "kubernetes.io/config.source": "file"},
        ownerReferences=[{"apiVersion": "v1", "kind": "Node", "name": "node-1", "controller": True,
                          "uid": "6c3fb3a2-5c4e-4a51-9d1e-3f1a0c2b7d11"}]))
    target = post(f"/api/v1/namespaces/{ns}/pods", _pod("debug-target", {"nodeName": "node-1",
                                                                         "containers": [_RESTRICTED_CONTAINER]})).body
    debug = cluster.add_ephemeral_containers(target, ns, [{"name": "debugger", "image": "busybox:1.36",
                                                           "securityContext": {"privileged": True}}], dry_run=False)
    assert debug.ok, debug.message
    post(f"/api/v1/namespaces/{ns}/pods", _pod("terminating", {"containers": [_RESTRICTED_CONTAINER]},
                                                finalizers=["example.com/hold"]))
    cluster.delete("Pod", ns, "terminating")
    deadline = time.monotonic() + timeout
    while True:  # the controllers' pods: one of the Deployment, one of the Job
        items = _read(cluster)
        owned = {o["kind"] for i in items if i["kind"] == "Pod" for o in i["metadata"].get("ownerReferences", [])}
        if {"ReplicaSet", "Job"} <= owned:
            return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}
        if time.monotonic() > deadline:
            raise TimeoutError(f"the controllers made no pods within {timeout:.0f}s (owners seen: {owned})")
        time.sleep(0.3)


def _read(cluster) -> list[dict]:
    items = []
    for path, api_version, kind in _LISTS:
        for item in cluster.checked("GET", path.format(ns=NAMESPACE)).body["items"]:
            items.append({"apiVersion": api_version, "kind": kind, **item})
    return items


def release(cluster) -> None:
    """Let the terminating pod go (its finalizer would hold the namespace)."""
    cluster.request("PATCH", f"/api/v1/namespaces/{NAMESPACE}/pods/terminating", {"metadata": {"finalizers": None}},
                    content_type="application/merge-patch+json")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from harness.cluster.client import Cluster
    from harness.embedded import EmbeddedCluster

    with EmbeddedCluster() as plane:
        c = Cluster(plane.kubeconfig)
        export = build_export(c)
        release(c)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(export, indent=1) + "\n")
    print(f"wrote {FIXTURE} ({len(export['items'])} objects, Kubernetes {plane.version})")
