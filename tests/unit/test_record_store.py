"""Sealing a run from its record files without holding it: the same results.json and index.html, byte for byte."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from harness.reports import bundle
from harness.reports.record import control_summary, result_counts
from harness.reports.store import HEAVY, RecordStore, slim

ASSET = Path(__file__).resolve().parents[1] / "assets" / "results-one-failure.json"
HISTORY = {"fingerprint": "f" * 32, "trend": [], "previous": None, "changes": []}


def _records_on_disk(tmp_path: Path) -> tuple[dict, list[Path]]:
    """The asset's records spread over two worker files, out of order, with a blank line and a duplicate id."""
    results = json.loads(ASSET.read_text())
    records = results["results"]
    extra = copy.deepcopy(records[2])
    extra["result"], extra["problems"] = "failed", ["ran twice (a rerun plugin)"]
    records.append(extra)
    for r in records:  # non-ASCII survives as the record writer writes it (ensure_ascii=False)
        r["title"] = r["title"] + " — ü"
    parts = [tmp_path / "gw0.jsonl", tmp_path / "gw1.jsonl"]
    parts[0].write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records[::-2]) + "\n",
                        encoding="utf-8")
    parts[1].write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records[-2::-2]),
                        encoding="utf-8")
    ordered = [json.loads(line) for p in parts for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    ordered.sort(key=lambda r: r["nodeid"])
    return dict(results, results=ordered), parts


def test_the_store_orders_lines_and_slim_records_as_sorting_the_parsed_records_would(tmp_path):
    results, parts = _records_on_disk(tmp_path)
    with RecordStore.scan(parts) as store:
        assert len(store) == len(results["results"]) == 8
        assert [json.loads(line) for line in store.lines()] == results["results"]
        assert list(store.lines()) == [json.dumps(r, sort_keys=True, ensure_ascii=False).encode("utf-8")
                                       for r in results["results"]]
        assert store.records == [slim(r) for r in results["results"]]
        assert [store.record(s) for s in store.records] == results["results"]
        assert not HEAVY & {k for s in store.records for k in s}
        assert result_counts(store.records) == result_counts(results["results"])
        assert control_summary(store.records) == control_summary(results["results"])


def test_a_bundle_from_the_store_is_the_bundle_from_the_records(tmp_path):
    results, parts = _records_on_disk(tmp_path)
    held = bundle.write_bundle(tmp_path / "held", results, HISTORY).parent
    with RecordStore.scan(parts) as store:
        streamed = bundle.write_bundle(tmp_path / "streamed", dict(results, results=store.records), HISTORY,
                                       store=store).parent
    for name in (bundle.RESULTS, bundle.INDEX, bundle.HISTORY, bundle.SUMS):
        assert (streamed / name).read_bytes() == (held / name).read_bytes(), name
    assert bundle.verify(streamed).ok


def test_an_empty_run_streams_the_empty_results_document(tmp_path):
    empty = tmp_path / "main.jsonl"
    empty.write_text("")
    results = {"schema": "s", "run": {"run_id": "r"}, "results": []}
    with RecordStore.scan([empty]) as store:
        text = b"".join(bundle.results_chunks(results, store.lines())).decode()
    assert text == bundle.dump_results(results)
    assert json.loads(text)["results"] == []
