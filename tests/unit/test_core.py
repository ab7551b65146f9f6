"""Pure core: vocabulary, checks registry, expectations, outcome classification and verdicts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.checks import CHECKS, active_checks, effective_check, newest_minor, reason_to_check
from harness.cluster.client import resource_path
from harness.core.answers import Response, parse_warning_header
from harness.core.errors import UsageError
from harness.core.expectations import Expectation, Policy, checks_at, expected, policy_minor
from harness.core.model import LATEST, Level, Mode, Outcome, PolicyVersion, VersionRange
from harness.corpus.scenarios import DeclaredCheck, Scenario
from harness.core.verdict import attach_audit, judge, observe

B, R, P = Level.BASELINE, Level.RESTRICTED, Level.PRIVILEGED


def scenario(*checks, level=B, versions="all", invalid="") -> Scenario:
    decl = tuple(c if isinstance(c, DeclaredCheck) else DeclaredCheck(c) for c in checks)
    return Scenario(id="s", path=None, title="t", gain="g", level=level, checks=decl, severity="high",
                    versions=VersionRange.parse(versions), invalid=invalid)


@pytest.mark.parametrize("text,minor", [("latest", None), ("v1.0", 0), ("v1.37", 37), ("v1.99", 99)])
def test_policy_version_parses_valid_labels(text, minor):
    assert PolicyVersion.parse(text).minor == minor
    assert str(PolicyVersion.parse(text)) == text


@pytest.mark.parametrize("text", ["1.30", "v1.030", "v2.0", "V1.30", "", "lateest"])
def test_policy_version_rejects_what_the_server_rejects(text):
    with pytest.raises(UsageError, match="latest"):
        PolicyVersion.parse(text)


def test_latest_sorts_last_and_clamps():
    assert PolicyVersion(3) < PolicyVersion(25) < LATEST
    assert LATEST.resolve(35) == 35 and PolicyVersion(99).resolve(37) == 37 and PolicyVersion(8).resolve(37) == 8


@pytest.mark.parametrize("text,inside,outside", [
    (">=v1.25", [25, 40], [24, 0]), ("<v1.32", [0, 31], [32]), (">=v1.19 <v1.35", [19, 34], [18, 35]), ("all", [0, 99], []),
])
def test_version_range_membership(text, inside, outside):
    r = VersionRange.parse(text)
    assert all(m in r for m in inside) and not any(m in r for m in outside)
    assert VersionRange.parse(str(r)) == r


@pytest.mark.parametrize("text", ["<v1.3 >=v1.5", ">v1.2", "v1.2", ">=1.2"])
def test_version_range_rejects_bad_or_empty(text):
    with pytest.raises(UsageError):
        VersionRange.parse(text)


def test_registry_has_19_checks_12_baseline_7_restricted():
    assert len(CHECKS) == 19
    assert sum(c.level is B for c in CHECKS.values()) == 12
    assert newest_minor() == 37


@pytest.mark.parametrize("mutate, problem", [
    (lambda cs: cs + [cs[0]], "duplicated: ['appArmorProfile']"),
    (lambda cs: [dataclasses.replace(cs[0], versions=(19, 0))] + cs[1:], "strictly increasing"),
    (lambda cs: [dataclasses.replace(cs[0], versions=())] + cs[1:], "non-empty"),
    (lambda cs: [dataclasses.replace(cs[0], overrides=("privileged",))] + cs[1:], "only a restricted check may override"),
    (lambda cs: [dataclasses.replace(cs[0], level=Level.PRIVILEGED)] + cs[1:], "level must be baseline or restricted"),
])
def test_registry_validation_raises_a_real_error(mutate, problem):
    from harness.core import checks as registry

    registry._validate(list(CHECKS.values()))  # the real registry is consistent
    with pytest.raises(RuntimeError, match="the check registry is inconsistent") as info:
        registry._validate(mutate(list(CHECKS.values())))
    assert problem in str(info.value)


def test_registry_validation_survives_python_O():
    """``python -O`` strips ``assert``: the validation must still refuse a broken registry."""
    code = ("import dataclasses; from harness.core import checks as r; cs = list(r.CHECKS.values())\n"
            "try:\n    r._validate(cs + [cs[0]])\nexcept RuntimeError as e:\n    print('raised', e)")
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.startswith("raised harness.core.checks: the check registry is inconsistent")


def test_restricted_latest_runs_15_checks_baseline_ids_first():
    ids = [c.id for c in active_checks(R, 37)]
    assert len(ids) == 15
    assert "hostPathVolumes" not in ids and "capabilities_baseline" not in ids and "procMount" not in ids
    assert ids.index("windowsHostProcess") < ids.index("allowPrivilegeEscalation")


@pytest.mark.parametrize("check,level,minor,want", [
    ("hostPathVolumes", B, 37, "hostPathVolumes"),
    ("hostPathVolumes", R, 0, "restrictedVolumes"),
    ("capabilities_baseline", R, 21, "capabilities_baseline"),
    ("capabilities_baseline", R, 22, "capabilities_restricted"),
    ("seccompProfile_baseline", R, 18, "seccompProfile_baseline"),
    ("seccompProfile_baseline", R, 19, "seccompProfile_restricted"),
    ("procMount", R, 34, "procMount"),
    ("procMount", R, 35, "procMount_restricted"),
    ("runAsUser", R, 22, None),
    ("runAsNonRoot", B, 37, None),
    ("hostProbesAndHostLifecycle", B, 33, None),
])
def test_effective_check_follows_overrides_and_versions(check, level, minor, want):
    assert effective_check(check, level, minor) == want


def test_shared_reason_phrases_disambiguate_by_level_and_version():
    assert reason_to_check("seccompProfile", B, 37) == "seccompProfile_baseline"
    assert reason_to_check("seccompProfile", R, 37) == "seccompProfile_restricted"
    assert reason_to_check("procMount", R, 34) == "procMount"
    assert reason_to_check("procMount", R, 35) == "procMount_restricted"
    assert reason_to_check("no such reason", R, 37) is None


def test_policy_minor_clamps_to_server_and_registry():
    assert policy_minor(LATEST, 36) == 36
    assert policy_minor(LATEST, 40) == 37
    assert policy_minor(PolicyVersion(99), 35) == 35
    assert policy_minor(PolicyVersion(20), 37) == 20


def test_checks_at_respects_declared_ranges_and_kinds():
    s = scenario(DeclaredCheck("procMount", VersionRange.parse("<v1.35")), "procMount_restricted",
                 DeclaredCheck("hostPorts", kinds=("Pod",)))
    assert checks_at(s, "Pod", B, 34) == {"procMount", "hostPorts"}
    assert checks_at(s, "Pod", B, 35) == {"hostPorts"}
    assert checks_at(s, "Deployment", B, 35) == frozenset()
    assert checks_at(s, "Pod", R, 34) == {"procMount", "hostPorts"}
    assert checks_at(s, "Pod", R, 35) == {"procMount_restricted", "hostPorts"}
    assert checks_at(s, "Pod", P, 35) == frozenset()


@pytest.mark.parametrize("kind,mode,server,outcome,checks,audit", [
    ("Pod", Mode.ENFORCE, 37, Outcome.DENIED, {"privileged"}, set()),
    ("Deployment", Mode.ENFORCE, 37, Outcome.WARNED, {"privileged"}, set()),
    ("Deployment", Mode.ENFORCE, 25, Outcome.ADMITTED, set(), set()),
    ("Pod", Mode.WARN, 37, Outcome.WARNED, {"privileged"}, set()),
    ("CronJob", Mode.WARN, 37, Outcome.WARNED, {"privileged"}, set()),
    ("Pod", Mode.AUDIT, 37, Outcome.ADMITTED, set(), {"privileged"}),
])
def test_expected_per_kind_and_mode(kind, mode, server, outcome, checks, audit):
    e = expected(scenario("privileged"), kind, Policy(B, mode, LATEST), server)
    assert (e.outcome, set(e.checks), set(e.audit_checks)) == (outcome, checks, audit)


def test_expected_below_blocking_level_and_outside_range_is_admitted():
    assert expected(scenario("runAsNonRoot", level=R), "Pod", Policy(B, Mode.ENFORCE, LATEST), 37).outcome is Outcome.ADMITTED
    s = scenario("sysctls", versions="<v1.32")
    assert expected(s, "Pod", Policy(B, Mode.ENFORCE, PolicyVersion(31)), 37).outcome is Outcome.DENIED
    assert expected(s, "Pod", Policy(B, Mode.ENFORCE, PolicyVersion(32)), 37).outcome is Outcome.ADMITTED


def test_invalid_scenarios_expect_invalid_everywhere():
    s = scenario("procMount", invalid="Unmasked needs hostUsers: false")
    for level in Level:
        assert expected(s, "Pod", Policy(level, Mode.ENFORCE, LATEST), 37).outcome is Outcome.INVALID


def test_policy_labels_and_label_text():
    p = Policy(R, Mode.WARN, PolicyVersion(31))
    assert p.label == "restricted-warn-v1.31"
    assert p.labels() == {"pod-security.kubernetes.io/warn": "restricted",
                          "pod-security.kubernetes.io/warn-version": "v1.31",
                          "pod-security.kubernetes.io/enforce": "privileged",
                          "pod-security.kubernetes.io/enforce-version": "latest",
                          "pod-security.kubernetes.io/audit": "privileged",
                          "pod-security.kubernetes.io/audit-version": "latest"}


PSA = "pod-security.kubernetes.io/"


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize("server_minor", [None, 25, 26, 37])
def test_policy_labels_pin_every_mode_so_no_cluster_default_applies(mode, level, server_minor):
    """All six keys are set (a cluster's AdmissionConfiguration defaults fill only missing ones); the mode under
    test carries the level and version, and the others are what an unpinned namespace had under privileged
    defaults: privileged:latest, except warn under enforce on 1.26+, which PodSecurity derives from the enforce label."""
    version = PolicyVersion(30)
    labels = Policy(level, mode, version).labels(server_minor)
    assert set(labels) == {PSA + m + suffix for m in ("enforce", "warn", "audit") for suffix in ("", "-version")}
    assert (labels[PSA + mode.value], labels[PSA + f"{mode.value}-version"]) == (level.value, "v1.30")
    follows = mode is Mode.ENFORCE and (server_minor is None or server_minor >= 26)
    for other in Mode:
        if other is mode:
            continue
        want = (level.value, "v1.30") if follows and other is Mode.WARN else ("privileged", "latest")
        assert (labels[PSA + other.value], labels[PSA + f"{other.value}-version"]) == want, other


def test_policy_labels_keep_the_warn_follows_enforce_expectation():
    """Under enforce, workloads are expected warned on 1.26+ and admitted before: exactly the warn label pinned."""
    p = Policy(B, Mode.ENFORCE, LATEST)
    assert p.labels(37)[PSA + "warn"] == "baseline" and p.labels(37)[PSA + "warn-version"] == "latest"
    assert p.labels(25)[PSA + "warn"] == "privileged"


# -- observation -------------------------------------------------------------------------

DENIAL = ('pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set '
          'securityContext.privileged=true), hostPath volumes (volume "root")')
WARNING = ('would violate PodSecurity "restricted:v1.31": allowPrivilegeEscalation != false (containers "a", "b" '
           'must set securityContext.allowPrivilegeEscalation=false), seccompProfile (pod or containers "a", "b" '
           'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')


#: the Status reason the API server gives with each code (a denial's attribution depends on it)
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 422: "Invalid",
           429: "TooManyRequests", 500: "InternalError"}


def resp(status, message="", warnings=(), reason=None) -> Response:
    reason = REASONS.get(status, "") if reason is None else reason
    body = {"kind": "Status", "message": message, "reason": reason} if status >= 300 else {"kind": "Pod"}
    return Response("POST", "/api/v1/namespaces/x/pods", {"dryRun": "All"}, status, body, list(warnings), "id")


def test_observe_classifies_a_podsecurity_denial_with_checks():
    obs = observe(resp(403, DENIAL, reason="Forbidden"), 37)
    assert obs.outcome is Outcome.DENIED
    assert obs.checks == {"privileged", "hostPathVolumes"}
    assert obs.violation.policy == "baseline:latest"


def test_observe_classifies_other_refusals_and_errors():
    assert observe(resp(403, 'pods is forbidden: User "alice" cannot create'), 37).outcome is Outcome.DENIED_OTHER
    assert observe(resp(403, 'admission webhook "x" denied the request: no'), 37).outcome is Outcome.DENIED_OTHER
    assert observe(resp(422, "Pod is invalid"), 37).outcome is Outcome.INVALID
    assert observe(resp(404, "the server could not find the requested resource"), 37).outcome is Outcome.INVALID
    assert observe(resp(500, "etcd down"), 37).outcome is Outcome.ERROR
    assert observe(resp(429, "slow down"), 37).outcome is Outcome.ERROR
    assert observe(Response("POST", "/", {}, 0, transport_error="refused"), 37).outcome is Outcome.ERROR


def test_observe_warned_parses_checks_from_the_warning():
    obs = observe(resp(201, warnings=["some other warning", WARNING]), 37)
    assert obs.outcome is Outcome.WARNED
    assert obs.checks == {"allowPrivilegeEscalation", "seccompProfile_restricted"}
    assert obs.violation.policy == "restricted:v1.31"
    assert observe(resp(201, warnings=["unrelated"]), 37).outcome is Outcome.ADMITTED


def test_warning_header_unquoting():
    assert parse_warning_header('299 - "would violate PodSecurity \\"restricted:latest\\": x"') == \
        'would violate PodSecurity "restricted:latest": x'


def test_resource_paths():
    assert resource_path("Pod", "ns") == "/api/v1/namespaces/ns/pods"
    assert resource_path("CronJob", "ns", "c") == "/apis/batch/v1/namespaces/ns/cronjobs/c"
    assert resource_path("Pod", "ns", "p", "ephemeralcontainers").endswith("/pods/p/ephemeralcontainers")
    with pytest.raises(UsageError):
        resource_path("Secret", "ns")


# -- verdicts ----------------------------------------------------------------------------

POL = Policy(B, Mode.ENFORCE, LATEST)


def test_exact_denial_passes():
    v = judge(Expectation(Outcome.DENIED, frozenset({"privileged", "hostPathVolumes"})),
              observe(resp(403, DENIAL), 37), POL, audit_observed=False)
    assert v.passed, v.problems


def test_missing_or_unexpected_checks_fail():
    v = judge(Expectation(Outcome.DENIED, frozenset({"privileged", "hostNamespaces"})),
              observe(resp(403, DENIAL), 37), POL, audit_observed=False)
    assert not v.passed
    assert any("missing expected check(s) hostNamespaces" in p for p in v.problems)
    assert any("unexpected check(s) hostPathVolumes" in p for p in v.problems)


@pytest.mark.parametrize("status,message", [
    (403, 'pods is forbidden: User "x" cannot create resource "pods"'), (500, "boom"), (0, ""), (422, "invalid"),
])
def test_nothing_but_a_podsecurity_denial_satisfies_an_expected_denial(status, message):
    r = resp(status, message) if status else Response("POST", "/", {}, 0, transport_error="timeout")
    v = judge(Expectation(Outcome.DENIED, frozenset({"privileged"})), observe(r, 37), POL, audit_observed=False)
    assert not v.passed and "expected denied" in v.problems[0]


def test_denial_under_the_wrong_policy_fails():
    v = judge(Expectation(Outcome.DENIED, frozenset({"privileged", "hostPathVolumes"})),
              observe(resp(403, DENIAL), 37), Policy(B, Mode.ENFORCE, PolicyVersion(30)), audit_observed=False)
    assert not v.passed and "baseline:v1.30" in v.problems[0]


def test_unknown_forbidden_reason_always_fails():
    msg = 'pods "p" is forbidden: violates PodSecurity "baseline:latest": unknown forbidden reason'
    v = judge(Expectation(Outcome.DENIED, frozenset()), observe(resp(403, msg), 37), POL, audit_observed=False)
    assert not v.passed


def test_audit_annotations_are_judged_when_observed():
    obs = observe(resp(201), 37)
    attach_audit(obs, {"annotations": {"pod-security.kubernetes.io/audit-violations": WARNING}}, 37)
    exp = Expectation(Outcome.ADMITTED, audit_checks=frozenset({"allowPrivilegeEscalation", "seccompProfile_restricted"}))
    assert judge(exp, obs, Policy(R, Mode.AUDIT, PolicyVersion(31)), audit_observed=True).passed
    missing = observe(resp(201), 37)
    attach_audit(missing, {"annotations": {}}, 37)
    v = judge(exp, missing, Policy(R, Mode.AUDIT, PolicyVersion(31)), audit_observed=True)
    assert not v.passed and "audit-violations: missing" in v.problems[0]


@pytest.mark.parametrize("text,want", [("1.30", "v1.30"), ("v1.30", "v1.30"), ("latest", "latest")])
def test_lenient_policy_version_takes_what_people_type(text, want):
    assert str(PolicyVersion.parse(text, lenient=True)) == want
    with pytest.raises(UsageError):
        PolicyVersion.parse("1.30.1", lenient=True)
