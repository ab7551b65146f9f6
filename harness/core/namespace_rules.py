"""The desired state of namespaces' Pod Security posture, and the findings a posture earns against it. Pure.

A ``DesiredState`` (loaded from YAML by ``harness.corpus.namespace_policy``) holds rules. A rule
selects namespaces (names, globs, a label selector) and states minimum levels per mode, a
version constraint, whether cluster defaults may satisfy it, and the exemptions it allows (each
with an owner, a reason and an expiry date). ``evaluate`` compares one namespace's
``harness.core.posture.Posture`` with one rule and returns findings with stable ids:

    plugin-disabled           no PodSecurity admission runs in the cluster
    runner-exempt             the sweep identity is exempt: nothing can be proven
    unprobeable               a probe could not be read (webhook without dry run, LimitRange, ...)
    exempt-namespace          the namespace is exempt and the rule does not allow it
    exempt-runtime-class      a RuntimeClass is exempt and the rule does not allow it
    exemption-expired         an observed exemption is allowed only by an entry whose expiry has passed
    mutated-by-webhook        a webhook changed the probe pod
    weaker-than-required      a mode's proven level is below the rule's minimum
    unlabelled-default-only   a mode meets the rule only through the AdmissionConfiguration defaults (defaults: forbidden)
    version-pinned-below      a mode is pinned to a version below the rule's constraint
    version-unconfirmed       the enforce denial's items do not match its printed version
    enforce-unknown, warn-unknown, audit-unknown   the rule constrains a mode the sweep could not prove
    labels-disagree           the behaviour differs from what the labels say, after retrying

An unknown is a finding, never a pass. It may import ``harness.core`` only.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
from typing import Mapping

from harness.core.model import Level, PolicyVersion
from harness.core.posture import MODES, ClusterFacts, Posture

__all__ = ["FINDINGS", "AllowedExemption", "DesiredState", "Finding", "LabelSelector", "Rule", "evaluate",
           "matching_rules"]

NSA_ENFORCEMENT = "Kubernetes Pod security: Pod security enforcement"
_BASELINE_CIS = ("5.2.2", "5.2.3", "5.2.4", "5.2.5", "5.2.9", "5.2.11", "5.2.12", "5.2.13")
_RESTRICTED_CIS = ("5.2.6", "5.2.7", "5.2.8", "5.2.10")

#: id -> (severity, what it means)
FINDINGS: dict[str, tuple[str, str]] = {
    "plugin-disabled": ("critical", "no PodSecurity admission runs in the cluster"),
    "runner-exempt": ("high", "the sweep identity is exempt from PodSecurity: nothing can be proven"),
    "unprobeable": ("medium", "a probe could not be read: the posture is not proven"),
    "exempt-namespace": ("high", "the namespace is exempt from PodSecurity and the rule does not allow it"),
    "exempt-runtime-class": ("high", "pods with an exempt RuntimeClass bypass PodSecurity and the rule does not allow it"),
    "exemption-expired": ("high", "an exemption in use is allowed only by an expired entry"),
    "mutated-by-webhook": ("medium", "a webhook changed the probe pod before PodSecurity saw it"),
    "weaker-than-required": ("high", "a mode's effective level is below the rule's minimum"),
    "unlabelled-default-only": ("low", "a mode meets the rule only through the cluster's defaults"),
    "version-pinned-below": ("medium", "a mode is pinned to a policy version below the rule's constraint"),
    "version-unconfirmed": ("medium", "the evaluated policy version differs from the printed one"),
    "enforce-unknown": ("high", "the rule constrains enforce, which the sweep could not prove"),
    "warn-unknown": ("medium", "the rule constrains warn, which the sweep could not prove"),
    "audit-unknown": ("medium", "the rule constrains audit, which the sweep could not prove"),
    "labels-disagree": ("medium", "the behaviour differs from the namespace's labels"),
}


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector: ``matchLabels`` and ``matchExpressions`` (In, NotIn, Exists, DoesNotExist)."""

    match_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for key, op, values in self.match_expressions:
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True


