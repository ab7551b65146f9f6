"""From a server answer to an outcome, and from expectation + observation to a verdict. Pure.

``observe`` classifies one ``Response`` into the shared outcome vocabulary and parses the checks
named in a PodSecurity denial, warning or audit annotation back into upstream check ids.
``judge`` compares it with an ``Expectation``: an error, a timeout or a denial by anything other
than PodSecurity never satisfies an expected denial, and the checks must match exactly.
Messages are parsed by ``harness.core.messages.parse_checks`` (the one parser; truncation-aware).

May import: ``harness.core`` (answers, expectations, messages, model).
"""

from __future__ import annotations

import dataclasses

from harness.core.answers import Response
from harness.core.expectations import Expectation, Policy
from harness.core.messages import TRUNCATION_RUNES, TRUNCATION_TOTAL_RUNES, ParsedViolation, parse_checks
from harness.core.model import Outcome

__all__ = ["Observation", "ParsedViolation", "Verdict", "judge", "observe", "parse_checks"]

AUDIT_VIOLATIONS = "pod-security.kubernetes.io/audit-violations"
UNKNOWN_REASON = "unknown forbidden reason"
_INVALID = {400, 404, 405, 406, 415, 422}


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

    @property
    def checks(self) -> frozenset[str]:
        return self.violation.checks if self.violation else frozenset()

    def to_dict(self) -> dict:
        def pv(v: ParsedViolation | None):
            return None if v is None else {"policy": v.policy, "checks": sorted(v.checks),
                                           "unknown": list(v.unknown), "truncated": v.truncated}
        return {"outcome": self.outcome.value, "status": self.status, "message": self.message,
                "warnings": self.warnings, "checks": sorted(self.checks), "violation": pv(self.violation),
                "audit_id": self.audit_id, "audit_annotations": self.audit_annotations,
                "audit_violation": pv(self.audit_violation)}


def observe(resp: Response, server_minor: int) -> Observation:
    """Classify a server answer into the shared outcome vocabulary."""
    if resp.status == 0:
        return Observation(Outcome.ERROR, 0, resp.message, audit_id=resp.audit_id)
    if resp.ok:
        psa = [w for w in resp.warnings if "would violate PodSecurity" in w]
        violation = parse_checks(psa[0], server_minor) if psa else None
        outcome = Outcome.WARNED if psa else Outcome.ADMITTED
        return Observation(outcome, resp.status, "", list(resp.warnings), violation, resp.audit_id)
    message = resp.message or (resp.body if isinstance(resp.body, str) else "")
    if resp.status == 403:
        violation = parse_checks(message, server_minor) if "violates PodSecurity" in message else None
        outcome = Outcome.DENIED if violation else Outcome.DENIED_OTHER
        return Observation(outcome, 403, message, list(resp.warnings), violation, resp.audit_id)
    if resp.status == 401:
        return Observation(Outcome.DENIED_OTHER, 401, message, list(resp.warnings), audit_id=resp.audit_id)
    if resp.status in _INVALID and not (resp.status == 404 and resp.reason == "NotFound" and "namespaces" in message):
        return Observation(Outcome.INVALID, resp.status, message, list(resp.warnings), audit_id=resp.audit_id)
    return Observation(Outcome.ERROR, resp.status, message, list(resp.warnings), audit_id=resp.audit_id)


def attach_audit(obs: Observation, event: dict | None, server_minor: int) -> None:
    """Record the audit event's PodSecurity annotations on ``obs``."""
    annotations = (event or {}).get("annotations", {}) if event is not None else None
    obs.audit_annotations = {k: v for k, v in (annotations or {}).items() if k.startswith("pod-security.")} \
        if annotations is not None else {}
    text = (annotations or {}).get(AUDIT_VIOLATIONS)
    obs.audit_violation = parse_checks(text, server_minor) if text else None


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
        problems.insert(0, f"expected {expectation.outcome}, observed {obs.outcome}")
        return Verdict(False, tuple(problems))
    if obs.outcome in (Outcome.DENIED, Outcome.WARNED):
        v = obs.violation
        if v.policy != want_policy:
            problems.append(f"{obs.outcome} under policy {v.policy!r}, expected {want_policy!r}")
        unknown = [u for u in v.unknown if u != v.cut_reason]
        if unknown:
            problems.append(f"unrecognised reason(s) {unknown}")
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
