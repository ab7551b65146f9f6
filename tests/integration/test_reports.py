"""Reports from a real run: the evidence bundle, JUnit properties, Allure labels, history, Allure 3 rendering.

One harness run against the session's embedded cluster (``_harness_run``) feeds every test here.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET

import pytest

from _harness_run import run_harness
from harness.reports import bundle
from harness.reports.record import corpus_digest
from harness.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run(embedded, tmp_path_factory):
    result = run_harness(embedded, tmp_path_factory.mktemp("report-run"))
    # the mislabelled scenario fails on purpose at baseline and restricted: exit status 1, not an error
    assert result.process.returncode == 1, result.log[-4000:]
    assert re.search(r"\d+ failed, \d+ passed", result.process.stdout), result.log[-4000:]
    return result


@pytest.fixture(scope="module")
def results(run) -> dict:
    return json.loads((run.evidence / "results.json").read_text())


def test_the_bundle_is_complete_and_verifies(run, capsys):
    assert sorted(p.name for p in run.evidence.iterdir()) == ["SHA256SUMS", "history.json", "index.html", "results.json"]
    assert main(["report", "verify", str(run.evidence), "--history", str(run.reports / "history.sqlite")]) == 0
    assert "OK, 3 file(s)" in capsys.readouterr().out
    assert f"SHA256SUMS sha256 {bundle.sums_digest(run.evidence)}" in run.process.stdout


def test_results_json_conforms_to_its_shipped_schema(run, results, schema_check):
    schema_check(results, "results")  # every record, the run metadata, the vocabularies
    assert {r["result"] for r in results["results"]} == {"passed", "failed"}
    assert {r["policy"]["mode"] for r in results["results"]} == {"enforce", "warn", "audit"}


def test_run_metadata_identifies_cluster_runner_and_corpus(results, embedded):
    meta = results["run"]
    assert meta["run_id"] == "reportrun" and meta["target"] == "external"
    assert meta["server_version"] == embedded.version
    assert re.fullmatch(r"[0-9a-f]{32}", meta["cluster_fingerprint"])
    assert meta["identity"]["username"] == "pss-admin"
    assert meta["harness_version"] and meta["runner"]["python"] and meta["runner"]["pytest"]
    assert meta["options"]["kubeconfig"] == "(given)" and meta["options"]["kinds"] == ["Pod", "Deployment", "CronJob", "Job"]
    assert sorted(meta["scenarios"]) == ["hardened-pod", "mislabelled-pod", "vulnerable-pod"]
    assert meta["corpus_sha256"] == corpus_digest(meta["scenarios"])
    assert meta["started"] < meta["finished"]
    assert meta["items"] == len(results["results"]) == 3 * 4 * 7
    assert meta["counts"]["failed"] == 24 and meta["exit_status"] == 1


def test_each_record_holds_the_evidence_of_its_item(results):
    by_name = {r["name"]: r for r in results["results"]}
    denied = by_name["vulnerable-pod[Pod-baseline-enforce-latest]"]
    assert denied["result"] == "passed" and denied["file"] == "scenarios/baseline/privileged/vulnerable-pod.yaml"
    assert denied["policy"] == {"level": "baseline", "mode": "enforce", "version": "latest"}
    assert denied["expected"]["outcome"] == "denied" and denied["observed"]["outcome"] == "denied"
    assert denied["observed"]["checks"] == ["hostPathVolumes", "privileged"] == denied["controls"]
    assert 'violates PodSecurity "baseline:latest"' in denied["observed"]["message"]
    assert denied["request"]["dryRun"] == "All" and denied["manifest"]["kind"] == "Pod"
    assert denied["started"] <= denied["finished"] and denied["duration"] >= 0
    warned = by_name["vulnerable-pod[Deployment-restricted-warn-latest]"]
    assert any("would violate PodSecurity" in w for w in warned["observed"]["warnings"])
    audited = by_name["vulnerable-pod[Pod-restricted-audit-latest]"]
    assert "pod-security.kubernetes.io/audit-violations" in audited["observed"]["audit_annotations"]
    failed = by_name["mislabelled-pod[Pod-baseline-enforce-latest]"]
    assert failed["result"] == "failed" and failed["problems"] == ["denied: missing expected check(s) privileged"]


def test_junit_cases_carry_the_item_properties(run, results):
    suite = ET.parse(run.junit).getroot().find("testsuite")
    suite_props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert suite_props["pss-harness.run_id"] == "reportrun"
    assert suite_props["pss-harness.cluster_fingerprint"] == results["run"]["cluster_fingerprint"]
    cases = list(suite.iter("testcase"))
    assert len(cases) == len(results["results"])
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.find("properties")}
        assert {"scenario", "kind", "policy", "level", "mode", "version", "severity", "controls", "expected",
                "observed", "checks", "http_status", "attack", "cis", "audit_id"} <= set(props), case.get("name")
    failing = next(c for c in cases if c.get("name") == "mislabelled-pod[Pod-baseline-enforce-latest]")
    assert "missing expected check(s) privileged" in failing.find("failure").get("message")


def test_allure_results_are_labelled_and_carry_the_evidence(run, results):
    found = {}
    for path in run.allure.glob("*-result.json"):
        data = json.loads(path.read_text())
        found[data["fullName"] + str(sorted((p["name"], p["value"]) for p in data["parameters"]))] = data
    assert len(found) == len(results["results"])  # one distinct Allure test (history id) per item
    r = next(d for d in found.values() if d["name"] == "vulnerable-pod as Pod in baseline/enforce/latest")
    labels = {}
    for label in r["labels"]:
        labels.setdefault(label["name"], []).append(label["value"])
    assert labels["epic"] == ["baseline"] and labels["story"] == ["vulnerable-pod"]
    assert labels["feature"] == ["hostPathVolumes", "privileged"] and labels["severity"] == ["blocker"]
    assert labels["tag"] == ["T1611", "T1610", "MS-TA9013", "MS-TA9011", "CIS 5.2.2", "CIS 5.2.12"]
    names = {a["name"]: a["source"] for a in r["attachments"]}
    record = next(x for x in results["results"] if x["nodeid"].endswith("vulnerable-pod[Pod-baseline-enforce-latest]"))
    audit_name = f"audit event {record['observed']['audit_id']}"
    assert set(names) == {"manifest sent", "request", "server response", audit_name}
    audit = json.loads((run.allure / names[audit_name]).read_text())
    assert audit["annotations"]["pod-security.kubernetes.io/enforce-policy"] == "baseline:latest"
    # content-addressed: the same manifest sent under another policy is the same file
    other = next(d for d in found.values() if d["name"] == "vulnerable-pod as Pod in restricted/enforce/latest")
    assert {a["name"]: a["source"] for a in other["attachments"]}["manifest sent"] == names["manifest sent"]
    assert "hostPath" in (run.allure / names["manifest sent"]).read_text()
    assert json.loads((run.allure / names["request"]).read_text())["dryRun"] == "All"
    assert "violates PodSecurity" in json.loads((run.allure / names["server response"]).read_text())["message"]
    assert len({d["historyId"] for d in found.values()}) == len(found)
    failed = next(d for d in found.values() if d["name"] == "mislabelled-pod as Pod in baseline/enforce/latest")
    assert failed["status"] == "failed"
    verdict = next(a for a in failed["attachments"] if a["name"] == "expectation and verdict")
    assert json.loads((run.allure / verdict["source"]).read_text())["problems"] == [
        "denied: missing expected check(s) privileged"]
    warned = next(d for d in found.values() if d["name"] == "vulnerable-pod as Deployment in baseline/warn/latest")
    warnings = next(a for a in warned["attachments"] if a["name"] == "warnings")
    assert "would violate PodSecurity" in (run.allure / warnings["source"]).read_text()
    env = (run.allure / "environment.properties").read_text()
    assert "run_id=reportrun" in env and (run.allure / "categories.json").is_file()


def test_the_run_is_in_the_history_store(run, results):
    with sqlite3.connect(run.reports / "history.sqlite") as conn:
        row = conn.execute("SELECT fingerprint, total, failed, bundle_sha256 FROM runs WHERE run_id = 'reportrun'").fetchone()
        controls = conn.execute("SELECT COUNT(*) FROM controls WHERE run_id = 'reportrun' AND status = 'failed'").fetchone()
    assert row == (results["run"]["cluster_fingerprint"], 84, 24, bundle.sums_digest(run.evidence))
    assert controls[0] > 0


def _npm_allure() -> str:
    """Why Allure 3 cannot be used here, or '' if ``npx allure@3`` can run."""
    if not shutil.which("npx") or not shutil.which("npm"):
        return "npx/npm (Node.js) is not installed: Allure 3 is the npm package 'allure'"
    try:
        probe = subprocess.run(["npm", "view", "allure@3", "version"], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "the npm registry did not answer within 120 s ('npm view allure@3 version')"
    if probe.returncode != 0 or not probe.stdout.strip():
        return f"'npm view allure@3 version' failed (registry unreachable?): {probe.stderr.strip()[-300:]}"
    return ""


def test_allure_renders(run, results, tmp_path):
    """Given the run's allure-results, when Allure 3 (npm 'allure') generates the report, then it has every item."""
    why = _npm_allure()
    if why:
        pytest.skip(why)
    out = tmp_path / "allure-report"
    gen = subprocess.run(["npx", "--yes", "allure@3", "generate", str(run.allure), "--output", str(out)],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert gen.returncode == 0, gen.stdout[-3000:] + gen.stderr[-3000:]
    assert (out / "index.html").is_file()
    stats = json.loads((out / "summary.json").read_text())["stats"]
    assert stats["total"] == len(results["results"])
    assert stats["failed"] == results["run"]["counts"]["failed"]
