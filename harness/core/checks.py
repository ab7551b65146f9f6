"""The registry of the 19 upstream Pod Security Standards checks, validated at import.

Facts carried over from ``k8s.io/pod-security-admission/policy``: each check's ID, level,
the minimum versions of its variants, the baseline checks it overrides and the reason phrase it
puts in messages. ``active_checks`` and ``effective_check`` answer which check the server runs
(and reports) for a given level and policy version. The registry is validated at import and
raises ``RuntimeError`` when it is inconsistent.

The values each check allows are not here but in ``harness.policy.tables``; the minors listed
here are the ones ``harness.policy._registry`` holds the implemented variants to.

May import: ``harness.core.model`` only.
"""

from __future__ import annotations

import dataclasses

from harness.core.model import Level

__all__ = ["CHECKS", "Check", "active_checks", "effective_check", "newest_minor", "reason_to_check",
           "variant_starts"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One upstream check."""

    id: str                       #: upstream ID, e.g. ``capabilities_restricted``
    level: Level                  #: baseline or restricted
    versions: tuple[int, ...]     #: minimum minor of each variant, increasing; the first is when it starts
    reason: str                   #: the ForbiddenReason phrase in denial and warning messages
    overrides: tuple[str, ...] = ()  #: baseline checks it replaces at restricted
    per_container: bool = True    #: inspects each container (init, regular, ephemeral)
    pod_level: bool = False       #: also inspects a pod-level field

    @property
    def since(self) -> int:
        return self.versions[0]


_B, _R = Level.BASELINE, Level.RESTRICTED
_ALL = [
    Check("appArmorProfile", _B, (0,), "forbidden AppArmor profile", pod_level=True),
    Check("capabilities_baseline", _B, (0,), "non-default capabilities"),
    Check("hostNamespaces", _B, (0,), "host namespaces", per_container=False, pod_level=True),
    Check("hostPathVolumes", _B, (0,), "hostPath volumes", per_container=False, pod_level=True),
    Check("hostPorts", _B, (0,), "hostPort"),
    Check("hostProbesAndHostLifecycle", _B, (34,), "probe or lifecycle host"),
    Check("privileged", _B, (0,), "privileged"),
    Check("procMount", _B, (0, 35), "procMount"),
    Check("seLinuxOptions", _B, (0, 31), "seLinuxOptions", pod_level=True),
    Check("seccompProfile_baseline", _B, (0, 19), "seccompProfile", pod_level=True),
    Check("sysctls", _B, (0, 27, 29, 32, 37), "forbidden sysctls", per_container=False, pod_level=True),
    Check("windowsHostProcess", _B, (0,), "hostProcess", pod_level=True),
    Check("allowPrivilegeEscalation", _R, (8, 25), "allowPrivilegeEscalation != false"),
    Check("capabilities_restricted", _R, (22, 25), "unrestricted capabilities", ("capabilities_baseline",)),
    Check("procMount_restricted", _R, (35,), "procMount", ("procMount",)),
    Check("restrictedVolumes", _R, (0,), "restricted volume types", ("hostPathVolumes",),
          per_container=False, pod_level=True),
    Check("runAsNonRoot", _R, (0, 35), "runAsNonRoot != true", pod_level=True),
    Check("runAsUser", _R, (23, 35), "runAsUser=0", pod_level=True),
    Check("seccompProfile_restricted", _R, (19, 25), "seccompProfile", ("seccompProfile_baseline",), pod_level=True),
]

CHECKS: dict[str, Check] = {c.id: c for c in _ALL}


def _validate(checks: list[Check]) -> None:
    """Raise ``RuntimeError`` naming every inconsistency of the registry (explicit raises, not ``assert``:
    ``python -O`` would strip those)."""
    problems = []
    ids = [c.id for c in checks]
    if len(set(ids)) != len(ids) or len(ids) != 19:
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        problems.append(f"expected 19 distinct check ids, got {len(set(ids))}" + (f" (duplicated: {dupes})" if dupes else ""))
    by_id = {c.id: c for c in checks}
    for c in checks:
        if c.level not in (_B, _R):
            problems.append(f"{c.id}: level must be baseline or restricted, not {c.level}")
        if not c.versions or list(c.versions) != sorted(set(c.versions)):
            problems.append(f"{c.id}: versions {list(c.versions)} must be non-empty and strictly increasing")
        for o in c.overrides:
            if c.level is not _R or o not in by_id or by_id[o].level is not _B:
                problems.append(f"{c.id}: overrides {o!r}, but only a restricted check may override a baseline one")
    if problems:
        raise RuntimeError("harness.core.checks: the check registry is inconsistent: " + "; ".join(problems))


_validate(_ALL)


def newest_minor() -> int:
    """The newest policy minor any check variant starts at (what ``latest`` means to this registry)."""
    return max(v for c in _ALL for v in c.versions)


def active_checks(level: Level, minor: int) -> list[Check]:
    """Checks the server runs at ``level`` and policy ``minor``, in message order.

    Baseline checks (sorted by ID) then restricted ones (sorted), leaving out checks that do not
    exist yet at ``minor`` and baseline checks overridden by an existing restricted check.
    """
    if level is Level.PRIVILEGED:
        return []
    levels = (_B,) if level is _B else (_B, _R)
    existing = [c for c in _ALL if c.level in levels and c.since <= minor]
    overridden = {o for c in existing for o in c.overrides}
    chosen = [c for c in existing if c.id not in overridden]
    return sorted(chosen, key=lambda c: (c.level.rank, c.id))


def effective_check(check_id: str, level: Level, minor: int) -> str | None:
    """The check that reports a violation of ``check_id``'s field at ``level``/``minor``.

    The check itself if it runs there; the restricted check that overrides it if that one runs;
    ``None`` if neither runs (too old a version, or a restricted check at baseline).
    """
    active = {c.id for c in active_checks(level, minor)}
    if check_id in active:
        return check_id
    for c in active_checks(level, minor):
        if check_id in c.overrides:
            return c.id
    return None


def reason_to_check(reason: str, level: Level, minor: int) -> str | None:
    """The check ID behind a reason phrase in a message evaluated at ``level``/``minor``.

    Two phrases are shared (``seccompProfile``, ``procMount``); the active set disambiguates.
    """
    for c in active_checks(level, minor):
        if c.reason == reason:
            return c.id
    return None


def variant_starts(check_ids, lo: int, hi: int) -> list[int]:
    """Policy minors ``m`` with ``lo < m <= hi`` at which a variant of one of ``check_ids`` starts.

    A check's own start counts (``hostProbesAndHostLifecycle`` at 34), so does a restricted
    check's that overrides a baseline one (``procMount_restricted`` at 35). Unknown IDs are ignored.
    """
    return sorted({v for cid in check_ids if cid in CHECKS for v in CHECKS[cid].versions if lo < v <= hi})
