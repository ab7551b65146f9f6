"""The pure part of `pss-harness rollout`: labels to policy, the server-check rule, the namespace warning
parser, the predicted warnings, the comparison, the plan, the label lines and the patch; the CLI's
table, confirmation and usage errors; the planner's pure helpers.

The warning texts here were captured from kube-apiserver v1.37.2 (the integration tests in
tests/integration/test_rollout.py produce them again on the embedded plane).
"""

from __future__ import annotations

import io
import json

import jsonschema
import pytest
import yaml

from harness.cli import main
from harness.cli.rollout import confirm, table
from harness.cluster.rollout import gate, planned_templates, template_pod, _owners
from harness.core.messages import parse_reason_list
from harness.core.model import LATEST, Level, PolicyVersion
from harness.core.resources import schema_path
from harness.core.rollout import (
    CheckDecision,
    LevelVersion,
    NamespaceAnswer,
    Plan,
    PodVerdict,
    Observed,
    TemplateVerdict,
    compare_answer,
    expected_warnings,
    kubectl_label,
    kustomize_patch,
    parse_namespace_warnings,
    plan_namespace,
    policy_from_labels,
    report,
    server_check,
)

E = "pod-security.kubernetes.io/"
RESTRICTED = LevelVersion(Level.RESTRICTED, LATEST)
BASELINE = LevelVersion(Level.BASELINE, LATEST)
NEWEST = 37
R5 = "allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"

#: captured: namespace t1 (3 identical privileged pods, a plain pod, a hostNetwork pod), enforce=restricted
T1 = [
    'existing pods in namespace "t1" violate the new PodSecurity enforce level "restricted:latest"',
    f"hostnet: host namespaces, {R5}",
    f"plain: {R5}",
    f"priv-0 (and 2 other pods): privileged, {R5}",
]


def verdict(name: str, reasons: str, level: Level = Level.RESTRICTED, **kw) -> PodVerdict:
    mapping = parse_reason_list(reasons, level, NEWEST)
    return PodVerdict(name, tuple(r for r, _ in mapping.pairs), mapping.checks, **kw)


T1_PODS = [verdict("priv-1", f"privileged, {R5}"), verdict("plain", R5), verdict("priv-2", f"privileged, {R5}"),
           verdict("priv-0", f"privileged, {R5}"), verdict("hostnet", f"host namespaces, {R5}")]


def pods_with(names_and_reasons):
    return [verdict(n, r) for n, r in names_and_reasons]


# -- policies -----------------------------------------------------------------------------------

@pytest.mark.parametrize("labels, enforce, warn, audit", [
    ({}, "privileged:latest", "privileged:latest", "privileged:latest"),
    ({E + "enforce": "restricted"}, "restricted:latest", "restricted:latest", "privileged:latest"),
    ({E + "enforce": "restricted", E + "enforce-version": "v1.30"}, "restricted:v1.30", "restricted:v1.30",
     "privileged:latest"),
    ({E + "enforce": "restricted", E + "warn": "baseline"}, "restricted:latest", "baseline:latest", "privileged:latest"),
    ({E + "enforce": "restricted", E + "warn-version": "v1.25"}, "restricted:latest", "restricted:v1.25",
     "privileged:latest"),
    ({E + "enforce": "baseline", E + "audit": "restricted"}, "baseline:latest", "baseline:latest", "restricted:latest"),
    ({E + "enforce-version": "v1.30"}, "privileged:v1.30", "privileged:latest", "privileged:latest"),
])
def test_policy_from_labels_follows_upstream_defaulting(labels, enforce, warn, audit):
    p = policy_from_labels(labels)
    assert (str(p.enforce), str(p.warn), str(p.audit)) == (enforce, warn, audit)
    assert p.errors == ()


