"""Deterministic sharding (``--psa-shard I/N``, an Indexed Job's index) and merging the shards' bundles (no cluster)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from harness.cli import main
from harness.core.errors import UsageError
from harness.core.shard import Shard, coverage, from_environment, shard_of
from harness.reports import bundle

REPO = Path(__file__).resolve().parents[2]
ASSET = REPO / "tests" / "assets" / "results-one-failure.json"
FILES = {  # three scenario files of the corpus: an attack, a version-boundary scenario, a control
    "vulnerable-pod": REPO / "scenarios" / "baseline" / "privileged" / "vulnerable-pod.yaml",
    "hardened-pod": REPO / "scenarios" / "controls" / "bases" / "hardened-pod.yaml",
}


# -- the partition -------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=80), unique=True, max_size=60), st.integers(1, 17))
def test_every_item_is_in_exactly_one_shard_for_any_count(nodeids, count):
    owners = {n: [i for i in range(count) if Shard(i, count).owns(n)] for n in nodeids}
    assert all(len(o) == 1 for o in owners.values())
    assert all(owners[n] == [shard_of(n, count)] for n in nodeids)


def test_the_partition_is_the_sha256_of_the_node_id_not_pythons_salted_hash():
    nodeid = "scenarios/baseline/privileged/vulnerable-pod.yaml::vulnerable-pod[Pod-baseline-enforce-latest]"
    # computed once with sha256sum: the same on every machine and every run
    assert shard_of(nodeid, 2**64) == int.from_bytes(__import__("hashlib").sha256(nodeid.encode()).digest()[:8], "big")
    other = subprocess.run([sys.executable, "-c", "from harness.core.shard import shard_of; import sys; "
                            f"print(shard_of({nodeid!r}, 7))"], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}, check=True)
    assert int(other.stdout) == shard_of(nodeid, 7)


@pytest.mark.parametrize("text,message", [
    ("4/4", "the index must be 0 to 3"), ("1/0", "the count at least 1"), ("-1/4", "INDEX/COUNT"),
    ("one/two", "INDEX/COUNT"), ("2", "INDEX/COUNT"),
])
def test_a_bad_shard_is_a_usage_error_naming_it(text, message):
    with pytest.raises(UsageError, match=message) as err:
        Shard.parse(text, "--psa-shard")
    assert f"--psa-shard {text!r}" in str(err.value)


def test_an_indexed_jobs_pod_reads_its_index_and_the_count_it_is_given():
    assert from_environment({}) == (None, None)
    assert from_environment({"JOB_COMPLETION_INDEX": "2", "PSS_HARNESS_SHARDS": "3"}) == (Shard(2, 3), "$JOB_COMPLETION_INDEX")
    with pytest.raises(UsageError, match=r"number of shards is unknown .* Set \$PSS_HARNESS_SHARDS to the Job's "
                                         r"spec.completions"):
        from_environment({"JOB_COMPLETION_INDEX": "2"})
    with pytest.raises(UsageError, match=r"\$JOB_COMPLETION_INDEX is not"):
        from_environment({"PSS_HARNESS_SHARDS": "3"})
    with pytest.raises(UsageError, match="the index must be 0 to 2"):
        from_environment({"JOB_COMPLETION_INDEX": "3", "PSS_HARNESS_SHARDS": "3"})


# -- collection: the shards' union is the unsharded run, item for item ---------------------------------

@pytest.fixture
def corpus(pytester):
    for name, path in FILES.items():
        pytester.makefile(".yaml", **{name: path.read_text()})
    return pytester


def _ids(result) -> list[str]:
    return [line for line in result.outlines if "::" in line]


@pytest.mark.parametrize("count", [2, 3, 4])
def test_the_shards_partition_the_collection_and_report_the_rest_deselected(corpus, count):
    whole = _ids(corpus.runpytest("--co", "-q"))
    assert len(whole) == 2 * 9 * 7
    shards = []
    for index in range(count):
        result = corpus.runpytest("--co", "-q", "--psa-shard", f"{index}/{count}")
        ids = _ids(result)
        assert ids and all(shard_of(i, count) == index for i in ids)
        assert f"{len(whole) - len(ids)} deselected" in result.stdout.str()
        shards.append(ids)
    assert sorted(i for s in shards for i in s) == sorted(whole)  # every item exactly once
    assert sum(len(s) for s in shards) == len(whole)


def test_sharding_composes_with_other_selections(corpus):
    whole = _ids(corpus.runpytest("--co", "-q", "-m", "level_restricted", "--psa-kinds", "Pod,Job"))
    parts = [_ids(corpus.runpytest("--co", "-q", "-m", "level_restricted", "--psa-kinds", "Pod,Job",
                                   "--psa-shard", f"{i}/3")) for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(whole) and len(whole) == 2 * 2 * 3


def test_the_shard_comes_from_an_indexed_jobs_environment_the_ini_or_the_flag(corpus, monkeypatch):
    whole = _ids(corpus.runpytest("--co", "-q"))
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    monkeypatch.setenv("PSS_HARNESS_SHARDS", "3")
    from_job = corpus.runpytest("--co", "-q")
    assert _ids(from_job) == [i for i in whole if shard_of(i, 3) == 1]
    assert "shard 1/3 ($JOB_COMPLETION_INDEX)" in corpus.runpytest("--co").stdout.str()  # the header says so
    flag = corpus.runpytest("--co", "-q", "--psa-shard", "0/1")  # the flag wins: everything
    assert _ids(flag) == whole
    monkeypatch.delenv("PSS_HARNESS_SHARDS")
    missing = corpus.runpytest("--co", "-q")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    assert "PSS_HARNESS_SHARDS" in missing.stderr.str() and "Traceback" not in missing.stderr.str()
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    corpus.makeini("[pytest]\npsa_shard = 2/3\n")
    assert _ids(corpus.runpytest("--co", "-q")) == [i for i in whole if shard_of(i, 3) == 2]
    bad = corpus.runpytest("--co", "-q", "--psa-shard", "3/3")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR and "the index must be 0 to 2" in bad.stderr.str()


# -- merging the shards' bundles ------------------------------------------------------------------------

def _shard_bundles(tmp_path: Path, count: int, indexes=None, options=None) -> list[Path]:
    data = json.loads(ASSET.read_text())
    out = []
    for index in range(count) if indexes is None else indexes:
        shard = copy.deepcopy(data)
        shard["run"].update(run_id=f"s{index}", shard={"index": index, "count": count, "source": "command line"})
        shard["run"]["options"] = dict(shard["run"]["options"], run_id=f"s{index}", shard={"index": index, "count": count},
                                       **(options or {}).get(index, {}))
        shard["results"] = [r for r in data["results"] if shard_of(r["nodeid"], count) == index]
        bundle.write_bundle(tmp_path / f"s{index}", shard)
        out.append(tmp_path / f"s{index}")
    return out


def test_merging_every_shard_gives_the_unsharded_records_and_a_complete_coverage(tmp_path, schema_check, capsys):
    shards = _shard_bundles(tmp_path, 3)
    assert main(["report", "merge", str(tmp_path / "m"), *map(str, reversed(shards))]) == 0
    assert "from 3 of 3 shards" in capsys.readouterr().out
    merged = bundle.load_results(tmp_path / "m")
    assert merged["results"] == json.loads(ASSET.read_text())["results"]
    assert merged["run"]["shard_coverage"] == {"count": 3, "present": [0, 1, 2], "missing": [], "complete": True}
    assert sorted((s["index"], s["count"]) for s in merged["run"]["shards"]) == [(0, 3), (1, 3), (2, 3)]
    assert "shard" not in merged["run"]["options"] and bundle.verify(tmp_path / "m").ok
    schema_check(merged, "results")
    schema_check(bundle.load_results(shards[0]), "results")


def test_a_missing_shard_is_refused_unless_the_merge_is_marked_incomplete(tmp_path, capsys, schema_check):
    shards = _shard_bundles(tmp_path, 4, indexes=[0, 1, 3])
    assert main(["report", "merge", str(tmp_path / "m"), *map(str, shards)]) == 2
    assert "shard(s) 2/4 of the run are missing" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(["report", "merge", str(tmp_path / "m"), *map(str, shards), "--allow-incomplete"]) == 0
    assert "INCOMPLETE: shard(s) 2/4 missing" in capsys.readouterr().err
    merged = bundle.load_results(tmp_path / "m")
    assert merged["run"]["shard_coverage"] == {"count": 4, "present": [0, 1, 3], "missing": [2], "complete": False}
    assert "INCOMPLETE: shard(s) 2/4 missing" in (tmp_path / "m" / "index.html").read_text()
    schema_check(merged, "results")


@pytest.mark.parametrize("case,message", [
    ("twice", r"shard 1/3 is given twice"),
    ("counts", r"split the run differently"),
    ("mixed", r"is not a shard \(no run.shard\)"),
    ("options", r"ran with other options than .* \(levels differ\)"),
])
def test_shards_that_overlap_or_do_not_belong_together_are_refused(tmp_path, case, message):
    shards = _shard_bundles(tmp_path, 3, options={1: {"levels": ["restricted"]}} if case == "options" else None)
    if case == "twice":
        copy_dir = tmp_path / "again"
        data = bundle.load_results(shards[1])
        data["run"]["run_id"] = "again"
        data["results"] = []  # no item overlaps, the shard index does
        bundle.write_bundle(copy_dir, data)
        shards.append(copy_dir)
    if case == "counts":
        shards += _shard_bundles(tmp_path / "four", 4, indexes=[3])
    if case == "mixed":
        data = bundle.load_results(shards[2])
        del data["run"]["shard"]
        bundle.write_bundle(shards[2], data)
    with pytest.raises(UsageError, match=message):
        bundle.merge(tmp_path / "m", shards)


def test_coverage_of_plain_bundles_is_none_so_an_old_style_merge_still_works():
    assert coverage([("a", None), ("b", None)]) is None
    assert coverage([("a", {"index": 1, "count": 2}), ("b", {"index": 0, "count": 2})]).complete
