"""From a server answer to an outcome, and from expectation + observation to a verdict. Pure.

``observe`` classifies one ``Response`` into the shared outcome vocabulary and parses the checks
named in a PodSecurity denial, warning or audit annotation back into upstream check ids.
``judge`` compares it with an ``Expectation``: an error, a timeout or a denial by anything other
than PodSecurity never satisfies an expected denial, and the checks must match exactly.
Messages are parsed by ``harness.core.messages`` (the one parser; truncation-aware).

Attribution: a refusal is ``denied`` (PodSecurity) only on the exact form of a PodSecurity denial
(``harness.core.messages.podsecurity_denial``: HTTP 403, reason Forbidden, ``pods "<name>" is
forbidden: violates PodSecurity "<level>:<version>": ...``), and, where the request's audit event
is available (``attach_audit``), only if that event's ``pod-security.kubernetes.io/enforce-policy``
annotation names the same policy: PodSecurity writes it for every pod it evaluates, so a denial
whose event lacks it (or names another policy) came from something else and is ``denied-other``,
with the reason in ``attribution``. A warning counts only on the exact ``would violate PodSecurity``
form. Every other refusal is ``denied-other`` and ``denied_by`` names the layer when its message
shows it: a ValidatingAdmissionPolicy (``... is forbidden: ValidatingAdmissionPolicy 'p' with
binding 'b' denied request: ...``, HTTP 403 with ``reason: Forbidden`` but 422 Invalid without a
reason, and so never ``invalid``), an admission webhook, a ResourceQuota, a LimitRange, RBAC, the
ServiceAccount or NamespaceLifecycle admission plugins, authentication. True validation failures
(``Pod "x" is invalid: ...``) stay ``invalid``.

With ``--psa-engine vap`` the engine under test is a ValidatingAdmissionPolicy set
(``harness.core.engines``): ``observe_vap`` makes a denial by one of the set's policies ``denied``
(whatever its HTTP status: 422 ``Invalid`` by default, 403 with ``reason: Forbidden``), its checks
read from the policy's message (``harness.core.messages.named_checks``) and marked ``partial``, since
the API server names only the first denying policy; ``attach_audit_vap`` completes them from the
audit event's ``validation_failure`` entries of Deny bindings, and reads the Audit-only entries as
the audit-mode answer. The set's ``Validation failed for ValidatingAdmissionPolicy ...`` warnings
are its warn answer. A PodSecurity denial, or a policy outside the set, is then ``denied-other``;
validation failures stay ``invalid``.

May import: ``harness.core`` (answers, expectations, messages, model).
"""

from __future__ import annotations

import dataclasses
import re

from harness.core.answers import Response
from harness.core.expectations import Expectation, Policy
from harness.core.messages import (TRUNCATION_RUNES, TRUNCATION_TOTAL_RUNES, VAP_VALIDATION_FAILURE, ParsedViolation,
                                   PolicyAnswer, parse_checks, podsecurity_denial, podsecurity_warning,
                                   unquote_warning_header, vap_audit_failures, vap_denial, vap_warning)
from harness.core.model import Outcome

__all__ = ["Observation", "ParsedViolation", "Verdict", "attach_audit", "attach_audit_vap", "judge", "observe",
           "observe_vap", "parse_checks", "refused_by"]

AUDIT_VIOLATIONS = "pod-security.kubernetes.io/audit-violations"
ENFORCE_POLICY = "pod-security.kubernetes.io/enforce-policy"
EXEMPT = "pod-security.kubernetes.io/exempt"
PODSECURITY = "PodSecurity"
UNKNOWN_REASON = "unknown forbidden reason"
_INVALID = {400, 404, 405, 406, 415, 422}

#: ``<resource> ["<name>"] is forbidden: `` (``apierrors.NewForbidden``), which admission plugins' refusals start with
_FORBIDDEN = r'(?:[a-z0-9.-]+(?: "[^"]*")? is forbidden: )?'
_VAP = re.compile(_FORBIDDEN + r"ValidatingAdmissionPolicy '([^']+)' with binding '([^']+)' denied request")
_LAYERS = [  # (pattern, how ``denied_by`` names the layer); matched at the start of the message
    (re.compile(_FORBIDDEN + r'admission webhook "([^"]+)" (?:denied the request|does not support dry run)'),
     lambda m: f'admission webhook "{m.group(1)}"'),
    (re.compile(_FORBIDDEN + r"exceeded quota: ([^,]+)"), lambda m: f"ResourceQuota '{m.group(1)}'"),
    (re.compile(_FORBIDDEN + r"(?:(?:maximum|minimum) \S+ usage per \S+ is |\S+ max limit to request ratio per )"),
     lambda m: "LimitRange"),
    (re.compile(_FORBIDDEN + r'User "([^"]*)" cannot '), lambda m: f'RBAC (user "{m.group(1)}")'),
    (re.compile(_FORBIDDEN + r"error looking up service account "), lambda m: "ServiceAccount admission"),
    (re.compile(_FORBIDDEN + r"unable to create new content in namespace (\S+) because it is being terminated"),
     lambda m: f"NamespaceLifecycle (namespace {m.group(1)} is being terminated)"),
]


