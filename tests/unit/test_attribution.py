"""Who refused a request: PodSecurity only on its exact form (and its audit annotation), every other layer named.

The messages below are what kube-apiserver v1.37.2 answered (``tests/integration/test_admission_layers.py``
checks each form against the embedded server); these tests hold the classification of each.
"""

from __future__ import annotations

import pytest

from harness.core.answers import Response
from harness.core.expectations import Expectation, Policy
from harness.core.messages import podsecurity_denial, podsecurity_warning
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.core.verdict import attach_audit, judge, observe, refused_by

PRIVILEGED = 'privileged (container "c" must not set securityContext.privileged=true)'
COPY = f'violates PodSecurity "restricted:latest": {PRIVILEGED}'
DENIAL = f'pods "p" is forbidden: {COPY}'
VAP_403 = f"pods \"ok\" is forbidden: ValidatingAdmissionPolicy 'copycat' with binding 'copycat-b' denied request: {DENIAL}"
VAP_422 = "pods \"ok\" is forbidden: ValidatingAdmissionPolicy 'plain' with binding 'plain-b' denied request: no pods named ok"
WARN = f'would violate PodSecurity "baseline:latest": {PRIVILEGED}'
VAP_WARN = f"Validation failed for ValidatingAdmissionPolicy 'warnc' with binding 'warnc-b': would violate PodSecurity " \
           f'"restricted:latest": {PRIVILEGED}'
QUOTA = 'pods "p" is forbidden: exceeded quota: zero, requested: pods=1, used: pods=0, limited: pods=0'
ENFORCE = Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)


def answer(status: int, reason: str = "", message: str = "", warnings=()) -> Response:
    body = {"kind": "Status", "code": status, "reason": reason, "message": message} if status >= 300 else {"kind": "Pod"}
    return Response("POST", "/api/v1/namespaces/x/pods", {"dryRun": "All"}, status, body, list(warnings), "a-1")


# -- the exact forms ------------------------------------------------------------------------------

@pytest.mark.parametrize("message", [
    DENIAL,
    f'pods "gen-nx59z" is forbidden: {COPY}',               # generateName: the generated name is printed
    f'pods "base" is forbidden: {COPY}',                    # pods/ephemeralcontainers update: the pod's name
])
def test_a_podsecurity_denial_is_its_exact_form(message):
    obs = observe(answer(403, "Forbidden", message), 37)
    assert (obs.outcome, obs.denied_by, obs.attribution) == (Outcome.DENIED, "PodSecurity", "")
    assert obs.checks == {"privileged"} and obs.violation.policy == "restricted:latest"


@pytest.mark.parametrize("status, reason, message", [
    (403, "Forbidden", VAP_403),                                            # a VAP with reason: Forbidden
    (403, "Forbidden", f"pods \"ok\" is forbidden: ValidatingAdmissionPolicy 'c' with binding 'b' denied request: {COPY}"),
    (403, "Forbidden", f'admission webhook "copy.example.com" denied the request: {DENIAL}'),
    (403, "Forbidden", f"Error from server (Forbidden): {DENIAL}"),        # anything before the resource
    (403, "Forbidden", f'deployments.apps "d" is forbidden: {COPY}'),      # PodSecurity denies pods only
    (403, "Forbidden", f'pods "p" is forbidden: {COPY.replace("violates", "would violate")}'),
    (403, "", DENIAL),                                                     # no reason: not the plugin's Status
    (422, "Invalid", DENIAL),
    (403, "Forbidden", COPY),                                              # no resource prefix at all
])
def test_a_refusal_that_quotes_podsecurity_is_not_podsecurity(status, reason, message):
    obs = observe(answer(status, reason, message), 37)
    assert obs.outcome is Outcome.DENIED_OTHER, obs
    assert obs.checks == frozenset() and obs.violation is None
    assert podsecurity_denial(status, reason, message, 37) is None
    assert "quotes PodSecurity's text" in obs.attribution


def test_a_copying_vap_is_named_and_never_satisfies_an_expected_denial():
    obs = observe(answer(403, "Forbidden", VAP_403), 37)
    assert obs.denied_by == "ValidatingAdmissionPolicy 'copycat' (binding 'copycat-b')"
    v = judge(Expectation(Outcome.DENIED, frozenset({"privileged"})), obs, ENFORCE, audit_observed=False)
    assert not v.passed
    assert v.problems[0] == ("expected denied, observed denied-other "
                             "(refused by ValidatingAdmissionPolicy 'copycat' (binding 'copycat-b'))")
    assert v.problems[1].startswith("attribution: the message quotes PodSecurity's text")


