"""--live: objects are created for real, controllers meet the PodSecurity denial, all is deleted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cluster.client import Cluster
from harness.embedded import EmbeddedCluster

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_live_run_asserts_the_controller_path_and_leaves_nothing(tmp_path, schema_check):
    d = tmp_path / "scenarios"
    d.mkdir()
    for f in ("baseline/privileged/vulnerable-pod.yaml", "controls/bases/hardened-pod.yaml"):
        (d / Path(f).name).write_text((REPO / "scenarios" / f).read_text())
    reports = tmp_path / "reports"
    with EmbeddedCluster() as cluster:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", str(d), "-q", "-p", "no:cacheprovider", "--live",
             "--kubeconfig", str(cluster.kubeconfig), "--audit-log", str(cluster.audit_log),
             "--psa-levels", "baseline", "--psa-modes", "enforce",
             "--psa-kinds", "Pod,Deployment,ReplicaSet,StatefulSet,Job,ReplicationController",
             "-o", f"psa_reports={reports}", "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"),
             f"--alluredir={tmp_path / 'allure'}", f"--junitxml={tmp_path / 'junit.xml'}"],
            cwd=REPO, capture_output=True, text=True, timeout=600)
        admin = Cluster(cluster.kubeconfig)
        leftovers = [ns["metadata"]["name"] for ns in admin.list_namespaces("app.kubernetes.io/managed-by=pss-harness")
                     if ns.get("status", {}).get("phase") != "Terminating"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "12 passed" in result.stdout
    assert leftovers == []
    results = json.loads(next(reports.glob("evidence/*/results.json")).read_text())
    schema_check(results, "results")  # --live records: a real create (dryRun null) and the controller's event
    records = results["results"]
    live = [r for r in records if r["scenario"] == "vulnerable-pod" and r["kind"] != "Pod"]
    assert len(live) == 5
    for r in live:
        assert r["request"]["dryRun"] is None
        assert r["controller"]["reason"] == "FailedCreate", r["controller"]
        assert 'violates PodSecurity "baseline:latest"' in r["controller"]["message"]
