"""The pure drift logic: events opened and closed by observations, admission findings, the snapshot policy, MTTD/MTTR."""

from __future__ import annotations

import datetime

import pytest

from harness.core.drift import (
    Context,
    DriftEvent,
    DriftTracker,
    Observation,
    admission_findings,
    admission_state,
    latest_managed_time,
    parse_time,
    percentile,
    probe_failure,
    snapshot_policy,
    summarize,
)
from harness.core.namespace_rules import evaluate, matching_rules
from harness.core.posture import ClusterFacts, ModePosture, Posture

TODAY = datetime.date(2026, 6, 1)


def obs(finding="weaker-than-required", ns="team-a", mode="enforce") -> Observation:
    return Observation(finding, f"namespaces/{ns}", "high", "m", ns, "tenants", mode)


def test_an_observation_opens_one_event_and_its_absence_remediates_it():
    t = DriftTracker()
    assert t.observe({"namespaces/team-a"}, [], 100.0) == []
    ctx = {"namespaces/team-a": Context(changed_at=99.5, change_source="audit", what_changed={"labels": 1})}
    [opened] = t.observe({"namespaces/team-a"}, [obs()], 100.2, ctx)
    assert opened.kind == "opened" and opened.event.mttd == pytest.approx(0.7) and opened.event.open
    assert opened.event.change_source == "audit" and opened.event.what_changed == {"labels": 1}
    assert t.observe({"namespaces/team-a"}, [obs()], 101.0) == []           # still open: no second event
    assert t.observe({"namespaces/team-b"}, [], 102.0) == []                # another subject: untouched
    [closed] = t.observe({"namespaces/team-a"}, [], 130.2)
    assert closed.kind == "remediated" and closed.event is opened.event
    assert closed.event.mttr == pytest.approx(30.0) and closed.event.resolution == "restored"
    assert t.open == {} and t.closed == [opened.event]


def test_findings_present_at_start_are_preexisting_and_have_no_mttd():
    t = DriftTracker()
    ctx = {"namespaces/team-a": Context(changed_at=10.0, change_source="managedFields")}
    [o] = t.observe({"namespaces/team-a"}, [obs()], 100.0, ctx, preexisting={"namespaces/team-a"})
    assert o.event.preexisting and o.event.mttd is None and o.event.changed_at is None
    [c] = t.observe({"namespaces/team-a"}, [], 160.0)
    assert c.event.mttr == 60.0


def test_a_deleted_subject_closes_its_events_as_deleted():
    t = DriftTracker()
    t.observe({"namespaces/x"}, [obs(ns="x"), obs("version-pinned-below", ns="x")], 1.0)
    closed = t.gone("namespaces/x", 5.0)
    assert {c.event.finding for c in closed} == {"weaker-than-required", "version-pinned-below"}
    assert all(c.event.resolution == "deleted" for c in closed) and not t.open


def test_each_mode_and_finding_is_its_own_event():
    t = DriftTracker()
    opened = t.observe({"namespaces/a"}, [obs(mode="enforce"), obs(mode="warn"), obs(mode="enforce")], 1.0)
    assert len(opened) == 2
    [closed] = t.observe({"namespaces/a"}, [obs(mode="enforce")], 2.0)
    assert closed.event.mode == "warn"


def test_event_dicts_round_trip_and_carry_iso_times():
    t = DriftTracker()
    [o] = t.observe({"namespaces/a"}, [obs(ns="a")], 1_780_000_000.5,
                    {"namespaces/a": Context(1_780_000_000.0, "audit")})
    d = o.event.to_dict()
    assert d["state"] == "open" and d["detection_latency_s"] == 0.5 and d["time_to_remediate_s"] is None
    assert d["detected"].endswith("+00:00") and parse_time(d["detected"]) == pytest.approx(1_780_000_000.5)
    back = DriftEvent.from_dict(d)
    assert back.key == o.event.key and back.mttd == 0.5


def test_summarize_gives_mttd_and_mttr_per_finding_over_a_window():
    events = []
    for i, (finding, changed, detected, remediated) in enumerate([
            ("weaker-than-required", 0.0, 1.0, 11.0), ("weaker-than-required", 100.0, 103.0, 163.0),
            ("weaker-than-required", 200.0, 202.0, None), ("webhook-fail-open", 300.0, 300.5, 310.5),
            ("exempt-namespace", None, 400.0, None)]):
        events.append(DriftEvent(str(i), finding, "s", "high", "m", None, "", "", "", detected, changed,
                                 "audit" if changed is not None else "unknown", changed is None,
                                 remediated_at=remediated))
    s = summarize(events)
    w = s["weaker-than-required"]
    assert (w["events"], w["open"], w["remediated"]) == (3, 1, 2)
    assert w["mttd"] == {"n": 3, "mean": 2.0, "p50": 2.0, "p95": 3.0, "max": 3.0}
    assert w["mttr"] == {"n": 2, "mean": 35.0, "p50": 10.0, "p95": 60.0, "max": 60.0}
    assert s["exempt-namespace"]["preexisting"] == 1 and s["exempt-namespace"]["mttd"]["n"] == 0
    assert s["*"]["events"] == 5 and s["*"]["mttd"]["n"] == 4
    windowed = summarize([e.to_dict() for e in events], since=150.0, until=350.0)
    assert set(windowed) == {"weaker-than-required", "webhook-fail-open", "*"}
    assert windowed["weaker-than-required"]["events"] == 1
    assert summarize([]) == {}


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 95) == 4
    assert percentile(list(range(1, 101)), 95) == 95


