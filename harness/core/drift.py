"""Drift of admission controls over time: drift events, their detection and remediation, MTTD/MTTR. Pure.

The watch (``harness.cluster.watch``) re-probes what a change concerns and hands this module
what it observed; nothing here does I/O or reads a clock (every time is an argument, seconds
since the epoch). It may import ``harness.core`` only.

* An **observation** is one finding that holds at a time: a ``harness.core.namespace_rules``
  finding of a namespace against its rule (``weaker-than-required``, ``version-pinned-below``,
  ``exempt-namespace``, ...), or an admission-configuration finding of this module
  (``admission_findings``: a ValidatingAdmissionPolicy or its binding deleted or relaxed, a
  webhook deleted or switched to ``failurePolicy: Ignore``), compared with the objects present
  when the watch started.
* ``DriftTracker.observe`` opens a **drift event** for each observation not open yet and closes
  (remediates) each open event of a re-evaluated subject that is no longer observed. Findings
  present at the first observation are ``preexisting``: their change happened before the watch,
  so they count for MTTR but never for MTTD.
* **MTTD** (time to detect) = detection time - change time (the namespace's ``managedFields``
  time, 1 s resolution; the audit event's ``stageTimestamp`` when an audit log is read; the
  apiserver Lease's ``renewTime`` for a restart; the watch event's arrival for a deletion).
  **MTTR** (time to remediate) = remediation time - detection time. ``summarize`` gives both per
  finding type over a window.
* Without a desired-state policy, ``snapshot_policy`` makes one from the first sweep: no
  namespace may get weaker than it was, and namespaces created later must be labelled
  ``enforce`` baseline or stronger.

"Cannot probe" is never drift: ``probe_failure`` names the class of a failure that says nothing
about the posture (no answer, 503, 429, ...), and such a namespace is left out of the evaluation.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
from typing import Iterable, Mapping

from harness.core.model import Level, PolicyVersion
from harness.core.namespace_rules import AllowedExemption, DesiredState, Finding, Rule

__all__ = [
    "ADMISSION_FINDINGS",
    "Context",
    "DriftEvent",
    "DriftTracker",
    "Observation",
    "Transition",
    "admission_findings",
    "admission_state",
    "latest_managed_time",
    "parse_time",
    "percentile",
    "probe_failure",
    "snapshot_policy",
    "summarize",
]

#: id -> (severity, what it means); the namespace findings are ``namespace_rules.FINDINGS``
ADMISSION_FINDINGS: dict[str, tuple[str, str]] = {
    "vap-deleted": ("high", "a ValidatingAdmissionPolicy present when the watch started is gone"),
    "vap-fail-open": ("high", "a ValidatingAdmissionPolicy's failurePolicy changed from Fail to Ignore"),
    "vap-binding-deleted": ("high", "a ValidatingAdmissionPolicyBinding present when the watch started is gone"),
    "vap-binding-relaxed": ("high", "a ValidatingAdmissionPolicyBinding no longer denies (validationActions "
                                    "lost Deny)"),
    "webhook-deleted": ("high", "an admission webhook present when the watch started is gone"),
    "webhook-fail-open": ("high", "an admission webhook's failurePolicy changed from Fail to Ignore"),
}

_WEBHOOK_KINDS = {"validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
                  "mutatingwebhookconfigurations": "MutatingWebhookConfiguration"}


# -- times ------------------------------------------------------------------------------------------

def parse_time(text: str | None) -> float | None:
    """An RFC 3339 time (``2026-01-01T10:00:00Z``, ``...00.123456Z``) as seconds since the epoch; None if unreadable."""
    if not text or not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def latest_managed_time(obj: Mapping | None) -> float | None:
    """The newest ``metadata.managedFields[].time`` (else ``creationTimestamp``) of an object: when it last changed."""
    meta = (obj or {}).get("metadata") or {}
    times = [t for t in (parse_time(m.get("time")) for m in meta.get("managedFields") or [] if isinstance(m, dict))
             if t is not None]
    if times:
        return max(times)
    return parse_time(meta.get("creationTimestamp"))


# -- probe failures ----------------------------------------------------------------------------------

def probe_failure(status: int, message: str = "") -> str | None:
    """The class of a probe answer that proves nothing about the posture, or None for a real answer.

    ``unreachable`` (no answer), ``unavailable`` (503/504), ``throttled`` (429), ``server-error``
    (another 5xx, except a webhook call that failed: that is the namespace's real admission
    chain, an ``unprobeable`` posture), ``forbidden`` (401: the runner's credentials).
    """
    if status == 0:
        return "unreachable"
    if status in (503, 504):
        return "unavailable"
    if status == 429:
        return "throttled"
    if status == 401:
        return "forbidden"
    if status >= 500 and "failed calling webhook" not in (message or ""):
        return "server-error"
    return None


# -- admission configuration ------------------------------------------------------------------------

def admission_state(resource: str, obj: Mapping) -> dict:
    """What the drift comparison keeps of one admission configuration object (small, JSON-able)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if resource == "validatingadmissionpolicies":
        return {"failurePolicy": spec.get("failurePolicy", "Fail")}
    if resource == "validatingadmissionpolicybindings":
        return {"policyName": spec.get("policyName"), "validationActions": sorted(spec.get("validationActions") or [])}
    if resource in _WEBHOOK_KINDS:
        return {"webhooks": {w.get("name", ""): {"failurePolicy": w.get("failurePolicy", "Fail")}
                             for w in obj.get("webhooks") or [] if isinstance(w, dict)},
                "name": meta.get("name")}
    raise ValueError(f"not an admission configuration resource: {resource}")


@dataclasses.dataclass(frozen=True)
class Observation:
    """One finding that holds now, with what the event needs to explain it."""

    finding: str
    subject: str                       #: namespaces/<name>, validatingadmissionpolicybindings/<name>, ...
    severity: str
    message: str
    namespace: str | None = None
    rule: str = ""
    mode: str = ""
    detail: str = ""                   #: part of the identity besides the subject (a webhook's name)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.finding, self.subject, self.rule, self.mode, self.detail)

    @classmethod
    def of(cls, f: Finding) -> "Observation":
        return cls(f.id, f"namespaces/{f.namespace}", f.severity, f.message, f.namespace, f.rule, f.mode)


def admission_findings(baseline: Mapping[str, Mapping[str, dict]], current: Mapping[str, Mapping[str, dict]]
                       ) -> list[Observation]:
    """Admission-configuration findings of ``current`` against ``baseline``.

    Both map a resource (``validatingadmissionpolicies``, ``validatingadmissionpolicybindings``,
    ``validating``/``mutatingwebhookconfigurations``) to ``{name: admission_state(...)}``. Only
    what was present (and failing closed, and denying) at the baseline is held to it.
    """
    out: list[Observation] = []

    def add(fid: str, subject: str, message: str, detail: str = "") -> None:
        out.append(Observation(fid, subject, ADMISSION_FINDINGS[fid][0], message, detail=detail))

    for name, was in sorted((baseline.get("validatingadmissionpolicies") or {}).items()):
        now = (current.get("validatingadmissionpolicies") or {}).get(name)
        subject = f"validatingadmissionpolicies/{name}"
        if now is None:
            add("vap-deleted", subject, f"ValidatingAdmissionPolicy {name} was deleted")
        elif was.get("failurePolicy") == "Fail" and now.get("failurePolicy") == "Ignore":
            add("vap-fail-open", subject, f"ValidatingAdmissionPolicy {name}: failurePolicy Fail -> Ignore")
    for name, was in sorted((baseline.get("validatingadmissionpolicybindings") or {}).items()):
        now = (current.get("validatingadmissionpolicybindings") or {}).get(name)
        subject = f"validatingadmissionpolicybindings/{name}"
        if now is None:
            add("vap-binding-deleted", subject, f"ValidatingAdmissionPolicyBinding {name} (policy "
                                                f"{was.get('policyName')}) was deleted")
        elif "Deny" in (was.get("validationActions") or []) and "Deny" not in (now.get("validationActions") or []):
            add("vap-binding-relaxed", subject, f"ValidatingAdmissionPolicyBinding {name}: validationActions "
                                                f"{was.get('validationActions')} -> {now.get('validationActions')}")
    for resource, kind in _WEBHOOK_KINDS.items():
        for name, was in sorted((baseline.get(resource) or {}).items()):
            now = (current.get(resource) or {}).get(name)
            subject = f"{resource}/{name}"
            for hook, hw in sorted((was.get("webhooks") or {}).items()):
                nw = None if now is None else (now.get("webhooks") or {}).get(hook)
                if nw is None:
                    add("webhook-deleted", subject, f"{kind} {name}: webhook {hook} was deleted", hook)
                elif hw.get("failurePolicy") == "Fail" and nw.get("failurePolicy") == "Ignore":
                    add("webhook-fail-open", subject, f"{kind} {name}: webhook {hook} failurePolicy Fail -> Ignore "
                                                      "(an outage of the webhook now admits every request)", hook)
    return out


# -- the implicit desired state ----------------------------------------------------------------------

SNAPSHOT_OWNER = "pss-harness watch (startup snapshot)"
NEW_NAMESPACES_RULE = "new-namespaces"


def snapshot_policy(postures: Iterable, today: datetime.date) -> DesiredState:
    """A desired state from the first sweep's postures (``harness.core.posture.Posture``).

    One rule per namespace: each mode at least the level it had, the version at least the
    lowest it had; the exemptions it had are allowed. A last rule holds namespaces created later
    to ``enforce`` baseline, set by a label (``defaults: forbidden``).
    """
    rules: list[Rule] = []
    names: list[str] = []
    forever = datetime.date.max
    for p in postures:
        names.append(p.namespace)
        minimum: dict[str, Level] = {}
        versions: list[PolicyVersion] = []
        for mode in ("enforce", "warn", "audit"):
            mp = p.mode(mode)
            if mp.state == "proven" and mp.level:
                minimum[mode] = Level(mp.level)
                if mp.level != "privileged" and mp.version:
                    versions.append(PolicyVersion.parse(mp.version))
        exemptions = tuple(
            AllowedExemption("namespace" if e == "namespace" else "runtimeClass",
                             p.namespace if e == "namespace" else e.split(":", 1)[1],
                             SNAPSHOT_OWNER, "present when the watch started", forever)
            for e in p.exempt if e == "namespace" or e.startswith("runtimeClass:"))
        version = min(versions, key=_version_rank) if versions else None
        rules.append(Rule(f"startup:{p.namespace}", (p.namespace,), (), None, minimum, version, True, exemptions,
                          "(startup snapshot)", 0))
    rules.append(Rule(NEW_NAMESPACES_RULE, ("*",), tuple(names), None, {"enforce": Level.BASELINE}, None, False, (),
                      "(startup snapshot)", 0))
    return DesiredState("(startup snapshot)", tuple(rules))


def _version_rank(v: PolicyVersion) -> float:
    return math.inf if v.is_latest else v.minor


# -- events -----------------------------------------------------------------------------------------

@dataclasses.dataclass
class DriftEvent:
    """One drift: a finding that appeared (``detected_at``) and, once it no longer holds, ``remediated_at``."""

    id: str
    finding: str
    subject: str
    severity: str
    message: str
    namespace: str | None
    rule: str
    mode: str
    detail: str
    detected_at: float
    changed_at: float | None = None
    change_source: str = "unknown"     #: managedFields | audit | apiserver-lease | watch-event | unknown
    preexisting: bool = False
    what_changed: dict = dataclasses.field(default_factory=dict)
    desired: object = None
    effective: object = None
    proof: list = dataclasses.field(default_factory=list)
    remediated_at: float | None = None
    resolution: str | None = None      #: restored | deleted
    remediation: dict = dataclasses.field(default_factory=dict)   #: effective posture and proof when closed

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.finding, self.subject, self.rule, self.mode, self.detail)

    @property
    def open(self) -> bool:
        return self.remediated_at is None

    @property
    def mttd(self) -> float | None:
        """Seconds from the change to its detection (None: preexisting, or the change time is unknown)."""
        if self.preexisting or self.changed_at is None:
            return None
        return max(0.0, self.detected_at - self.changed_at)

    @property
    def mttr(self) -> float | None:
        """Seconds from detection to remediation (None while open)."""
        return None if self.remediated_at is None else max(0.0, self.remediated_at - self.detected_at)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["state"] = "open" if self.open else "remediated"
        out["detection_latency_s"] = None if self.mttd is None else round(self.mttd, 3)
        out["time_to_remediate_s"] = None if self.mttr is None else round(self.mttr, 3)
        for k in ("detected_at", "changed_at", "remediated_at"):
            out[k.replace("_at", "")] = _iso(out[k])
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> "DriftEvent":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="microseconds")


