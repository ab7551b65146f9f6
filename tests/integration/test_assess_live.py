"""`pss-harness assess` against real API servers: agreement, and disagreement made visible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert r["predicted"] == {"verdict": "denied", "checks": ["privileged"]}
    assert r["observed"]["outcome"] == "admitted" and r["agree"] is False
    assert doc["summary"]["disagreements"] == 1
    assert status == 4