def test_a_vap_denial_without_a_reason_is_422_and_denied_other_not_invalid():
    obs = observe(answer(422, "Invalid", VAP_422), 37)
    assert obs.outcome is Outcome.DENIED_OTHER
    assert obs.denied_by == "ValidatingAdmissionPolicy 'plain' (binding 'plain-b')"
    assert obs.attribution == "a ValidatingAdmissionPolicy denial (HTTP 422 Invalid), not a validation failure"
    d = obs.to_dict()
    assert (d["outcome"], d["denied_by"]) == ("denied-other", "ValidatingAdmissionPolicy 'plain' (binding 'plain-b')")


def test_true_validation_failures_stay_invalid():
    obs = observe(answer(422, "Invalid", 'Pod "ok" is invalid: spec.containers[0].image: Required value'), 37)
    assert (obs.outcome, obs.denied_by) == (Outcome.INVALID, None)


@pytest.mark.parametrize("status, message, layer", [
    (403, QUOTA, "ResourceQuota 'zero'"),
    (403, 'pods "p" is forbidden: maximum cpu usage per Container is 1m, but limit is 2', "LimitRange"),
    (403, 'pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "x"',
     'RBAC (user "alice")'),
    (400, 'admission webhook "side.example.com" does not support dry run', 'admission webhook "side.example.com"'),
    (403, 'admission webhook "deny.example.com" denied the request: no', 'admission webhook "deny.example.com"'),
    (403, 'pods "p" is forbidden: error looking up service account x/default: serviceaccount "default" not found',
     "ServiceAccount admission"),
    (403, 'pods "p" is forbidden: unable to create new content in namespace x because it is being terminated',
     "NamespaceLifecycle (namespace x is being terminated)"),
    (401, "Unauthorized", "authentication (HTTP 401)"),
    (403, "something else entirely", "unknown"),
])
def test_other_layers_are_named(status, message, layer):
    assert refused_by(status, message) == layer
    obs = observe(answer(status, "x", message), 37)
    assert (obs.outcome, obs.denied_by) == (Outcome.DENIED_OTHER, layer)


# -- warnings ------------------------------------------------------------------------------------

def test_a_warning_counts_only_on_its_exact_form():
    assert podsecurity_warning(WARN, 37).checks == {"privileged"}
    assert podsecurity_warning(VAP_WARN, 37) is None
    obs = observe(answer(201, warnings=[VAP_WARN]), 37)
    assert obs.outcome is Outcome.ADMITTED and obs.violation is None
    assert "does not start with 'would violate PodSecurity'" in obs.attribution
    both = observe(answer(201, warnings=[VAP_WARN, WARN]), 37)
    assert both.outcome is Outcome.WARNED and both.violation.policy == "baseline:latest"
    raw = '299 - "would violate PodSecurity \\"baseline:latest\\": privileged"'
    assert podsecurity_warning(raw, 37).checks == {"privileged"}


def test_an_audit_annotation_counts_only_on_its_exact_form():
    obs = observe(answer(201), 37)
    attach_audit(obs, {"annotations": {"pod-security.kubernetes.io/audit-violations": f"copied: {WARN}"}}, 37)
    assert obs.audit_violation is None


# -- confirmation by the audit event ---------------------------------------------------------------

def test_a_denial_confirmed_by_its_audit_event_stays_denied():
    obs = observe(answer(403, "Forbidden", DENIAL), 37)
    attach_audit(obs, {"annotations": {"pod-security.kubernetes.io/enforce-policy": "restricted:latest"}}, 37)
    assert (obs.outcome, obs.denied_by, obs.checks) == (Outcome.DENIED, "PodSecurity", {"privileged"})


@pytest.mark.parametrize("annotations, why", [
    ({}, "has no pod-security.kubernetes.io/enforce-policy annotation"),
    ({"pod-security.kubernetes.io/enforce-policy": "privileged:latest"}, "names enforce policy 'privileged:latest'"),
    ({"pod-security.kubernetes.io/exempt": "namespace"},
     "has no pod-security.kubernetes.io/enforce-policy annotation (it says exempt=namespace)"),
])
def test_a_denial_its_audit_event_contradicts_is_denied_other_with_the_reason(annotations, why):
    obs = observe(answer(403, "Forbidden", DENIAL), 37)
    attach_audit(obs, {"annotations": annotations}, 37)
    assert (obs.outcome, obs.checks, obs.denied_by) == (Outcome.DENIED_OTHER, frozenset(), "unknown (not PodSecurity)")
    assert obs.attribution == ("the message has the form of a PodSecurity denial under 'restricted:latest', but the "
                               f"request's audit event {why}: PodSecurity did not refuse it")
    v = judge(Expectation(Outcome.DENIED, frozenset({"privileged"})), obs, ENFORCE, audit_observed=False)
    assert not v.passed and v.problems[1] == f"attribution: {obs.attribution}"


def test_no_audit_event_found_confirms_nothing_and_changes_nothing():
    obs = observe(answer(403, "Forbidden", DENIAL), 37)
    attach_audit(obs, None, 37)
    assert obs.outcome is Outcome.DENIED and obs.checks == {"privileged"}
