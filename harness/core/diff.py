"""Pre-upgrade regression check: the same requests on two sides, and only what changes.

A side is an embedded control plane of some Kubernetes version, an existing cluster, or either
with a pinned policy version (``v1.N`` instead of ``latest``). Both sides get the same
submissions (the corpus as Pods and workloads, and/or the user's manifests) into namespaces
labelled per level and mode; what the servers *observed* is compared, never expectations.

Change classes (``classify``):

* ``newly-admitted`` — a security regression: denied before, admitted now (also, under enforce,
  a workload that warned before and no longer does: its pods will now be admitted);
* ``newly-denied`` — breakage: admitted before, denied now (under enforce, a workload that now
  warns: its pods will be refused);
* ``checks-changed`` — the same outcome for different reasons;
* ``outcome-changed`` — any other change.

A change may be *expected*: one the Pod Security Standards made on purpose at a version between
the two sides (``Explanation``: ``expected-relaxation``, ``expected-tightening`` or
``expected-change``, with the checks and the version boundary, e.g. ``expected-relaxation
(v1.35: runAsNonRoot, runAsUser)``). ``explain`` decides it from data, never from a list: the
caller evaluates the object offline at each side's policy version, and if those predictions are
exactly the two observations, the change is the standard's own. Every other change is
*unexplained*; only unexplained changes set the exit status (unless ``include_expected``).

Identical changes of one subject under one level and mode across kinds (the same scenario as
Pod, Deployment, ...) are one row of the table; ``groups`` lists them for the JSON.

``document`` is the ``diff --format json`` output (``harness/schemas/diff.schema.json`` documents it);
``render_table`` its text form. Pure: imports the core only.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable, Iterable

from harness.core.expectations import for_checks
from harness.core.kinds import KIND_NAMES, WORKLOAD_KINDS
from harness.core.model import DEFAULT_K8S_VERSION, Mode, Outcome
from harness.core.table import fit_table

__all__ = ["CHANGE_CLASSES", "EXPLANATION_LABELS", "Change", "Explanation", "Observed", "Side", "classify", "compare",
           "document", "exit_status", "explain", "groups", "predicted_observation", "render_table", "summary",
           "to_json"]

REGRESSION, BREAKAGE = "newly-admitted", "newly-denied"
CHANGE_CLASSES = (REGRESSION, BREAKAGE, "checks-changed", "outcome-changed")  #: what ``classify`` returns
RELAXATION, TIGHTENING, REWORDING = "expected-relaxation", "expected-tightening", "expected-change"
EXPLANATION_LABELS = (RELAXATION, TIGHTENING, REWORDING)  #: what ``explain`` labels a change with
_PASSES = (Outcome.ADMITTED, Outcome.WARNED)


@dataclasses.dataclass(frozen=True)
class Side:
    """Where one side's observations come from."""

    k8s_version: str | None = None   #: embedded control plane of this version (when no kubeconfig)
    kubeconfig: str | None = None
    context: str | None = None
    policy_version: str = "latest"   #: the version label the namespaces carry

    def describe(self) -> str:
        where = f"kubeconfig {self.kubeconfig}" + (f" context {self.context}" if self.context else "") \
            if self.kubeconfig else f"embedded Kubernetes {self.k8s_version or DEFAULT_K8S_VERSION}"
        return f"{where}, policy {self.policy_version}"

    def same_server(self, other: "Side") -> bool:
        return (self.k8s_version, self.kubeconfig, self.context) == (other.k8s_version, other.kubeconfig, other.context)


@dataclasses.dataclass(frozen=True)
class Observed:
    """What one side saw for one key."""

    outcome: Outcome
    checks: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"outcome": self.outcome.value, "checks": list(self.checks)}


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why a change is the Pod Security Standards' own: which checks, at which policy versions."""

    label: str                  #: one of ``EXPLANATION_LABELS``
    checks: tuple[str, ...]     #: the checks whose answer differs between the sides
    versions: tuple[int, ...]   #: the policy minors between the sides where they change

    def __str__(self) -> str:
        where = ", ".join(f"v1.{v}" for v in self.versions)
        return f"{self.label} ({where + ': ' if where else ''}{', '.join(self.checks)})"

    def to_dict(self) -> dict:
        return {"label": self.label, "checks": list(self.checks), "versions": [f"v1.{v}" for v in self.versions],
                "text": str(self)}