def test_invalid_labels_fail_closed_for_enforce_and_open_for_warn_and_audit():
    p = policy_from_labels({E + "enforce": "strict", E + "warn": "loud", E + "audit-version": "1.30"})
    assert str(p.enforce) == "restricted:latest" and str(p.warn) == "privileged:latest"
    assert str(p.audit) == "privileged:latest"
    assert len(p.errors) == 3 and any("enforce=strict" in e for e in p.errors)


@pytest.mark.parametrize("current, target, expected", [
    ("restricted:latest", "restricted:latest", True),
    ("restricted:latest", "restricted:v1.30", True),
    ("restricted:v1.30", "restricted:latest", False),
    ("restricted:v1.20", "baseline:latest", True),      # a stricter level, whatever its version
    ("baseline:latest", "restricted:v1.20", False),
    ("privileged:latest", "baseline:latest", False),
    ("baseline:v1.31", "baseline:v1.30", True),
])
def test_at_or_above(current, target, expected):
    assert LevelVersion.parse(current).at_or_above(LevelVersion.parse(target)) is expected


# -- the server-check rule (each case observed on kube-apiserver v1.37.2) --------------------------------

@pytest.mark.parametrize("old, new, decision", [
    ({}, {E + "enforce": "restricted"}, CheckDecision.CHECKED),
    ({}, {E + "warn": "restricted", E + "audit": "restricted"}, CheckDecision.UNCHANGED),   # warn-only: no check
    ({E + "enforce": "restricted"}, {E + "enforce": "baseline"}, CheckDecision.RELAXED),
    # a relaxed level with a new version IS checked (the server answered at baseline:v1.30)
    ({E + "enforce": "restricted"}, {E + "enforce": "baseline", E + "enforce-version": "v1.30"}, CheckDecision.CHECKED),
    ({E + "enforce": "restricted"}, {E + "enforce": "restricted", E + "enforce-version": "v1.30"}, CheckDecision.CHECKED),
    ({E + "enforce": "restricted"}, {E + "enforce": "privileged", E + "enforce-version": "v1.30"},
     CheckDecision.PRIVILEGED),
    ({E + "enforce": "restricted"}, {E + "enforce": "restricted", E + "enforce-version": "latest"},
     CheckDecision.UNCHANGED),
    ({E + "enforce": "restricted"}, {E + "enforce": "restricted", E + "enforce-version": "v1.99"}, CheckDecision.CHECKED),
    ({E + "enforce": "bogus", E + "warn": "bogus"}, {E + "enforce": "restricted", E + "warn": "bogus"},
     CheckDecision.INVALID),
    ({E + "warn": "bogus"}, {E + "warn": "bogus", E + "enforce": "restricted"}, CheckDecision.CHECKED),
])
def test_server_check_rule(old, new, decision):
    check = server_check(old, new)
    assert check.decision is decision
    assert check.runs is (decision is CheckDecision.CHECKED)
    assert check.explanation


# -- parsing the server's answer -------------------------------------------------------------------

def test_groups_are_parsed_with_counts_and_checks():
    answer = parse_namespace_warnings(T1, "t1", RESTRICTED, NEWEST)
    assert answer.policy == "restricted:latest" and answer.complete and not answer.exempt
    assert [(g.pod, g.count) for g in answer.groups] == [("hostnet", 1), ("plain", 1), ("priv-0", 3)]
    assert answer.groups[2].checks == ("privileged", "allowPrivilegeEscalation", "capabilities_restricted",
                                       "runAsNonRoot", "seccompProfile_restricted")
    assert answer.violating == 5 and answer.other == ()


def test_one_other_pod_is_singular():
    answer = parse_namespace_warnings(['existing pods in namespace "a" violate the new PodSecurity enforce level '
                                       '"baseline:v1.30"', "coredns-76f75df574-84dhz (and 1 other pod): privileged"],
                                      "a", BASELINE, NEWEST)
    assert answer.groups[0].pod == "coredns-76f75df574-84dhz" and answer.groups[0].count == 2
    assert answer.policy == "baseline:v1.30"


