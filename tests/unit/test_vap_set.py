"""The PSS-in-CEL ValidatingAdmissionPolicy set and ``--psa-engine vap``'s classification, offline.

The set's *behaviour* is proven against the real server (``tests/integration/test_vap.py``: the
corpus and the differential fuzzer); here: the committed files are the generated ones, the set's
structure is PodSecurity's (which checks are bound at which level, in which mode), and the VAP
answers (texts as kube-apiserver v1.37.2 sends them) are classified as the engine's.
"""

from __future__ import annotations

import json

import pytest

from harness.core.answers import Response
from harness.core.checks import CHECKS, active_checks
from harness.core.engines import (DEFAULT_VAP_SELECTOR, PSA_PRIVILEGED, LabelTemplate, PodSecurityEngine, VapEngine,
                                  engine_for)
from harness.core.errors import UsageError
from harness.core.expectations import Expectation, Policy
from harness.core.messages import named_checks, vap_audit_failures, vap_denial, vap_warning
from harness.core.model import LATEST, Level, Mode, Outcome, PolicyVersion
from harness.core.verdict import judge
from harness.corpus import vapset
from harness.policy import vap

ENFORCE_R = Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)
WARN_B = Policy(Level.BASELINE, Mode.WARN, LATEST)
AUDIT_R = Policy(Level.RESTRICTED, Mode.AUDIT, LATEST)
OWNED = frozenset({"pss-privileged-r1", "pss-host-namespaces-r1"})
DENY = ("pods \"p\" is forbidden: ValidatingAdmissionPolicy 'pss-privileged-r1' with binding "
        "'pss-privileged-enforce-r1' denied request: privileged: container \"c\" must not set "
        "securityContext.privileged=true")
WARNING = ("Validation failed for ValidatingAdmissionPolicy 'pss-host-namespaces-r1' with binding "
           "'pss-host-namespaces-warn-r1': hostNamespaces: pod must not set hostPID=true")


def answer(status: int, reason: str = "", message: str = "", warnings=()) -> Response:
    body = {"kind": "Status", "code": status, "reason": reason, "message": message} if status >= 300 else {"kind": "Pod"}
    return Response("POST", "/api/v1/namespaces/x/pods", {"dryRun": "All"}, status, body, list(warnings), "a-1")


def failure(policy: str, binding: str, message: str, actions=("Deny", "Audit")) -> dict:
    return {"message": message, "policy": policy, "binding": binding, "expressionIndex": 0,
            "validationActions": list(actions)}


def event(*entries) -> dict:
    return {"annotations": {"validation.policy.admission.k8s.io/validation_failure": json.dumps(list(entries)),
                            "pod-security.kubernetes.io/enforce-policy": "privileged:latest"}}


# -- the shipped set -------------------------------------------------------------------------------------------

def test_the_committed_policy_files_are_the_generated_ones():
    assert vapset.check_files() == [], "run `python -m harness.corpus.vapset` and commit policies/vap/"


def test_the_set_implements_each_checks_newest_variant():
    assert vap.check_implemented() == []
    assert vap.SET_MINOR == max(v for c in CHECKS.values() for v in c.versions)


def test_one_policy_per_check_whose_message_names_it_and_four_bindings_each():
    objects = vapset.load_set()
    policies = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    assert sorted(vap.check_of_policy(p["metadata"]["name"]) for p in policies) == sorted(CHECKS)
    for p in policies:
        check = vap.check_of_policy(p["metadata"]["name"])
        (validation,) = p["spec"]["validations"]
        assert validation["message"].startswith(f"{check}: ") and validation["reason"] == "Forbidden"
        assert validation["messageExpression"].startswith(f"'{check}: ' + ")
        assert named_checks(validation["message"]) == (check,)
        assert p["spec"]["failurePolicy"] == "Fail"
    bindings = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert len(bindings) == 4 * 19


