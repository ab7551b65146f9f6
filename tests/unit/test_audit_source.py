"""Finding a request's audit event in a JSON-lines audit log (no cluster)."""

from __future__ import annotations

import concurrent.futures
import json

import pytest

from harness.core.errors import UsageError
from harness.cluster.audit import AuditSource


def event(audit_id: str, stage: str = "ResponseComplete", **annotations) -> str:
    return json.dumps({"auditID": audit_id, "stage": stage, "annotations": annotations},
                      separators=(",", ":")) + "\n"


def test_events_are_found_by_id_and_only_at_response_complete(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("")
    source = AuditSource(str(log))
    with log.open("a") as fh:
        fh.write(event("a-1", stage="RequestReceived"))
        fh.write(event("a-1", **{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"}))
        fh.write("not json at all\n")
        fh.write('{"auditID": "spaced", "stage": "ResponseComplete"}\n')  # a command may pretty-print
    found = source.find("a-1", timeout=0)
    assert found["stage"] == "ResponseComplete"
    assert found["annotations"] == {"pod-security.kubernetes.io/enforce-policy": "baseline:latest"}
    assert source.find("a-1", timeout=0) is None  # handed out once
    assert source.find("spaced", timeout=0)["auditID"] == "spaced"
    assert source.find("never", timeout=0.1) is None


def test_events_written_before_the_source_opened_are_not_this_runs(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("old"))
    source = AuditSource(str(log))
    with log.open("a") as fh:
        fh.write(event("new"))
    assert source.find("old", timeout=0) is None
    assert source.find("new", timeout=0)["auditID"] == "new"


def test_a_truncated_log_is_read_from_the_start(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("x") * 50)
    source = AuditSource(str(log))
    log.write_text(event("after-rotation"))
    assert source.find("after-rotation", timeout=0)["auditID"] == "after-rotation"


def test_a_partial_last_line_waits_for_its_end(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("")
    source = AuditSource(str(log))
    line = event("p")
    with log.open("a") as fh:
        fh.write(line[:20])
        fh.flush()
        assert source.find("p", timeout=0) is None
        fh.write(line[20:])
    assert source.find("p", timeout=0)["auditID"] == "p"


def test_threads_share_one_source(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("")
    source = AuditSource(str(log))
    ids = [f"id-{i}" for i in range(400)]
    with log.open("a") as fh:
        fh.writelines(event(i) for i in ids)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda i: source.find(i, timeout=1), ids))
    assert [e["auditID"] for e in found] == ids


def test_a_missing_file_names_the_fix(tmp_path):
    with pytest.raises(UsageError, match="no such file.*!COMMAND"):
        AuditSource(str(tmp_path / "nope.log"))


def test_since_zero_reads_the_whole_log_and_a_path_object_is_accepted(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("before") + event("also-before"))
    source = AuditSource(log, since=0)
    assert source.find("also-before", timeout=0)["auditID"] == "also-before"
    assert source.find("before", timeout=0)["auditID"] == "before"


def test_find_waits_for_an_event_written_meanwhile(tmp_path):
    import threading

    log = tmp_path / "audit.log"
    log.write_text("")
    source = AuditSource(str(log))
    timer = threading.Timer(0.2, lambda: log.open("a").write(event("late")))
    timer.start()
    try:
        assert source.find("late", timeout=10)["auditID"] == "late"
    finally:
        timer.join()


def test_unclaimed_events_are_forgotten_after_keep_seconds(tmp_path):
    """Other processes' events are indexed as the log is read; those nobody asks for do not pile up."""
    log = tmp_path / "audit.log"
    log.write_text("")
    source = AuditSource(str(log))
    with log.open("a") as fh:
        fh.writelines(event(f"other-{i}") for i in range(100))
        fh.write(event("mine"))
    assert source.find("mine", timeout=0)["auditID"] == "mine"
    assert len(source._index) == 100  # read, not asked for
    source.KEEP = 0.0
    with log.open("a") as fh:
        fh.write(event("next"))
    assert source.find("next", timeout=0)["auditID"] == "next"
    assert source._index == {}  # the first read's batch is older than KEEP: forgotten
    assert source.find("other-1", timeout=0) is None