def test_truncation_exemption_and_list_failure_lines():
    truncated = parse_namespace_warnings(
        ["new PodSecurity enforce level only checked against the first 3000 of 3001 existing pods"], "big",
        RESTRICTED, NEWEST)
    assert (truncated.checked, truncated.total, truncated.truncated, truncated.complete) == (3000, 3001, True, False)
    assert truncated.groups == () and truncated.policy is None
    exempt = parse_namespace_warnings(['namespace "ro-exempt" is exempt from Pod Security, and the policy '
                                       '(enforce=baseline:latest, audit=restricted:latest, warn=restricted:latest) '
                                       'will be ignored'], "ro-exempt", RESTRICTED, NEWEST)
    assert exempt.exempt and exempt.exempt_policy.startswith("enforce=baseline:latest")
    failed = parse_namespace_warnings(["failed to list pods while checking new PodSecurity enforce level"], "x",
                                      RESTRICTED, NEWEST)
    assert failed.list_failed and not failed.complete


def test_unknown_lines_are_kept_never_dropped():
    answer = parse_namespace_warnings(["metadata.labels: deprecated label",
                                       'existing pods in namespace "x" violate the new PodSecurity enforce level '
                                       '"restricted:latest"', "new-reason-pod: brand new reason"],
                                      "x", RESTRICTED, NEWEST)
    assert answer.other == ("metadata.labels: deprecated label",)   # before the "violate" line: not a group
    assert answer.groups[0].unknown == ("brand new reason",) and answer.groups[0].checks == ()


def test_the_warning_budget_is_detected():
    lines = ['existing pods in namespace "t5b" violate the new PodSecurity enforce level "restricted:latest"'] + \
        [f"combo-{i:02d}: hostPort, seLinuxOptions, forbidden sysctls, {R5}" for i in range(30)]
    assert sum(map(len, lines)) > 4096
    answer = parse_namespace_warnings(lines, "t5b", RESTRICTED, NEWEST)
    assert answer.budget_cut and not answer.complete
    cut = parse_namespace_warnings(["p: " + ", ".join(["privileged"] * 40)][:1], "x", RESTRICTED, NEWEST)
    assert not cut.budget_cut  # long, but not 256 runes and under budget
    exactly = "p: " + ("privileged, " * 30)[:253]
    assert len(exactly) == 256
    header = 'existing pods in namespace "x" violate the new PodSecurity enforce level "restricted:latest"'
    answer = parse_namespace_warnings([header, exactly], "x", RESTRICTED, NEWEST)
    assert answer.budget_cut and answer.groups[0].cut


def test_parse_reason_list_maps_and_marks_truncation():
    m = parse_reason_list("privileged, runAsNonRoot != true, seccompProfile", Level.RESTRICTED, NEWEST)
    assert m.checks == ("privileged", "runAsNonRoot", "seccompProfile_restricted") and not m.truncated
    m = parse_reason_list("privileged, seccompProfile", Level.BASELINE, NEWEST)
    assert m.checks == ("privileged", "seccompProfile_baseline")
    m = parse_reason_list("privileged, runAsNon", Level.RESTRICTED, NEWEST, truncated=True)
    assert m.checks == ("privileged",) and m.unknown == ("runAsNon",) and m.truncated


# -- prediction and comparison ---------------------------------------------------------------------

def test_expected_warnings_reproduce_the_server_exactly():
    assert expected_warnings("t1", "restricted:latest", T1_PODS) == T1


def test_exempt_pods_are_skipped_and_not_counted():
    pods = [PodVerdict("rc-priv", ("privileged",), runtime_class="exempt-rc", exempt=True),
            PodVerdict("z-priv", ("privileged",))]
    assert expected_warnings("t2", "baseline:latest", pods) == [
        'existing pods in namespace "t2" violate the new PodSecurity enforce level "baseline:latest"',
        "z-priv: privileged"]
    many = [PodVerdict(f"p-{i}") for i in range(3001)] + [PodVerdict("x", ("privileged",), exempt=True)]
    assert expected_warnings("big", "baseline:latest", many) == [
        "new PodSecurity enforce level only checked against the first 3000 of 3001 existing pods"]