@dataclasses.dataclass(frozen=True)
class Change:
    """One key whose observation differs between the sides."""

    key: dict            #: scenario or source, kind, name, level, mode
    before: Observed
    after: Observed
    change: str
    explanation: Explanation | None = None  #: set when the standard made this change on purpose

    @property
    def expected(self) -> bool:
        return self.explanation is not None

    def to_dict(self) -> dict:
        return {**self.key, "from": self.before.to_dict(), "to": self.after.to_dict(), "change": self.change,
                "explanation": self.explanation.to_dict() if self.explanation else None}


def predicted_observation(failing: frozenset[str], kind: str, mode: Mode, server_minor: int) -> Observed:
    """What a server of ``server_minor`` is observed to do with a ``kind`` object failing ``failing``
    under ``mode`` (the checks as ``compare``'s observations carry them: audit's for audit)."""
    e = for_checks(frozenset(failing), kind, mode, server_minor)
    return Observed(e.outcome, tuple(sorted(e.checks | e.audit_checks)))


def explain(before: Observed, after: Observed, predicted_before: Observed, predicted_after: Observed,
            failing_before: frozenset[str], failing_after: frozenset[str],
            boundaries: Callable[[frozenset[str]], tuple[int, ...]] = lambda checks: ()) -> Explanation | None:
    """The standard's own reason for a change, or ``None`` if the offline predictions do not match.

    ``predicted_*`` are the evaluator's answers at each side's policy version (as observations),
    ``failing_*`` the check IDs behind them; ``boundaries(checks)`` the policy minors where those
    checks change. Fewer failing checks is a relaxation, more a tightening, both a change.
    """
    if (predicted_before, predicted_after) != (before, after):
        return None
    gone, new = failing_before - failing_after, failing_after - failing_before
    if not gone and not new:
        return None
    label = REWORDING if gone and new else (RELAXATION if gone else TIGHTENING)
    checks = gone | new
    return Explanation(label, tuple(sorted(checks)), tuple(boundaries(checks)))


def classify(before: Observed, after: Observed, kind: str, mode: Mode) -> str | None:
    """The change class, or ``None`` when nothing changed."""
    if before == after:
        return None
    if before.outcome is after.outcome:
        return "checks-changed"
    if before.outcome is Outcome.DENIED and after.outcome in _PASSES:
        return REGRESSION
    if before.outcome in _PASSES and after.outcome is Outcome.DENIED:
        return BREAKAGE
    if mode is Mode.ENFORCE and kind != "Pod":  # an enforce warning on a workload foretells its pods' fate
        if before.outcome is Outcome.WARNED and after.outcome is Outcome.ADMITTED:
            return REGRESSION
        if before.outcome is Outcome.ADMITTED and after.outcome is Outcome.WARNED:
            return BREAKAGE
    return "outcome-changed"


def compare(before: dict[tuple, Observed], after: dict[tuple, Observed],
            describe_key, explain_change=None) -> list[Change]:
    """Changes between two observation maps with the same keys (``describe_key`` names a key).

    ``explain_change(key, info, before, after)`` may return an ``Explanation`` for a change.
    """
    changes = []
    for key in sorted(set(before) | set(after)):
        a = before.get(key, Observed(Outcome.ERROR, ("(not observed)",)))
        b = after.get(key, Observed(Outcome.ERROR, ("(not observed)",)))
        info = describe_key(key)
        change = classify(a, b, info["kind"], Mode(info["mode"]))
        if change:
            why = explain_change(key, info, a, b) if explain_change else None
            changes.append(Change(info, a, b, change, why))
    return changes


def summary(changes: Iterable[Change], compared: int) -> dict:
    """Totals: keys compared, keys changed, how many are expected, and the unexplained ones per class."""
    out = {"compared": compared, "changed": 0, "expected": 0, "unexplained": 0, **{c: 0 for c in CHANGE_CLASSES}}
    for c in changes:
        out["changed"] += 1
        if c.expected:
            out["expected"] += 1
        else:
            out["unexplained"] += 1
            out[c.change] += 1
    return out


_SUBJECT = ("scenario", "source", "index", "name", "level", "mode")