@dataclasses.dataclass
class Observation:
    """What the server did with one request, in domain terms."""

    outcome: Outcome
    status: int
    message: str = ""                              #: the Status message (denials, errors)
    warnings: list[str] = dataclasses.field(default_factory=list)
    violation: ParsedViolation | None = None       #: parsed from the denial or the PodSecurity warning
    audit_id: str = ""
    audit_annotations: dict[str, str] | None = None  #: None: no audit event was looked up
    audit_violation: ParsedViolation | None = None
    denied_by: str | None = None                   #: who refused: "PodSecurity", "ResourceQuota 'q'", ... (refused_by)
    attribution: str = ""                          #: why a refusal quoting PodSecurity was not attributed to it

    @property
    def checks(self) -> frozenset[str]:
        return self.violation.checks if self.violation else frozenset()

    def to_dict(self) -> dict:
        def pv(v: ParsedViolation | None):
            if v is None:
                return None
            out = {"policy": v.policy, "checks": sorted(v.checks), "unknown": list(v.unknown), "truncated": v.truncated}
            if v.partial:
                out["partial"] = True
            return out
        return {"outcome": self.outcome.value, "status": self.status, "message": self.message,
                "warnings": self.warnings, "checks": sorted(self.checks), "violation": pv(self.violation),
                "audit_id": self.audit_id, "audit_annotations": self.audit_annotations,
                "audit_violation": pv(self.audit_violation), "denied_by": self.denied_by,
                "attribution": self.attribution}


def refused_by(status: int, message: str) -> str:
    """The admission layer a refusal's message names (see the module docstring), or ``"unknown"``."""
    if status == 401:
        return "authentication (HTTP 401)"
    m = _VAP.match(message)
    if m:
        return f"ValidatingAdmissionPolicy '{m.group(1)}' (binding '{m.group(2)}')"
    for pattern, name in _LAYERS:
        m = pattern.match(message)
        if m:
            return name(m)
    return "unknown"


_QUOTING = re.compile(r"violates? PodSecurity")
_QUOTES = ("the message quotes PodSecurity's text but is not a PodSecurity denial, which is exactly "
           "'pods \"<name>\" is forbidden: violates PodSecurity \"<level>:<version>\": ...' (HTTP 403 Forbidden)")


def observe(resp: Response, server_minor: int) -> Observation:
    """Classify a server answer into the shared outcome vocabulary (attribution: see the module docstring)."""
    if resp.status == 0:
        return Observation(Outcome.ERROR, 0, resp.message, audit_id=resp.audit_id)
    if resp.ok:
        violation = next((v for v in (podsecurity_warning(w, server_minor) for w in resp.warnings) if v), None)
        outcome = Outcome.WARNED if violation else Outcome.ADMITTED
        quoted = violation is None and any("would violate PodSecurity" in w for w in resp.warnings)
        return Observation(outcome, resp.status, "", list(resp.warnings), violation, resp.audit_id,
                           attribution="a warning quotes PodSecurity's text but does not start with "
                                       "'would violate PodSecurity': not PodSecurity's" if quoted else "")
    message = resp.message or (resp.body if isinstance(resp.body, str) else "")
    warnings = list(resp.warnings)
    violation = podsecurity_denial(resp.status, resp.reason, message, server_minor)
    if violation is not None:
        return Observation(Outcome.DENIED, 403, message, warnings, violation, resp.audit_id, denied_by=PODSECURITY)
    layer = refused_by(resp.status, message)
    quotes = _QUOTING.search(message) is not None
    if resp.status in (401, 403) or layer != "unknown" or quotes:
        quoted = _QUOTES if quotes else ""
        if layer.startswith("ValidatingAdmissionPolicy") and resp.status != 403:
            quoted = f"a ValidatingAdmissionPolicy denial (HTTP {resp.status} {resp.reason}), not a validation " \
                     f"failure" + (f"; {_QUOTES}" if quoted else "")
        return Observation(Outcome.DENIED_OTHER, resp.status, message, warnings, audit_id=resp.audit_id,
                           denied_by=layer, attribution=quoted)
    if resp.status in _INVALID and not (resp.status == 404 and resp.reason == "NotFound" and "namespaces" in message):
        return Observation(Outcome.INVALID, resp.status, message, warnings, audit_id=resp.audit_id)
    return Observation(Outcome.ERROR, resp.status, message, warnings, audit_id=resp.audit_id)


