"""Scenario files as pytest items: one item per scenario x kind x namespace policy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from harness.core.errors import HarnessError, ScenarioError
from harness.core.expectations import Expectation, Policy, auto_versions, expected
from harness.core.model import LATEST, Level, Mode
from harness.corpus.scenarios import ANNOTATION, Scenario, load_scenario, mentions_harness
from harness.core.verdict import Verdict, judge
from harness.plugin.session import runtime_for
from harness.reports.record import AUDIT_UNOBSERVED

__all__ = ["ScenarioFile", "ScenarioItem", "VerdictMismatch", "is_scenario_file", "policies_for"]

_MARK_SAFE = re.compile(r"[^A-Za-z0-9_]")


class VerdictMismatch(AssertionError):
    """The cluster did not do what the scenario data says it owes."""


def is_scenario_nodeid(nodeid: str) -> bool:
    """Whether a node id (an item's or its report's) is a scenario item's: ``<file>.yaml::<id>[...]``."""
    return ".yaml::" in nodeid or ".yml::" in nodeid


def is_scenario_file(path: Path, roots: tuple[Path, ...] = ()) -> bool:
    """Whether pytest should collect ``path`` as a scenario (and report it if it is not a valid one).

    A YAML file is one if it mentions the harness's annotation (spelt right or nearly), or if it
    lies under a scenario directory (``roots``: the repository corpus and ``--psa-scenarios``):
    there, every YAML file is a scenario or a collection error naming it, never silently skipped.
    Names starting with ``_`` or ``.`` (in the last two path parts) are left out.
    """
    if path.suffix not in (".yaml", ".yml") or any(p.startswith(("_", ".")) for p in path.parts[-2:]):
        return False
    if any(path.is_relative_to(r) for r in roots):
        return True
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return ANNOTATION in text or mentions_harness(text)


def marker_name(prefix: str, value: str) -> str:
    return f"{prefix}_{_MARK_SAFE.sub('_', value)}"


def policies_for(scenario: Scenario, levels, modes, versions) -> list[Policy]:
    """The namespace policies a scenario is tested under.

    ``versions=None`` means auto: ``latest`` plus, for each boundary the scenario declares, the
    minor just below and the boundary itself. The privileged control level is tested once
    (enforce, latest): it has no checks, so its version and mode change nothing.
    """
    if versions is None:
        versions = auto_versions(scenario)
    out = []
    for level in levels:
        if level is Level.PRIVILEGED:
            out.append(Policy(level, Mode.ENFORCE if Mode.ENFORCE in modes else modes[0], LATEST))
            continue
        out += [Policy(level, mode, v) for mode in modes for v in versions]
    return out


class ScenarioFile(pytest.File):
    """One scenario file; a malformed file is a collection error naming file, line and problem."""

    def collect(self) -> Iterator["ScenarioItem"]:
        from harness.plugin.options import get_config

        try:
            scenario = load_scenario(self.path)
            cfg = get_config(self.config)
        except HarnessError as exc:
            raise self.CollectError(str(exc)) from None
        seen = self.config.stash.setdefault(_SEEN_IDS, {})
        if scenario.id in seen and seen[scenario.id] != self.path:
            raise self.CollectError(str(ScenarioError(str(self.path),
                                                      f"duplicate scenario id {scenario.id!r} (also in {seen[scenario.id]})")))
        seen[scenario.id] = self.path
        kinds = [k for k in scenario.kinds if k in cfg.kinds]
        for policy in policies_for(scenario, cfg.levels, cfg.modes, cfg.versions):
            for kind in kinds:
                yield ScenarioItem.from_parent(self, name=f"{scenario.id}[{kind}-{policy.label}]",
                                               scenario=scenario, kind=kind, policy=policy)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, self.CollectError):
            return str(excinfo.value.args[0])
        return super().repr_failure(excinfo, style)


_SEEN_IDS = pytest.StashKey[dict]()
_MARKERS = pytest.StashKey[dict]()
_BY_FILE = pytest.StashKey[dict]()
#: xdist distribution modes that run every item of a file in one process
_WHOLE_FILE_DIST = ("no", "loadfile", "loadscope")


