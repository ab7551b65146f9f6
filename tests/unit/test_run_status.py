"""A run's status (passed, failed, incomplete) and how each report states it: the rule, the HTML header, the
JSON Schema, merged shards, the run tracker's view of pytest's reports, and the terminal's closing lines.

Before: a run interrupted after 410 items was headed PASSED, all green; a run whose audit items were
skipped for want of an audit source read PASSED with 98/137 controls passing; a malformed scenario
under ``-n 2`` left the bundle saying PASSED without naming the file.
"""

from __future__ import annotations

import copy
import json
import types
from pathlib import Path

import jsonschema
import pytest

from harness.plugin import evidence
from harness.plugin.runstatus import RunTracker
from harness.plugin.summary import caught_per_cell, summary_lines
from harness.reports import bundle
from harness.reports.html import render
from harness.reports.record import AUDIT_UNOBSERVED, merge_status, run_status, status_of

ASSET = Path(__file__).resolve().parents[1] / "assets" / "results-one-failure.json"


def asset(**run) -> dict:
    data = json.loads(ASSET.read_text())
    data["run"].update(run)
    return data


def header(page: str) -> str:
    return page[page.index("<header>"):page.index("</header>")]


# -- the rule --------------------------------------------------------------------------------------

def test_passed_only_when_every_selected_item_ran_to_a_verdict_and_none_failed():
    assert run_status(counts={"passed": 5}, selected=5, ran=5) == {
        "status": "passed", "incomplete_reasons": [], "collection_errors": []}
    interrupted = run_status(counts={"passed": 410}, interrupted="SIGTERM", selected=17048, ran=410)
    assert interrupted["status"] == "incomplete"
    assert interrupted["incomplete_reasons"] == ["interrupted (SIGTERM) after 410 of 17048 items"]
    assert run_status(counts={"passed": 3}, selected=5, ran=3)["incomplete_reasons"] == [
        "2 of 5 selected items did not run"]
    audit = run_status(counts={"passed": 98, "skipped": 39}, selected=137, ran=137, audit_unobserved=39)
    assert audit["status"] == "incomplete"
    assert audit["incomplete_reasons"][0].startswith("audit mode not observed: 39 items skipped")
    assert run_status(counts={"skipped": 2})["incomplete_reasons"] == ["no item ran to a verdict"]


def test_failed_dominates_and_the_reasons_are_still_listed():
    error = {"file": "scenarios/x/broken-pod.yaml", "message": "broken-pod.yaml:11: level 'strict'"}
    collected = run_status(counts={"passed": 14}, collection_errors=[error], selected=14, ran=14)
    assert collected == {"status": "failed", "incomplete_reasons": [], "collection_errors": [error]}
    both = run_status(counts={"passed": 1, "failed": 1}, stopped="stopping after 1 failures", selected=9, ran=2)
    assert both["status"] == "failed" and both["incomplete_reasons"] == [
        "stopped early (stopping after 1 failures) after 2 of 9 items"]


def test_a_bundle_written_before_the_status_existed_keeps_its_old_reading():
    assert status_of({}, [{"result": "passed"}]) == "passed"
    assert status_of({}, [{"result": "passed"}, {"result": "failed"}]) == "failed"
    assert status_of({"status": "incomplete"}, [{"result": "passed"}]) == "incomplete"


# -- the HTML header ------------------------------------------------------------------------------

def test_an_interrupted_run_is_headed_incomplete_with_its_reason():
    results = asset(status="incomplete", incomplete_reasons=["interrupted (SIGTERM) after 410 of 17048 items"],
                    collection_errors=[])
    for r in results["results"]:
        r["result"] = "passed"  # all green
    page = render(results)
    head = header(page)
    assert '<div class="sub">INCOMPLETE' in head and "PASSED" not in head
    assert "interrupted (SIGTERM) after 410 of 17048 items" in head
    assert 'data-verdict="incomplete"' in page


def test_a_collection_error_is_headed_failed_naming_the_file():
    results = asset(status="failed", incomplete_reasons=[],
                    collection_errors=[{"file": "scenarios/baseline/broken-pod.yaml",
                                        "message": "broken-pod.yaml:11: level 'strict': must be baseline"}])
    for r in results["results"]:
        r["result"] = "passed"
    head = header(render(results))
    assert '<div class="sub">FAILED' in head
    assert "<code>scenarios/baseline/broken-pod.yaml</code>" in head and "level &#x27;strict&#x27;" in head


