"""``pss-harness report prune``: evidence retention without a shell (the chart's CronJob runs it)."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from harness.cli import main
from harness.reports.retention import plan

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def bundle(root, name, days_ago=None, *, marker="results.json"):
    d = root / name
    d.mkdir()
    if marker == "results.json":
        started = (NOW - datetime.timedelta(days=days_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        (d / "results.json").write_text(json.dumps({"schema": "x", "run": {"run_id": name, "started": started},
                                                    "results": []}))
    else:
        (d / marker).write_text("")
    (d / "index.html").write_text("<html></html>")
    return d


@pytest.fixture
def evidence(tmp_path):
    root = tmp_path / "evidence"
    root.mkdir()
    for n, age in enumerate([0.5, 3, 10, 40]):
        bundle(root, f"run{n}", age)
    return root



def test_keep_the_newest_n(evidence):
    p = plan(evidence, keep=2, now=NOW)
    assert sorted(b.path.name for b, _ in p.remove) == ["run2", "run3"]
    assert sorted(b.path.name for b in p.keep) == ["run0", "run1"]
    assert all(b.source == "results.json" for b in p.keep)


def test_max_age_and_keep_together(evidence):
    p = plan(evidence, keep=3, max_age_days=7, now=NOW)
    assert {b.path.name: why for b, why in p.remove} == {"run2": "10.0 days old (--max-age 7)",
                                                         "run3": "beyond the newest 3"}


def test_age_falls_back_to_mtime_and_non_bundles_are_left_alone(tmp_path):
    root = tmp_path / "evidence"
    root.mkdir()
    old = bundle(root, "old", marker="SHA256SUMS")
    stamp = (NOW - datetime.timedelta(days=30)).timestamp()
    os.utime(old, (stamp, stamp))
    (root / "notes").mkdir()
    (root / "README").write_text("mine")
    (root / "link").symlink_to(old)
    p = plan(root, max_age_days=7, now=NOW)
    assert [(b.path.name, b.source) for b, _ in p.remove] == [("old", "mtime")]
    assert dict(p.ignored) == {"README": "not a directory", "link": "a symbolic link",
                               "notes": "not an evidence bundle (no results.json or SHA256SUMS)"}


def test_the_command_removes_and_dry_run_does_not(evidence, capsys):
    assert main(["report", "prune", str(evidence), "--keep", "1", "--dry-run"]) == 0
    out = capsys.readouterr()
    assert out.out.count("would remove") == 3 and "would remove 3 bundle(s), kept 1" in out.err
    assert len(list(evidence.iterdir())) == 4
    assert main(["report", "prune", str(evidence), "--keep", "1"]) == 0
    assert [p.name for p in evidence.iterdir()] == ["run0"]


def test_a_link_planted_in_a_bundle_is_removed_not_followed(evidence, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("x")
    (evidence / "run3" / "escape").symlink_to(precious)
    assert main(["report", "prune", str(evidence), "--keep", "3"]) == 0
    assert (precious / "keep.txt").read_text() == "x" and not (evidence / "run3").exists()


@pytest.mark.parametrize("args, message", [
    ([], "give --keep N, --max-age DAYS, or both"),
    (["--keep", "-1"], "--keep -1: a number of bundles"),
    (["--max-age", "-2"], "--max-age -2.0: a number of days"),
])
def test_bad_usage_is_one_message(evidence, capsys, args, message):
    assert main(["report", "prune", str(evidence), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_or_linked_directory_is_refused(tmp_path, capsys):
    assert main(["report", "prune", str(tmp_path / "nope"), "--keep", "1"]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["report", "prune", str(tmp_path / "nope"), "--keep", "1", "--missing-ok"]) == 0
    assert "removed 0 bundle(s), kept 0" in capsys.readouterr().err
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert main(["report", "prune", str(tmp_path / "alias"), "--keep", "1"]) == 2
    assert "a symbolic link is refused" in capsys.readouterr().err
