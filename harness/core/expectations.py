"""What the cluster owes a scenario: a pure function of the scenario data and the policy.

``expected(scenario, kind, policy, server_minor)`` derives the outcome and the check ids for any
resource kind, namespace policy (level, mode, version) and server version. Nothing here is
written per test; the rules are those of the PodSecurity admission controller:

* enforce denies Pods (403) and never workloads; labelling only ``enforce`` makes ``warn``
  follow it (servers 1.26+), so workloads then carry warnings (the harness's namespaces pin
  every mode, ``Policy.labels``, and label that ``warn`` explicitly);
* warn admits with a ``would violate PodSecurity`` warning, for Pods and workloads alike;
* audit admits silently and records ``audit-violations`` in the audit event;
* a manifest that fails API validation is ``invalid`` whatever the policy.
"""

from __future__ import annotations

import dataclasses

from harness.core.checks import effective_check, newest_minor
from harness.core.model import LATEST, Level, Mode, Outcome, PolicyVersion
from harness.core.scenario import Scenario

__all__ = ["Expectation", "Policy", "auto_versions", "checks_at", "expected", "for_checks", "policy_minor"]

WARN_FOLLOWS_ENFORCE_SINCE = 26  # server minor from which an enforce label also sets warn


@dataclasses.dataclass(frozen=True, order=True)
class Policy:
    """A namespace policy under test: one mode labelled at one level and version."""

    level: Level
    mode: Mode
    version: PolicyVersion

    @property
    def label(self) -> str:
        """``restricted-enforce-latest``: used in test ids and namespace names."""
        return f"{self.level}-{self.mode}-{self.version}"

    def labels(self, server_minor: int | None = None) -> dict[str, str]:
        """The namespace labels that put a namespace under exactly this policy: every mode is pinned.

        The mode under test carries the level and version; the other two are labelled ``privileged``
        at ``latest``, so that no cluster-wide default (the AdmissionConfiguration's ``defaults:``)
        applies to any mode. Under ``enforce`` the ``warn`` label is what PodSecurity itself derives
        from an enforce label alone on servers ``server_minor`` 1.26+ (``None``: a current server): the
        enforce level and version (so workloads keep their warnings); older servers, ``privileged``.
        The labels are exactly what an unpinned namespace had in effect under privileged defaults,
        so the expectations (``expected``) hold on any cluster, whatever its defaults.
        """
        pinned = {m: (Level.PRIVILEGED.value, str(LATEST)) for m in Mode}
        pinned[self.mode] = (self.level.value, str(self.version))
        if self.mode is Mode.ENFORCE and (server_minor is None or server_minor >= WARN_FOLLOWS_ENFORCE_SINCE):
            pinned[Mode.WARN] = pinned[Mode.ENFORCE]
        out: dict[str, str] = {}
        for mode in Mode:
            key = f"pod-security.kubernetes.io/{mode}"
            out[key], out[f"{key}-version"] = pinned[mode]
        return out


@dataclasses.dataclass(frozen=True)
class Expectation:
    """The verdict the cluster owes one request."""

    outcome: Outcome
    checks: frozenset[str] = frozenset()        #: check ids named in the denial or warning
    audit_checks: frozenset[str] = frozenset()  #: check ids in the audit event's audit-violations
    reason: str = ""                            #: why, in one line (shown on failure)


def policy_minor(version: PolicyVersion, server_minor: int) -> int:
    """The policy minor a server of ``server_minor`` evaluates for ``version``.

    ``latest`` and any newer label clamp to what the server knows (never beyond this registry).
    """
    return version.resolve(min(server_minor, newest_minor()))


def auto_versions(scenario: Scenario) -> list[PolicyVersion]:
    """The policy versions a scenario is tested at by default: ``latest`` plus, for each boundary it
    declares, the minor just below and the boundary itself (sorted, ``latest`` last)."""
    auto = {LATEST}
    for b in scenario.boundaries():
        auto |= {PolicyVersion(b - 1), PolicyVersion(b)}
    return sorted(auto)


def checks_at(scenario: Scenario, kind: str, level: Level, minor: int) -> frozenset[str]:
    """The check ids the server reports for ``scenario`` as ``kind`` at ``level``/``minor``."""
    if level is Level.PRIVILEGED or minor not in scenario.versions:
        return frozenset()
    out = set()
    for declared in scenario.checks:
        if declared.applies(minor, kind):
            effective = effective_check(declared.id, level, minor)
            if effective:
                out.add(effective)
    return frozenset(out)


def expected(scenario: Scenario, kind: str, policy: Policy, server_minor: int) -> Expectation:
    """The expectation for submitting ``scenario`` as ``kind`` into a namespace with ``policy``."""
    if scenario.invalid:
        return Expectation(Outcome.INVALID, reason=f"API validation refuses it: {scenario.invalid}")
    minor = policy_minor(policy.version, server_minor)
    checks = checks_at(scenario, kind, policy.level, minor)
    return for_checks(checks, kind, policy.mode, server_minor, f"{policy.level}:{policy.version} (evaluated as v1.{minor})")


def for_checks(checks: frozenset[str], kind: str, mode: Mode, server_minor: int, where: str = "the policy") -> Expectation:
    """What a server of ``server_minor`` answers for a ``kind`` object violating ``checks`` under ``mode``.

    The mode rules of the module docstring; ``where`` names the policy in the reason.
    """
    checks = frozenset(checks)
    if not checks:
        return Expectation(Outcome.ADMITTED, reason=f"no check of {where} forbids it")
    if mode is Mode.AUDIT:
        return Expectation(Outcome.ADMITTED, audit_checks=checks,
                           reason=f"audit mode admits it and records the violation of {where}")
    if mode is Mode.WARN:
        return Expectation(Outcome.WARNED, checks, reason=f"warn mode admits it with a warning for {where}")
    if kind == "Pod":
        return Expectation(Outcome.DENIED, checks, reason=f"enforce mode denies Pods violating {where}")
    if server_minor >= WARN_FOLLOWS_ENFORCE_SINCE:
        return Expectation(Outcome.WARNED, checks,
                           reason=f"workloads are not enforced; warn follows the enforce label ({where})")
    return Expectation(Outcome.ADMITTED, reason="workloads are not enforced")
