"""The garbage-collection policy of long sessions: frozen only when large; reports' strings shared, values unchanged."""

from __future__ import annotations

import gc
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
