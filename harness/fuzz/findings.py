"""What a disagreement between the offline evaluator and the API server is, and how it is named.

A ``Finding`` is one request whose answer differs from the evaluator's prediction: the kind and
policy it was sent at, both texts, both check lists and a one-line problem. A ``Disagreement``
(an ``AssertionError``, so that Hypothesis shrinks it) carries the findings of one case; it is
subclassed per *signature* (``signature``: the first involved check in registry order), so that
Hypothesis shrinks and reports each kind of disagreement separately. Texts are split into their
items by the one PodSecurity parser, ``harness.core.messages``.

May import: ``harness.core`` and ``harness.fuzz.strategies`` (the case a disagreement carries).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path

from harness.core.checks import CHECKS
from harness.core.messages import parse_podsecurity_message
from harness.fuzz.strategies import FuzzCase

__all__ = ["Disagreement", "Finding", "disagreement_class", "message_items", "signature"]


def message_items(text: str) -> list[str]:
    """The ``reason (detail)`` items of a PodSecurity text, as the one parser splits them (``[]``: none)."""
    parsed = parse_podsecurity_message(text) if text else None
    return [f"{i.reason} ({i.detail})" for i in parsed.items] if parsed else []


@dataclasses.dataclass
class Finding:
    """One request on which the evaluator and the server disagree."""

    kind: str            #: ``Pod``, ``Deployment`` or ``Pod/ephemeralcontainers``
    policy: str          #: ``level:version`` as labelled
    status: int          #: HTTP status
    predicted: str       #: the full text the evaluator predicts (``""``: admitted without a PodSecurity text)
    observed: str        #: the server's text (``""``: admitted without one)
    predicted_checks: tuple[str, ...]
    observed_checks: tuple[str, ...]
    problem: str         #: one line: what differs

    def render(self) -> str:
        return (f"  {self.kind} at {self.policy} (HTTP {self.status}): {self.problem}\n"
                f"    predicted: {self.predicted or '(admitted, no PodSecurity text)'}\n"
                f"    observed:  {self.observed or '(admitted, no PodSecurity text)'}\n"
                f"    checks:    predicted {list(self.predicted_checks)}, observed {list(self.observed_checks)}")

    def involved(self) -> set[str]:
        """The checks this finding is about: those only one side names, else those whose text differs."""
        diff = set(self.predicted_checks) ^ set(self.observed_checks)
        if diff:
            return diff
        pred, obs = message_items(self.predicted), message_items(self.observed)
        return {c for i, c in enumerate(self.predicted_checks) if i >= len(obs) or i >= len(pred) or pred[i] != obs[i]}


def signature(findings: list[Finding]) -> str:
    """What kind of disagreement a case shows: its first involved check in registry order (distinct
    signatures are shrunk and reported separately by Hypothesis; one bug usually has one)."""
    involved = set().union(*(f.involved() for f in findings))
    first = next((c for c in CHECKS if c in involved), None)
    return first or f"{findings[0].kind}-{re.sub(r'[^a-z]+', '-', findings[0].problem.lower())[:40]}"


class Disagreement(AssertionError):
    """The evaluator and the API server disagree on a case (subclassed per signature, so that
    Hypothesis shrinks and reports each kind of disagreement separately)."""

    def __init__(self, message: str, case: FuzzCase | None = None, findings: list[Finding] | None = None,
                 regression: Path | None = None):
        super().__init__(message)
        self.case = case
        self.findings = findings or []
        self.regression = regression


_SIGNATURE_CLASSES: dict[str, type[Disagreement]] = {}
_SIG_LOCK = threading.Lock()


def disagreement_class(sig: str) -> type[Disagreement]:
    """The ``Disagreement`` subclass of signature ``sig`` (one class per signature, made once)."""
    with _SIG_LOCK:
        cls = _SIGNATURE_CLASSES.get(sig)
        if cls is None:
            ident = re.sub(r"\W+", "_", sig)
            cls = type(f"Disagreement_{ident}", (Disagreement,), {"__module__": __name__})
            _SIGNATURE_CLASSES[sig] = cls
        return cls
