"""Self-registration of check variants, validated against ``harness.core.checks``.

Each ``check_<id>.py`` module decorates one pure function per versioned variant with
``@variant("<id>", <minimum minor>)``. ``validate`` (run when ``harness.policy`` is imported)
fails loudly when the implemented variants and the registry in ``harness.core.checks`` disagree:
a missing check, an extra one, or a variant minimum version that the registry does not list.
"""

from __future__ import annotations

from typing import Callable

from harness.policy._helpers import Failure

__all__ = ["CheckFn", "VARIANTS", "implementation", "validate", "variant"]

#: ``fn(pod_metadata, pod_spec) -> Failure | None``
CheckFn = Callable[[dict, dict], "Failure | None"]

#: check id -> {minimum minor: implementation}
VARIANTS: dict[str, dict[int, CheckFn]] = {}


def variant(check_id: str, minimum_minor: int) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as the implementation of ``check_id`` from policy ``v1.<minimum_minor>``."""

    def register(fn: CheckFn) -> CheckFn:
        versions = VARIANTS.setdefault(check_id, {})
        if minimum_minor in versions:
            raise RuntimeError(f"{check_id}: variant v1.{minimum_minor} registered twice")
        versions[minimum_minor] = fn
        return fn

    return register


def implementation(check_id: str, minor: int) -> CheckFn | None:
    """The variant of ``check_id`` in force at ``minor`` (the newest whose minimum is <= minor)."""
    chosen = None
    for since, fn in sorted(VARIANTS[check_id].items()):
        if since <= minor:
            chosen = fn
    return chosen


def validate() -> None:
    from harness.core.checks import CHECKS

    problems = []
    for cid in sorted(set(CHECKS) | set(VARIANTS)):
        if cid not in VARIANTS:
            problems.append(f"{cid}: no implementation")
        elif cid not in CHECKS:
            problems.append(f"{cid}: implemented but not in harness.core.checks")
        elif tuple(sorted(VARIANTS[cid])) != CHECKS[cid].versions:
            problems.append(f"{cid}: variants {sorted(VARIANTS[cid])} != registry {list(CHECKS[cid].versions)}")
    if problems:
        raise RuntimeError("harness.policy does not match harness.core.checks: " + "; ".join(problems))