@dataclasses.dataclass(frozen=True)
class AllowedExemption:
    """An exemption a rule accepts, until ``expires`` (inclusive)."""

    kind: str                   #: namespace | runtimeClass | user
    name: str                   #: runtimeClass/user name; for namespace a name or glob ("*": the rule's namespaces)
    owner: str
    reason: str
    expires: datetime.date
    line: int = 0

    def covers(self, kind: str, name: str) -> bool:
        return self.kind == kind and fnmatch.fnmatchcase(name, self.name)

    def expired(self, today: datetime.date) -> bool:
        return today > self.expires

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "owner": self.owner, "reason": self.reason,
                "expires": self.expires.isoformat(), "line": self.line}


@dataclasses.dataclass(frozen=True)
class Rule:
    """One rule of the desired state."""

    name: str
    namespaces: tuple[str, ...] = ()          #: names or globs (empty: every namespace the selector picks)
    exclude: tuple[str, ...] = ()             #: names or globs left out
    selector: LabelSelector | None = None
    minimum: Mapping[str, Level] = dataclasses.field(default_factory=dict)   #: mode -> minimum level
    version: PolicyVersion | None = None      #: ``latest``, or the lowest acceptable ``v1.N``
    defaults: bool = True                     #: cluster defaults may satisfy the rule
    exemptions: tuple[AllowedExemption, ...] = ()
    path: str = ""
    line: int = 0

    def selects(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.namespaces and not any(fnmatch.fnmatchcase(name, p) for p in self.namespaces):
            return False
        if any(fnmatch.fnmatchcase(name, p) for p in self.exclude):
            return False
        return self.selector is None or self.selector.matches(labels)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.path else self.name

    def to_dict(self) -> dict:
        sel = None if self.selector is None else {
            "matchLabels": dict(self.selector.match_labels),
            "matchExpressions": [{"key": k, "operator": o, "values": list(v)}
                                 for k, o, v in self.selector.match_expressions]}
        return {"name": self.name, "namespaces": list(self.namespaces), "exclude": list(self.exclude),
                "selector": sel, "minimum": {m: str(v) for m, v in self.minimum.items()},
                "version": None if self.version is None else
                ("latest" if self.version.is_latest else f">={self.version}"),
                "defaults": "allowed" if self.defaults else "forbidden",
                "exemptions": [e.to_dict() for e in self.exemptions], "where": self.where}


@dataclasses.dataclass(frozen=True)
class DesiredState:
    path: str
    rules: tuple[Rule, ...]


@dataclasses.dataclass(frozen=True)
class Finding:
    id: str
    namespace: str
    rule: str
    message: str
    mode: str = ""
    cis: tuple[str, ...] = ("5.2.1",)
    nsa: str = NSA_ENFORCEMENT

    @property
    def severity(self) -> str:
        return FINDINGS[self.id][0]

    def to_dict(self) -> dict:
        return {"id": self.id, "severity": self.severity, "namespace": self.namespace, "rule": self.rule,
                "mode": self.mode or None, "message": self.message, "cis": list(self.cis), "nsa": self.nsa}


def matching_rules(state: DesiredState, name: str, labels: Mapping[str, str]) -> list[Rule]:
    return [r for r in state.rules if r.selects(name, labels)]


def _cis(level: Level | None) -> tuple[str, ...]:
    if level is Level.RESTRICTED:
        return ("5.2.1", *_BASELINE_CIS, *_RESTRICTED_CIS)
    if level is Level.BASELINE:
        return ("5.2.1", *_BASELINE_CIS)
    return ("5.2.1",)


def _strongest(rule: Rule) -> Level | None:
    return max(rule.minimum.values(), key=lambda lv: lv.rank, default=None)


def evaluate(rule: Rule, posture: Posture, facts: ClusterFacts, today: datetime.date) -> list[Finding]:
    """The findings of ``posture`` against ``rule`` (empty: the rule holds, proven by behaviour)."""
    ns, out = posture.namespace, []

    def add(fid: str, message: str, mode: str = "", cis: tuple[str, ...] | None = None) -> None:
        out.append(Finding(fid, ns, rule.name, message, mode, cis or _cis(_strongest(rule))))

    if facts.plugin == "disabled":
        add("plugin-disabled", f"no PodSecurity admission is running: {facts.plugin_evidence}")
        return out
    if facts.runner_exempt:
        add("runner-exempt", f"the sweep identity {facts.runner!r} is exempt ({facts.runner_evidence}); "
                             "rerun the sweep as an identity that is not in exemptions.usernames")
        return out
    if posture.probe != "ok":
        add("unprobeable", f"{posture.probe_reason}: the posture of {ns} cannot be proven "
                           "(the probe never reached PodSecurity, or the answer could not be read)")
        if posture.mutated:
            add("mutated-by-webhook", f"a webhook changed the probe pod's {', '.join(posture.mutated)}")
        return out

    def allowed(kind: str, name: str) -> list[AllowedExemption]:
        return [e for e in rule.exemptions if e.covers(kind, name)]

    def check_exemption(kind: str, name: str, fid: str, what: str) -> bool:
        entries = allowed(kind, name)
        live = [e for e in entries if not e.expired(today)]
        if live:
            return True
        if entries:
            e = max(entries, key=lambda e: e.expires)
            add("exemption-expired", f"{what} is allowed only by the exemption at {rule.path}:{e.line} "
                                     f"(owner {e.owner}, reason {e.reason!r}), which expired on {e.expires.isoformat()}")
        else:
            add(fid, f"{what}, and rule {rule.name!r} ({rule.where}) allows no such exemption")
        return False

    for ex in posture.exempt:
        if ex == "namespace":
            if check_exemption("namespace", ns, "exempt-namespace",
                               f"namespace {ns} is exempt from PodSecurity ({posture.enforce.evidence})"):
                return out  # an allowed exemption: the modes do not apply
            return out
        if ex.startswith("runtimeClass:"):
            rc = ex.split(":", 1)[1]
            check_exemption("runtimeClass", rc, "exempt-runtime-class",
                            f"pods with runtimeClassName {rc} bypass PodSecurity ({facts.runtime_class_evidence.get(rc, '')})")
    if posture.mutated:
        add("mutated-by-webhook", f"a webhook changed the probe pod's {', '.join(posture.mutated)}; "
                                  "PodSecurity judged the changed pod")
    for mode in MODES:
        want = rule.minimum.get(mode)
        if want is None:
            continue
        mp = posture.mode(mode)
        if mp.state == "unknown":
            add(f"{mode}-unknown", f"{mode} must be at least {want}, and it could not be proven: {mp.evidence}", mode)
            continue
        rank = mp.rank()
        if rank is None or rank < want.rank:
            add("weaker-than-required", f"{mode} is {mp.text} ({mp.evidence}); rule {rule.name!r} requires at least "
                                        f"{want}", mode, _cis(want))
            continue
        if mp.source == "default" and not rule.defaults and want is not Level.PRIVILEGED:
            add("unlabelled-default-only", f"{mode} is {mp.text} only through the cluster's AdmissionConfiguration "
                                           f"defaults (no pod-security.kubernetes.io/{mode} label); rule "
                                           f"{rule.name!r} has defaults: forbidden", mode)
        if rule.version is not None and mp.level != "privileged" and mp.version:
            have = PolicyVersion.parse(mp.version)
            if rule.version.is_latest and not have.is_latest:
                add("version-pinned-below", f"{mode} is pinned to {mp.text}; rule {rule.name!r} requires latest", mode)
            elif not rule.version.is_latest and have < rule.version:
                add("version-pinned-below", f"{mode} is pinned to {mp.text}; rule {rule.name!r} requires "
                                            f">= {rule.version}", mode)
        if mode == "enforce" and mp.version_confirmed is False:
            add("version-unconfirmed", f"the denial names {mp.text}, but the checks it lists match "
                                       f"{'no' if mp.evaluated is None else f'v1.{mp.evaluated[0]}..v1.{mp.evaluated[1]}'}"
                                       " policy minor", mode)
    if posture.labels_agree is False:
        add("labels-disagree", f"the labels ({', '.join(f'{k}={v}' for k, v in sorted(posture.psa_labels.items()))}) "
                               f"say otherwise than the behaviour (enforce {posture.enforce.text}, warn {posture.warn.text})")
    return out