@dataclasses.dataclass(frozen=True)
class Transition:
    """An event opened or remediated by one ``observe``/``gone`` call."""

    kind: str            #: opened | remediated
    event: DriftEvent


@dataclasses.dataclass(frozen=True)
class Context:
    """What the watch knows about one subject when it observes it (for the events it opens or closes)."""

    changed_at: float | None = None
    change_source: str = "unknown"
    what_changed: dict = dataclasses.field(default_factory=dict)
    desired: object = None
    effective: object = None
    proof: tuple = ()


class DriftTracker:
    """The open drift events, opened and closed by successive observations of subjects."""

    def __init__(self) -> None:
        self.open: dict[tuple, DriftEvent] = {}
        self.closed: list[DriftEvent] = []

    def observe(self, scope: Iterable[str], observations: Iterable[Observation], now: float,
                context: Mapping[str, Context] | None = None, preexisting: Iterable[str] = ()) -> list[Transition]:
        """Observations of the subjects in ``scope`` (each re-evaluated at ``now``); the transitions they cause.

        Events opened on a subject in ``preexisting`` (evaluated for the first time, and present
        when the watch started) are ``preexisting``: their change time is unknown.
        """
        context = context or {}
        scope = set(scope)
        before = set(preexisting)
        seen: dict[tuple, Observation] = {}
        for o in observations:
            scope.add(o.subject)
            seen.setdefault(o.key, o)
        out: list[Transition] = []
        for key, o in seen.items():
            if key in self.open:
                continue
            ctx = context.get(o.subject, Context())
            initial = o.subject in before
            ev = DriftEvent(_event_id(key, now), o.finding, o.subject, o.severity, o.message, o.namespace, o.rule,
                            o.mode, o.detail, now, None if initial else ctx.changed_at,
                            "unknown" if initial else ctx.change_source, initial, dict(ctx.what_changed), ctx.desired,
                            ctx.effective, list(ctx.proof))
            self.open[key] = ev
            out.append(Transition("opened", ev))
        for key, ev in list(self.open.items()):
            if ev.subject in scope and key not in seen:
                out.append(self._close(key, now, "restored", context.get(ev.subject)))
        return out

    def gone(self, subject: str, now: float, context: Context | None = None) -> list[Transition]:
        """The subject no longer exists (a namespace deleted): its open events close as ``deleted``."""
        return [self._close(k, now, "deleted", context) for k, ev in list(self.open.items()) if ev.subject == subject]

    def _close(self, key: tuple, now: float, resolution: str, ctx: Context | None) -> Transition:
        ev = self.open.pop(key)
        ev.remediated_at = now
        ev.resolution = resolution
        if ctx is not None:
            ev.remediation = {"effective": ctx.effective, "proof": list(ctx.proof), "what_changed": dict(ctx.what_changed)}
        self.closed.append(ev)
        return Transition("remediated", ev)

    def events(self) -> list[DriftEvent]:
        return [*self.closed, *self.open.values()]

    def open_by_finding(self) -> dict[str, list[DriftEvent]]:
        out: dict[str, list[DriftEvent]] = {}
        for ev in self.open.values():
            out.setdefault(ev.finding, []).append(ev)
        return out