def test_compare_agrees_and_names_differences():
    check = server_check({}, {E + "enforce": "restricted", E + "enforce-version": "latest"})
    answer = parse_namespace_warnings(T1, "t1", RESTRICTED, NEWEST)
    assert compare_answer(answer, check, "t1", T1_PODS) == []
    differences = compare_answer(answer, check, "t1", T1_PODS[:3])   # priv-0, hostnet not known offline
    assert any("the server says, the evaluator does not predict: hostnet" in d for d in differences)
    assert any("priv-1 (and 1 other pod)" in d for d in differences)


def test_compare_when_the_server_stopped_early():
    check = server_check({}, {E + "enforce": "restricted"})
    pods = [PodVerdict(f"p-{i:04d}") for i in range(3001)] + [PodVerdict("bad", ("privileged",))]
    answer = parse_namespace_warnings([
        "new PodSecurity enforce level only checked against the first 3000 of 3002 existing pods",
        'existing pods in namespace "big" violate the new PodSecurity enforce level "restricted:latest"',
        "bad: privileged"], "big", RESTRICTED, NEWEST)
    assert compare_answer(answer, check, "big", pods) == []
    wrong = parse_namespace_warnings([
        "new PodSecurity enforce level only checked against the first 3000 of 3005 existing pods",
        'existing pods in namespace "big" violate the new PodSecurity enforce level "restricted:latest"',
        "bad (and 1 other pod): privileged"], "big", RESTRICTED, NEWEST)
    problems = compare_answer(wrong, check, "big", pods)
    assert any("considered 3005 pods" in p for p in problems) and any("finds 1" in p for p in problems)


def test_compare_when_the_budget_cut_the_answer():
    check = server_check({}, {E + "enforce": "restricted"})
    pods = [PodVerdict(f"combo-{i:02d}", ("privileged", f"reason {i}"), ) for i in range(60)]
    full = expected_warnings("t", "restricted:latest", pods)
    answer = NamespaceAnswer(tuple(full[:30]), policy="restricted:latest", budget_cut=True)
    assert compare_answer(answer, check, "t", pods) == []
    answer = NamespaceAnswer(tuple(full[:29] + ["combo-99: privileged"]), policy="restricted:latest", budget_cut=True)
    assert compare_answer(answer, check, "t", pods)


def test_no_check_expected_but_warnings_given_is_a_difference():
    check = server_check({E + "enforce": "restricted"}, {E + "enforce": "baseline"})
    answer = parse_namespace_warnings(T1, "t1", BASELINE, NEWEST)
    assert compare_answer(answer, check, "t1", T1_PODS)


# -- the plan -----------------------------------------------------------------------------------

def _plan(labels, warnings, pods=(), templates=(), namespace="ns", target=RESTRICTED):
    answer = parse_namespace_warnings(warnings, namespace, target, NEWEST)
    return plan_namespace(namespace, labels, target, answer, list(pods), list(templates))


def test_ready_labels_all_three_modes_now():
    plan = _plan({}, [], pods_with([("ok", "")]))
    assert plan.plan is Plan.READY and plan.agree is True
    assert plan.labels_now == {E + "enforce": "restricted", E + "enforce-version": "latest",
                               E + "audit": "restricted", E + "audit-version": "latest",
                               E + "warn": "restricted", E + "warn-version": "latest"}
    assert plan.labels_later == {}