def attach_audit(obs: Observation, event: dict | None, server_minor: int) -> None:
    """Record the audit event's PodSecurity annotations on ``obs``; with an event, confirm a denial.

    PodSecurity writes ``enforce-policy`` into the audit event of every pod it evaluates; a
    ``denied`` observation whose event lacks it, or names another policy, was refused by something
    that copied PodSecurity's form: it becomes ``denied-other``, with the reason in ``attribution``.
    ``event=None`` (not found) confirms nothing.
    """
    annotations = (event or {}).get("annotations", {}) if event is not None else None
    obs.audit_annotations = {k: v for k, v in (annotations or {}).items() if k.startswith("pod-security.")} \
        if annotations is not None else {}
    text = (annotations or {}).get(AUDIT_VIOLATIONS)
    obs.audit_violation = podsecurity_warning(text, server_minor) if text else None
    if event is None or obs.outcome is not Outcome.DENIED or obs.violation is None:
        return
    enforce = (annotations or {}).get(ENFORCE_POLICY)
    if enforce == obs.violation.policy:
        return
    exempt = (annotations or {}).get(EXEMPT)
    why = (f"names enforce policy {enforce!r}" if enforce is not None else
           f"has no {ENFORCE_POLICY} annotation" + (f" (it says exempt={exempt})" if exempt else ""))
    obs.attribution = (f"the message has the form of a PodSecurity denial under {obs.violation.policy!r}, but the "
                       f"request's audit event {why}: PodSecurity did not refuse it")
    obs.outcome, obs.violation, obs.denied_by = Outcome.DENIED_OTHER, None, "unknown (not PodSecurity)"


# -- a ValidatingAdmissionPolicy set as the engine under test (--psa-engine vap) ---------------------------------

def _vap_violation(policy: Policy, answers: list[PolicyAnswer], *, partial: bool = False,
                   truncated: bool = False) -> ParsedViolation:
    """The checks ``answers`` name, as the namespace's policy: policies whose message names no check are ``unknown``."""
    checks = [c for a in answers for c in a.checks]
    unknown = tuple(dict.fromkeys(f"{a.policy}: {a.message}" for a in answers if not a.checks))
    return ParsedViolation(f"{policy.level}:{policy.version}", frozenset(checks), unknown, truncated, partial=partial)


def _vap_name(a: PolicyAnswer) -> str:
    return f"ValidatingAdmissionPolicy '{a.policy}' (binding '{a.binding}')"


def observe_vap(resp: Response, server_minor: int, policy: Policy, owns=lambda name: True) -> Observation:
    """Classify an answer with a ValidatingAdmissionPolicy set as the engine under test (see the module docstring).

    ``policy``: the namespace's; ``owns(policy_name)``: whether a policy belongs to the set.
    """
    if resp.status == 0:
        return Observation(Outcome.ERROR, 0, resp.message, audit_id=resp.audit_id)
    warned = [(a, unquote_warning_header(w)[0]) for a, w in ((vap_warning(w), w) for w in resp.warnings)
              if a is not None and owns(a.policy)]
    # kube-apiserver cuts every warning to 256 runes once a response's warnings pass 4096, and drops those that
    # come after 4096 runes are written (pkg/endpoints/filters/warning.go): some of the set's may be missing
    cut = any(len(text) == TRUNCATION_RUNES for _, text in warned) or \
        sum(len(unquote_warning_header(w)[0]) for w in resp.warnings) >= TRUNCATION_TOTAL_RUNES
    psa = next((v for v in (podsecurity_warning(w, server_minor) for w in resp.warnings) if v), None)
    note = ("PodSecurity warned too (the namespace should be PodSecurity-privileged under --psa-engine vap): "
            f"{psa.policy}" if psa else "")
    if resp.ok:
        violation = _vap_violation(policy, [a for a, _ in warned], truncated=cut) if warned else None
        return Observation(Outcome.WARNED if violation else Outcome.ADMITTED, resp.status, "", list(resp.warnings),
                           violation, resp.audit_id, attribution=note)
    message = resp.message or (resp.body if isinstance(resp.body, str) else "")
    denial = vap_denial(message)
    if denial is not None and owns(denial.policy):
        return Observation(Outcome.DENIED, resp.status, message, list(resp.warnings),
                           _vap_violation(policy, [denial], partial=True), resp.audit_id, denied_by=_vap_name(denial))
    obs = observe(resp, server_minor)
    if obs.outcome is Outcome.DENIED:  # PodSecurity's own denial: not the engine under test
        obs.outcome, obs.violation = Outcome.DENIED_OTHER, None
        obs.attribution = ("PodSecurity refused it, not the ValidatingAdmissionPolicy set under test (under "
                           "--psa-engine vap the namespace should be PodSecurity-privileged)")
    elif denial is not None:
        obs.attribution = "; ".join(filter(None, ["a ValidatingAdmissionPolicy outside the set under test",
                                                  obs.attribution]))
    return obs


