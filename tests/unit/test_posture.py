"""The pure inference from probe answers to a namespace's posture (harness.core.posture).

Answers are written as the v1.37.2 API server gives them (texts checked in the integration tests);
the denial items come from the offline evaluator, as the sweep's signatures do.
"""

from __future__ import annotations

import pytest

from harness.cluster.sweep import probe_signatures
from harness.core.model import Level, PolicyVersion
from harness.core.posture import (
    BREAKOUT_POD,
    LABEL_PREFIX,
    RESTRICTED_POD,
    Answer,
    ClusterFacts,
    NamespaceAnswers,
    derive_cluster_facts,
    exemption_probe_labels,
    infer,
    label_expectation,
    mutations,
    plugin_probe_labels,
    read_pod_answer,
)
from harness.policy import evaluate_object

SIG = probe_signatures(37)
FACTS = ClusterFacts(plugin="loaded", runner="me", runner_exempt=False, audit_source=False, newest_minor=37)
PODS = "/api/v1/namespaces/ns/pods"


def denial(level: str, version: str = "latest", pod: dict = BREAKOUT_POD) -> Answer:
    ev = evaluate_object(pod, Level(level), PolicyVersion.parse(version), newest_minor=37)
    text = ev.message("violates").replace(f'"{level}:v1.37"', f'"{level}:{version}"') if version == "latest" else \
        ev.message("violates")
    return Answer("breakout", "POST", PODS, {"dryRun": "All"}, 403, "Forbidden", f'pods "p-x" is forbidden: {text}',
                  sent=pod)


def warned(level: str, version: str = "latest", pod: dict = BREAKOUT_POD, probe: str = "breakout", status: int = 201,
           message: str = "") -> Answer:
    ev = evaluate_object(pod, Level(level), PolicyVersion.parse(version), newest_minor=37)
    text = ev.message("would violate")
    if version == "latest":
        text = text.replace(f'"{level}:v1.37"', f'"{level}:latest"')
    return Answer(probe, "POST", PODS, {"dryRun": "All"}, status, "", message, (text,), sent=pod,
                  returned=pod if status == 201 else None)


def admitted(pod: dict = BREAKOUT_POD, probe: str = "breakout", returned: dict | None = None) -> Answer:
    return Answer(probe, "POST", PODS, {"dryRun": "All"}, 201, sent=pod, returned=returned or pod)


def ns_update(exempt: bool, name: str = "ns") -> Answer:
    w = (f'namespace "{name}" is exempt from Pod Security, and the policy (enforce=restricted:v1.0) will be ignored',)
    return Answer("exemption", "PUT", f"/api/v1/namespaces/{name}", {"dryRun": "All"}, 200,
                  warnings=w if exempt else ())


def refused(status: int, message: str, reason: str = "Forbidden") -> Answer:
    return Answer("breakout", "POST", PODS, {"dryRun": "All"}, status, reason, message, sent=BREAKOUT_POD)


def answers(labels=None, **probes) -> NamespaceAnswers:
    return NamespaceAnswers("ns", dict(labels or {}), **probes)


def view(p):
    return p.enforce.text, p.warn.text, p.audit.text, p.source, p.exempt, p.probe


# -- reading one answer ---------------------------------------------------------------------------

def test_a_denial_names_the_enforce_policy_and_its_items():
    r = read_pod_answer(denial("baseline", "v1.24"))
    assert r.kind == "denied" and r.policy == "baseline:v1.24"
    assert [reason for reason, _ in r.items] == ["host namespaces", "hostPath volumes", "privileged", "forbidden sysctls"]


@pytest.mark.parametrize("answer, kind, why", [
    (refused(400, 'admission webhook "w.example" does not support dry run', "BadRequest"), "unprobeable",
     "webhook w.example does not support dry run"),
    (refused(403, 'admission webhook "w.example" denied the request: no'), "unprobeable", "webhook w.example denied"),
    (refused(403, 'pods "p" is forbidden: maximum memory usage per Pod is 16Mi, but limit is 32Mi'), "unprobeable",
     "LimitRange"),
    (refused(403, 'pods "p" is forbidden: error looking up service account ns/default: serviceaccount "default" not '
                  'found'), "unprobeable", "no default ServiceAccount"),
    (refused(403, 'pods is forbidden: User "x" cannot create resource "pods"'), "error", "refused before PodSecurity"),
    (refused(500, "etcdserver: request timed out", "InternalError"), "error", "500"),
    (refused(0, "ConnectionRefusedError"), "error", "no answer"),
    (refused(422, 'Pod "p" is invalid: spec.x: Invalid value', "Invalid"), "error", "422"),
])
def test_answers_that_prove_nothing_are_never_a_pass(answer, kind, why):
    r = read_pod_answer(answer)
    assert r.kind == kind and why in r.why