def groups(changes: list[dict]) -> list[dict]:
    """Identical changes of one subject under one level and mode, across kinds: one entry with ``kinds``.

    Identical: the same change class, observations and explanation. In first-seen order.
    """
    out: dict[str, dict] = {}
    for c in changes:
        key = json.dumps([c.get(k) for k in _SUBJECT] + [c["change"], c["from"], c["to"], c["explanation"]],
                         sort_keys=True)
        if key not in out:
            out[key] = {**{k: c[k] for k in _SUBJECT if k in c}, "kinds": [], "from": c["from"], "to": c["to"],
                        "change": c["change"], "explanation": c["explanation"]}
        out[key]["kinds"].append(c["kind"])
    return list(out.values())


def document(before: Side, after: Side, changes: list[Change], compared: int) -> dict:
    """The ``diff --format json`` document: both sides, the changes (one per kind), their groups, the totals."""
    entries = [c.to_dict() for c in changes]
    return {"from": before.describe(), "to": after.describe(), "changes": entries, "groups": groups(entries),
            "summary": summary(changes, compared)}


def exit_status(changes: list[Change], include_expected: bool = False) -> int:
    """Over the unexplained changes (all with ``include_expected``): 0 none; 3 regression;
    4 breakage; 5 both; 1 other changes only."""
    kinds = {c.change for c in changes if include_expected or not c.expected}
    if REGRESSION in kinds and BREAKAGE in kinds:
        return 5
    if REGRESSION in kinds:
        return 3
    if BREAKAGE in kinds:
        return 4
    return 1 if kinds else 0


def _kinds(kinds: list[str]) -> str:
    if sorted(kinds) == sorted(KIND_NAMES):
        return "every kind"
    if sorted(kinds) == sorted(WORKLOAD_KINDS):
        return f"{len(WORKLOAD_KINDS)} workload kinds"
    return ", ".join(kinds)


def _fmt(o: dict) -> str:
    return o["outcome"] + (f" ({', '.join(o['checks'])})" if o["checks"] else "")


def render_table(doc: dict, width: int = 0) -> str:
    """The text form of a ``document``: unexplained changes, then the expected ones; identical
    changes across kinds on one row, its checks (and for an expected one, the explanation) on an
    indented line below it.

    ``width``: the terminal's columns (0: no limit); the subject is cut at its start.
    """
    lines = [f"from: {doc['from']}", f"to:   {doc['to']}"]
    grouped = doc.get("groups") or groups(doc["changes"])
    for title, chosen in (("unexplained changes (these set the exit status)", [g for g in grouped if not g["explanation"]]),
                          ("expected changes (the Pod Security Standards' own; --fail-on-expected counts them)",
                           [g for g in grouped if g["explanation"]])):
        lines += ["", f"{title}:"]
        if not chosen:
            lines.append("  none")
            continue
        rows = [["CHANGE", "SUBJECT", "LEVEL", "MODE", "FROM", "TO", "KINDS"]]
        for g in chosen:
            subject = g.get("scenario") or f"{g.get('source')}#{g.get('index')} {g.get('name', '')}".strip()
            rows.append([g["change"], subject, g["level"], g["mode"], g["from"]["outcome"], g["to"]["outcome"],
                         _kinds(g["kinds"])])
        fitted = fit_table(rows, width, shrink=("KINDS", "SUBJECT"), drop=("MODE",), keep_end=("SUBJECT",))
        lines.append(fitted.lines[0])
        for g, line in zip(chosen, fitted.lines[1:]):
            lines.append(line)
            detail = f"{_fmt(g['from'])} → {_fmt(g['to'])}" if g["from"]["checks"] or g["to"]["checks"] else ""
            if g["explanation"]:
                detail = f"{g['explanation']['text']}" + (f": {detail}" if detail else "")
            if detail:
                lines.append(f"  └ {detail}")
    s = doc["summary"]
    lines += ["", f"{s['compared']} compared, {s['changed']} changed: {s.get('expected', 0)} expected, "
                  f"{s.get('unexplained', s['changed'])} unexplained: {s[REGRESSION]} newly-admitted (regressions), "
                  f"{s[BREAKAGE]} newly-denied (breakage), {s['checks-changed']} checks-changed, "
                  f"{s['outcome-changed']} outcome-changed"]
    return "\n".join(lines)


def to_json(doc: dict) -> str:
    """The JSON text of a ``document``."""
    return json.dumps(doc, indent=2, sort_keys=False)
