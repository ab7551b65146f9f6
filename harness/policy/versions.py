"""What the Pod Security Standards themselves change for one object between two policy versions. Pure.

``failing(obj, level, minor)`` is the set of check IDs the evaluator reports for ``obj`` at policy
``v1.<minor>``; ``boundaries(obj, level, a, b, checks)`` the policy minors between ``a`` and
``b`` where one of ``checks`` changes its answer for ``obj``: the candidates are the minors at
which the registry (``harness.core.checks``) starts a variant of one of them, and each candidate
``m`` is kept only if the evaluator's answer for those checks differs between ``m - 1`` and ``m``.
Nothing is listed by hand: a new variant in the registry and its implementation are all it takes.

Used by ``pss-harness diff`` to tell a change the standard made on purpose from one it did not.
Imports the core and this package's evaluator.
"""

from __future__ import annotations

from typing import Iterable

from harness.core.checks import variant_starts
from harness.core.model import Level, PolicyVersion
from harness.policy.evaluator import evaluate_object

__all__ = ["boundaries", "failing"]


def failing(obj: dict, level: Level, minor: int) -> frozenset[str]:
    """Check IDs the evaluator reports for ``obj`` at ``level`` and policy ``v1.<minor>``."""
    return frozenset(evaluate_object(obj, level, PolicyVersion(minor)).ids)


def boundaries(obj: dict, level: Level, a: int, b: int, checks: Iterable[str]) -> tuple[int, ...]:
    """Policy minors between ``a`` and ``b`` (either order) where one of ``checks`` changes its answer for ``obj``."""
    checks = frozenset(checks)
    lo, hi = min(a, b), max(a, b)
    out = []
    for m in variant_starts(checks, lo, hi):
        if failing(obj, level, m - 1) & checks != failing(obj, level, m) & checks:
            out.append(m)
    return tuple(out)
