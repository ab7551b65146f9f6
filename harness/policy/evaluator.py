"""Evaluate a pod, or the pod template of a workload, against a Pod Security level and version. Pure.

The counterpart of upstream ``policy/registry.go`` ``EvaluatePod`` and of the admission's
message formatting:

* ``privileged`` runs no checks (any version label is ignored);
* ``latest``, and any label newer than ``newest_minor``, is evaluated as ``newest_minor``,
  while messages show the label's own text (``restricted:v1.99``);
* the checks run (and failures are listed) in upstream message order: baseline IDs sorted,
  then restricted IDs sorted, leaving out baseline checks an active restricted check overrides
  (``harness.core.checks.active_checks``);
* each check runs the variant whose minimum version is the newest one <= the evaluated minor.
"""

from __future__ import annotations

import dataclasses
import functools

from harness.core import checks
from harness.core.model import Level, PolicyVersion
from harness.policy._helpers import Failure
from harness.policy._registry import CheckFn, implementation
from harness.policy.objects import NotPodBearing, admitted_pod, pod_template

__all__ = ["CheckFailure", "Evaluation", "evaluate_object", "evaluate_pod"]

UNKNOWN_FORBIDDEN_REASON = "unknown forbidden reason"
_NEWEST = checks.newest_minor()


@dataclasses.dataclass(frozen=True, slots=True)
class CheckFailure:
    """One failing check, as it appears in a message: ``reason (detail)``."""

    id: str       #: upstream check ID, e.g. ``runAsNonRoot``
    reason: str   #: ForbiddenReason, e.g. ``runAsNonRoot != true``
    detail: str   #: ForbiddenDetail, e.g. ``pod or container "c" must set securityContext.runAsNonRoot=true``

    def __str__(self) -> str:
        reason = self.reason or UNKNOWN_FORBIDDEN_REASON
        return f"{reason} ({self.detail})" if self.detail else reason


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The result of evaluating one pod (or pod template) against one policy."""

    level: Level
    version: PolicyVersion          #: the label as given (``latest``, ``v1.99``, ...)
    minor: int                      #: the policy minor actually evaluated (after clamping)
    results: tuple[CheckFailure, ...] = ()  #: failing checks, in upstream message order
    evaluated: bool = True          #: False: the object carries no pod template (see ``skipped``)
    skipped: str = ""               #: why the object was not evaluated (``not a pod-bearing object: ...``)
    kind: str = "Pod"               #: the object's kind (``Pod`` for ``evaluate_pod``)

    @property
    def allowed(self) -> bool:
        return not self.results

    @property
    def policy(self) -> str:
        """``level:version`` as a message prints it, e.g. ``restricted:latest``."""
        return f"{self.level.value}:{self.version}"

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.results]

    def details(self) -> str:
        """The failures joined as upstream aggregates them: ``reason (detail), reason (detail)``."""
        return ", ".join(str(r) for r in self.results)

    def message(self, prefix: str = "violates") -> str:
        """``<prefix> PodSecurity "<level>:<version>": <details>``; ``""`` when allowed.

        ``prefix`` is ``violates`` (enforce denials) or ``would violate`` (warnings, audit).
        """
        if self.allowed:
            return ""
        return f'{prefix} PodSecurity "{self.policy}": {self.details()}'


@functools.lru_cache(maxsize=None)
def _plan(level: Level, minor: int) -> tuple[tuple[str, CheckFn], ...]:
    plan = []
    for check in checks.active_checks(level, minor):
        fn = implementation(check.id, minor)
        if fn is None:  # active_checks only lists checks that exist at minor
            raise RuntimeError(f"{check.id}: no variant at v1.{minor}")
        plan.append((check.id, fn))
    return tuple(plan)


def _minor(version: PolicyVersion, newest_minor: int | None) -> int:
    newest = _NEWEST if newest_minor is None else min(newest_minor, _NEWEST)
    return version.resolve(newest)


def evaluate_pod(pod_metadata: dict, pod_spec: dict, level: Level, version: PolicyVersion,
                 newest_minor: int | None = None, *, kind: str = "Pod") -> Evaluation:
    """Evaluate a pod's metadata and spec exactly as given (no API-server defaulting).

    ``newest_minor`` is the newest policy the evaluating server knows (``latest`` on it);
    default: the newest in ``harness.core.checks``. It is capped at that too. ``kind`` is only recorded.
    """
    level = Level(level)
    if isinstance(version, str):
        version = PolicyVersion.parse(version)
    minor = _minor(version, newest_minor)
    if level is Level.PRIVILEGED:
        return Evaluation(level, version, minor, kind=kind)
    meta = pod_metadata if isinstance(pod_metadata, dict) else {}
    spec = pod_spec if isinstance(pod_spec, dict) else {}
    failures = []
    for check_id, fn in _plan(level, minor):
        result: Failure | None = fn(meta, spec)
        if result is not None:
            failures.append(CheckFailure(check_id, result.reason, result.detail))
    return Evaluation(level, version, minor, tuple(failures), kind=kind)


def evaluate_object(obj: dict, level: Level, version: PolicyVersion, newest_minor: int | None = None, *,
                    server_mutations: bool = True) -> Evaluation:
    """Evaluate a Pod or the pod template of a workload (see ``harness.policy.objects``).

    With ``server_mutations`` (the default) a Pod is first changed the way the API server changes
    it on create before admission (hostNetwork hostPort defaulting, AppArmor annotation-to-field
    copy), so the result predicts the server's own message. Workload templates are never mutated.
    An object without a pod template gives ``evaluated=False``, ``allowed=True`` and ``skipped``
    set, instead of raising.
    """
    level = Level(level)
    if isinstance(version, str):
        version = PolicyVersion.parse(version)
    kind = obj.get("kind", "") if isinstance(obj, dict) else ""
    try:
        meta, spec = pod_template(obj)
    except NotPodBearing as exc:
        return Evaluation(level, version, _minor(version, newest_minor), evaluated=False, skipped=str(exc),
                          kind=str(kind))
    if kind == "Pod" and server_mutations:
        meta, spec = admitted_pod(meta, spec)
    return evaluate_pod(meta, spec, level, version, newest_minor, kind=kind)
