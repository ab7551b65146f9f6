"""The VAP target: the PSS-in-CEL ValidatingAdmissionPolicy set against PodSecurity, on the same server.

The same generated cases as the evaluator target (``harness.fuzz.strategies``), sent at ``latest``,
baseline and restricted, into namespaces of two engines on one kube-apiserver:

* PodSecurity: ``pod-security.kubernetes.io/enforce=<level>`` (the ``Runtime`` given);
* the VAP set: PodSecurity ``privileged``, bound by the set's labels (a second ``Runtime`` on the
  same connection, ``--psa-engine vap``), once for enforce (Deny) and once for warn (Warn).

For every Pod the checks the set names in warn mode must equal the checks of PodSecurity's
denial; the set must deny exactly the Pods PodSecurity denies, naming one of its checks (a VAP
denial names the first denying policy only). A workload's warnings from the set's enforce
namespace must name PodSecurity's warning's checks, and an ephemeral container added through
``pods/ephemeralcontainers`` is held to the same rules as a Pod. Answers that the API server
truncated or may have dropped (its 4096-rune warning budget) are counted, not compared (``truncated``,
``dropped`` in the report); 422s likewise.

A disagreement is shrunk by Hypothesis and written as a regression scenario with
*PodSecurity's* checks (``Fuzzer.write_regression`` sweeps PodSecurity): the corpus run with
``--psa-engine vap`` then fails on it until the set is fixed. ``run_vap`` installs the project's
set for the run (or ``objects``, a set of the caller's: the weakened-copy self-test) and removes it.

May import: ``harness.core``, ``harness.policy``, ``harness.cluster`` (lazily) and the other
``harness.fuzz`` modules.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable

from harness.core.checks import CHECKS, newest_minor
from harness.core.errors import UsageError
from harness.core.expectations import Policy
from harness.core.kinds import WORKLOAD_KINDS, as_kind
from harness.core.messages import TRUNCATION_TOTAL_RUNES
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.fuzz.driver import FuzzReport, Fuzzer
from harness.fuzz.findings import Finding
from harness.fuzz.pods import POD_NAME
from harness.fuzz.regressions import DEFAULT_REGRESSIONS
from harness.fuzz.strategies import FuzzCase, fuzz_cases

__all__ = ["VapFuzzer", "run_vap"]

B, R = Level.BASELINE, Level.RESTRICTED
_ORDER = {c: i for i, c in enumerate(CHECKS)}


def _ids(checks) -> tuple[str, ...]:
    return tuple(sorted(checks, key=_ORDER.get))


class VapFuzzer(Fuzzer):
    """Sends each case to PodSecurity (``runtime``) and to the VAP set (``vap_runtime``) and compares their checks."""

    def __init__(self, runtime, vap_runtime, **kwargs):
        super().__init__(runtime, **kwargs)
        self.vap = vap_runtime
        if self.server_minor < newest_minor():
            raise UsageError(f"the VAP target compares the set (policy v1.{newest_minor()}) with PodSecurity's latest, "
                             f"which on this v1.{self.server_minor} server is v1.{self.server_minor}: use a server "
                             f">= v1.{newest_minor()}")
        self.sides = f"the ValidatingAdmissionPolicy set and PodSecurity (kube-apiserver {self.report.server_version})"
        self.target = "vap"

    def _both(self, psa_work: list, vap_work: list) -> tuple[list, list]:
        """Both batches at once (two runtimes, one server), with the driver's retries of unanswered requests."""
        from harness.cluster.runtime import Execution

        def gather(rt, work):
            rt.namespaces([w.policy for w in work])
            return rt.submit_many(work)

        futures = gather(self.runtime, psa_work), gather(self.vap, vap_work)
        results = [[f.result() for f in fs] for fs in futures]
        for _ in range(2):
            again = False
            for rt, work, res in ((self.runtime, psa_work, results[0]), (self.vap, vap_work, results[1])):
                retry = [i for i, r in enumerate(res)
                         if not isinstance(r, Execution) or r.observation.outcome is Outcome.ERROR]
                if retry:
                    again = True
                    time.sleep(0.2)
                    for i, r in zip(retry, rt.execute_many([work[i] for i in retry])):
                        res[i] = r
            if not again:
                break
        self.report.requests += len(psa_work) + len(vap_work)
        return results[0], results[1]

    def check(self, case: FuzzCase) -> None:
        from harness.cluster.runtime import Execution, Submission

        rep = self._count_case(case)
        psa, vap, keys = [], [], []
        for level in (B, R):
            enforce, warn = Policy(level, Mode.ENFORCE, LATEST), Policy(level, Mode.WARN, LATEST)
            psa.append(Submission(case.pod, enforce, POD_NAME))
            vap += [Submission(case.pod, enforce, POD_NAME), Submission(case.pod, warn, POD_NAME)]
            keys.append(("Pod", level))
            rep.policies[f"{level.value}:latest"] += 1
        if case.workload:
            level = (B, R)[case.workload_at % 2]
            obj = as_kind(case.pod, case.workload)
            psa.append(Submission(obj, Policy(level, Mode.ENFORCE, LATEST), POD_NAME))
            vap += [Submission(obj, Policy(level, Mode.ENFORCE, LATEST), POD_NAME)]
            keys.append((case.workload, level))
        if case.ephemeral:
            admitting = [lv for lv in (B, R) if self.evaluate(case.ephemeral_base, lv, LATEST, self.newest).allowed]
            if admitting:  # the running pod is created for real in both engines' namespaces
                level = admitting[case.ephemeral_at % len(admitting)]
                enforce, warn = Policy(level, Mode.ENFORCE, LATEST), Policy(level, Mode.WARN, LATEST)
                update = list(case.ephemeral)
                psa.append(Submission(case.ephemeral_base, enforce, "fuzz-eph", update=update))
                vap += [Submission(case.ephemeral_base, enforce, "fuzz-eph", update=update),
                        Submission(case.ephemeral_base, warn, "fuzz-eph", update=update)]
                keys.append(("Pod/ephemeralcontainers", level))
        psa_results, vap_results = self._both(psa, vap)
        findings: list[Finding] = []
        v = iter(vap_results)
        pod_invalid = False
        for (kind, level), p in zip(keys, psa_results):
            workload = kind in WORKLOAD_KINDS
            answers = [next(v)] if workload else [next(v), next(v)]
            if not all(isinstance(r, Execution) for r in (p, *answers)) or any(
                    r.observation.outcome is Outcome.ERROR for r in (p, *answers)):
                rep.errors += 1
                continue
            if any(r.observation.outcome is Outcome.INVALID for r in (p, *answers)):
                rep.invalid_requests += 1
                pod_invalid |= kind == "Pod"
                if not all(r.observation.outcome is Outcome.INVALID for r in (p, *answers)):
                    findings.append(Finding(kind, f"{level.value}:latest", p.observation.status,
                                            _text(p.observation), _text(answers[0].observation), (), (),
                                            "one engine's namespace refused it as invalid, the other did not"))
                continue
            finding = self._compare_engines(kind, level, p.observation, [a.observation for a in answers])
            if finding is not None:
                findings.append(finding)
        self._conclude(case, findings, pod_invalid)

    def _compare_engines(self, kind: str, level: Level, psa, vap: list) -> Finding | None:
        rep = self.report
        rep.compared += 1
        policy = f"{level.value}:latest"
        if kind in WORKLOAD_KINDS:
            rep.workloads += 1
            (enforce,) = vap
            if psa.outcome not in (Outcome.ADMITTED, Outcome.WARNED) or \
                    enforce.outcome not in (Outcome.ADMITTED, Outcome.WARNED):
                return Finding(kind, policy, enforce.status, _text(psa), _text(enforce), _ids(psa.checks),
                               _ids(enforce.checks), f"a {kind} must be admitted, got {psa.outcome} / {enforce.outcome}")
            if _skip(rep, psa, enforce):
                return None
            rep.warned += bool(psa.checks)
            rep.admitted += not psa.checks
            if psa.checks != enforce.checks:
                return Finding(kind, policy, enforce.status, _text(psa), _text(enforce), _ids(psa.checks),
                               _ids(enforce.checks), "the set's warnings name other checks than PodSecurity's")
            return None
        enforce, warn = vap
        if kind == "Pod/ephemeralcontainers":
            rep.ephemeral += 1
        want = psa.checks if psa.outcome is Outcome.DENIED else frozenset()
        if psa.outcome not in (Outcome.DENIED, Outcome.ADMITTED, Outcome.WARNED):
            return Finding(kind, policy, psa.status, _text(psa), "", (), (), f"PodSecurity answered {psa.outcome}")
        rep.denied += bool(want)
        rep.admitted += not want
        if enforce.outcome is not (Outcome.DENIED if want else Outcome.ADMITTED):
            return Finding(kind, policy, enforce.status, _text(psa), _text(enforce), _ids(want), _ids(enforce.checks),
                           "PodSecurity denies it, the set admits it" if want else
                           f"PodSecurity admits it, the set {enforce.outcome} it")
        if want and not enforce.checks <= want:
            return Finding(kind, policy, enforce.status, _text(psa), _text(enforce), _ids(want), _ids(enforce.checks),
                           "the set's denial names a check PodSecurity does not")
        if warn.outcome not in (Outcome.ADMITTED, Outcome.WARNED):
            return Finding(kind, policy, warn.status, _text(psa), _text(warn), _ids(want), _ids(warn.checks),
                           f"the set's warn namespace {warn.outcome} it")
        if _skip(rep, warn):
            return None
        if warn.checks != want:
            return Finding(kind, policy, warn.status, _text(psa), _text(warn), _ids(want), _ids(warn.checks),
                           "the set's warnings name other checks than PodSecurity's denial")
        return None