def test_warn_first_labels_warn_and_audit_now_and_enforce_later():
    plan = _plan({}, T1, T1_PODS, namespace="t1")
    assert plan.plan is Plan.WARN_FIRST and plan.agree is True
    assert set(plan.labels_now) == {E + "warn", E + "warn-version", E + "audit", E + "audit-version"}
    assert plan.labels_later == {E + "enforce": "restricted", E + "enforce-version": "latest"}
    fixes = plan.fixes()
    assert {"object": "Pod/priv-0 and 2 more like it", "pods": ["priv-0", "priv-1", "priv-2"],
            "checks": ["privileged", "allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot",
                       "seccompProfile_restricted"], "when": "exists now"} in fixes
    assert plan.top_checks(1) == [("allowPrivilegeEscalation", 5)]


def test_a_template_with_no_pod_is_caught_and_its_pods_are_not_listed_twice():
    pods = [PodVerdict("web-1", ("privileged",), ("privileged",), owner="Deployment/web")]
    templates = [TemplateVerdict("Deployment", "web", ("privileged",), ("privileged",), replicas=1, running=1),
                 TemplateVerdict("CronJob", "nightly", ("hostPath volumes",), ("hostPathVolumes",)),
                 TemplateVerdict("Deployment", "idle", ("privileged",), ("privileged",), replicas=0)]
    plan = _plan({}, ['existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest"',
                      "web-1: privileged"], pods, templates, target=BASELINE)
    assert plan.plan is Plan.WARN_FIRST
    assert "2 with no pod running now" in plan.why
    assert [f["object"] for f in plan.fixes()] == ["Deployment/web", "CronJob/nightly", "Deployment/idle"]
    assert plan.agree is True   # no dry-run observation: the existing pods were compared


def test_template_disagreement_is_a_disagreement():
    t = TemplateVerdict("Deployment", "web", ("privileged",), ("privileged",), observed=Observed("admitted"))
    plan = _plan({}, [], [], [t], target=BASELINE)
    assert t.agree is False and plan.agree is False and len(plan.disagreements) == 1


def test_an_exempt_template_is_expected_to_be_admitted():
    t = TemplateVerdict("Job", "sandboxed", ("privileged",), ("privileged",), runtime_class="kata", exempt=True,
                        observed=Observed("admitted"))
    assert t.agree is True and not t.violating


def test_blocked_by_exemption():
    plan = _plan({}, ['namespace "ns" is exempt from Pod Security, and the policy (enforce=restricted:latest) '
                      'will be ignored'], pods_with([("priv", "privileged")]))
    assert plan.plan is Plan.BLOCKED and plan.labels_now == {} and plan.labels_later == {}
    assert plan.agree is None   # the server checked nothing to compare


def test_already_at_or_above_and_a_relaxation_is_said():
    plan = _plan({E + "enforce": "restricted"}, [], target=BASELINE)
    assert plan.plan is Plan.ALREADY and plan.check.decision is CheckDecision.RELAXED
    assert any("relax" in n for n in plan.notes) and plan.labels_now == {}
    same = _plan({E + "enforce": "restricted", E + "enforce-version": "latest"}, [])
    assert same.plan is Plan.ALREADY and any("no-op" in n for n in same.notes)


def test_incomplete_is_never_ready():
    plan = _plan({}, ["new PodSecurity enforce level only checked against the first 3000 of 3001 existing pods"],
                 [PodVerdict(f"p-{i}") for i in range(3001)])
    assert plan.plan is Plan.INCOMPLETE and "3000 of 3001" in plan.why
    assert plan.labels_later and E + "enforce" not in plan.labels_now


def test_warn_and_audit_already_at_the_target_are_left_alone():
    plan = _plan({E + "warn": "restricted", E + "warn-version": "latest"}, T1, T1_PODS, namespace="t1")
    assert set(plan.labels_now) == {E + "audit", E + "audit-version"}


def test_invalid_labels_are_incomplete_with_the_reason():
    plan = _plan({E + "enforce": "bogus", E + "warn": "bogus"},
                 ["the server refused the label change (422): invalid"])
    assert plan.plan is Plan.INCOMPLETE and "invalid" in plan.why


# -- labels as commands and as a patch --------------------------------------------------------------

