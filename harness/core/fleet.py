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
    incomplete    the run ended without judging its items (errors, an interruption, all skipped)
    unreachable   the API server did not answer
    refused       the cluster answered but cannot be tested as asked (missing RBAC, the canary
                  refused by something else)
    error         the run failed for another reason (its log says why), or timed out

``gap``, ``deviation`` and ``not-enforced`` are findings (``FINDINGS``); ``incomplete``,
``unreachable``, ``refused`` and ``error`` mean the cluster was not checked (``UNCHECKED``).
``exit_status``: 0 every cluster passed; 1 some cluster has a finding; 4 some cluster was not
checked; 5 both (1 + 4). A failed item is classified by ``failure_class`` from its record.

Imports: the standard library only. Used by ``harness.cli.fleet`` (the rows) and
``harness.reports.fleet`` (the report).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

__all__ = ["FAILURE_CLASSES", "FINDINGS", "UNCHECKED", "VERDICTS", "exit_status", "failure_class",
           "verdict_of_error", "verdict_of_records"]

VERDICTS = ("passed", "gap", "deviation", "not-enforced", "incomplete", "unreachable", "refused", "error")
FINDINGS = frozenset({"gap", "deviation", "not-enforced"})
UNCHECKED = frozenset({"incomplete", "unreachable", "refused", "error"})
FAILURE_CLASSES = ("weaker", "stricter", "different", "error")

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