def test_refusals_after_podsecurity_prove_it_admitted():
    quota = read_pod_answer(refused(403, 'pods "p" is forbidden: exceeded quota: q, requested: pods=1'))
    assert quota.kind == "passed" and quota.refused_by.startswith("ResourceQuota") and not quota.warn_policy
    vap = read_pod_answer(refused(403, "pods \"p\" is forbidden: ValidatingAdmissionPolicy 'x' with binding 'y' "
                                       "denied request: no"))
    assert vap.kind == "passed" and vap.refused_by.startswith("ValidatingAdmissionPolicy x")
    # a validating webhook without dry run support refuses after PodSecurity: its warning survives
    hooked = read_pod_answer(warned("baseline", status=400, message='admission webhook "v.example" does not support '
                                                                     'dry run'))
    assert hooked.kind == "passed" and hooked.warn_policy == "baseline:latest" and "v.example" in hooked.refused_by


def test_transient_answers_are_marked_for_retry():
    assert read_pod_answer(refused(403, "error looking up service account ns/default: not found")).transient
    assert read_pod_answer(refused(429, "too many requests", "TooManyRequests")).transient
    assert not read_pod_answer(refused(403, 'webhook "w" denied the request')).transient


# -- postures ---------------------------------------------------------------------------------------

def test_enforce_baseline_from_defaults_warn_is_read_with_the_restricted_probe():
    p = infer(answers(breakout=denial("baseline"), restricted=warned("restricted", pod=RESTRICTED_POD,
                                                                     probe="restricted")), FACTS, SIG)
    assert view(p) == ("baseline:latest", "restricted:latest", "unknown", "default", (), "ok")
    assert p.enforce.evaluated == (37, 37) and p.enforce.version_confirmed is True
    assert "no audit source" in p.audit.evidence


def test_warn_masked_by_enforce_is_unknown_not_guessed():
    p = infer(answers(labels={LABEL_PREFIX + "enforce": "restricted"}, breakout=denial("restricted")), FACTS, SIG)
    assert view(p)[:2] == ("restricted:latest", "unknown") and "masked" in p.warn.evidence
    p = infer(answers(breakout=denial("baseline"), restricted=admitted(RESTRICTED_POD, "restricted")), FACTS, SIG)
    assert p.warn.state == "unknown" and "privileged or baseline" in p.warn.evidence


def test_a_version_pin_is_confirmed_by_the_items_evaluated():
    p = infer(answers(labels={LABEL_PREFIX + "enforce": "baseline", LABEL_PREFIX + "enforce-version": "v1.30"},
                      breakout=denial("baseline", "v1.30")), FACTS, SIG)
    assert p.enforce.text == "baseline:v1.30" and p.enforce.evaluated == (29, 31) and p.enforce.version_confirmed
    assert p.labels_agree is True
    # a denial printed as v1.30 whose items are v1.37's: the server evaluated something else
    forged = denial("baseline")
    forged = Answer(**{**forged.__dict__, "message": forged.message.replace("baseline:latest", "baseline:v1.30")})
    p = infer(answers(breakout=forged), FACTS, SIG)
    assert p.enforce.version_confirmed is False and any("not the printed one" in n for n in p.notes)


def test_warned_admission_means_enforce_privileged_and_names_warn():
    labels = {LABEL_PREFIX + "enforce": "privileged", LABEL_PREFIX + "warn": "restricted"}
    p = infer(answers(labels=labels, breakout=warned("restricted", "v1.30")), FACTS, SIG)
    assert view(p)[:2] == ("privileged", "restricted:v1.30") and p.labels_agree is True


