"""The run history store: trend per cluster and the controls that changed (no cluster)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.reports import history

ASSET = Path(__file__).resolve().parents[1] / "assets" / "results-one-failure.json"


def run(run_id: str, started: str, fingerprint: str = "f" * 32, *, fix: bool = False, drop_warn: bool = False) -> dict:
    """The crafted run under another id; ``fix`` turns its one failure into a pass."""
    data = copy.deepcopy(json.loads(ASSET.read_text()))
    data["run"].update(run_id=run_id, started=started, cluster_fingerprint=fingerprint)
    for r in data["results"]:
        if fix and r["result"] == "failed":
            r["result"] = "passed"
    if drop_warn:
        data["results"] = [r for r in data["results"] if r["policy"]["mode"] != "warn"]
    return data


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "reports" / "history.sqlite"


def test_trend_lists_the_runs_of_one_cluster_oldest_first(db):
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00"))
    history.record_run(db, run("other", "2026-01-01T12:00:00+00:00", fingerprint="e" * 32))
    history.record_run(db, run("b", "2026-01-02T00:00:00+00:00", fix=True))
    trend = history.trend(db, "f" * 32)
    assert [(t["run_id"], t["passed"], t["failed"], t["skipped"], t["total"]) for t in trend] == [
        ("a", 5, 1, 1, 7), ("b", 6, 0, 1, 7)]
    assert [t["run_id"] for t in history.trend(db, "f" * 32, until="a")] == ["a"]
    assert len(history.trend(db, "f" * 32, limit=1)) == 1


def test_changes_compare_with_the_previous_run_on_the_same_cluster(db):
    """Like with like: the warn cells run b did not run are a selection change, not "passed -> absent" changes."""
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00"))
    history.record_run(db, run("other", "2026-01-01T12:00:00+00:00", fingerprint="e" * 32, fix=True))
    history.record_run(db, run("b", "2026-01-02T00:00:00+00:00", fix=True, drop_warn=True))
    snap = history.snapshot(db, "b", "f" * 32)
    assert snap["previous"]["run_id"] == "a"
    assert snap["changes"] == [
        {"check": "hostPathVolumes", "level": "baseline", "mode": "enforce", "before": "failed", "after": "passed"},
    ]
    assert snap["selection"] == {"new": [], "not_run": [
        {"check": "hostPathVolumes", "level": "baseline", "mode": "warn", "before": "passed", "after": "absent"},
        {"check": "privileged", "level": "baseline", "mode": "warn", "before": "passed", "after": "absent"},
    ]}


def test_a_subset_after_a_full_run_changes_no_control(db):
    """A `-m` subset after a full run: nothing changed, the cells it did not run are named as a selection change."""
    full = run("full", "2026-01-01T00:00:00+00:00", fix=True)
    subset = run("subset", "2026-01-02T00:00:00+00:00", fix=True)
    subset["results"] = [r for r in subset["results"] if r["policy"]["mode"] == "enforce"]
    history.record_run(db, full)
    history.record_run(db, subset)
    snap = history.snapshot(db, "subset", "f" * 32)
    assert snap["previous"]["run_id"] == "full" and snap["changes"] == []
    # the asset's audit item was skipped in both runs (never observed): only the warn cells were given up
    assert {(c["check"], c["mode"], c["after"]) for c in snap["selection"]["not_run"]} == {
        ("hostPathVolumes", "warn", "absent"), ("privileged", "warn", "absent")}
    # and back to the full selection: the cells are new again, still no change
    history.record_run(db, run("full2", "2026-01-03T00:00:00+00:00", fix=True))
    snap = history.snapshot(db, "full2", "f" * 32)
    assert snap["changes"] == [] and snap["selection"]["not_run"] == [] and snap["selection"]["new"]


def test_a_skipped_cell_is_not_observed_so_it_is_not_a_change(db):
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00", fix=True))
    unobserved = run("b", "2026-01-02T00:00:00+00:00", fix=True)
    for r in unobserved["results"]:
        if r["policy"]["mode"] == "warn":
            r["result"] = "skipped"
    history.record_run(db, unobserved)
    snap = history.snapshot(db, "b", "f" * 32)
    assert snap["changes"] == []
    assert {(c["mode"], c["before"], c["after"]) for c in snap["selection"]["not_run"]} == {("warn", "passed", "skipped")}


def test_an_incomplete_run_is_never_the_previous_run(db):
    history.record_run(db, run("complete", "2026-01-01T00:00:00+00:00"))
    interrupted = run("interrupted", "2026-01-02T00:00:00+00:00", fix=True)
    interrupted["run"].update(status="incomplete", incomplete_reasons=["interrupted (SIGTERM) after 3 of 7 items"])
    history.record_run(db, interrupted)
    history.record_run(db, run("next", "2026-01-03T00:00:00+00:00", fix=True))
    assert history.previous_run(db, "next")["run_id"] == "complete"
    assert history.snapshot(db, "interrupted", "f" * 32)["previous"]["run_id"] == "complete"  # it may compare itself
    trend = history.trend(db, "f" * 32)
    assert [(t["run_id"], t["status"]) for t in trend] == [
        ("complete", "failed"), ("interrupted", "incomplete"), ("next", "passed")]


def test_a_store_written_before_runs_had_a_status_gains_the_column(db):
    import sqlite3

    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, "
                     "server_version TEXT, fingerprint TEXT NOT NULL, harness_version TEXT, corpus_sha256 TEXT, "
                     "total INTEGER NOT NULL, passed INTEGER NOT NULL, failed INTEGER NOT NULL, "
                     "skipped INTEGER NOT NULL, bundle_sha256 TEXT)")
        conn.execute("INSERT INTO runs VALUES ('old', '2025-12-01T00:00:00+00:00', NULL, 'v1.37.2', ?, '0.1.0', NULL, "
                     "7, 7, 0, 0, NULL)", ("f" * 32,))
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00"))
    assert history.previous_run(db, "a")["run_id"] == "old"  # a run of unknown status is compared with
    assert [t["status"] for t in history.trend(db, "f" * 32)] == [None, "failed"]


def test_the_first_run_on_a_cluster_has_no_previous_run(db):
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00"))
    assert history.snapshot(db, "a", "f" * 32) == {
        "fingerprint": "f" * 32, "trend": history.trend(db, "f" * 32), "previous": None, "changes": [],
        "selection": {"not_run": [], "new": []}}


def test_recording_a_run_again_replaces_it(db):
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00"))
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00", fix=True))
    assert [(t["run_id"], t["failed"]) for t in history.trend(db, "f" * 32)] == [("a", 0)]


def test_the_bundle_digest_is_anchored_per_run(db):
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00"))
    assert history.bundle_digest(db, "a") is None
    history.set_bundle_digest(db, "a", "d" * 64)
    assert history.bundle_digest(db, "a") == "d" * 64
    assert history.bundle_digest(db.parent / "absent.sqlite", "a") is None