@pytest.mark.parametrize("level", [Level.BASELINE, Level.RESTRICTED])
def test_each_level_binds_exactly_the_checks_podsecurity_runs_there(level):
    bound = {c for c in CHECKS if level in vap.bound_levels(c)}
    assert bound == {c.id for c in active_checks(level, vap.SET_MINOR)}
    assert len(bound) == (12 if level is Level.BASELINE else 15)  # four baseline checks are overridden
    for c in bound:
        for b in vap.bindings(c):
            expr = b["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]
            assert str(level) in expr["values"]


def test_overridden_baseline_checks_are_bound_at_baseline_only():
    for check in ("capabilities_baseline", "hostPathVolumes", "procMount", "seccompProfile_baseline"):
        assert vap.bound_levels(check) == [Level.BASELINE]


def test_modes_map_to_validation_actions_and_resources():
    shapes = {b["metadata"]["name"].rsplit("-", 1)[-1] if not b["metadata"]["name"].endswith("workloads") else
              "enforce-workloads": b["spec"] for b in vap.bindings("privileged")}
    assert shapes["enforce"]["validationActions"] == ["Deny", "Audit"]
    assert shapes["enforce-workloads"]["validationActions"] == ["Warn"]
    assert shapes["warn"]["validationActions"] == ["Warn"] and shapes["audit"]["validationActions"] == ["Audit"]
    pods = [r for r in shapes["enforce"]["matchResources"]["resourceRules"]]
    assert pods == [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                     "resources": ["pods", "pods/ephemeralcontainers"]}]
    workloads = {r for rule in shapes["enforce-workloads"]["matchResources"]["resourceRules"] for r in rule["resources"]}
    assert workloads == {"deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs",
                         "replicationcontrollers", "podtemplates"}
    keys = {s: [(e["key"], e["operator"]) for e in spec["matchResources"]["namespaceSelector"]["matchExpressions"]]
            for s, spec in shapes.items()}
    assert keys == {"enforce": [("vap.pss-harness.io/enforce", "In")],
                    # warn follows enforce only where warn is not labelled, as PodSecurity's defaulting
                    "enforce-workloads": [("vap.pss-harness.io/enforce", "In"), ("vap.pss-harness.io/warn", "DoesNotExist")],
                    "warn": [("vap.pss-harness.io/warn", "In")], "audit": [("vap.pss-harness.io/audit", "In")]}


def test_value_lists_come_from_the_tables():
    from harness.policy.tables import allowed_sysctls

    text = json.dumps(vap.policy("sysctls"))
    assert all(f"'{name}'" in text for name in allowed_sysctls(vap.SET_MINOR))
    assert "'kernel.msgmax'" not in text


