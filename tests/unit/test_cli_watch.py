"""``pss-harness watch`` usage errors and ``pss-harness report history`` over a history store (no cluster)."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.cli.watch import parse_duration
from harness.core.drift import DriftEvent
from harness.reports.history import drift_events, record_drift


@pytest.mark.parametrize("args,message", [
    (["--interval", "soon"], "--interval 'soon': write a duration such as 30s, 5m, 1h or 7d"),
    (["--interval", "0s"], "must be more than zero"),
    (["--context", "x"], "--context needs --kubeconfig"),
    (["--audit-log", "!kubectl logs"], "watch reads a FILE"),
    (["--metrics-port", "70000"], "--metrics-port 70000: a TCP port"),
    (["--kubeconfig", "/nonexistent/kubeconfig", "--duration", "1s"], "--kubeconfig /nonexistent/kubeconfig: no such file"),
    (["--policy", "/nonexistent/policy.yaml"], "/nonexistent/policy.yaml"),
])
def test_usage_errors_are_one_message_and_exit_2(capsys, args, message):
    assert main(["watch", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_durations():
    assert parse_duration("5m", "x") == 300 and parse_duration("1h", "x") == 3600
    assert parse_duration("250ms", "x") == 0.25 and parse_duration("7d", "x") == 7 * 86400
    assert parse_duration(" 12 ", "x") == 12


def event(i: int, finding: str, changed, detected: float, remediated=None) -> dict:
    return DriftEvent(f"e{i}", finding, f"namespaces/n{i}", "high", "m", f"n{i}", "r", "enforce", "", detected,
                      changed, "audit" if changed is not None else "unknown", changed is None,
                      remediated_at=remediated).to_dict()


def test_report_history_prints_mttd_and_mttr_per_finding(tmp_path, capsys):
    db = tmp_path / "history.sqlite"
    assert main(["report", "history", "--db", str(db)]) == 2
    assert "no such history store" in capsys.readouterr().err
    import time

    now = time.time()
    for e in [event(1, "weaker-than-required", now - 100.5, now - 100.0, now - 40.0),
              event(2, "weaker-than-required", now - 50.0, now - 49.0, None),
              event(3, "webhook-fail-open", now - 10.0, now - 9.75, now - 5.0),
              event(4, "exempt-namespace", None, now - 99999.0, None)]:
        record_drift(db, e)
    record_drift(db, {**event(2, "weaker-than-required", now - 50.0, now - 49.0, now - 19.0)})  # remediated later
    assert len(drift_events(db)) == 4
    assert main(["report", "history", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line and not line.startswith("1 ")}
    assert rows["weaker-than-required"][1:3] == ["2", "0"]
    assert rows["weaker-than-required"][3] == "0.75s" and rows["weaker-than-required"][6] == "45.00s"
    assert rows["webhook-fail-open"][3] == "0.25s"
    assert rows["exempt-namespace"][3] == "-"
    assert "present when the watch started" in out
    assert main(["report", "history", "--db", str(db), "--since", "1h", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["events"] == 3 and "exempt-namespace" not in doc["by_finding"]
    assert doc["by_finding"]["weaker-than-required"]["mttr"]["p95"] == 60.0