def test_silent_admission_needs_every_other_explanation_ruled_out():
    # not exempt, runner not exempt: privileged, proven
    p = infer(answers(breakout=admitted(), exemption=ns_update(False)), FACTS, SIG)
    assert view(p)[:3] == ("privileged", "privileged", "unknown")
    # the exemption probe could not be read
    bad = Answer("exemption", "PUT", "/api/v1/namespaces/ns", {"dryRun": "All"}, 403, "Forbidden", "no")
    p = infer(answers(breakout=admitted(), exemption=bad), FACTS, SIG)
    assert p.enforce.state == "unknown" and "unknown" in p.exempt
    # nothing proved the runner is not exempt
    p = infer(answers(breakout=admitted(), exemption=ns_update(False)),
              ClusterFacts(plugin="loaded", runner="me", runner_exempt=None, newest_minor=37), SIG)
    assert p.enforce.state == "unknown" and "unless the runner identity is exempt" in p.enforce.evidence
    # a webhook changed the probe
    changed = {**BREAKOUT_POD, "spec": {**BREAKOUT_POD["spec"], "containers": [
        {**BREAKOUT_POD["spec"]["containers"][0], "securityContext": {"privileged": False}}]}}
    p = infer(answers(breakout=admitted(returned=changed), exemption=ns_update(False)), FACTS, SIG)
    assert p.enforce.state == "unknown" and p.mutated == ("spec.containers[0].securityContext.privileged",)


def test_exempt_namespace_and_disabled_plugin_are_none_with_the_labels_source():
    labels = {LABEL_PREFIX + "enforce": "restricted"}
    p = infer(answers(labels=labels, breakout=admitted(), exemption=ns_update(True)), FACTS, SIG)
    assert view(p) == ("none", "none", "none", "label", ("namespace",), "ok")
    p = infer(answers(breakout=admitted(), exemption=ns_update(False)),
              ClusterFacts(plugin="disabled", plugin_evidence="accepted"), SIG)
    assert view(p)[:3] == ("none", "none", "none")


def test_unprobeable_namespace_keeps_the_reason():
    p = infer(answers(breakout=refused(400, 'admission webhook "m.example" does not support dry run', "BadRequest"),
                      exemption=ns_update(False)), FACTS, SIG)
    assert p.probe == "unprobeable" and p.probe_reason == "webhook m.example does not support dry run"
    assert p.enforce.state == p.warn.state == "unknown"


def test_audit_is_read_from_the_audit_event_only():
    facts = ClusterFacts(plugin="loaded", runner="me", runner_exempt=False, audit_source=True, newest_minor=37)
    ev = evaluate_object(BREAKOUT_POD, Level.BASELINE, PolicyVersion.parse("v1.30"), newest_minor=37)
    b = denial("restricted").with_audit({LABEL_PREFIX + "enforce-policy": "restricted:latest",
                                         LABEL_PREFIX + "audit-violations": ev.message("would violate"),
                                         "authorization.k8s.io/decision": "allow"})
    assert b.audit == {LABEL_PREFIX + "enforce-policy": "restricted:latest",
                       LABEL_PREFIX + "audit-violations": ev.message("would violate")}
    assert infer(answers(breakout=b), facts, SIG).audit.text == "baseline:v1.30"
    b = denial("restricted").with_audit({LABEL_PREFIX + "enforce-policy": "restricted:latest"})
    assert infer(answers(breakout=b), facts, SIG).audit.text == "privileged"
    b = denial("restricted").with_audit(None)
    assert infer(answers(breakout=b), facts, SIG).audit.state == "unknown"


def test_label_disagreement_is_flagged_for_retry():
    labels = {LABEL_PREFIX + "enforce": "restricted"}
    p = infer(answers(labels=labels, breakout=denial("baseline")), FACTS, SIG)
    assert p.labels_agree is False
    assert label_expectation({LABEL_PREFIX + "enforce": "bogus"})["enforce"] == "restricted"  # fails closed
    assert label_expectation({LABEL_PREFIX + "warn": "bogus"})["warn"] == "privileged"  # fails open
    assert label_expectation({LABEL_PREFIX + "enforce": "baseline"})["warn"] == "baseline"  # raised


# -- cluster facts ------------------------------------------------------------------------------------

