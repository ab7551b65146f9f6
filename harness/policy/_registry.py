"""Self-registration of check variants, validated against ``harness.core.checks``.

Each ``check_<id>.py`` module decorates one pure function per versioned variant with
``@variant("<id>", <minimum minor>)``, or, for a check whose allowed values grow with the minors
(sysctls, seLinuxOptions), registers one variant per key of its table in ``harness.policy.tables``
with ``table_variants``. ``validate`` (run when ``harness.policy`` is imported) raises
``RuntimeError`` when the implemented variants and the registry in ``harness.core.checks``
disagree: a missing check, an extra one, or a variant minimum version that the registry does not
list (explicit raises: ``python -O`` keeps them).

May import: ``harness.core`` and ``harness.policy._helpers``/``tables``.
"""

from __future__ import annotations

from typing import Callable

from harness.policy._helpers import Failure
from harness.policy.tables import allowed_at

__all__ = ["CheckFn", "VARIANTS", "implementation", "table_variants", "validate", "variant"]

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


def table_variants(check_id: str, added: dict[int, frozenset[str]],
                   check: Callable[[dict, frozenset[str]], "Failure | None"]) -> None:
    """Register one variant of ``check_id`` per key of a growing value table (``minor -> values it adds``):
    the variant from ``v1.<minor>`` runs ``check(spec, values allowed at that minor)``."""
    for since in sorted(added):
        allowed = allowed_at(added, since)

        def fn(meta: dict, spec: dict, _allowed: frozenset[str] = allowed) -> "Failure | None":
            return check(spec, _allowed)

        fn.__name__ = fn.__qualname__ = f"{check_id}_v1_{since}"
        variant(check_id, since)(fn)


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
            problems.append(f"{cid}: variants {sorted(VARIANTS[cid])} != registry {list(CHECKS[cid].versions)} "
                            f"(make the versions of {cid!r} in harness/core/checks.py list every variant's minimum)")
    if problems:
        raise RuntimeError("harness.policy does not match harness.core.checks: " + "; ".join(problems))
