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

``document`` is the ``diff --format json`` output (``harness/schemas/diff.schema.json`` documents it);
``render_table`` its text form. Pure: imports ``harness.core.model`` only.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable

from harness.core.model import Mode, Outcome
from harness.core.model import DEFAULT_K8S_VERSION

__all__ = ["CHANGE_CLASSES", "Change", "Observed", "Side", "classify", "compare", "document", "exit_status",
           "render_table", "summary", "to_json"]

REGRESSION, BREAKAGE = "newly-admitted", "newly-denied"
CHANGE_CLASSES = (REGRESSION, BREAKAGE, "checks-changed", "outcome-changed")  #: what ``classify`` returns
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
class Change:
    """One key whose observation differs between the sides."""

    key: dict            #: scenario or source, kind, name, level, mode
    before: Observed
    after: Observed
    change: str

    def to_dict(self) -> dict:
        return {**self.key, "from": self.before.to_dict(), "to": self.after.to_dict(), "change": self.change}


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
            describe_key) -> list[Change]:
    """Changes between two observation maps with the same keys (``describe_key`` names a key)."""
    changes = []
    for key in sorted(set(before) | set(after)):
        a = before.get(key, Observed(Outcome.ERROR, ("(not observed)",)))
        b = after.get(key, Observed(Outcome.ERROR, ("(not observed)",)))
        info = describe_key(key)
        change = classify(a, b, info["kind"], Mode(info["mode"]))
        if change:
            changes.append(Change(info, a, b, change))
    return changes


def summary(changes: Iterable[Change], compared: int) -> dict:
    """Totals: keys compared, keys changed, and changes per class."""
    out = {"compared": compared, "changed": 0, **{c: 0 for c in CHANGE_CLASSES}}
    for c in changes:
        out["changed"] += 1
        out[c.change] += 1
    return out


def document(before: Side, after: Side, changes: list[Change], compared: int) -> dict:
    """The ``diff --format json`` document: both sides, the changes, the totals."""
    return {"from": before.describe(), "to": after.describe(),
            "changes": [c.to_dict() for c in changes], "summary": summary(changes, compared)}


def exit_status(changes: list[Change]) -> int:
    """0 nothing changes; 3 regression; 4 breakage; 5 both; 1 other changes only."""
    kinds = {c.change for c in changes}
    if REGRESSION in kinds and BREAKAGE in kinds:
        return 5
    if REGRESSION in kinds:
        return 3
    if BREAKAGE in kinds:
        return 4
    return 1 if changes else 0


def render_table(doc: dict) -> str:
    lines = [f"from: {doc['from']}", f"to:   {doc['to']}", ""]
    rows = [("CHANGE", "SUBJECT", "KIND", "LEVEL", "MODE", "FROM", "TO")]
    for c in doc["changes"]:
        subject = c.get("scenario") or f"{c.get('source')}#{c.get('index')} {c.get('name', '')}".strip()
        fmt = lambda o: o["outcome"] + (f" ({', '.join(o['checks'])})" if o["checks"] else "")
        rows.append((c["change"], subject, c["kind"], c["level"], c["mode"], fmt(c["from"]), fmt(c["to"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1])
    s = doc["summary"]
    lines += ["", f"{s['compared']} compared, {s['changed']} changed: {s[REGRESSION]} newly-admitted (regressions), "
                  f"{s[BREAKAGE]} newly-denied (breakage), {s['checks-changed']} checks-changed, "
                  f"{s['outcome-changed']} outcome-changed"]
    return "\n".join(lines)


def to_json(doc: dict) -> str:
    """The JSON text of a ``document``."""
    return json.dumps(doc, indent=2, sort_keys=False)