def _text(obs) -> str:
    """What an observation says, in one text: a refusal's message, else its warnings."""
    if obs.message:
        return obs.message
    return " | ".join(obs.warnings)


def _cut(obs) -> str | None:
    """Why the answer may not name every check, or None: ``truncated`` (PodSecurity's one warning was cut to 256
    runes) or ``dropped`` (some of the set's warnings may be missing). kube-apiserver's warning recorder
    (``pkg/endpoints/filters/warning.go``) cuts every warning to 256 runes once a response's warnings pass 4096,
    and drops those that come after 4096 runes are written; a cut warning of the set still names its policy
    and check, which come first."""
    own = any(w.startswith("Validation failed for ValidatingAdmissionPolicy") for w in obs.warnings)
    if obs.violation is not None and obs.violation.truncated and not own:
        return "truncated"
    return "dropped" if sum(len(w) for w in obs.warnings) >= TRUNCATION_TOTAL_RUNES else None


def _skip(report: FuzzReport, *observations) -> bool:
    """Count (and skip) a comparison one of whose answers may be incomplete."""
    why = next((c for c in map(_cut, observations) if c), None)
    if why == "truncated":
        report.truncated += 1
    elif why == "dropped":
        report.dropped += 1
    return why is not None


def run_vap(runtime, *, examples: int = 300, seed: int | None = None,
            regressions_dir: Path | None = DEFAULT_REGRESSIONS, families: Iterable[str] | None = None,
            database: str | None = None, workloads: bool = True, ephemeral: bool = True,
            progress: Callable[[str], None] | None = None, progress_every: float = 10.0,
            objects: list[dict] | None = None) -> FuzzReport:
    """Fuzz ``examples`` cases: the VAP set against PodSecurity on ``runtime``'s server (see the module docstring).

    ``objects``: the set to install (default: the project's ``policies/vap/``); it is scoped to a run of
    its own and removed at the end. Disagreements are shrunk, written under ``regressions_dir`` and
    listed in the report, as ``harness.fuzz.run`` does.
    """
    from harness.cluster.engines.vap import VapDriver
    from harness.cluster.runtime import Runtime

    # a run id of its own: its namespaces and its copy of the set never meet another run's (or this one's last)
    cfg = dataclasses.replace(runtime.cfg, engine="vap", vap_binding_selector=None,
                              run_id=f"{runtime.cfg.run_id[:11]}v{uuid.uuid4().hex[:4]}")
    driver = VapDriver(cfg, objects)
    vap_runtime = Runtime(cfg, None, None, audit=None, worker="vap", server_minor=runtime.server_minor,
                          concurrency=runtime.concurrency, cluster=runtime.cluster, driver=driver)
    say = progress or (lambda m: None)
    audit, runtime.audit = runtime.audit, None  # audit-event lookups are not compared here and cost time
    try:
        driver.install(runtime.cluster, audit=None, server_minor=runtime.server_minor, progress=say)
        fuzzer = VapFuzzer(runtime, vap_runtime, regressions_dir=regressions_dir, progress=progress,
                           progress_every=progress_every, seed=seed, max_examples=examples)
        strategy = fuzz_cases(families, workloads=workloads, ephemeral=ephemeral, newest=fuzzer.newest)
        return fuzzer.run_hypothesis(strategy, max_examples=examples, seed=seed, database=database)
    finally:
        runtime.audit = audit
        vap_runtime.cleanup()
