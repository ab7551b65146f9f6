"""A fleet's vocabulary: one verdict per cluster, and the exit status of ``pss-harness fleet``. Pure.

A cluster's verdict says what its run showed, and never reads "passed" for a cluster that was
not checked:

    passed        every item was judged and passed
    gap           some item got less than the standard requires: admitted where a denial is owed,
                  no warning where one is owed, no audit annotation where one is owed ("weaker")
    deviation     items failed, none of them weaker: the cluster was stricter (denied what must be
                  admitted or only warned), or named other checks, or refused by something else
    not-enforced  the preflight's canary was admitted: PodSecurity is not in effect at all (the
                  plugin is off, or the runner identity is exempt)
    off-policy    the namespace sweep (``--sweep``) found namespaces that do not meet the desired
                  namespace policy (``--namespace-policy``): e.g. one admits the breakout pod
                  (exempt, or enforce privileged) where the policy requires baseline
    incomplete    the run ended without judging its items (errors, an interruption, all skipped)
    unreachable   the API server did not answer
    refused       the cluster answered but cannot be tested as asked (missing RBAC, the canary
                  refused by something else)
    error         the run failed for another reason (its log says why), or timed out

``gap``, ``deviation``, ``not-enforced`` and ``off-policy`` are findings (``FINDINGS``);
``incomplete``, ``unreachable``, ``refused`` and ``error`` mean the cluster was not checked
(``UNCHECKED``). ``exit_status``: 0 every cluster passed; 1 some cluster has a finding; 4 some
cluster was not checked; 5 both (1 + 4). A failed item is classified by ``failure_class`` from
its record.

With the namespace sweep a cluster has two verdicts, its corpus run's and its sweep's
(``sweep_outcome``: ``passed``, ``off-policy``, ``not-enforced`` when the plugin is off,
``incomplete`` when some namespace's enforce could not be proven, or the error that stopped the
sweep). Its row shows the worse of the two (``fold``: findings before not-checked, ``SEVERITY``),
and the exit status counts both (``row_verdicts``): a gap whose sweep could not probe is 5.

Imports: the standard library only. Used by ``harness.cli.fleet`` (the rows) and
``harness.reports.fleet`` (the report).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

__all__ = ["FAILURE_CLASSES", "FINDINGS", "SEVERITY", "UNCHECKED", "UNPROVEN_FINDINGS", "VERDICTS", "exit_status",
           "failure_class", "fold", "listing", "row_verdicts", "sweep_cause", "sweep_outcome", "verdict_of_error",
           "verdict_of_records"]

VERDICTS = ("passed", "gap", "deviation", "not-enforced", "off-policy", "incomplete", "unreachable", "refused", "error")
FINDINGS = frozenset({"gap", "deviation", "not-enforced", "off-policy"})
UNCHECKED = frozenset({"incomplete", "unreachable", "refused", "error"})
FAILURE_CLASSES = ("weaker", "stricter", "different", "error")
#: the worse first: PodSecurity off, then what gets through (a gap, a namespace off the policy), then
#: a stricter cluster; then what was not checked, the cluster not reached before the run not finished
SEVERITY = ("not-enforced", "gap", "off-policy", "deviation", "unreachable", "refused", "error", "incomplete", "passed")
#: sweep findings (``harness.core.namespace_rules``) that say the sweep could not prove, not that a rule failed
UNPROVEN_FINDINGS = frozenset({"runner-exempt", "unprobeable", "enforce-unknown", "warn-unknown", "audit-unknown"})

_STRENGTH = {"admitted": 0, "warned": 1, "denied": 2}
#: harness.core.errors class -> verdict, for the error that stopped a run before its items
_ERRORS = {"ClusterUnreachable": "unreachable", "AdmissionNotInEffect": "not-enforced",
           "ClusterPermissionError": "refused", "ClusterError": "refused"}


def failure_class(record: Mapping) -> str:
    """How a failed item's observation differs from its expectation: weaker, stricter, different or error."""
    exp, obs = record.get("expected") or {}, record.get("observed") or {}
    want, got = exp.get("outcome"), obs.get("outcome")
    if not got or got == "error":
        return "error"
    if want in _STRENGTH and got in _STRENGTH:
        if _STRENGTH[got] < _STRENGTH[want]:
            return "weaker"
        if _STRENGTH[got] > _STRENGTH[want]:
            return "stricter"
        if exp.get("audit_checks") and not (obs.get("audit_violation") or {}).get("checks"):
            return "weaker"  # the audit annotation owed is missing
        return "different"
    return "different"  # denied by something else (denied-other), or an invalid manifest either side


def verdict_of_records(records: Iterable[Mapping], *, complete: bool = True) -> tuple[str, dict[str, int]]:
    """A run's verdict from its item records, and the count of failed items per ``FAILURE_CLASSES``.

    ``complete=False`` (the run was interrupted or ended abnormally): a gap found is still a gap,
    anything less is ``incomplete``.
    """
    results: Counter = Counter()
    classes: Counter = Counter()
    for r in records:
        results[r.get("result")] += 1
        if r.get("result") == "failed":
            classes[failure_class(r)] += 1
    failures = {c: classes[c] for c in FAILURE_CLASSES}
    if failures["weaker"]:
        return "gap", failures
    if not complete:
        return "incomplete", failures
    if failures["stricter"] or failures["different"]:
        return "deviation", failures
    if failures["error"] or not results["passed"]:
        return "incomplete", failures
    return "passed", failures