def attach_audit_vap(obs: Observation, event: dict | None, server_minor: int, policy: Policy,
                     owns=lambda name: True) -> None:
    """Read the set's ``validation_failure`` audit entries: Audit-only bindings are the audit-mode answer; the
    entries of Deny bindings complete a denial, which names the first denying policy only."""
    annotations = (event or {}).get("annotations") or {}
    obs.audit_annotations = {k: v for k, v in annotations.items()
                             if k.startswith(("pod-security.", "validation.policy.admission.k8s.io/"))}
    entries = [e for e in vap_audit_failures(annotations.get(VAP_VALIDATION_FAILURE)) if owns(e.policy)]
    audited = [e for e in entries if "Audit" in e.actions and "Deny" not in e.actions]
    obs.audit_violation = _vap_violation(policy, audited) if audited else None
    if event is None or obs.outcome is not Outcome.DENIED or obs.violation is None:
        return
    denial = vap_denial(obs.message)
    denied = [e for e in entries if "Deny" in e.actions]
    complete = denial is not None and any((e.policy, e.binding) == (denial.policy, denial.binding) for e in denied)
    if denied:
        obs.violation = _vap_violation(policy, [*([denial] if denial else []), *denied], partial=not complete)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Pass or fail, with every reason it failed."""

    passed: bool
    problems: tuple[str, ...] = ()


def _check_diff(what: str, expected: frozenset[str], got: frozenset[str]) -> list[str]:
    problems = []
    if expected - got:
        problems.append(f"{what}: missing expected check(s) {', '.join(sorted(expected - got))}")
    if got - expected:
        problems.append(f"{what}: unexpected check(s) {', '.join(sorted(got - expected))}")
    return problems


def judge(expectation: Expectation, obs: Observation, policy: Policy, *, audit_observed: bool) -> Verdict:
    """Compare; ``audit_observed`` says whether ``obs`` carries the request's audit event."""
    problems: list[str] = []
    want_policy = f"{policy.level}:{policy.version}"
    for text in [obs.message, *obs.warnings, *((obs.audit_annotations or {}).values())]:
        if UNKNOWN_REASON in text:
            problems.append(f"the server reported {UNKNOWN_REASON!r}: a check denied without a reason")
    if obs.outcome is not expectation.outcome:
        by = f" (refused by {obs.denied_by})" if obs.denied_by and obs.outcome is Outcome.DENIED_OTHER else ""
        problems.insert(0, f"expected {expectation.outcome}, observed {obs.outcome}{by}")
        if obs.attribution:
            problems.insert(1, f"attribution: {obs.attribution}")
        return Verdict(False, tuple(problems))
    if obs.outcome in (Outcome.DENIED, Outcome.WARNED):
        v = obs.violation
        if v.policy != want_policy:
            problems.append(f"{obs.outcome} under policy {v.policy!r}, expected {want_policy!r}")
        unknown = [u for u in v.unknown if u != v.cut_reason]
        if unknown:
            problems.append(f"unrecognised reason(s) {unknown}")
        if v.partial:  # a ValidatingAdmissionPolicy denial without its audit event names one failing check
            got = v.checks
            if got - expectation.checks:
                problems.append(f"{obs.outcome}: unexpected check(s) {', '.join(sorted(got - expectation.checks))}")
            if problems:
                problems.append("note: a ValidatingAdmissionPolicy denial names only the first denying policy; "
                                "the others are in the audit event's validation_failure annotation (not read)")
        else:
            problems += _check_diff(str(obs.outcome), expectation.checks, v.checks)
        if problems and v.truncated:
            problems.append(f"note: the server cut this warning to {TRUNCATION_RUNES} runes (a response's warnings "
                            f"passed {TRUNCATION_TOTAL_RUNES}): checks after the cut are not visible"
                            + (f"; its last reason is cut short ({v.cut_reason!r})" if v.cut_reason else ""))
    if audit_observed:
        got = obs.audit_violation.checks if obs.audit_violation else frozenset()
        if obs.audit_violation and obs.audit_violation.policy != want_policy and expectation.audit_checks:
            problems.append(f"audit-violations under policy {obs.audit_violation.policy!r}, expected {want_policy!r}")
        problems += _check_diff("audit-violations", expectation.audit_checks, got)
    return Verdict(not problems, tuple(problems))
