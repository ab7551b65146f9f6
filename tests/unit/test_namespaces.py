"""The janitor (``harness.cluster.namespaces``) through the fake cluster: sweep age, readiness, cleanup."""

from __future__ import annotations

import calendar
import os
import time

import pytest

from harness.cluster.namespaces import (OWNER, OWNER_LABEL, RUN_LABEL, Namespaces, await_policy, created_at)
from harness.core.answers import Response
from harness.core.errors import ClusterError, UsageError
from harness.core.expectations import Policy
from harness.core.model import LATEST, Level, Mode, PolicyVersion
from harness.core.settings import standalone

from fake_cluster import FakeCluster, iso

RESTRICTED = Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)
BASELINE_WARN = Policy(Level.BASELINE, Mode.WARN, PolicyVersion.parse("v1.30"))


@pytest.fixture
def local_zone():
    """Set the process's local time zone (TZ + tzset) for one test, and restore it after."""
    saved = os.environ.get("TZ")

    def set_zone(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield set_zone
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def utc(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


# Zones in daylight-saving time on the pinned date (and UTC as the control): under DST,
# time.mktime(...) - time.timezone is an hour off, so the old sweep took a namespace created a
# minute ago for one 61 minutes old and deleted the namespaces of a run still going.
@pytest.mark.parametrize("zone, now", [
    ("Australia/Sydney", "2026-01-15T12:00:00Z"),   # AEDT, UTC+11
    ("Europe/Berlin", "2026-07-15T12:00:00Z"),      # CEST, UTC+2
    ("America/New_York", "2026-07-15T03:30:00Z"),   # EDT, UTC-4; local date is the day before
    ("UTC", "2026-07-15T12:00:00Z"),
])
def test_sweep_keeps_a_fresh_namespace_of_another_run_and_deletes_a_two_hour_old_one(local_zone, zone, now):
    local_zone(zone)
    assert zone == "UTC" or time.localtime(utc(now)).tm_isdst == 1, f"{zone} is not in DST on {now}"
    t = utc(now)
    fake = FakeCluster(clock=lambda: t)
    other = {OWNER_LABEL: OWNER, RUN_LABEL: "other-run"}
    fake.add_namespace("pss-fresh", other, created=t - 60)
    fake.add_namespace("pss-old", other, created=t - 2 * 3600)
    fake.add_namespace("pss-old-terminating", other, created=t - 2 * 3600, phase="Terminating")
    fake.add_namespace("pss-mine", {OWNER_LABEL: OWNER, RUN_LABEL: "mine"}, created=t - 3 * 3600)
    fake.add_namespace("not-ours", {RUN_LABEL: "other-run"}, created=t - 5 * 3600)
    janitor = Namespaces(fake, standalone(run_id="mine", sweep_after_minutes=60), clock=lambda: t)

    assert janitor.sweep_orphans() == ["pss-old"]
    assert fake.deleted_namespaces() == ["pss-old"]
    assert {"pss-fresh", "pss-mine", "pss-old-terminating", "not-ours"} <= set(fake.namespaces)


def test_sweep_age_boundary_and_the_configured_age():
    t = utc("2026-07-15T12:00:00Z")
    fake = FakeCluster(clock=lambda: t)
    other = {OWNER_LABEL: OWNER, RUN_LABEL: "r"}
    fake.add_namespace("at-59m", other, created=t - 59 * 60)
    fake.add_namespace("at-61m", other, created=t - 61 * 60)
    fake.add_namespace("at-11m", other, created=t - 11 * 60)
    fake.add_namespace("at-9m", other, created=t - 9 * 60)
    assert Namespaces(fake, standalone(run_id="me", sweep_after_minutes=60), clock=lambda: t).sweep_orphans() == ["at-61m"]
    assert Namespaces(fake, standalone(run_id="me", sweep_after_minutes=10), clock=lambda: t).sweep_orphans() == \
        ["at-59m", "at-11m"]
    assert list(fake.namespaces) == ["at-9m"]


def test_sweep_never_touches_anything_with_a_namespace_map():
    fake = FakeCluster()
    fake.add_namespace("ancient", {OWNER_LABEL: OWNER, RUN_LABEL: "r"}, created=0)
    cfg = standalone(run_id="me", namespace_map={RESTRICTED.label: "ancient"})
    assert Namespaces(fake, cfg).sweep_orphans() == []
    assert fake.deleted_namespaces() == []


def test_created_at_reads_utc_whatever_the_local_zone(local_zone):
    for zone in ("Australia/Sydney", "Europe/Berlin", "UTC"):
        local_zone(zone)
        assert created_at("2026-07-15T12:00:00Z") == 1784116800.0
        assert created_at(iso(1767225600.0)) == 1767225600.0
    with pytest.raises(ClusterError, match="creationTimestamp 'yesterday'"):
        created_at("yesterday")


def test_namespaces_are_labelled_created_once_and_awaited():
    fake = FakeCluster(sa_after=3)
    seen = []
    janitor = Namespaces(fake, standalone(run_id="r1"), "gw0", ready=lambda p, n: seen.append((p, n)))
    got = janitor.ensure([RESTRICTED, BASELINE_WARN, RESTRICTED])
    assert got == {RESTRICTED: "pss-r1-gw0-restricted-enforce-latest", BASELINE_WARN: "pss-r1-gw0-baseline-warn-v1-30"}
    labels = fake.namespaces[got[BASELINE_WARN]]["metadata"]["labels"]
    assert labels == {"pod-security.kubernetes.io/warn": "baseline", "pod-security.kubernetes.io/warn-version": "v1.30",
                      # every other mode pinned: no AdmissionConfiguration default applies in the run's namespaces
                      "pod-security.kubernetes.io/enforce": "privileged",
                      "pod-security.kubernetes.io/enforce-version": "latest",
                      "pod-security.kubernetes.io/audit": "privileged", "pod-security.kubernetes.io/audit-version": "latest",
                      OWNER_LABEL: OWNER, RUN_LABEL: "r1", "pss-harness.io/policy": BASELINE_WARN.label}
    # all created before any is awaited, each awaited once, readiness checked once per namespace
    ops = [op for op, _ in fake.calls if op in ("create_namespace", "wait_for")]
    assert ops == ["create_namespace", "create_namespace", "wait_for", "wait_for"]
    assert seen == [(RESTRICTED, got[RESTRICTED]), (BASELINE_WARN, got[BASELINE_WARN])]
    assert janitor.ensure([RESTRICTED]) == {RESTRICTED: got[RESTRICTED]}
    assert [op for op, _ in fake.calls].count("create_namespace") == 2
    assert janitor.ensure([RESTRICTED], probe=False) and len(seen) == 2


def test_a_missing_service_account_names_the_namespace():
    fake = FakeCluster(sa_after=10**9)
    janitor = Namespaces(fake, standalone(run_id="r"), sa_timeout=0.05)
    with pytest.raises(ClusterError, match=r"pss-r-main-restricted-enforce-latest/serviceaccounts/default did not "
                                           r"appear.*controller manager"):
        janitor.ensure([RESTRICTED])


@pytest.mark.parametrize("mode", [Mode.ENFORCE, Mode.WARN, Mode.AUDIT])
def test_readiness_polls_until_the_labels_are_in_effect(tmp_path, mode):
    from harness.cluster.audit import AuditSource

    log = tmp_path / "audit.log"
    log.write_text("")
    fake = FakeCluster(labels_after=4, audit_log=log)
    policy = Policy(Level.BASELINE, mode, LATEST)
    fake.create_namespace("ns-a", policy.labels())
    await_policy(fake, policy, "ns-a", audit=AuditSource(log), server_minor=37, interval=0.001)
    probes = [arg for op, arg in fake.calls if op == "submit"]
    assert len(probes) == 5  # four answers from before the cache saw the labels, then the one that counts
    assert all(dry_run for *_, dry_run in probes)


def test_labels_not_in_effect_within_the_deadline_name_the_namespace():
    fake = FakeCluster(labels_after=None)
    fake.create_namespace("ns-slow", RESTRICTED.labels())
    t0 = time.monotonic()
    with pytest.raises(ClusterError) as info:
        await_policy(fake, RESTRICTED, "ns-slow", audit=None, server_minor=37, timeout=0.3, interval=0.01)
    assert time.monotonic() - t0 < 5
    message = str(info.value)
    assert "namespace ns-slow is labelled" in message
    assert "pod-security.kubernetes.io/enforce': 'restricted'" in message
    assert "was admitted there for 0s: the PodSecurity labels are not in effect" in message


def test_readiness_has_nothing_to_observe_for_privileged_or_audit_without_a_log():
    fake = FakeCluster(labels_after=None)
    await_policy(fake, Policy(Level.PRIVILEGED, Mode.ENFORCE, LATEST), "x", audit=None, server_minor=37)
    await_policy(fake, Policy(Level.RESTRICTED, Mode.AUDIT, LATEST), "x", audit=None, server_minor=37)
    assert not [c for c in fake.calls if c[0] == "submit"]


def test_cleanup_deletes_what_was_created_before_an_error():
    fake = FakeCluster()
    fake.add_namespace("pss-r-main-baseline-warn-v1-30", {})  # taken: the second create fails
    janitor = Namespaces(fake, standalone(run_id="r"))
    with pytest.raises(ClusterError, match="409 AlreadyExists"):
        janitor.ensure([RESTRICTED, BASELINE_WARN])
    assert janitor.created == ["pss-r-main-restricted-enforce-latest"]
    janitor.cleanup()
    assert fake.deleted_namespaces() == ["pss-r-main-restricted-enforce-latest"]
    assert "pss-r-main-baseline-warn-v1-30" in fake.namespaces  # not ours: left alone
    janitor.cleanup()
    assert fake.deleted_namespaces() == ["pss-r-main-restricted-enforce-latest"]  # once


def test_keep_namespaces_keeps_them():
    fake = FakeCluster()
    janitor = Namespaces(fake, standalone(run_id="r", keep_namespaces=True))
    janitor.ensure([RESTRICTED, BASELINE_WARN])
    janitor.cleanup()
    assert fake.deleted_namespaces() == []
    assert len(fake.namespaces) == 2


def test_a_namespace_map_uses_the_users_namespaces_after_checking_their_labels():
    fake = FakeCluster()
    fake.add_namespace("team-a", RESTRICTED.labels())
    fake.add_namespace("team-b", {"pod-security.kubernetes.io/warn": "restricted"})
    cfg = standalone(run_id="r", namespace_map={RESTRICTED.label: "team-a", BASELINE_WARN.label: "team-b"})
    janitor = Namespaces(fake, cfg)
    assert janitor.ensure([RESTRICTED]) == {RESTRICTED: "team-a"}
    with pytest.raises(UsageError, match=r"namespace team-b \(mapped to baseline-warn-v1.30\) must carry the labels"):
        janitor.ensure([BASELINE_WARN])
    with pytest.raises(UsageError, match=r"--psa-namespace-map has no namespace for policy 'privileged-enforce-latest'"):
        janitor.ensure([Policy(Level.PRIVILEGED, Mode.ENFORCE, LATEST)])
    janitor.cleanup()
    assert [op for op, _ in fake.calls if op in ("create_namespace", "delete_namespace")] == []


def test_a_mapped_namespace_labelled_only_in_the_mode_under_test_is_refused_naming_the_pins():
    """The other modes would come from the cluster's AdmissionConfiguration defaults: the labels must pin them."""
    fake = FakeCluster()
    fake.add_namespace("team-w", {"pod-security.kubernetes.io/warn": "baseline",
                                  "pod-security.kubernetes.io/warn-version": "v1.30"})
    janitor = Namespaces(fake, standalone(run_id="r", namespace_map={BASELINE_WARN.label: "team-w"}))
    with pytest.raises(UsageError) as exc:
        janitor.ensure([BASELINE_WARN])
    message = str(exc.value)
    assert "namespace team-w (mapped to baseline-warn-v1.30) must carry the labels {'pod-security.kubernetes.io/" \
           "enforce': 'privileged', 'pod-security.kubernetes.io/enforce-version': 'latest', 'pod-security." \
           "kubernetes.io/audit': 'privileged', 'pod-security.kubernetes.io/audit-version': 'latest'}" in message
    assert "no cluster-wide default applies" in message


def test_shared_namespaces_are_one_per_policy_for_every_process_of_a_run():
    """xdist's processes share a namespace per policy: created once, found by the others, deleted by neither."""
    cluster = FakeCluster()
    cfg = standalone(run_id="r1")
    gw0 = Namespaces(cluster, cfg, "gw0", shared=True)
    gw1 = Namespaces(cluster, cfg, "gw1", shared=True)
    first = gw0.ensure([RESTRICTED, BASELINE_WARN], probe=False)
    second = gw1.ensure([BASELINE_WARN, RESTRICTED], probe=False)
    assert first == second and "gw" not in first[RESTRICTED]
    assert len([c for c in cluster.calls if c[0] == "create_namespace"]) == 4  # the second process got 409 twice
    assert sorted(cluster.namespaces) == sorted(first.values())
    gw0.cleanup()
    gw1.cleanup()
    assert cluster.deleted_namespaces() == []  # the controller deletes the run's namespaces at the end


def test_a_shared_name_held_by_another_run_is_refused_naming_the_fix():
    cluster = FakeCluster()
    cfg = standalone(run_id="r1")
    name = Namespaces(cluster, cfg, "gw0", shared=True).name_for(RESTRICTED)
    cluster.add_namespace(name, {**RESTRICTED.labels(), OWNER_LABEL: OWNER, RUN_LABEL: "someone-else"})
    with pytest.raises(ClusterError, match="pass a different --psa-run-id"):
        Namespaces(cluster, cfg, "gw1", shared=True).ensure([RESTRICTED], probe=False)


def test_unshared_namespaces_are_per_process_and_deleted_by_it():
    cluster = FakeCluster()
    ns = Namespaces(cluster, standalone(run_id="r1"), "gw3")
    name = ns.ensure([RESTRICTED], probe=False)[RESTRICTED]
    assert "-gw3-" in name
    ns.cleanup()
    assert cluster.deleted_namespaces() == [name]


# -- the readiness probe names the blocker; a failed policy fails fast (#11.10) ----------------------------

VAP_MESSAGE = ("pods \"pss-harness-canary\" is forbidden: ValidatingAdmissionPolicy 'no-privileged' with binding "
               "'no-privileged-b' denied request: privileged pods are not allowed here")
QUOTA_MESSAGE = ('pods "pss-harness-canary" is forbidden: exceeded quota: zero, requested: pods=1, used: pods=0, '
                 'limited: pods=0')


def refusal(code: int, reason: str, message: str):
    """A refusal hook for the fake: every pod gets this answer."""
    def refuse(obj, namespace, dry_run):
        return Response("POST", f"/api/v1/namespaces/{namespace}/pods", {"dryRun": "All"} if dry_run else {}, code,
                        {"kind": "Status", "code": code, "reason": reason, "message": message})
    return refuse


def audit_source(tmp_path):
    from harness.cluster.audit import AuditSource

    log = tmp_path / "audit.log"
    log.write_text("")
    return log, AuditSource(log)


@pytest.mark.parametrize("code, reason, message", [(403, "Forbidden", QUOTA_MESSAGE), (422, "Invalid", VAP_MESSAGE)])
def test_a_refusal_after_podsecurity_in_a_warn_namespace_confirms_the_labels_at_once(code, reason, message):
    """PodSecurity's warning comes back in the refused answer: no wait for the deadline."""
    fake = FakeCluster(refuse_after=refusal(code, reason, message))
    fake.create_namespace("ns-w", BASELINE_WARN.labels())
    t0 = time.monotonic()
    await_policy(fake, BASELINE_WARN, "ns-w", audit=None, server_minor=37, timeout=15)
    assert time.monotonic() - t0 < 1
    assert len([c for c in fake.calls if c[0] == "submit"]) == 1


def test_a_refusal_after_podsecurity_in_an_audit_namespace_confirms_by_the_audit_event(tmp_path):
    log, audit = audit_source(tmp_path)
    fake = FakeCluster(refuse_after=refusal(403, "Forbidden", QUOTA_MESSAGE), audit_log=log)
    policy = Policy(Level.BASELINE, Mode.AUDIT, LATEST)
    fake.create_namespace("ns-a", policy.labels())
    await_policy(fake, policy, "ns-a", audit=audit, server_minor=37, timeout=15)
    assert len([c for c in fake.calls if c[0] == "submit"]) == 1


def test_a_vap_refusing_a_probe_podsecurity_let_through_is_named_in_one_message():
    """PodSecurity does not answer (labels never in effect), a ValidatingAdmissionPolicy refuses: say so, once."""
    fake = FakeCluster(labels_after=None, refuse_after=refusal(422, "Invalid", VAP_MESSAGE))
    fake.create_namespace("ns-v", RESTRICTED.labels())
    with pytest.raises(ClusterError) as info:
        await_policy(fake, RESTRICTED, "ns-v", audit=None, server_minor=37, timeout=0.2, interval=0.01)
    message = str(info.value)
    assert message.startswith("namespace ns-v: the readiness probe was refused by ValidatingAdmissionPolicy "
                              "'no-privileged' (binding 'no-privileged-b') (HTTP 422): " + VAP_MESSAGE)
    assert "; PodSecurity labels cannot be confirmed" in message
    assert "\n" not in message


def test_a_refusal_before_podsecurity_in_a_warn_namespace_is_named():
    limit = 'pods "pss-harness-canary" is forbidden: maximum cpu usage per Container is 1m, but limit is 2'
    fake = FakeCluster(refuse=refusal(403, "Forbidden", limit))
    fake.create_namespace("ns-l", BASELINE_WARN.labels())
    with pytest.raises(ClusterError, match=r"^namespace ns-l: the readiness probe was refused by LimitRange "
                                           r"\(HTTP 403\): .*maximum cpu usage.*PodSecurity labels cannot be confirmed"):
        await_policy(fake, BASELINE_WARN, "ns-l", audit=None, server_minor=37, timeout=0.1, interval=0.01)


def test_an_exempt_namespace_fails_at_once_naming_the_exemption(tmp_path):
    log, audit = audit_source(tmp_path)
    fake = FakeCluster(exempt="namespace", audit_log=log)
    fake.create_namespace("ns-x", RESTRICTED.labels())
    t0 = time.monotonic()
    with pytest.raises(ClusterError) as info:
        await_policy(fake, RESTRICTED, "ns-x", audit=audit, server_minor=37, timeout=15)
    assert time.monotonic() - t0 < 2
    assert str(info.value).startswith("namespace ns-x: the readiness probe's audit event says exempt=namespace: "
                                      "namespace ns-x is exempt from PodSecurity")


def test_a_denial_under_another_policy_is_not_the_labels_in_effect():
    fake = FakeCluster()
    fake.create_namespace("ns-p", {"pod-security.kubernetes.io/enforce": "baseline"})
    with pytest.raises(ClusterError, match=r"PodSecurity answered the readiness probe under 'baseline:latest', "
                                           r"not 'restricted:latest'"):
        await_policy(fake, RESTRICTED, "ns-p", audit=None, server_minor=37, timeout=0.1, interval=0.01)


def test_a_policy_whose_namespace_failed_fails_at_once_with_the_same_message_and_is_not_created_again():
    fake = FakeCluster()
    calls = []

    def ready(policy, name):
        calls.append(name)
        if policy == BASELINE_WARN:
            time.sleep(0.3)  # as a probe waiting out its deadline would
            raise ClusterError(f"namespace {name}: the readiness probe was refused by X; PodSecurity labels cannot "
                               f"be confirmed")

    janitor = Namespaces(fake, standalone(run_id="r"), ready=ready)
    failures = janitor.prepare([RESTRICTED, BASELINE_WARN])
    assert list(failures) == [BASELINE_WARN] and janitor.by_policy == {RESTRICTED: "pss-r-main-restricted-enforce-latest"}
    first = str(failures[BASELINE_WARN])
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(ClusterError) as info:
            janitor.ensure([BASELINE_WARN])
        assert time.monotonic() - t0 < 0.1 and str(info.value) == first
    assert janitor.ensure([RESTRICTED]) == {RESTRICTED: "pss-r-main-restricted-enforce-latest"}
    assert [op for op, _ in fake.calls].count("create_namespace") == 2
    assert len(calls) == 2
    janitor.cleanup()
    assert sorted(fake.deleted_namespaces()) == sorted(["pss-r-main-restricted-enforce-latest",
                                                        "pss-r-main-baseline-warn-v1-30"])


def test_a_mapped_namespace_whose_probe_failed_is_probed_once():
    """With --psa-namespace-map nothing is created: without the record every item waited the deadline again."""
    fake = FakeCluster(labels_after=None)
    fake.add_namespace("team-w", BASELINE_WARN.labels())
    fake._label_delay["team-w"] = None  # its labels never take effect
    probes = []

    def ready(policy, name):
        probes.append(name)
        await_policy(fake, policy, name, audit=None, server_minor=37, timeout=0.2, interval=0.05)

    janitor = Namespaces(fake, standalone(run_id="r", namespace_map={BASELINE_WARN.label: "team-w"}), ready=ready)
    for _ in range(5):
        with pytest.raises(ClusterError, match="namespace team-w is labelled"):
            janitor.ensure([BASELINE_WARN])
    assert probes == ["team-w"]
