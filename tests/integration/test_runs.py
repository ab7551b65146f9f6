"""Runs as users meet them: partial runs read INCOMPLETE, a broken scenario fails the run naming it, each run has
its own output wherever it is started from, and the terminal says at most one line under ``-q``.

Every run is the harness in a subprocess against the session's embedded cluster (``_harness_run``).
Before these fixes: a run without an audit source was headed PASSED with 98/137 controls passing; a
malformed scenario under ``-n 2`` left the bundle saying PASSED without naming the file; a scenario
directory outside the repository wrote ``/reports/...`` and no JUnit or Allure output; two runs on
one checkout shared ``reports/junit.xml`` and ``reports/allure-results`` (``--clean-alluredir`` in
the shared addopts let the second wipe the first's).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from _harness_run import CORPUS, harness_command, harness_env, run_harness
from harness.reports import bundle

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GOOD = "not mislabelled"  # the report corpus without its deliberately failing scenario


def _header(evidence: Path) -> str:
    return re.search(r"<header>.*?</header>", (evidence / "index.html").read_text(), re.S).group(0)


def _suite_properties(junit: Path) -> dict:
    suite = ET.parse(junit).getroot().find("testsuite")
    props: dict = {}
    for p in suite.find("properties"):
        props.setdefault(p.get("name"), []).append(p.get("value"))
    return {k: v[0] if len(v) == 1 else v for k, v in props.items()}


def test_a_run_without_an_audit_source_is_incomplete_everywhere_and_quiet_under_q(embedded, tmp_path):
    run = run_harness(embedded, tmp_path, "-k", GOOD, "-q", run_id="noaudit", audit=False)
    results = json.loads((run.evidence / "results.json").read_text())
    meta, records = results["run"], results["results"]
    audit_items = [r for r in records if r["policy"]["mode"] == "audit"]
    assert audit_items and all(r["result"] == "skipped" for r in audit_items)
    assert meta["counts"] == {"passed": len(records) - len(audit_items), "skipped": len(audit_items)}
    # the exit status: an incomplete run never exits 0
    assert run.process.returncode == pytest.ExitCode.INTERRUPTED == meta["exit_status"], run.log[-3000:]
    assert meta["status"] == "incomplete" and meta["collection_errors"] == []
    assert meta["incomplete_reasons"] == [
        f"audit mode not observed: {len(audit_items)} items skipped for want of an audit source (pass --audit-log, "
        "or leave audit mode out with --psa-modes enforce,warn)"]
    header = _header(run.evidence)
    assert '<div class="sub">INCOMPLETE' in header and "audit mode not observed" in header and "PASSED" not in header
    props = _suite_properties(run.junit)
    assert props["pss-harness.status"] == "incomplete"
    assert props["pss-harness.incomplete_reasons"].startswith(f"audit mode not observed: {len(audit_items)} items")
    with sqlite3.connect(run.reports / "history.sqlite") as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("incomplete",)]
    # -q stays quiet: one line of its own at most, no section
    ours = [line for line in run.process.stdout.splitlines() if line.startswith("pss-harness: run ")]
    assert ours == ["pss-harness: run noaudit: INCOMPLETE (" + meta["incomplete_reasons"][0]
                    + "); evidence: reports/evidence/noaudit/"], run.process.stdout[-2000:]
    assert " pss-harness ---" not in run.process.stdout


def test_leaving_audit_mode_out_is_a_complete_run(embedded, tmp_path):
    run = run_harness(embedded, tmp_path, "-k", GOOD, "--psa-modes", "enforce,warn", run_id="noaudit2", audit=False)
    meta = json.loads((run.evidence / "results.json").read_text())["run"]
    assert run.process.returncode == 0, run.log[-3000:]
    assert (meta["status"], meta["incomplete_reasons"]) == ("passed", [])
    assert '<div class="sub">PASSED' in _header(run.evidence)
    summary = run.process.stdout[run.process.stdout.index(" pss-harness ---"):]
    assert re.search(r"^run noaudit2: PASSED · \d+ items · Kubernetes v", summary, re.M)
    assert "skipped: none" in summary.splitlines()


BROKEN = (CORPUS / "vulnerable-pod.yaml").read_text().replace("level: baseline", "level: strict").replace(
    "name: vulnerable-pod", "name: broken-pod")


def test_a_malformed_scenario_under_xdist_fails_the_run_in_every_report_naming_the_file(embedded, tmp_path):
    run = run_harness(embedded, tmp_path, "-k", GOOD, run_id="broken",
                      extra_files={"baseline/privileged/broken-pod.yaml": BROKEN})
    results = json.loads((run.evidence / "results.json").read_text())
    meta = results["run"]
    assert meta["counts"].get("failed") is None and meta["counts"]["passed"] > 0  # every item that ran passed
    assert run.process.returncode == pytest.ExitCode.TESTS_FAILED == meta["exit_status"], run.log[-3000:]
    assert meta["status"] == "failed"
    (error,) = meta["collection_errors"]
    assert error["file"] == "scenarios/baseline/privileged/broken-pod.yaml"
    assert "broken-pod.yaml:11: level 'strict'" in error["message"]
    header = _header(run.evidence)
    assert '<div class="sub">FAILED' in header and "scenarios/baseline/privileged/broken-pod.yaml" in header
    props = _suite_properties(run.junit)
    assert props["pss-harness.status"] == "failed"
    assert props["pss-harness.collection_error"].startswith("scenarios/baseline/privileged/broken-pod.yaml: ")
    summary = run.process.stdout[run.process.stdout.index(" pss-harness ---"):]
    assert re.search(r"^run broken: FAILED", summary, re.M)
    assert re.search(r"^  not collected: .*broken-pod\.yaml:11: level 'strict'", summary, re.M)


def _own_scenarios(where: Path) -> Path:
    d = where / "my-scenarios"
    d.mkdir(parents=True)
    for name in ("vulnerable-pod.yaml", "hardened-pod.yaml"):
        (d / name).write_text((CORPUS / name).read_text())
    return d


def test_an_own_scenario_directory_reports_into_the_current_directory_whatever_the_rootdir(embedded, tmp_path):
    scenarios = _own_scenarios(tmp_path / "elsewhere")
    cwd = tmp_path / "work"
    cwd.mkdir()
    root_reports = Path("/reports")
    before = sorted(root_reports.rglob("*")) if root_reports.exists() else None
    started = time.time()
    proc = subprocess.run(harness_command(embedded, "--psa-levels", "baseline", "--psa-modes", "enforce",
                                          run_id="own", jobs=0, target=str(scenarios)),
                          cwd=cwd, capture_output=True, text=True, timeout=600, env=harness_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # pytest's rootdir is the common ancestor of its arguments, option values included (the kubeconfig's
    # directory too: "/" for ~/.kube/config and a corpus elsewhere); the reports do not go there
    rootdir = Path(next(line for line in proc.stdout.splitlines() if line.startswith("rootdir: ")).split(": ", 1)[1])
    assert rootdir != cwd and cwd.is_relative_to(rootdir)
    stray = rootdir / "reports" / "evidence" / "own"
    assert not stray.exists() or stray.stat().st_mtime < started, f"the run wrote into {stray}"
    reports = cwd / "reports"
    results = json.loads((reports / "evidence" / "own" / "results.json").read_text())
    assert results["run"]["status"] == "passed" and results["run"]["items"] > 0
    junit = reports / "runs" / "own" / "junit.xml"
    assert len(list(ET.parse(junit).getroot().iter("testcase"))) == results["run"]["items"]
    assert len(list((reports / "runs" / "own" / "allure-results").glob("*-result.json"))) == results["run"]["items"]
    assert (reports / "history.sqlite").is_file()
    assert (reports / "latest").resolve() == (reports / "runs" / "own").resolve()
    assert (reports / "latest" / "evidence" / "results.json").read_bytes() == \
        (reports / "evidence" / "own" / "results.json").read_bytes()
    assert (sorted(root_reports.rglob("*")) if root_reports.exists() else None) == before  # nothing under /reports
    assert "evidence: reports/evidence/own/" in proc.stdout.splitlines()

    # --psa-reports DIR, relative to the current directory
    proc = subprocess.run(harness_command(embedded, "--psa-levels", "baseline", "--psa-modes", "enforce",
                                          "--psa-reports", "../chosen", run_id="own2", jobs=0, target=str(scenarios)),
                          cwd=cwd, capture_output=True, text=True, timeout=600, env=harness_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    chosen = tmp_path / "chosen"
    assert (chosen / "evidence" / "own2" / "SHA256SUMS").is_file() and (chosen / "runs" / "own2" / "junit.xml").is_file()
    assert any((chosen / "runs" / "own2" / "allure-results").glob("*-result.json"))
    assert not (reports / "evidence" / "own2").exists()


def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def test_concurrent_runs_on_one_checkout_keep_their_own_junit_and_allure_results(embedded, tmp_path):
    """Two runs at once in one checkout, with the project's ini (its addopts) as ``make run`` has it."""
    checkout = tmp_path / "checkout"
    scenarios = _own_scenarios(checkout)
    (checkout / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    common = ["--psa-levels", "baseline,restricted"]
    a = subprocess.Popen(harness_command(embedded, *common, "--psa-kinds", "Pod,Deployment,Job", run_id="runa",
                                         jobs=0, target=str(scenarios)),
                         cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=harness_env())
    try:
        runs = checkout / "reports" / "runs"
        _until(lambda: any((runs / "runa" / "allure-results").glob("*-result.json")), 300, "run A's first results")
        b = subprocess.run(harness_command(embedded, *common, "--psa-kinds", "Pod", run_id="runb", jobs=0,
                                           target=str(scenarios)),
                           cwd=checkout, capture_output=True, text=True, timeout=600, env=harness_env())
        out_a, _ = a.communicate(timeout=600)
    finally:
        if a.poll() is None:
            a.kill()
    assert a.returncode == 0, out_a[-3000:]
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-2000:]
    reports = checkout / "reports"
    items = {}
    for run_id in ("runa", "runb"):
        meta = bundle.load_results(reports / "evidence" / run_id)["run"]
        items[run_id] = meta["items"]
        assert bundle.verify(reports / "evidence" / run_id).ok
        junit = ET.parse(runs / run_id / "junit.xml").getroot()
        assert len(list(junit.iter("testcase"))) == meta["items"], run_id
        results = [json.loads(p.read_text()) for p in (runs / run_id / "allure-results").glob("*-result.json")]
        assert len(results) == meta["items"], f"{run_id}: Allure results lost"
        assert {r["name"].split(" as ")[1].split(" in ")[0] for r in results} == set(meta["options"]["kinds"])
    assert items["runa"] > items["runb"] > 0
    assert not (reports / "junit.xml").exists() and not (reports / "allure-results").exists()
    with sqlite3.connect(reports / "history.sqlite") as conn:
        assert sorted(conn.execute("SELECT run_id, status FROM runs")) == [("runa", "passed"), ("runb", "passed")]
    # "latest" is the run that finished last
    finished = {r: bundle.load_results(reports / "evidence" / r)["run"]["finished"] for r in ("runa", "runb")}
    assert (reports / "latest").resolve().name == max(finished, key=finished.get)
