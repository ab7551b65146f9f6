"""The harness must fail loudly, naming the cause, when the cluster's controls are broken.

Each test starts a deliberately misconfigured embedded control plane and runs the harness
against it as a user would (``pytest --kubeconfig ...`` in a subprocess).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from harness.cluster.client import Cluster
from harness.core.fleet import verdict_of_error
from harness.embedded import EmbeddedCluster, Exemptions

from _rbac import bind

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "scenarios" / "baseline" / "privileged" / "vulnerable-pod.yaml"
CONTROL = REPO / "scenarios" / "controls" / "bases" / "hardened-pod.yaml"


def run_harness(tmp_path: Path, cluster: EmbeddedCluster, paths: list[Path], *extra: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pytest", *map(str, paths), "-p", "no:cacheprovider", "-q",
            "--kubeconfig", str(cluster.kubeconfig), "--audit-log", str(cluster.audit_log),
            "-o", f"psa_reports={tmp_path / 'reports'}", "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"),
            f"--alluredir={tmp_path / 'allure'}", f"--junitxml={tmp_path / 'junit.xml'}",
            *extra]
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)


def corpus(tmp_path: Path, *files: Path) -> Path:
    d = tmp_path / "scenarios"
    d.mkdir(exist_ok=True)
    for f in files:
        (d / f.name).write_text(f.read_text())
    return d


def test_disabled_podsecurity_plugin_stops_the_run_at_the_canary(tmp_path):
    with EmbeddedCluster(pod_security=False, controller_manager=True) as cluster:
        result = run_harness(tmp_path, cluster, [corpus(tmp_path, SEED, CONTROL)])
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "PodSecurity admission is not in effect" in out
    assert "passed" not in out.splitlines()[-1]


def test_exempt_runner_identity_is_named_as_the_cause(tmp_path, monkeypatch):
    monkeypatch.setenv("PSS_HARNESS_STATUS_FILE", str(tmp_path / "status.json"))  # as pss-harness fleet asks
    with EmbeddedCluster(exemptions=Exemptions(usernames=("pss-admin",))) as cluster:
        result = run_harness(tmp_path, cluster, [corpus(tmp_path, SEED)])
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "PodSecurity admission is not in effect" in out
    assert "exempt=user" in out
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["exit_status"] == 3 and status["evidence"] is None
    assert status["error"]["type"] == "AdmissionNotInEffect" and "exempt=user" in status["error"]["message"]
    assert verdict_of_error(status["error"]["type"]) == "not-enforced"  # a fleet row: a finding, never passed
    assert cluster.server not in json.dumps(status)


def test_exempt_runtime_class_fails_exactly_the_items_that_use_it(tmp_path):
    d = corpus(tmp_path, SEED, CONTROL)
    doc = yaml.safe_load(SEED.read_text())
    doc["metadata"]["name"] = "vulnerable-pod-exempt-rc"
    doc["spec"]["runtimeClassName"] = "exempt-rc"
    (d / "vulnerable-pod-exempt-rc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with EmbeddedCluster(exemptions=Exemptions(runtime_classes=("exempt-rc",))) as cluster:
        Cluster(cluster.kubeconfig).checked("POST", "/apis/node.k8s.io/v1/runtimeclasses", {
            "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "exempt-rc"},
            "handler": "runc"})
        result = run_harness(tmp_path, cluster, [d], "--psa-kinds", "Pod")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert failed and all("vulnerable-pod-exempt-rc[" in line for line in failed), failed
    # every blocking policy of the exempt scenario fails; privileged control policy does not
    assert len(failed) == 2 * 3  # baseline+restricted x enforce/warn/audit
    assert "exempt=runtimeClass" in out
    assert "expected denied, observed admitted" in out


def test_namespace_map_to_unlabelled_namespaces_is_refused_with_the_missing_labels(tmp_path):
    with EmbeddedCluster() as cluster:
        admin = Cluster(cluster.kubeconfig)
        admin.create_namespace("team-a", {})
        mapping = tmp_path / "map.yaml"
        mapping.write_text("restricted-enforce-latest: team-a\n")
        result = run_harness(tmp_path, cluster, [corpus(tmp_path, SEED)], "--psa-namespace-map", str(mapping),
                             "--psa-levels", "restricted", "--psa-modes", "enforce", "--psa-kinds", "Pod")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "team-a" in out and "pod-security.kubernetes.io/enforce" in out


def test_least_privilege_runner_passes_and_an_unbound_identity_gets_the_fix(tmp_path):
    with EmbeddedCluster() as cluster:
        admin = Cluster(cluster.kubeconfig)
        role = yaml.safe_load((REPO / "rbac" / "pss-harness-runner.yaml").read_text())
        admin.checked("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", role)
        bind(admin, "bob", "pss-harness-runner", probe=("create", "namespaces"))
        d = corpus(tmp_path, SEED, CONTROL)
        as_bob = run_harness(tmp_path, cluster, [d], "--context", "bob")
        as_alice = run_harness(tmp_path, cluster, [d], "--context", "alice")
    out = as_bob.stdout + as_bob.stderr
    assert as_bob.returncode == 0, out
    assert "identity bob" in out and " passed" in out.splitlines()[-1]
    out = as_alice.stdout + as_alice.stderr
    assert as_alice.returncode == 3, out
    assert "'alice' lacks" in out and "create namespaces" in out and "pss-harness-runner" in out
