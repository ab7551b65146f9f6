"""The evidence bundle: SHA256SUMS and verify, build, merge, and the CLI over them (no cluster)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.reports import bundle
from harness.reports.record import CONTROL_ROW, SCHEMA, control_summary, controls_of, corpus_digest
from harness.cli import main
from harness.core.errors import UsageError

ASSET = Path(__file__).resolve().parents[1] / "assets" / "results-one-failure.json"


def crafted() -> dict:
    """Seven items from a real run, one of them failed (hostpath-etc admitted under baseline enforce)."""
    return json.loads(ASSET.read_text())


@pytest.fixture
def run_dir(tmp_path) -> Path:
    directory = tmp_path / "evidence" / "fixture1"
    bundle.write_bundle(directory, crafted(), {"fingerprint": "f" * 32, "trend": [], "previous": None, "changes": []})
    return directory


def test_bundle_holds_results_history_html_and_sums_over_every_other_file(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == ["SHA256SUMS", "history.json", "index.html", "results.json"]
    listed = [line.split("  ", 1)[1] for line in (run_dir / "SHA256SUMS").read_text().splitlines()]
    assert listed == ["history.json", "index.html", "results.json"]
    assert bundle.load_results(run_dir)["schema"] == SCHEMA


def test_a_fresh_bundle_verifies(run_dir):
    result = bundle.verify(run_dir)
    assert result.ok and result.checked == 3 and result.lines() == []


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum is not installed")
def test_sums_use_the_sha256sum_format(run_dir):
    out = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=run_dir, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("tamper,expected", [
    (lambda d: (d / "results.json").write_text((d / "results.json").read_text().replace('"failed"', '"passed"')),
     ["changed: results.json"]),
    (lambda d: (d / "index.html").write_bytes((d / "index.html").read_bytes() + b" "), ["changed: index.html"]),
    (lambda d: (d / "extra.txt").write_text("added later"), ["added: extra.txt"]),
    (lambda d: (d / "sub").mkdir() or (d / "sub" / "note.json").write_text("{}"), ["added: sub/note.json"]),
    (lambda d: (d / "history.json").unlink(), ["removed: history.json"]),
    (lambda d: ((d / "index.html").unlink(), (d / "new.html").write_text("x")),
     ["added: new.html", "removed: index.html"]),
])
def test_verify_names_every_changed_added_and_removed_file(run_dir, tamper, expected):
    tamper(run_dir)
    result = bundle.verify(run_dir)
    assert not result.ok
    assert result.lines() == expected


def test_verify_rejects_a_missing_or_malformed_sums_file(run_dir):
    sums = run_dir / "SHA256SUMS"
    sums.write_text(sums.read_text() + "not a checksum line\n" + "0" * 64 + "  ../outside\n")
    lines = bundle.verify(run_dir).lines()
    assert [l.split(":", 1)[0] for l in lines] == ["malformed", "malformed"]
    sums.unlink()
    assert bundle.verify(run_dir).lines() == ["malformed: SHA256SUMS is missing: nothing to verify against"]


def test_cli_verify_exits_non_zero_naming_each_problem(run_dir, capsys):
    assert main(["report", "verify", str(run_dir)]) == 0
    assert "OK, 3 file(s) match SHA256SUMS" in capsys.readouterr().out
    (run_dir / "results.json").write_text("{}")
    (run_dir / "history.json").unlink()
    (run_dir / "planted.js").write_text("alert(1)")
    assert main(["report", "verify", str(run_dir)]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == ["changed: results.json", "added: planted.js", "removed: history.json"]
    assert "FAILED verification (3 problem(s))" in out.err


def test_cli_verify_checks_the_digest_anchored_in_the_history_store(run_dir, tmp_path, capsys):
    from harness.reports import history

    db = tmp_path / "history.sqlite"
    history.record_run(db, crafted())
    history.set_bundle_digest(db, "fixture1", bundle.sums_digest(run_dir))
    assert main(["report", "verify", str(run_dir), "--history", str(db)]) == 0
    # a consistent forgery: change a file and regenerate SHA256SUMS; only the anchor catches it
    (run_dir / "index.html").write_text("<p>all green</p>")
    bundle.write_sums(run_dir)
    assert bundle.verify(run_dir).ok
    assert main(["report", "verify", str(run_dir), "--history", str(db)]) == 1
    assert "changed: SHA256SUMS" in capsys.readouterr().out


def test_build_regenerates_the_html_and_sums_identically(run_dir):
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    (run_dir / "index.html").unlink()
    bundle.build(run_dir)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_build_refuses_to_launder_a_changed_results_json_unless_forced(run_dir):
    data = json.loads((run_dir / "results.json").read_text())
    data["results"][0]["result"] = "passed"
    (run_dir / "results.json").write_text(json.dumps(data))
    with pytest.raises(UsageError, match="results.json no longer match SHA256SUMS"):
        bundle.build(run_dir)
    bundle.build(run_dir, force=True)
    assert bundle.verify(run_dir).ok


def test_build_with_a_history_store_refreshes_history_json(run_dir, tmp_path):
    from harness.reports import history

    db = tmp_path / "history.sqlite"
    history.record_run(db, crafted())
    assert main(["report", "build", str(run_dir), "--history", str(db)]) == 0
    snap = json.loads((run_dir / "history.json").read_text())
    assert [t["run_id"] for t in snap["trend"]] == ["fixture1"]


def _shards(tmp_path: Path, fingerprints=("f" * 32, "f" * 32)) -> list[Path]:
    data = crafted()
    out = []
    for i, fp in enumerate(fingerprints):
        shard = copy.deepcopy(data)
        shard["run"].update(run_id=f"shard{i}", cluster_fingerprint=fp, started=f"2026-01-0{i + 1}T00:00:00+00:00",
                            finished=f"2026-01-0{i + 1}T00:10:00+00:00")
        shard["results"] = data["results"][i::2]
        bundle.write_bundle(tmp_path / f"shard{i}", shard)
        out.append(tmp_path / f"shard{i}")
    return out


def test_merge_joins_shards_into_a_verified_bundle_listing_its_shards(tmp_path, capsys):
    shards = _shards(tmp_path)
    assert main(["report", "merge", str(tmp_path / "merged"), *map(str, shards)]) == 0
    merged = bundle.load_results(tmp_path / "merged")
    original = crafted()
    assert [r["nodeid"] for r in merged["results"]] == [r["nodeid"] for r in original["results"]]
    run = merged["run"]
    assert run["counts"] == {"passed": 5, "failed": 1, "skipped": 1} and run["items"] == 7
    assert [s["run_id"] for s in run["shards"]] == ["shard0", "shard1"]
    assert all(s["bundle_sha256"] == bundle.sums_digest(d) for s, d in zip(run["shards"], shards))
    assert (run["started"], run["finished"]) == ("2026-01-01T00:00:00+00:00", "2026-01-02T00:10:00+00:00")
    assert run["corpus_sha256"] == original["run"]["corpus_sha256"] == corpus_digest(run["scenarios"])
    assert bundle.verify(tmp_path / "merged").ok
    assert "hostpath-etc" in (tmp_path / "merged" / "index.html").read_text()


@pytest.mark.parametrize("problem,message", [
    ("overlap", "is in both"),
    ("cluster", "different clusters"),
    ("tampered", r"fails verification \(changed: results.json\)"),
    ("corpus", "differs between the shards"),
    ("not-empty", "is not empty"),
])
def test_merge_refuses_inconsistent_shards(tmp_path, problem, message):
    shards = _shards(tmp_path, ("f" * 32, "e" * 32) if problem == "cluster" else ("f" * 32, "f" * 32))
    if problem == "overlap":
        shards.append(shards[0])
    if problem in ("tampered", "corpus"):
        path = shards[1] / "results.json"
        data = json.loads(path.read_text())
        data["run"]["scenarios"]["vulnerable-pod"] = "0" * 64
        path.write_text(json.dumps(data))
        if problem == "corpus":
            bundle.write_sums(shards[1])
    if problem == "not-empty":
        (tmp_path / "merged").mkdir()
        (tmp_path / "merged" / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match=message):
        bundle.merge(tmp_path / "merged", shards)


def test_load_results_errors_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(UsageError, match="no such file; give an evidence directory"):
        bundle.load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"run": 1}')
    with pytest.raises(UsageError, match="not a pss-harness results.json"):
        bundle.load_results(tmp_path)
    assert main(["report", "build", str(tmp_path / "missing")]) == 2


@pytest.mark.parametrize("record,controls", [
    ({"expected": {"checks": ["privileged"], "audit_checks": []}, "declared_checks": ["privileged", "runAsNonRoot"]},
     ["privileged"]),
    ({"expected": {"checks": [], "audit_checks": ["hostPathVolumes", "privileged"]}, "declared_checks": ["x"]},
     ["hostPathVolumes", "privileged"]),
    ({"expected": {"checks": [], "audit_checks": []}, "declared_checks": ["runAsNonRoot", "privileged"]},
     ["privileged", "runAsNonRoot"]),
    ({"expected": None, "declared_checks": ["privileged"]}, ["privileged"]),
    ({"expected": {"checks": [], "audit_checks": []}, "declared_checks": []}, [CONTROL_ROW]),
])
def test_an_item_counts_for_the_checks_its_expectation_names(record, controls):
    assert controls_of(record) == controls


def test_control_summary_status_is_failed_if_any_item_failed():
    cells = control_summary(crafted()["results"])
    assert cells[("hostPathVolumes", "baseline", "enforce")]["status"] == "failed"
    assert cells[("privileged", "baseline", "enforce")]["status"] == "passed"
    assert cells[("hostPathVolumes", "baseline", "audit")]["status"] == "skipped"
    assert cells[(CONTROL_ROW, "restricted", "enforce")] ["passed"] == 1