def test_a_clean_pass_has_no_banner():
    results = asset(status="passed", incomplete_reasons=[], collection_errors=[])
    head = header(render(results))
    assert '<div class="sub">PASSED' in head and 'class="banner' not in head


def test_the_history_section_names_a_selection_change_apart_from_changes():
    history = {"fingerprint": "f" * 32, "trend": [], "previous": {"run_id": "full", "started": "x", "server_version": "v"},
               "changes": [], "selection": {"not_run": [{"check": "privileged", "level": "baseline", "mode": "warn",
                                                         "before": "passed", "after": "absent"}] * 80, "new": []}}
    page = render(asset(), history)
    section = page[page.index('<section id="history">'):]
    section = section[:section.index("</section>")]
    assert "No control changed status." in section
    assert "Selection changed: 80 cell(s) not run this time" in section


# -- schema and merge -----------------------------------------------------------------------------

def test_the_status_fields_conform_and_a_wrong_status_is_refused(schema_check):
    doc = asset(status="incomplete", incomplete_reasons=["interrupted (Ctrl-C)"],
                collection_errors=[{"file": "a.yaml", "message": "a.yaml:1: bad"}])
    schema_check(doc, "results")
    for broken in ({"status": "partial"}, {"incomplete_reasons": "interrupted"},
                   {"collection_errors": [{"file": "a.yaml"}]}):
        with pytest.raises(jsonschema.ValidationError):
            schema_check(asset(**broken), "results")


def test_merged_shards_are_incomplete_if_one_is_and_failed_if_one_is(tmp_path):
    def shard(name: str, **run) -> Path:
        data = copy.deepcopy(asset(run_id=name, **run))
        for r in data["results"]:
            r["result"] = "passed"
            r["nodeid"] = f"{name}/{r['nodeid']}"
        bundle.write_bundle(tmp_path / name, data)
        return tmp_path / name

    a = shard("a", status="passed", incomplete_reasons=[], collection_errors=[])
    b = shard("b", status="incomplete", incomplete_reasons=["interrupted (SIGTERM) after 3 of 7 items"],
              collection_errors=[])
    merged = bundle.load_results(bundle.merge(tmp_path / "m", [a, b]))["run"]
    assert merged["status"] == "incomplete"
    assert merged["incomplete_reasons"] == ["shard b: interrupted (SIGTERM) after 3 of 7 items"]
    assert merge_status([{"status": "passed"}, {"status": "failed"}], [{"result": "passed"}])["status"] == "failed"


# -- the run tracker: what the controller sees of pytest's reports --------------------------------

def _report(when: str, outcome: str, *, scenario: bool = True, reason: str = "", nodeid: str = "s.yaml::x"):
    return types.SimpleNamespace(when=when, nodeid=nodeid, passed=outcome == "passed", failed=outcome == "failed",
                                 skipped=outcome == "skipped", longrepr=("s.yaml", 1, f"Skipped: {reason}"),
                                 **({"pss_harness": {"scenario": "x"}} if scenario else {}))


def _tracker() -> RunTracker:
    config = types.SimpleNamespace(stash=pytest.Stash())
    config.stash[evidence._META] = {"run_id": "unit"}  # a run that seals a bundle
    return RunTracker(config)


def _finish(tracker: RunTracker, *, collected: int, exitstatus=pytest.ExitCode.OK):
    session = types.SimpleNamespace(shouldfail=False, shouldstop=False, testscollected=collected, exitstatus=exitstatus)
    tracker.pytest_sessionfinish(session, exitstatus)
    return session


def test_the_tracker_counts_audit_items_skipped_for_want_of_an_audit_source():
    t = _tracker()
    for n in range(3):
        t.pytest_runtest_logreport(_report("setup", "passed", nodeid=f"s.yaml::{n}"))
        t.pytest_runtest_logreport(_report("call", "passed", nodeid=f"s.yaml::{n}"))
        t.pytest_runtest_logreport(_report("teardown", "passed", nodeid=f"s.yaml::{n}"))
    t.pytest_runtest_logreport(_report("call", "skipped", reason=f"{AUDIT_UNOBSERVED}: pass --audit-log",
                                       nodeid="s.yaml::audit"))
    t.pytest_runtest_logreport(_report("call", "passed", scenario=False, nodeid="tests/test_other.py::t"))
    session = _finish(t, collected=5)
    assert t.status["status"] == "incomplete" and t.status["incomplete_reasons"][0].startswith(
        "audit mode not observed: 1 item skipped")
    assert session.exitstatus == pytest.ExitCode.INTERRUPTED  # an incomplete run never exits 0