class ScenarioItem(pytest.Item):
    """Submit one scenario as one kind into one policy's namespace and judge the answer."""

    def __init__(self, *, scenario: Scenario, kind: str, policy: Policy, **kwargs):
        super().__init__(**kwargs)
        self.scenario, self.kind, self.policy = scenario, kind, policy
        self.expectation: Expectation | None = None
        self.execution = None
        self.verdict: Verdict | None = None
        self._prefetched = None  # a future of its Execution (or exception), sent with its siblings
        self._ran = False        # runtest started: never prefetched again
        marks = [marker_name("level", policy.level.value), marker_name("mode", policy.mode.value),
                 marker_name("kind", kind.lower()), marker_name("severity", scenario.severity)]
        marks += [marker_name("check", c) for c in scenario.check_ids()]
        marks += [marker_name("attack", t) for t in scenario.attack]
        marks += ["control"] if scenario.is_control else ["attack"]
        # one MarkDecorator per name and run, shared by the items (marks are immutable): looking a
        # name up on pytest.mark costs more than the rest of an item's construction
        registered = self.config.stash.setdefault(_MARKERS, {})
        for m in ("integration", *marks):  # integration: every item talks to a cluster; `-m "not integration"` needs none
            decorator = registered.get(m)
            if decorator is None:
                if m != "integration":  # keep --strict-markers happy for corpus-defined names
                    self.config.addinivalue_line("markers", f"{m}: scenario marker added by pss-harness")
                decorator = registered[m] = getattr(pytest.mark, m)
            self.add_marker(decorator)
        self.extra_keyword_matches.update(
            {policy.level.value, policy.mode.value, kind, str(policy.version), scenario.severity,
             *scenario.check_ids(), *scenario.attack, *scenario.cis})

    def runtest(self) -> None:
        self._ran = True
        rt = runtime_for(self.config)
        self.expectation = expected(self.scenario, self.kind, self.policy, rt.expectation_minor)
        audit = self.policy.mode is Mode.AUDIT
        if audit and rt.audit is None:
            pytest.skip(f"{AUDIT_UNOBSERVED}: pass --audit-log FILE or '!COMMAND' "
                        "(the embedded control plane provides it)")
        if self._prefetched is None:
            self._prefetch(rt)
        pending, self._prefetched = self._prefetched, None
        result = pending.result()
        if isinstance(result, BaseException):
            raise result
        self.execution = result
        self.verdict = judge(self.expectation, self.execution.observation, self.policy, audit_observed=audit)
        controller = self.execution.controller
        if controller is not None and controller["reason"] != "FailedCreate":
            self.verdict = Verdict(False, (*self.verdict.problems,
                                           f"controller path: expected the {self.kind}'s controller to report "
                                           f"FailedCreate with the PodSecurity denial; {controller['message']}"))
        if not self.verdict.passed:
            raise VerdictMismatch(self._explain())

    def _prefetch(self, rt) -> None:
        """Start this item's request together with its selected, not yet run siblings (same file).

        Each item still makes its own request; they merely travel concurrently, and each item
        waits for and judges its own observation when pytest runs it. Only where every item of a
        file runs in this process (no xdist, or ``--dist loadfile``/``loadscope``): under
        ``--dist load`` a file's items are spread over the workers, and a sibling's request sent
        here would be sent again by the worker that runs it.
        """
        if getattr(self.config.option, "dist", "no") not in _WHOLE_FILE_DIST:
            self._prefetched = rt.submit_many([rt.submission(self.scenario, self.kind, self.policy)])[0]
            return
        by_file = self.session.stash.get(_BY_FILE, None)
        if by_file is None:
            by_file = self.session.stash[_BY_FILE] = {}
            for it in self.session.items:
                if isinstance(it, ScenarioItem):
                    by_file.setdefault(it.parent, []).append(it)
        siblings = [it for it in by_file.get(self.parent, [])
                    if it._prefetched is None and not it._ran
                    and not (it.policy.mode is Mode.AUDIT and rt.audit is None)]
        if self not in siblings:
            siblings.append(self)
        futures = rt.submit_many([rt.submission(it.scenario, it.kind, it.policy) for it in siblings])
        for it, future in zip(siblings, futures):
            it._prefetched = future

    def release(self) -> None:
        """Drop what the item holds once its reports are out (its record is on disk): memory stays flat as runs grow."""
        self.expectation = self.execution = self.verdict = self._prefetched = None
        self.__dict__.pop("psa_record", None)
        self.user_properties = []  # its reports carry their own copies (JUnit has read them)

    def _explain(self) -> str:
        exp, obs = self.expectation, self.execution.observation
        lines = [
            f"{self.scenario.id} as {self.kind} in namespace {self.execution.namespace} "
            f"({self.policy.level} {self.policy.mode} {self.policy.version})",
            f"  expected: {exp.outcome}" + (f"  checks: {', '.join(sorted(exp.checks))}" if exp.checks else "")
            + (f"  audit: {', '.join(sorted(exp.audit_checks))}" if exp.audit_checks else ""),
            f"            ({exp.reason})",
            f"  observed: {obs.outcome} (HTTP {obs.status})"
            + (f"  checks: {', '.join(sorted(obs.checks))}" if obs.checks else "")
            + (f"  audit: {', '.join(sorted(obs.audit_violation.checks))}" if obs.audit_violation else ""),
        ]
        lines += [f"  - {p}" for p in self.verdict.problems]
        exempt = (obs.audit_annotations or {}).get("pod-security.kubernetes.io/exempt")
        if exempt:
            lines.append(f"  cause: PodSecurity exempted this request (audit annotation exempt={exempt}); "
                         f"check the {exempt} exemptions of the cluster's PodSecurity AdmissionConfiguration")
        if obs.message:
            lines.append(f"  server message: {obs.message}")
        if self.execution.controller:
            lines.append(f"  controller: {self.execution.controller}")
        for w in obs.warnings:
            lines.append(f"  warning: {w}")
        lines.append(f"  scenario file: {self.scenario.path}")
        return "\n".join(lines)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (VerdictMismatch, HarnessError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.scenario.id} [{self.kind} {self.policy.label}]"
