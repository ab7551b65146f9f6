"""`pss-harness assess` against real API servers: agreement, and disagreement made visible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _cluster_export import build_export, release

from harness.embedded import EmbeddedCluster

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "manifests"


def assess(*args: str, stdin: str | None = None) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "harness", "assess", *args, "--format", "json"], input=stdin,
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {"stderr": proc.stderr}


def test_live_observations_agree_with_predictions_on_the_embedded_plane(schema_check):
    status, doc = assess(str(FIXTURES), "--level", "restricted")
    schema_check(doc, "assess")
    assert doc["target"].startswith("embedded (Kubernetes v1.37.2")
    assert doc["summary"]["disagreements"] == 0, doc
    by_name = {r["name"]: r for r in doc["results"]}
    assert by_name["web"]["observed"]["outcome"] == "admitted"
    assert by_name["debug"]["observed"]["outcome"] == "denied"
    assert by_name["node-agent"]["observed"]["outcome"] == "warned"  # workloads: warn with the template's checks
    assert by_name["node-agent"]["observed"]["checks"] == by_name["node-agent"]["predicted"]["checks"]
    assert all(r["agree"] is True for r in doc["results"])
    assert status == 1


def test_a_cluster_without_podsecurity_is_refused_by_the_preflight():
    with EmbeddedCluster(pod_security=False) as cluster:
        pod = (FIXTURES / "list.json").read_text()
        # the preflight canary refuses a cluster without PodSecurity: assess reports it as a cluster error
        status, doc = assess("-", "--level", "baseline", "--kubeconfig", str(cluster.kubeconfig), stdin=pod)
    assert status == 3
    assert "PodSecurity admission is not in effect" in doc["stderr"]


def test_pinned_version_is_checked_live(tmp_path, schema_check):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}]},
                    "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
    f = tmp_path / "p.json"
    f.write_text(json.dumps(pod))
    status, doc = assess(str(f), "--level", "baseline", "--version", "v1.31")
    schema_check(doc, "assess")
    r = doc["results"][0]
    assert r["observed"]["outcome"] == "denied" and r["observed"]["checks"] == ["sysctls"] and r["agree"]
    assert 'violates PodSecurity "baseline:v1.31"' in r["observed"]["message"]


def test_an_exempt_runtime_class_is_a_disagreement_with_exit_4(tmp_path, schema_check):
    from harness.cluster.client import Cluster
    from harness.embedded import Exemptions

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sandboxed"},
           "spec": {"runtimeClassName": "exempt-rc",
                    "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                    "securityContext": {"privileged": True}}]}}
    f = tmp_path / "p.json"
    f.write_text(json.dumps(pod))
    with EmbeddedCluster(exemptions=Exemptions(runtime_classes=("exempt-rc",))) as cluster:
        Cluster(cluster.kubeconfig).checked("POST", "/apis/node.k8s.io/v1/runtimeclasses", {
            "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "exempt-rc"}, "handler": "runc"})
        status, doc = assess(str(f), "--level", "baseline", "--kubeconfig", str(cluster.kubeconfig))
    schema_check(doc, "assess")  # a disagreement is a valid document too
    r = doc["results"][0]
    assert r["predicted"] == {"verdict": "denied", "checks": ["privileged"],
                              "reasons": ['privileged (container "c" must not set securityContext.privileged=true)']}
    assert r["observed"]["outcome"] == "admitted" and r["agree"] is False and r["not_compared"] is None
    assert doc["summary"]["disagreements"] == 1
    assert status == 4


def test_pods_read_back_from_a_cluster_are_compared_on_their_podsecurity_verdict(embedded, admin, schema_check):
    """#11.15: `kubectl get pods -o yaml | assess -` gave false DISAGREEs (a ServiceAccount, ephemeral
    containers, a Job's selector); now each object is made submittable, the changes are recorded,
    and every answer is a PodSecurity verdict that agrees with the prediction."""
    export = build_export(admin)
    try:
        text = yaml.safe_dump(export)  # as kubectl prints it
        for target in (["--kubeconfig", str(embedded.kubeconfig)], []):  # the same cluster, and a fresh one
            status, doc = assess("-", "--level", "baseline", *target, stdin=text)
            schema_check(doc, "assess")
            results = {(r["kind"], r["name"]): r for r in doc["results"]}
            assert len(results) == 9 and all(r["namespace"] == "team-a" for r in doc["results"])
            for r in doc["results"]:
                assert r["not_compared"] is None and r["agree"] is True, r
            assert doc["summary"]["disagreements"] == doc["summary"]["not_compared"] == 0
            web = next(r for (kind, name), r in results.items() if kind == "Pod" and name.startswith("web-"))
            removed = [c["path"] for c in web["submitted_changes"]]
            if target:  # the cluster has the PriorityClass: only the ServiceAccount goes
                assert removed == ["spec.serviceAccountName", "spec.serviceAccount"]
            else:       # a fresh cluster has none: the class and the values computed from it go too
                assert removed == ["spec.serviceAccountName", "spec.serviceAccount", "spec.priorityClassName",
                                   "spec.priority", "spec.preemptionPolicy"]
            debug = results[("Pod", "debug-target")]
            assert debug["predicted"]["checks"] == ["privileged"]  # its privileged ephemeral container ...
            assert [c["path"] for c in debug["submitted_changes"]] == ["spec.ephemeralContainers"]
            assert debug["predicted_submitted"]["verdict"] == "allowed" and debug["observed"]["outcome"] == "admitted"
            assert results[("Pod", "node-agent")]["observed"]["outcome"] == "denied"
            assert results[("Pod", "node-agent")]["predicted"]["reasons"] == [
                "host namespaces (hostNetwork=true)", 'hostPath volumes (volume "root")']
            job = results[("Job", "migrate")]
            assert job["observed"]["outcome"] == "admitted" and job["submitted_changes"][0]["path"] == "spec.selector"
            assert results[("Pod", "etcd-node-1")]["submitted_changes"] == []  # a mirror pod is sent as it is
            assert status == 1  # two pods would be denied; no disagreement, nothing left uncompared
    finally:
        release(admin)


def test_a_removed_api_and_an_invalid_object_are_not_compared(embedded, tmp_path, schema_check):
    objects = [
        {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "old-web"},
         "spec": {"template": {"metadata": {"labels": {"app": "w"}},
                               "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-image"}, "spec": {"containers": [{"name": "c"}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fine"},
         "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}},
    ]
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    status, doc = assess(str(f), "--level", "baseline", "--kubeconfig", str(embedded.kubeconfig))
    schema_check(doc, "assess")
    results = {r["name"]: r for r in doc["results"]}
    old = results["old-web"]
    assert (old["observed"]["outcome"], old["observed"]["status"], old["agree"]) == ("invalid", 404, None)
    assert "does not serve extensions/v1beta1 Deployment" in old["not_compared"]
    bad = results["no-image"]
    assert (bad["observed"]["outcome"], bad["observed"]["status"], bad["agree"]) == ("invalid", 422, None)
    assert "spec.containers[0].image: Required value" in bad["not_compared"]
    assert results["fine"]["agree"] is True
    assert doc["summary"]["disagreements"] == 0 and doc["summary"]["not_compared"] == 2
    assert status == 6