def test_a_run_installs_a_copy_scoped_to_itself():
    objects = vapset.scoped(vapset.load_set(), "r1")
    names = [o["metadata"]["name"] for o in objects]
    assert all(n.endswith("-r1") for n in names) and len(set(names)) == len(names) == 95
    for o in objects:
        assert o["metadata"]["labels"]["pss-harness.io/run-id"] == "r1"
        if o["kind"] == "ValidatingAdmissionPolicyBinding":
            assert o["spec"]["policyName"].endswith("-r1")
            assert o["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {"pss-harness.io/run-id": "r1"}
    assert vapset.load_set()[0]["metadata"]["name"] == "pss-allow-privilege-escalation"  # the shipped copy unchanged


def test_a_stale_or_stray_file_is_named(tmp_path):
    for name, text in vapset.render().items():
        (tmp_path / name).write_text(text)
    (tmp_path / "pss-privileged.yaml").write_text("# edited\n")
    (tmp_path / "mine.yaml").write_text("{}\n")
    problems = vapset.check_files(tmp_path)
    assert any("pss-privileged.yaml: differs" in p for p in problems) and any("mine.yaml: not generated" in p
                                                                               for p in problems)
    assert vapset.main(["--check", "--output", str(tmp_path)]) == 1


# -- messages ------------------------------------------------------------------------------------------------

def test_vap_answers_are_read_from_their_exact_forms():
    d = vap_denial(DENY)
    assert (d.policy, d.binding, d.checks) == ("pss-privileged-r1", "pss-privileged-enforce-r1", ("privileged",))
    w = vap_warning('299 - "' + WARNING.replace('"', '\\"') + '"')  # a raw header value too
    assert (w.policy, w.checks) == ("pss-host-namespaces-r1", ("hostNamespaces",))
    assert vap_warning("would violate PodSecurity \"baseline:latest\": privileged (...)") is None
    assert vap_denial('pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged (...)') is None
    entries = vap_audit_failures(json.dumps([failure("a", "b", "runAsUser: pod must not set runAsUser=0")]))
    assert entries[0].actions == ("Deny", "Audit") and entries[0].checks == ("runAsUser",)
    assert vap_audit_failures("not json") == [] and vap_audit_failures(None) == []


@pytest.mark.parametrize("message, policy, checks", [
    ("procMount_restricted: container \"c\" must not set securityContext.procMount", "", ("procMount_restricted",)),
    ("[runAsUser]: x", "", ("runAsUser",)),
    ("x procMount; procMount_restricted: y", "", ("procMount", "procMount_restricted")),
    ("Privileged containers are not allowed", "disallow-privileged-containers", ("privileged",)),
    ("no", "pss-proc-mount-restricted-r1", ("procMount_restricted",)),      # the longest spelling wins
    ("runAsNonRootX and xprivileged", "", ()),                              # whole words only
    ("whatever", "require-labels", ()),
])
def test_named_checks_reads_check_ids_from_the_message_else_the_policy_name(message, policy, checks):
    assert named_checks(message, policy) == checks


# -- classification ----------------------------------------------------------------------------------------

def test_a_denial_by_the_set_is_denied_and_names_one_check_until_the_audit_event_completes_it():
    engine = VapEngine(owned=OWNED)
    obs = engine.observe(answer(403, "Forbidden", DENY), 37, ENFORCE_R)
    assert obs.outcome is Outcome.DENIED and obs.checks == {"privileged"} and obs.violation.partial
    assert obs.denied_by == "ValidatingAdmissionPolicy 'pss-privileged-r1' (binding 'pss-privileged-enforce-r1')"
    assert obs.violation.policy == "restricted:latest"
    engine.attach_audit(obs, event(
        failure("pss-privileged-r1", "pss-privileged-enforce-r1", "privileged: ..."),
        failure("pss-host-namespaces-r1", "pss-host-namespaces-enforce-r1", "hostNamespaces: ..."),
        failure("someone-elses", "x", "runAsUser: ...")), 37, ENFORCE_R)
    assert obs.checks == {"privileged", "hostNamespaces"} and not obs.violation.partial
    assert obs.audit_violation is None  # Deny entries are the enforce answer, not the audit mode's
    assert "validation.policy.admission.k8s.io/validation_failure" in obs.audit_annotations


def test_a_vap_denial_is_the_engines_whatever_its_status():
    obs = VapEngine().observe(answer(422, "Invalid", DENY.replace("pss-privileged-r1", "user-policy")), 37, ENFORCE_R)
    assert obs.outcome is Outcome.DENIED and obs.status == 422 and obs.checks == {"privileged"}


def test_denials_by_others_are_denied_other_and_validation_failures_invalid():
    engine = VapEngine(owned=OWNED)
    psa = engine.observe(answer(403, "Forbidden", 'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
                                                  'privileged (container "c" must not set securityContext.privileged=true)'),
                         37, ENFORCE_R)
    assert (psa.outcome, psa.denied_by) == (Outcome.DENIED_OTHER, "PodSecurity") and "PodSecurity" in psa.attribution
    other = engine.observe(answer(403, "Forbidden", DENY.replace("pss-privileged-r1", "foreign")), 37, ENFORCE_R)
    assert other.outcome is Outcome.DENIED_OTHER and "outside the set" in other.attribution
    invalid = engine.observe(answer(422, "Invalid", 'Pod "p" is invalid: spec.containers: Required value'), 37, ENFORCE_R)
    assert invalid.outcome is Outcome.INVALID


def test_warnings_and_audit_entries_of_the_set_are_its_warn_and_audit_answers():
    engine = VapEngine(owned=OWNED)
    foreign = "Validation failed for ValidatingAdmissionPolicy 'other' with binding 'o': runAsUser: no"
    obs = engine.observe(answer(201, warnings=[WARNING, foreign]), 37, WARN_B)
    assert obs.outcome is Outcome.WARNED and obs.checks == {"hostNamespaces"}
    assert obs.violation.policy == "baseline:latest"
    quiet = engine.observe(answer(201, warnings=[foreign]), 37, WARN_B)
    assert quiet.outcome is Outcome.ADMITTED
    audited = engine.observe(answer(201), 37, AUDIT_R)
    engine.attach_audit(audited, event(failure("pss-privileged-r1", "pss-privileged-audit-r1", "privileged: x",
                                               ("Audit",))), 37, AUDIT_R)
    assert audited.outcome is Outcome.ADMITTED and audited.audit_violation.checks == {"privileged"}


def test_a_policy_message_naming_no_check_is_unrecognised():
    obs = VapEngine().observe(answer(403, "Forbidden", DENY.replace("pss-privileged-r1", "mystery").replace(
        "privileged: container \"c\" must not set securityContext.privileged=true", "no")), 37, ENFORCE_R)
    verdict = judge(Expectation(Outcome.DENIED, frozenset({"privileged"})), obs, ENFORCE_R, audit_observed=False)
    assert not verdict.passed and any("unrecognised" in p for p in verdict.problems)


def test_a_partial_denial_passes_on_an_expected_check_and_fails_on_an_unexpected_one():
    engine = VapEngine(owned=OWNED)
    want = Expectation(Outcome.DENIED, frozenset({"privileged", "runAsUser"}))
    obs = engine.observe(answer(403, "Forbidden", DENY), 37, ENFORCE_R)
    assert judge(want, obs, ENFORCE_R, audit_observed=False).passed
    wrong = judge(Expectation(Outcome.DENIED, frozenset({"runAsUser"})), obs, ENFORCE_R, audit_observed=False)
    assert not wrong.passed and "unexpected check(s) privileged" in wrong.problems[0]
    engine.attach_audit(obs, event(failure("pss-privileged-r1", "pss-privileged-enforce-r1", "privileged: x")), 37,
                        ENFORCE_R)
    complete = judge(want, obs, ENFORCE_R, audit_observed=False)
    assert not complete.passed and "missing expected check(s) runAsUser" in complete.problems[0]


# -- the engine seam ---------------------------------------------------------------------------------------------

def test_vap_namespaces_are_podsecurity_privileged_and_labelled_for_the_bindings():
    labels = VapEngine().labels(ENFORCE_R)
    assert labels == {**PSA_PRIVILEGED, "vap.pss-harness.io/enforce": "restricted"}
    assert PodSecurityEngine().labels(ENFORCE_R) == ENFORCE_R.labels()
    mine = engine_for("vap", selector="example.com/pss-{mode}={level},example.com/team=sec")
    assert mine.labels(WARN_B) == {**PSA_PRIVILEGED, "example.com/pss-warn": "baseline", "example.com/team": "sec"}
    assert mine.owns("anything") and mine.describe()["policy_set"] == "user"
    assert LabelTemplate.parse(DEFAULT_VAP_SELECTOR).has("mode")


def test_the_vap_engine_is_held_to_latest_of_this_registry():
    engine = VapEngine()
    assert engine.expectation_minor(34) == vap.SET_MINOR and PodSecurityEngine().expectation_minor(34) == 34
    assert engine.supports(LATEST) and not engine.supports(PolicyVersion(30))
    assert engine_for("vap", selector="x/{level}-{mode}={version}").supports(PolicyVersion(30))


@pytest.mark.parametrize("text, message", [
    ("nolabel", "is not key=value"),
    ("a={lvl}", "unknown placeholder"),
    ("Bad Key={level}", "is not a valid label"),
    ("", "empty"),
])
def test_bad_selectors_are_one_clear_error(text, message):
    with pytest.raises(UsageError, match=message):
        LabelTemplate.parse(text)
    with pytest.raises(UsageError, match="one of podsecurity, vap"):
        engine_for("kyverno")
    with pytest.raises(UsageError, match="needs --psa-engine vap"):
        engine_for("podsecurity", selector="a={level}")


# -- the options ---------------------------------------------------------------------------------------------

@pytest.fixture
def corpus(pytester):
    from pathlib import Path

    seed = Path(__file__).resolve().parents[2] / "scenarios" / "baseline" / "sysctls" / "sysctl-tcp-keepalive.yaml"
    pytester.makefile(".yaml", **{"sysctl-tcp-keepalive": seed.read_text()})  # declares version boundaries
    return pytester


def _items(result) -> list[str]:
    return [line for line in result.outlines if "::" in line]


def test_the_vap_engine_is_tested_at_latest_only(corpus):
    auto = _items(corpus.runpytest("--co", "-q", "--psa-kinds", "Pod"))
    vap_items = _items(corpus.runpytest("--co", "-q", "--psa-kinds", "Pod", "--psa-engine", "vap"))
    assert vap_items and len(vap_items) < len(auto) and all("-latest]" in i for i in vap_items)
    assert len(_items(corpus.runpytest("--co", "-q", "--psa-kinds", "Pod", "--psa-engine", "vap",
                                       "--vap-binding-selector", "x.io/pss-{mode}-{version}={level}"))) == len(auto)


@pytest.mark.parametrize("args, message", [
    (["--psa-engine", "kyverno"], "--psa-engine 'kyverno': one of podsecurity, vap"),
    (["--vap-binding-selector", "a={level}"], "it needs --psa-engine vap"),
    (["--psa-engine", "vap", "--vap-binding-selector", "a/pss=on"], "has no {level}"),
    (["--psa-engine", "vap", "--vap-binding-selector", "a/pss={level}"], "has no {mode}"),
    (["--psa-engine", "vap", "--psa-versions", "v1.30"], "implements latest only"),
    (["--psa-engine", "vap", "--vap-binding-selector", "a/pss={level}={mode}x"], "is not a valid label"),
])
def test_bad_engine_options_are_usage_errors(corpus, args, message):
    result = corpus.runpytest("--co", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str() and "Traceback" not in result.stderr.str()


def test_one_mode_needs_no_mode_placeholder(corpus):
    result = corpus.runpytest("--co", "-q", "--psa-engine", "vap", "--vap-binding-selector", "a.io/pss={level}",
                              "--psa-modes", "enforce", "--psa-kinds", "Pod")
    assert result.ret == 0 and _items(result)