def test_runner_exemption_is_proven_by_behaviour_or_the_audit_event():
    deny = {LABEL_PREFIX + "enforce": "baseline"}
    loaded = Answer("plugin", "PUT", "/api/v1/namespaces/a", {"dryRun": "All"}, 422, "Invalid",
                    f"metadata.labels[{LABEL_PREFIX}enforce]: Invalid value")
    silent = NamespaceAnswers("a", deny, breakout=admitted(), exemption=ns_update(False, "a"))
    facts = derive_cluster_facts(loaded, [silent], runner="bob", runtime_classes=[], runtime_class_answers={},
                                 audit_source=False, newest_minor=37)
    assert facts.runner_exempt is True and "labelled to deny" in facts.runner_evidence
    # unless the plugin is known to run, a silent admission may just mean there is no PodSecurity at all
    facts = derive_cluster_facts(None, [silent], runner="bob", runtime_classes=[], runtime_class_answers={},
                                 audit_source=False, newest_minor=37)
    assert facts.runner_exempt is None and facts.plugin == "unknown"
    # the same, but the namespace is exempt: that explains it
    exempt_ns = NamespaceAnswers("a", deny, breakout=admitted(), exemption=ns_update(True, "a"))
    facts = derive_cluster_facts(loaded, [exempt_ns], runner="bob", runtime_classes=[], runtime_class_answers={},
                                 audit_source=False, newest_minor=37)
    assert facts.runner_exempt is None
    # any evaluated probe proves the runner is not exempt
    facts = derive_cluster_facts(None, [exempt_ns, NamespaceAnswers("b", {}, breakout=denial("baseline"))],
                                 runner="bob", runtime_classes=[], runtime_class_answers={}, audit_source=False,
                                 newest_minor=37)
    assert facts.runner_exempt is False and facts.plugin == "loaded"
    # the audit event says so
    b = admitted().with_audit({LABEL_PREFIX + "exempt": "user"})
    facts = derive_cluster_facts(None, [NamespaceAnswers("c", {}, breakout=b)], runner="bob", runtime_classes=[],
                                 runtime_class_answers={}, audit_source=True, newest_minor=37)
    assert facts.runner_exempt is True and "exempt=user" in facts.runner_evidence


def test_plugin_probe_and_runtime_classes():
    ok = Answer("plugin", "PUT", "/api/v1/namespaces/a", {"dryRun": "All"}, 200)
    invalid = Answer("plugin", "PUT", "/api/v1/namespaces/a", {"dryRun": "All"}, 422, "Invalid",
                     f'Namespace "a" is invalid: metadata.labels[{LABEL_PREFIX}enforce]: Invalid value')
    silent = [NamespaceAnswers("a", {}, breakout=admitted(), exemption=ns_update(False, "a"))]
    kw = dict(runner="me", runtime_classes=["gvisor", "kata", "runc"], audit_source=False, newest_minor=37)
    rc = {"gvisor": Answer("runtimeClass:gvisor", "POST", "/api/v1/namespaces/a/pods", {"dryRun": "All"}, 201,
                           sent=BREAKOUT_POD, returned=BREAKOUT_POD),
          "runc": denial("baseline")}
    facts = derive_cluster_facts(ok, silent, runtime_class_answers=rc, **kw)
    assert facts.plugin == "disabled"
    facts = derive_cluster_facts(invalid, silent, runtime_class_answers=rc, **kw)
    assert facts.plugin == "loaded"
    assert dict(facts.exempt_runtime_classes) == {"gvisor": True, "kata": None, "runc": False}
    p = infer(NamespaceAnswers("b", {}, breakout=denial("baseline")), facts, SIG)
    assert p.exempt == ("runtimeClass:gvisor",) and any("kata" in n for n in p.notes)


def test_probe_labels():
    labels = {LABEL_PREFIX + "enforce-version": "v1.0", "team": "a"}
    new = exemption_probe_labels(labels)
    assert new["team"] == "a" and new[LABEL_PREFIX + "enforce"] == "restricted"
    assert new[LABEL_PREFIX + "enforce-version"] == "v1.1"  # must differ from the old pin
    assert exemption_probe_labels({})[LABEL_PREFIX + "enforce-version"] == "v1.0"
    assert plugin_probe_labels({})[LABEL_PREFIX + "enforce"] not in ("privileged", "baseline", "restricted")


def test_server_defaults_are_not_mutations():
    returned = {"spec": {**BREAKOUT_POD["spec"], "dnsPolicy": "ClusterFirst",
                         "volumes": [{"name": "host", "hostPath": {"path": "/", "type": ""}}],
                         "containers": [{**BREAKOUT_POD["spec"]["containers"][0], "imagePullPolicy": "IfNotPresent",
                                         "readinessProbe": {"tcpSocket": {"host": "10.0.0.1", "port": 80},
                                                            "timeoutSeconds": 1, "periodSeconds": 10}}]}}
    assert mutations(BREAKOUT_POD, returned) == []
    sidecar = {"spec": {**returned["spec"], "initContainers": [{"name": "x", "image": "y"}]}}
    assert mutations(BREAKOUT_POD, sidecar) == ["spec.initContainers"]
