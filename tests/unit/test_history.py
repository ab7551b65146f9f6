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
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00"))
    history.record_run(db, run("other", "2026-01-01T12:00:00+00:00", fingerprint="e" * 32, fix=True))
    history.record_run(db, run("b", "2026-01-02T00:00:00+00:00", fix=True, drop_warn=True))
    snap = history.snapshot(db, "b", "f" * 32)
    assert snap["previous"]["run_id"] == "a"
    assert snap["changes"] == [
        {"check": "hostPathVolumes", "level": "baseline", "mode": "enforce", "before": "failed", "after": "passed"},
        {"check": "hostPathVolumes", "level": "baseline", "mode": "warn", "before": "passed", "after": "absent"},
        {"check": "privileged", "level": "baseline", "mode": "warn", "before": "passed", "after": "absent"},
    ]


def test_the_first_run_on_a_cluster_has_no_previous_run(db):
    history.record_run(db, run("a", "2026-01-01T00:00:00+00:00"))
    assert history.snapshot(db, "a", "f" * 32) == {
        "fingerprint": "f" * 32, "trend": history.trend(db, "f" * 32), "previous": None, "changes": []}


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