def verdict_of_error(error_type: str | None) -> str:
    """The verdict of a run stopped before its items by the ``harness.core.errors`` class ``error_type``."""
    return _ERRORS.get(error_type or "", "error")


def exit_status(verdicts: Iterable[str]) -> int:
    """``pss-harness fleet``'s exit status: 1 if any finding, + 4 if any cluster was not checked."""
    verdicts = list(verdicts)
    return (1 if any(v in FINDINGS for v in verdicts) else 0) + (4 if any(v in UNCHECKED for v in verdicts) else 0)


def fold(*verdicts: str | None) -> str:
    """A cluster's verdict from its parts' (the corpus run's, the sweep's; None: not run): the worse by ``SEVERITY``."""
    given = [v for v in verdicts if v is not None]
    if not given:
        raise ValueError("fold needs at least one verdict")
    return min(given, key=SEVERITY.index)


def row_verdicts(row: Mapping) -> list[str]:
    """The verdicts a fleet row's exit status counts: its corpus run's and its sweep's, else its own."""
    sweep = row.get("sweep") or {}
    parts = [v for v in (row.get("corpus_verdict"), sweep.get("verdict")) if v]
    return parts or [row["verdict"]]


def sweep_outcome(doc: Mapping) -> dict:
    """A fleet row's view of one namespace sweep (``pss-harness namespaces --format json``), and its verdict.

    ``admitting``: the namespaces whose effective enforce would admit the breakout pod (exempt, no
    PodSecurity, or privileged), proven by behaviour; ``exempt``: those exempt by name;
    ``unproven``: those whose enforce the sweep could not prove (unprobeable, unknown). With a
    policy, ``findings`` counts the findings that are not ``UNPROVEN_FINDINGS`` and ``offending``
    names their namespaces. The verdict: ``not-enforced`` if PodSecurity does not run at all;
    ``off-policy`` if any finding; ``incomplete`` if anything is unproven (or the runner is
    exempt); else ``passed``. Without a policy a namespace that admits is reported, not judged:
    nothing says it must refuse (``kube-system`` usually must not).
    """
    admitting, exempt, unproven = [], [], []
    for n in doc.get("namespaces") or []:
        name, enforce = n["namespace"], n["enforce"]
        if n["probe"]["state"] != "ok" or enforce["state"] == "unknown":
            unproven.append(name)
        elif enforce["state"] == "none" or enforce.get("level") == "privileged":
            admitting.append(name)
        if "namespace" in (n.get("exempt") or []):
            exempt.append(name)
    findings = [f for f in doc.get("findings") or [] if f["id"] not in UNPROVEN_FINDINGS]
    by_id = Counter(f["id"] for f in doc.get("findings") or [])
    cluster = doc.get("cluster") or {}
    plugin = (cluster.get("plugin") or {}).get("state")
    runner_exempt = (cluster.get("runner") or {}).get("exempt") is True
    blind = unproven or runner_exempt or any(f["id"] in UNPROVEN_FINDINGS for f in doc.get("findings") or [])
    verdict = ("not-enforced" if plugin == "disabled" else "off-policy" if findings else
               "incomplete" if blind else "passed")
    return {"verdict": verdict, "policy": doc.get("policy") is not None, "plugin": plugin,
            "namespaces": len(doc.get("namespaces") or []), "admitting": admitting, "exempt": exempt,
            "unproven": unproven, "findings": len(findings), "by_finding": dict(sorted(by_id.items())),
            "offending": sorted({f["namespace"] for f in findings})}


def listing(names: list[str], most: int = 4) -> str:
    """``a, b, c, d and 3 more``."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def sweep_cause(outcome: Mapping) -> str | None:
    """One line for a ``sweep_outcome``'s verdict (None when it passed)."""
    if outcome["verdict"] == "not-enforced":
        return "no PodSecurity admission runs in the cluster (the sweep's plugin probe was accepted)"
    if outcome["verdict"] == "off-policy":
        return (f"{outcome['findings']} finding(s) against the namespace policy in {listing(outcome['offending'])} ("
                + ", ".join(f"{k} {n}" for k, n in outcome["by_finding"].items() if k not in UNPROVEN_FINDINGS) + ")")
    if outcome["verdict"] == "incomplete":
        if outcome["unproven"]:
            return f"{len(outcome['unproven'])} namespace(s) not proven: {listing(outcome['unproven'])}"
        ids = [k for k in outcome["by_finding"] if k in UNPROVEN_FINDINGS]
        return (f"the sweep could not prove what the policy asks ({', '.join(ids)})" if ids else
                "the sweep's identity is exempt from PodSecurity: nothing could be proven")
    return None
