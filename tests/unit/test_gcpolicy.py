"""The garbage-collection policy of long sessions: frozen only when large; reports' strings shared, values unchanged."""

from __future__ import annotations

import gc
import sys
import types

from harness.plugin import gcpolicy


def test_a_small_collection_is_not_frozen_and_a_large_one_is(monkeypatch):
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert not gcpolicy.after_collection(gcpolicy.FREEZE_AT - 1) and not frozen
    assert gcpolicy.after_collection(gcpolicy.FREEZE_AT) and frozen == [True]


def test_reports_freeze_every_so_many_items(monkeypatch):
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    counter = gcpolicy.ReportCounter()
    assert not any(counter() for _ in range(gcpolicy.ITEMS_PER_FREEZE - 1))
    assert counter() and len(frozen) == 1


def test_shared_strings_change_no_value():
    def copy(s: str) -> str:
        return "".join(list(s))  # an equal string, another object (as an unserialised report's)

    nodeid = "scenarios/x.yaml::vulnerable-pod[Pod-baseline-enforce-latest]"
    report = types.SimpleNamespace(nodeid=copy(nodeid), location=(copy("scenarios/x.yaml"), None, copy("x")),
                                   keywords={copy("integration"): 1, copy("level_baseline"): 1},
                                   user_properties=[(copy("scenario"), copy("vulnerable-pod")), ("http_status", 403)])
    other = types.SimpleNamespace(nodeid=copy(nodeid), location=None, keywords={copy("integration"): 1},
                                  user_properties=[(copy("scenario"), copy("vulnerable-pod"))])
    gcpolicy.share_strings(report)
    gcpolicy.share_strings(other)
    assert report.nodeid == nodeid and report.nodeid is other.nodeid
    assert report.location == ("scenarios/x.yaml", None, "x")
    assert report.keywords == {"integration": 1, "level_baseline": 1}
    assert next(iter(report.keywords)) is next(iter(other.keywords))
    assert report.user_properties == [("scenario", "vulnerable-pod"), ("http_status", 403)]
    assert report.user_properties[0][1] is other.user_properties[0][1]
    # attribute names held once too (an unserialised report's __dict__ brings its own keys)
    key = next(k for k in vars(report) if k == "user_properties")
    assert key is next(k for k in vars(other) if k == "user_properties")
    carried = types.SimpleNamespace(nodeid=nodeid, pss_harness={copy("result"): copy("passed")})
    gcpolicy.share_strings(carried)
    assert carried.pss_harness == {"result": "passed"} and next(iter(carried.pss_harness)) is sys.intern("result")


def _report(outcome: str, when: str):
    return types.SimpleNamespace(outcome=outcome, when=when, user_properties=[("scenario", "x")],
                                 keywords={"x": 1, "level_baseline": 1})


def test_a_passed_report_keeps_only_what_counting_needs():
    setup, call, teardown = (_report("passed", w) for w in ("setup", "call", "teardown"))
    stats = {"": [setup], "passed": [call]}
    assert gcpolicy.slim_passed(setup, stats) and stats[""] == []  # nobody reads passed setup reports
    assert gcpolicy.slim_passed(call, stats) and stats["passed"] == [call]  # counted: kept
    assert call.user_properties == () and dict(call.keywords) == {}
    other = _report("passed", "setup")
    stats[""] = [other]
    assert gcpolicy.slim_passed(teardown, stats) and stats[""] == [other]  # only this report is given up


def test_reports_that_did_not_pass_are_left_whole():
    for outcome, when in (("failed", "call"), ("skipped", "setup"), ("failed", "teardown")):
        report = _report(outcome, when)
        stats = {"": [report]}
        assert not gcpolicy.slim_passed(report, stats)
        assert report.user_properties == [("scenario", "x")] and "level_baseline" in report.keywords
        assert stats[""] == [report]
    xfailed = _report("passed", "call")
    xfailed.wasxfail = "reason"
    assert not gcpolicy.slim_passed(xfailed, {}) and xfailed.user_properties