def test_admission_findings_compare_with_the_objects_present_at_start():
    wh = {"metadata": {"name": "guard"}, "webhooks": [{"name": "a.x", "failurePolicy": "Fail"},
                                                      {"name": "b.x"}]}
    base = {"validatingadmissionpolicies": {"p": admission_state("validatingadmissionpolicies",
                                                                 {"spec": {"failurePolicy": "Fail"}})},
            "validatingadmissionpolicybindings": {"b": admission_state(
                "validatingadmissionpolicybindings", {"spec": {"policyName": "p", "validationActions": ["Deny"]}})},
            "validatingwebhookconfigurations": {"guard": admission_state("validatingwebhookconfigurations", wh)}}
    assert admission_findings(base, base) == []
    assert base["validatingwebhookconfigurations"]["guard"]["webhooks"]["b.x"] == {"failurePolicy": "Fail"}  # default
    relaxed = {"validatingadmissionpolicies": {"p": {"failurePolicy": "Ignore"}},
               "validatingadmissionpolicybindings": {"b": {"policyName": "p", "validationActions": ["Audit", "Warn"]}},
               "validatingwebhookconfigurations": {"guard": {"webhooks": {"a.x": {"failurePolicy": "Ignore"}}}}}
    found = {(o.finding, o.subject, o.detail) for o in admission_findings(base, relaxed)}
    assert found == {("vap-fail-open", "validatingadmissionpolicies/p", ""),
                     ("vap-binding-relaxed", "validatingadmissionpolicybindings/b", ""),
                     ("webhook-fail-open", "validatingwebhookconfigurations/guard", "a.x"),
                     ("webhook-deleted", "validatingwebhookconfigurations/guard", "b.x")}
    gone = {(o.finding, o.subject) for o in admission_findings(base, {})}
    assert gone == {("vap-deleted", "validatingadmissionpolicies/p"),
                    ("vap-binding-deleted", "validatingadmissionpolicybindings/b"),
                    ("webhook-deleted", "validatingwebhookconfigurations/guard")}
    # what was already failing open or not denying at the start is not held to more
    lax = {"validatingwebhookconfigurations": {"g": {"webhooks": {"h": {"failurePolicy": "Ignore"}}}}}
    assert admission_findings(lax, lax) == []
    with pytest.raises(ValueError):
        admission_state("pods", {})


def _posture(name, enforce: ModePosture, warn=None, exempt=(), labels=None) -> Posture:
    unknown = ModePosture("unknown", evidence="no audit source")
    return Posture(name, labels if labels is not None else {"pod-security.kubernetes.io/enforce": enforce.level or ""},
                   enforce, warn or unknown, unknown, tuple(exempt))


def test_snapshot_policy_holds_each_namespace_to_its_startup_posture_and_new_ones_to_a_labelled_baseline():
    facts = ClusterFacts(plugin="loaded", runner="me", runner_exempt=False, newest_minor=37)
    start = [_posture("a", ModePosture("proven", "restricted", "latest", "label")),
             _posture("b", ModePosture("proven", "baseline", "v1.30", "label"),
                      ModePosture("proven", "restricted", "latest", "label")),
             _posture("c", ModePosture("none", source="default"), ModePosture("none"), exempt=("namespace",))]
    desired = snapshot_policy(start, TODAY)

    def findings(p):
        return sorted(f.id for r in matching_rules(desired, p.namespace, p.labels)
                      for f in evaluate(r, p, facts, TODAY))

    assert [findings(p) for p in start] == [[], [], []]
    assert findings(_posture("a", ModePosture("proven", "baseline", "latest", "label"))) == ["weaker-than-required"]
    assert findings(_posture("a", ModePosture("proven", "restricted", "v1.24", "label"))) == ["version-pinned-below"]
    assert findings(_posture("b", ModePosture("proven", "baseline", "v1.29", "label"),
                             ModePosture("proven", "restricted", "latest", "label"))) == ["version-pinned-below"]
    assert findings(_posture("new", ModePosture("proven", "privileged", None, "default"), labels={})) == \
        ["weaker-than-required"]
    assert findings(_posture("new", ModePosture("proven", "baseline", "latest", "default"), labels={})) == \
        ["unlabelled-default-only"]
    assert findings(_posture("new", ModePosture("proven", "baseline", "latest", "label"))) == []


def test_probe_failures_are_told_apart_from_answers_about_the_posture():
    assert probe_failure(0) == "unreachable"
    assert probe_failure(503) == probe_failure(504) == "unavailable"
    assert probe_failure(429) == "throttled"
    assert probe_failure(401) == "forbidden"
    assert probe_failure(500, "etcdserver: request timed out") == "server-error"
    # a webhook that failed is the namespace's real admission chain (an unprobeable posture), not an outage
    assert probe_failure(500, 'Internal error occurred: failed calling webhook "x": connection refused') is None
    assert probe_failure(403, 'violates PodSecurity "restricted:latest"') is None
    assert probe_failure(201) is None


def test_change_times_come_from_managed_fields_else_creation():
    obj = {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [
        {"manager": "a", "time": "2026-01-01T00:00:05Z"}, {"manager": "b", "time": "2026-01-01T00:01:00Z"},
        {"manager": "c"}]}}
    assert latest_managed_time(obj) == parse_time("2026-01-01T00:01:00Z")
    assert latest_managed_time({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}) == \
        parse_time("2026-01-01T00:00:00Z")
    assert latest_managed_time({}) is None and latest_managed_time(None) is None
    assert parse_time("2026-12-01T08:40:04.049170Z") == pytest.approx(parse_time("2026-12-01T08:40:04Z") + 0.04917)
    assert parse_time("yesterday") is None and parse_time(None) is None