def _event_id(key: tuple, now: float) -> str:
    return hashlib.sha256(repr((key, round(now, 6))).encode()).hexdigest()[:16]


# -- MTTD / MTTR ------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "mean": None, "p50": None, "p95": None, "max": None}
    return {"n": len(values), "mean": round(sum(values) / len(values), 3), "p50": round(percentile(values, 50), 3),
            "p95": round(percentile(values, 95), 3), "max": round(max(values), 3)}


def summarize(events: Iterable[DriftEvent | Mapping], since: float | None = None,
              until: float | None = None) -> dict[str, dict]:
    """MTTD and MTTR per finding type over the events detected in ``[since, until]`` (and ``"*"``: all).

    ``{finding: {"events", "open", "remediated", "preexisting", "mttd": {n, mean, p50, p95, max},
    "mttr": {...}}}``; times in seconds.
    """
    evs = [e if isinstance(e, DriftEvent) else DriftEvent.from_dict(e) for e in events]
    evs = [e for e in evs if (since is None or e.detected_at >= since) and (until is None or e.detected_at <= until)]
    groups: dict[str, list[DriftEvent]] = {}
    for e in evs:
        groups.setdefault(e.finding, []).append(e)
    if evs:
        groups["*"] = evs
    out = {}
    for finding, group in sorted(groups.items()):
        out[finding] = {
            "events": len(group), "open": sum(e.open for e in group),
            "remediated": sum(not e.open for e in group), "preexisting": sum(e.preexisting for e in group),
            "mttd": _stats([e.mttd for e in group if e.mttd is not None]),
            "mttr": _stats([e.mttr for e in group if e.mttr is not None]),
        }
    return out