def test_kubectl_label_line_orders_modes():
    line = kubectl_label("team-a", {E + "warn": "restricted", E + "audit": "restricted", E + "enforce": "baseline"})
    assert line == ("kubectl label --overwrite namespace team-a pod-security.kubernetes.io/enforce=baseline "
                    "pod-security.kubernetes.io/audit=restricted pod-security.kubernetes.io/warn=restricted")


def test_kustomize_patch_is_yaml_kustomize_reads():
    text = kustomize_patch({"team-a": {E + "warn": "restricted", E + "warn-version": "v1.30"}, "empty": {}}, "phase 1")
    doc = yaml.safe_load(text)
    [patch] = doc["patches"]
    assert patch["target"] == {"kind": "Namespace", "name": "team-a"}
    inner = yaml.safe_load(patch["patch"])
    assert inner["metadata"] == {"name": "team-a", "labels": {E + "warn": "restricted", E + "warn-version": "v1.30"}}
    assert kustomize_patch({"a": {}}, "x") == ""


def test_the_report_matches_its_schema():
    plans = [_plan({}, T1, T1_PODS, namespace="t1"), _plan({}, []), _plan({E + "enforce": "restricted"}, [])]
    doc = report(plans, RESTRICTED, cluster="embedded (Kubernetes v1.37.2)", server_version="v1.37.2", offline=True,
                 runtime_classes={"kata": True}, timings={"total": 0.5},
                 applied=[{"namespace": "t1", "set": {E + "warn": [None, "restricted"]}, "warnings": [],
                           "status": "labelled"}])
    schema = json.loads(schema_path("rollout").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(doc)))
    assert doc["summary"]["plans"]["warn-first"] == 1 and doc["summary"]["label_now"] == ["t1", "ns"]
    bad = json.loads(json.dumps(doc))
    bad["namespaces"][0]["plan"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(bad)


# -- the CLI's own logic -----------------------------------------------------------------------------

def test_table_fits_the_terminal():
    long = "t1-with-a-rather-long-namespace-name-indeed"
    plans = [_plan({}, [w.replace('"t1"', f'"{long}"') for w in T1], T1_PODS, namespace=long), _plan({}, [])]
    doc = report(plans, RESTRICTED, cluster="embedded (Kubernetes v1.37.2)", server_version="v1.37.2", offline=False,
                 runtime_classes={}, timings={})
    assert doc["summary"]["disagreements"] == 0
    text = table(doc, 60)
    lines = text.splitlines()
    assert lines[1].startswith("NAMESPACE")
    assert all(len(line) <= 60 for line in lines if not line.lstrip().startswith(("now:", "later:")))
    assert "warn-first" in text and "kubectl label --overwrite namespace" in text


class _Stream(io.StringIO):
    def __init__(self, text: str, tty: bool):
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_confirm_asks_only_on_a_terminal():
    err = io.StringIO()
    assert confirm("label?", _Stream("y\n", tty=True), err) is True and "[y/N]" in err.getvalue()
    assert confirm("label?", _Stream("n\n", tty=True), io.StringIO()) is False
    assert confirm("label?", _Stream("y\n", tty=False), io.StringIO()) is False   # a pipe never confirms
    assert confirm("label?", None, io.StringIO()) is False


@pytest.mark.parametrize("argv, message", [
    (["rollout", "--to", "restricted"], "exactly one of them"),
    (["rollout", "--to", "restricted", "a", "--all"], "exactly one of them"),
    (["rollout", "--to", "privileged", "--all"], "baseline or restricted"),
    (["rollout", "--to", "strict", "--all"], "--to 'strict'"),
    (["rollout", "--to", "restricted", "--version", "v2", "--all"], "--version"),
    (["rollout", "--to", "restricted", "--all", "--seed", "x.yaml", "--kubeconfig", "k"], "embedded control plane only"),
    (["rollout", "--to", "restricted", "--all", "--yes"], "--yes confirms --apply"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# -- the planner's pure helpers --------------------------------------------------------------------

def _obj(kind, name, uid, owner=None, **spec):
    meta = {"name": name, "uid": uid}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": owner[2], "controller": True}]
    return {"kind": kind, "metadata": meta, "spec": spec}


def test_templates_skip_what_a_deployment_or_cronjob_controls_and_owners_resolve_to_the_top():
    d = _obj("Deployment", "web", "u1")
    rs = _obj("ReplicaSet", "web-abc", "u2", ("Deployment", "web", "u1"))
    lone = _obj("ReplicaSet", "lone", "u3")
    cj = _obj("CronJob", "nightly", "u4")
    job = _obj("Job", "nightly-1", "u5", ("CronJob", "nightly", "u4"))
    other = _obj("ReplicaSet", "rollout-x", "u6", ("Rollout", "x", "u9"))
    assert [w["metadata"]["name"] for w in planned_templates([d, rs, lone, cj, job, other])] == \
        ["web", "lone", "nightly", "rollout-x"]
    owners = _owners([d, rs, lone, cj, job])
    assert owners["u2"] == "Deployment/web" and owners["u5"] == "CronJob/nightly" and owners["u3"] == "ReplicaSet/lone"


def test_template_pod_drops_what_other_admission_plugins_would_refuse():
    cronjob = {"kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {"jobTemplate": {"spec": {"template": {
        "metadata": {"labels": {"app": "n"}},
        "spec": {"serviceAccountName": "backup", "priorityClassName": "high", "restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "x"}]}}}}}}
    pod = template_pod(cronjob)
    assert pod["metadata"] == {"name": "cronjob-nightly", "labels": {"app": "n"}}
    assert "serviceAccountName" not in pod["spec"] and "priorityClassName" not in pod["spec"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert "serviceAccountName" in cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]   # input unchanged


def test_gate_adds_the_never_schedule_gate_to_pods_and_templates():
    pod = gate({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}})
    assert pod["spec"]["schedulingGates"] == [{"name": "pss-harness.io/never-schedule"}]
    cj = gate({"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}})
    assert cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["schedulingGates"] == \
        [{"name": "pss-harness.io/never-schedule"}]
    assert gate(pod) == pod   # once
    assert PolicyVersion.parse("v1.30") < LATEST


# -- the evidence bundle ------------------------------------------------------------------------------

def test_the_plan_goes_into_a_sealed_bundle(tmp_path):
    from harness.reports.bundle import verify
    from harness.reports.rollout import ROLLOUT_HTML, ROLLOUT_JSON, add_rollout

    plans = [_plan({}, T1, T1_PODS, namespace="t1"), _plan({}, [], namespace="<b>odd</b>")]
    doc = report(plans, RESTRICTED, cluster="embedded (Kubernetes v1.37.2)", server_version="v1.37.2", offline=False,
                 runtime_classes={}, timings={})
    sums = add_rollout(tmp_path / "bundle", doc)
    assert verify(tmp_path / "bundle").ok and sums.name == "SHA256SUMS"
    page = (tmp_path / "bundle" / ROLLOUT_HTML).read_text()
    assert "priv-0 (and 2 other pods)" in page and "&lt;b&gt;odd&lt;/b&gt;" in page and "<b>odd</b>" not in page
    assert "http" not in page.replace("https://pss-harness.dev", "")   # fetches nothing
    assert json.loads((tmp_path / "bundle" / ROLLOUT_JSON).read_text())["summary"] == doc["summary"]
    first = page
    add_rollout(tmp_path / "bundle", doc)
    assert (tmp_path / "bundle" / ROLLOUT_HTML).read_text() == first   # deterministic
    (tmp_path / "bundle" / ROLLOUT_JSON).write_text("{}")
    with pytest.raises(Exception, match="fails verification"):
        add_rollout(tmp_path / "bundle", doc)