def test_the_tracker_sees_an_interruption_and_a_collection_error():
    t = _tracker()
    t.pytest_runtest_logreport(_report("call", "passed"))
    t.pytest_keyboard_interrupt(types.SimpleNamespace(value=KeyboardInterrupt("SIGTERM")))
    _finish(t, collected=100, exitstatus=pytest.ExitCode.INTERRUPTED)
    assert t.status["incomplete_reasons"] == ["interrupted (SIGTERM) after 1 of 100 items"]

    t = _tracker()
    t.pytest_collectreport(types.SimpleNamespace(failed=True, nodeid="scenarios/broken-pod.yaml",
                                                 longreprtext="/x/scenarios/broken-pod.yaml:11: level 'strict'"))
    t.pytest_runtest_logreport(_report("call", "passed"))
    session = _finish(t, collected=1)
    assert t.status["status"] == "failed"
    assert t.status["collection_errors"] == [{"file": "scenarios/broken-pod.yaml",
                                              "message": "/x/scenarios/broken-pod.yaml:11: level 'strict'"}]
    assert session.exitstatus == pytest.ExitCode.TESTS_FAILED


def test_without_a_sealed_run_the_tracker_leaves_the_session_alone():
    t = RunTracker(types.SimpleNamespace(stash=pytest.Stash()))
    session = _finish(t, collected=0)
    assert t.status is None and session.exitstatus == pytest.ExitCode.OK


# -- the terminal ---------------------------------------------------------------------------------

def _finished(tmp_path: Path, **run) -> dict:
    return {"results": asset(**run), "history": None, "directory": tmp_path / "reports" / "evidence" / "fixture1",
            "digest": "d" * 64, "problems": []}


def test_the_summary_says_what_was_proven_and_ends_with_where_the_evidence_is(tmp_path):
    lines = summary_lines(_finished(tmp_path, status="failed", incomplete_reasons=[], collection_errors=[]),
                          cwd=tmp_path)
    assert lines[0] == "run fixture1: FAILED · 7 items · Kubernetes v1.37.2"
    assert lines[1].startswith("attacks refused as owed (passed/owed;")
    assert lines[2] == "  baseline     enforce 1/2  warn 1/1  audit 0/1"
    assert lines[3] == "  restricted   enforce 1/1  warn -  audit -"
    assert lines[4].startswith("controls passing: ") and lines[4].endswith(" (check × level × mode)")
    assert lines[5].startswith("skipped: 1, because ")
    assert lines[-2] == "SHA256SUMS sha256 " + "d" * 64
    assert lines[-1] == "evidence: reports/evidence/fixture1/"


def test_the_summary_names_why_a_run_is_incomplete_and_what_was_not_collected(tmp_path):
    lines = summary_lines(_finished(tmp_path, status="failed", incomplete_reasons=["interrupted (Ctrl-C)"],
                                    collection_errors=[{"file": "scenarios/b.yaml", "message": "b.yaml:3: bad level"}]),
                          cwd=tmp_path)
    assert lines[1:3] == ["  incomplete: interrupted (Ctrl-C)", "  not collected: b.yaml:3: bad level"]


def test_q_gives_one_line_and_qq_none(tmp_path):
    finished = _finished(tmp_path, status="incomplete", incomplete_reasons=["interrupted (Ctrl-C)"],
                         collection_errors=[])
    assert summary_lines(finished, verbosity=-1, cwd=tmp_path) == [
        "pss-harness: run fixture1: INCOMPLETE (interrupted (Ctrl-C)); evidence: reports/evidence/fixture1/"]
    assert summary_lines(finished, verbosity=-2, cwd=tmp_path) == []
    elsewhere = summary_lines(finished, verbosity=-1, cwd=tmp_path / "other")
    assert elsewhere[0].endswith(f"evidence: {tmp_path}/reports/evidence/fixture1/")  # not below the cwd: absolute


def test_attacks_caught_count_only_what_the_server_owes():
    records = asset()["results"]
    assert caught_per_cell(records) == {("baseline", "enforce"): (1, 2), ("baseline", "warn"): (1, 1),
                                        ("baseline", "audit"): (0, 1), ("restricted", "enforce"): (1, 1)}
