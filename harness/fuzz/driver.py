"""The driver: generated cases sent by server-side dry-run through a runtime and compared with the evaluator.

Hypothesis generates *valid* pods (``harness.fuzz.strategies``), the offline evaluator
(``harness.policy``) predicts what PodSecurity says about each at several levels and policy
versions, and the ``Fuzzer`` sends the pod in one batch of concurrent requests
(``Runtime.execute_many``) into namespaces labelled ``pod-security.kubernetes.io/enforce=<level>``
+ ``enforce-version=<v>``. The server is the arbiter: a 403 message must equal
``pods "<name>" is forbidden: `` + the predicted ``violates PodSecurity ...`` text verbatim, the
checks parsed from it (``harness.core.messages``, the one parser) must equal the predicted checks,
and the pod is admitted exactly when the evaluator allows it. Some pods are also sent as a workload
kind (the ``would violate`` warning must equal the prediction for the template, or be its 256-rune
cut, or be dropped under the API server's 4096-rune warning budget) and some get an ephemeral
container through the ``pods/ephemeralcontainers`` update path. 422s are counted, not compared.

On a disagreement the driver raises a ``Disagreement`` (``harness.fuzz.findings``); Hypothesis
shrinks the case, and on the final replay the driver sweeps the shrunk pod over every level and
minor and writes it as a regression scenario (``harness.fuzz.regressions``). ``run`` is the entry
for tests, ``main`` the one for ``python -m harness.fuzz --examples 5000 [--k8s-version 1.34]
[--seed N]`` (progress, summary, exit 1 on any disagreement).

May import: ``hypothesis``, ``yaml``, ``harness.core``, ``harness.policy``, ``harness.cluster`` (the
runtime, lazily: it loads the Kubernetes client) and the other ``harness.fuzz`` modules.
"""

from __future__ import annotations

import argparse
import collections
import copy
import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from harness.core.checks import CHECKS, newest_minor
from harness.core.expectations import Policy
from harness.core.kinds import WORKLOAD_KINDS, as_kind
from harness.core.messages import TRUNCATION_RUNES, TRUNCATION_TOTAL_RUNES
from harness.core.model import Level, Mode, Outcome, PolicyVersion
from harness.fuzz.findings import Disagreement, Finding, disagreement_class, signature
from harness.fuzz.pods import POD_NAME
from harness.fuzz.regressions import DEFAULT_REGRESSIONS, write_regression
from harness.fuzz.strategies import FuzzCase, fuzz_cases
from harness.policy import Evaluation, admitted_pod, evaluate_object, evaluate_pod

__all__ = ["FuzzReport", "Fuzzer", "main", "run"]

NEWEST = newest_minor()
B, R = Level.BASELINE, Level.RESTRICTED


@dataclasses.dataclass
class FuzzReport:
    """What a run did and found."""

    server_version: str = ""
    examples: int = 0                 #: test-body calls (generation and shrinking)
    requests: int = 0
    compared: int = 0                 #: requests PodSecurity answered and that were compared
    invalid_requests: int = 0         #: 400/422 (API validation) answers: skipped, not disagreements
    invalid_examples: int = 0         #: examples whose Pod was refused by validation
    errors: int = 0                   #: requests that got no usable answer after retries
    workloads: int = 0                #: workload objects compared (their ``would violate`` warning)
    truncated: int = 0                #: of which the server cut the warning to 256 runes (over 4096 in all) ...
    dropped: int = 0                  #: ... or dropped it (the other warnings had filled 4096 runes already)
    ephemeral: int = 0
    denied: int = 0
    admitted: int = 0
    warned: int = 0
    elapsed: float = 0.0
    seed: int | None = None
    disagreements: list[Disagreement] = dataclasses.field(default_factory=list)  #: shrunk, one per signature
    failing_examples: int = 0         #: examples that disagreed (before and while shrinking)
    invalid_reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    invalid_samples: dict = dataclasses.field(default_factory=dict)  #: reason -> the first manifest refused for it
    operators: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    policies: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    aborted: str = ""                 #: why the run stopped early (an exception other than a disagreement)

    @property
    def invalid_fraction(self) -> float:
        return self.invalid_examples / self.examples if self.examples else 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def summary(self) -> str:
        lines = [
            f"differential fuzz against kube-apiserver {self.server_version}"
            f"{f' (seed {self.seed})' if self.seed is not None else ''}:",
            f"  {self.examples} examples, {self.requests} requests in {self.elapsed:.0f}s "
            f"({self.rate:.0f} requests/s, {self.examples / self.elapsed if self.elapsed else 0:.1f} examples/s)",
            f"  compared {self.compared}: {self.denied} denied, {self.admitted} admitted, {self.warned} warned "
            f"(workloads: {self.workloads}, {self.truncated} with truncated and {self.dropped} with dropped warnings; "
            f"ephemeral-container updates: "
            f"{self.ephemeral})",
            f"  refused by API validation (422/400): {self.invalid_requests} requests, {self.invalid_examples} examples "
            f"({100 * self.invalid_fraction:.1f}% of examples); errors: {self.errors}",
            f"  disagreements: {len(self.disagreements)} distinct (after shrinking); "
            f"{self.failing_examples} failing examples in all",
        ]
        if self.invalid_reasons:
            lines.append("  most common validation refusals:")
            lines += [f"    {n:5d}  {reason}" for reason, n in self.invalid_reasons.most_common(8)]
        for d in self.disagreements:
            lines.append("")
            lines.append(str(d))
        if self.aborted:
            lines.append(f"  ABORTED: {self.aborted}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"server_version": self.server_version, "examples": self.examples, "requests": self.requests,
                "compared": self.compared, "invalid_requests": self.invalid_requests,
                "invalid_examples": self.invalid_examples, "invalid_fraction": self.invalid_fraction,
                "errors": self.errors, "workloads": self.workloads, "truncated": self.truncated, "dropped": self.dropped, "ephemeral": self.ephemeral,
                "denied": self.denied, "admitted": self.admitted, "warned": self.warned,
                "elapsed": self.elapsed, "requests_per_second": self.rate, "seed": self.seed,
                "failing_examples": self.failing_examples,
                "disagreements": [{"message": str(d), "regression": str(d.regression) if d.regression else None}
                                  for d in self.disagreements],
                "invalid_reasons": dict(self.invalid_reasons.most_common(20)),
                "invalid_samples": self.invalid_samples,
                "operators": dict(self.operators), "policies": dict(self.policies), "aborted": self.aborted}


def _normalise_invalid(message: str) -> str:
    text = re.sub(r'^\w+ "[^"]*" is invalid: ', "", message)
    text = re.sub(r"\[\d+\]", "[*]", text)
    text = re.sub(r'Invalid value: "[^"]*"', 'Invalid value: "…"', text)
    return text[:160]


_MESSAGE_ORDER = {c: i for i, c in enumerate(CHECKS)}


class Fuzzer:
    """The driver: sends cases through a ``Runtime`` and compares each answer with the evaluator."""

    def __init__(self, runtime, *, regressions_dir: Path | None = DEFAULT_REGRESSIONS,
                 progress: Callable[[str], None] | None = None, progress_every: float = 10.0,
                 seed: int | None = None, max_examples: int | None = None,
                 evaluate: Callable[..., Evaluation] = evaluate_object):
        self.runtime = runtime
        self.evaluate = evaluate  #: ``evaluate_object``-shaped: the prediction (a planted bug in the self-test)
        self.server_minor = runtime.server_minor
        self.newest = min(self.server_minor, NEWEST)
        info = runtime.cluster.server_version()
        self.report = FuzzReport(server_version=info.get("gitVersion", "?"), seed=seed)
        #: who disagrees, in a disagreement's first line (the VAP target: the set and PodSecurity)
        self.sides = f"the evaluator and kube-apiserver {self.report.server_version}"
        self.target = "evaluator"  #: the regression scenario's wording (``harness.fuzz.regressions``)
        self.regressions_dir = Path(regressions_dir) if regressions_dir else None
        self.progress = progress
        self.progress_every = progress_every
        self.max_examples = max_examples
        self._t0 = time.monotonic()
        self._last_progress = self._t0

    # -- one case ---------------------------------------------------------------------------------------------

    def _policy(self, level: Level, version: str) -> Policy:
        return Policy(level, Mode.ENFORCE, PolicyVersion.parse(version))

    def _execute(self, work: list) -> list:
        """``execute_many`` with up to two retries of requests that got no answer (timeouts, 5xx)."""
        from harness.cluster.runtime import Execution

        results = self.runtime.execute_many(work)
        for _ in range(2):
            retry = [i for i, r in enumerate(results)
                     if not isinstance(r, Execution) or r.observation.outcome in (Outcome.ERROR,)]
            if not retry:
                break
            time.sleep(0.2)
            again = self.runtime.execute_many([work[i] for i in retry])
            for i, r in zip(retry, again):
                results[i] = r
        self.report.requests += len(work)
        return results

    def _count_case(self, case: FuzzCase) -> FuzzReport:
        """Count ``case`` (an example, its mutation operators) in the report, which it returns."""
        rep = self.report
        rep.examples += 1
        for m in (*case.mutations, *case.ephemeral_mutations):
            rep.operators[m.op] += 1
        return rep

    def _conclude(self, case: FuzzCase, findings: list[Finding], pod_invalid: bool) -> None:
        """The end of a case's ``check``: count it, report progress, and raise the ``Disagreement`` of its
        ``findings`` if there are any."""
        rep = self.report
        if pod_invalid:
            rep.invalid_examples += 1
        self._maybe_progress()
        if findings:
            rep.failing_examples += 1
            self._fail(case, findings)

    def check(self, case: FuzzCase) -> None:
        """Send ``case`` and compare; raise a ``Disagreement`` (subclass) if the server disagrees."""
        from harness.cluster.runtime import Execution, Submission

        rep = self._count_case(case)
        work: list[tuple[str, Level, str, Any]] = []
        subs = []
        for level, version in case.policies:
            subs.append(Submission(case.pod, self._policy(level, version), POD_NAME))
            work.append(("Pod", level, version, case.pod))
            rep.policies[f"{level.value}:{version}"] += 1
        if case.workload:
            level, version = case.policies[case.workload_at % len(case.policies)]
            obj = as_kind(case.pod, case.workload)
            subs.append(Submission(obj, self._policy(level, version), POD_NAME))
            work.append((case.workload, level, version, obj))
        if case.ephemeral:
            admitting = [(lv, v) for lv, v in case.policies
                         if self.evaluate(case.ephemeral_base, lv, PolicyVersion.parse(v), self.newest).allowed]
            if admitting:  # the running pod is created for real, so the namespace must admit it
                level, version = admitting[case.ephemeral_at % len(admitting)]
                subs.append(Submission(case.ephemeral_base, self._policy(level, version), "fuzz-eph",
                                       update=list(case.ephemeral)))
                work.append(("Pod/ephemeralcontainers", level, version, case))
        results = self._execute(subs)
        findings: list[Finding] = []
        pod_invalid = False
        for (kind, level, version, obj), result in zip(work, results):
            if not isinstance(result, Execution) or result.observation.outcome in (Outcome.ERROR,
                                                                                   Outcome.DENIED_OTHER):
                rep.errors += 1
                continue
            obs = result.observation
            if obs.outcome is Outcome.INVALID:
                rep.invalid_requests += 1
                reason = f"{kind}: {_normalise_invalid(obs.message)}"
                rep.invalid_reasons[reason] += 1
                if reason not in rep.invalid_samples and len(rep.invalid_samples) < 20:
                    rep.invalid_samples[reason] = {"message": obs.message, "manifest": result.manifest}
                pod_invalid |= kind == "Pod"
                continue
            finding = self._compare(kind, level, version, obj, result)
            if finding is not None:
                findings.append(finding)
        self._conclude(case, findings, pod_invalid)

    def _compare(self, kind: str, level: Level, version: str, obj: Any, result) -> Finding | None:
        rep = self.report
        rep.compared += 1
        obs = result.observation
        pv = PolicyVersion.parse(version)
        policy = f"{level.value}:{version}"
        if kind == "Pod/ephemeralcontainers":
            rep.ephemeral += 1
            sent = result.manifest["pod"]
            meta, spec = admitted_pod(sent.get("metadata") or {}, sent.get("spec") or {})
            spec = {**spec, "ephemeralContainers": copy.deepcopy(list(obj.ephemeral))}
            ev = evaluate_pod(meta, spec, level, pv, self.newest)
            name = sent["metadata"]["name"]
        else:
            ev = self.evaluate(obj, level, pv, self.newest)
            name = obj["metadata"]["name"]
        predicted_ids = tuple(ev.ids)
        observed_ids = tuple(sorted(obs.checks, key=_MESSAGE_ORDER.get))  # the registry lists them in message order
        if kind in WORKLOAD_KINDS:
            rep.workloads += 1
            predicted = ev.message("would violate")
            psa = [w for w in obs.warnings if "PodSecurity" in w]
            observed = psa[0] if psa else ""
            if obs.outcome is Outcome.DENIED:
                observed = obs.message
            rep.warned += bool(observed)
            rep.admitted += not observed
            # kube-apiserver's warning recorder (apiserver pkg/endpoints/filters/warning.go): once the warnings of a
            # response exceed 4096 runes, every warning is cut to 256 runes, and a warning added after the cut ones
            # already fill 4096 runes is dropped. Validation warnings (duplicate ports, deprecated fields) come first.
            others = sum(len(w) for w in obs.warnings if "PodSecurity" not in w)
            truncated = bool(observed) and len(observed) == TRUNCATION_RUNES and observed != predicted
            dropped = not observed and bool(predicted) and others >= TRUNCATION_TOTAL_RUNES
            agree = observed == predicted or (truncated and predicted.startswith(observed)) or dropped
            rep.dropped += dropped
            problem = "warning text differs"
            if agree and truncated:  # the parser must see the cut, and map what is left to predicted checks
                rep.truncated += 1
                v = obs.violation
                # the only reason left unmapped may be the one the cut fell inside, a prefix of a predicted one
                cut_ok = v is not None and set(v.unknown) <= {v.cut_reason} - {""} and all(
                    any(r.reason.startswith(u) and r.reason != u for r in ev.results) for u in v.unknown)
                if v is None or not v.truncated or not set(v.checks) <= set(predicted_ids) or not cut_ok:
                    agree, problem = False, "the message parser misreads a truncated warning"
            if obs.outcome is not Outcome.ADMITTED and obs.outcome is not Outcome.WARNED:
                agree, problem = False, f"a {kind} must be admitted, got {obs.outcome}"
            elif len(psa) > 1:
                agree, problem = False, f"{len(psa)} PodSecurity warnings"
            if agree and observed and observed == predicted and set(obs.checks) != set(predicted_ids):
                agree, problem = False, "the message parser maps the server's warning to other checks"
        else:
            predicted = f'pods "{name}" is forbidden: {ev.message("violates")}' if not ev.allowed else ""
            observed = obs.message if obs.outcome is Outcome.DENIED else ""
            rep.denied += obs.outcome is Outcome.DENIED
            rep.admitted += obs.outcome in (Outcome.ADMITTED, Outcome.WARNED)
            psa_warnings = [w for w in obs.warnings if "PodSecurity" in w]
            if ev.allowed != (obs.outcome is not Outcome.DENIED):
                agree, problem = False, ("the evaluator allows it, the server denies it" if ev.allowed else
                                         "the evaluator denies it, the server admits it")
            elif observed != predicted:
                agree, problem = False, "denial text differs"
            elif psa_warnings:
                agree, problem = False, f"unexpected PodSecurity warning on a Pod: {psa_warnings[0]}"
            elif observed and set(obs.checks) != set(predicted_ids):
                agree, problem = False, "the message parser maps the server's denial to other checks"
            else:
                agree, problem = True, ""
        if "unknown forbidden reason" in (observed or ""):
            agree, problem = False, "the server reported 'unknown forbidden reason'"
        if agree:
            return None
        return Finding(kind, policy, obs.status, predicted, observed, predicted_ids, observed_ids, problem)

    def _fail(self, case: FuzzCase, findings: list[Finding]) -> None:
        from hypothesis.control import current_build_context

        sig = signature(findings)
        regression = None
        final = False
        try:
            final = current_build_context().is_final
        except Exception:  # not running under Hypothesis
            final = True
        notes = []
        if final and self.regressions_dir is not None:
            try:
                regression, notes = self.write_regression(case, findings)
            except Exception as exc:  # the report must still show the disagreement
                notes = [f"could not write the regression scenario: {type(exc).__name__}: {exc}"]
        text = [f"{self.sides} disagree on {len(findings)} request(s) [{sig}]:"]
        text += [f.render() for f in findings]
        if case.mutations or case.ephemeral_mutations:
            text.append(f"  mutations: {list(case.mutations)}"
                        + (f"; ephemeral container: {list(case.ephemeral_mutations)}" if case.ephemeral else ""))
        text.append("  manifest:")
        text.append(_indent(yaml.safe_dump(case.pod, sort_keys=False), 4))
        if case.ephemeral:
            text.append("  ephemeral containers (added to the pod above minus its mutations, via pods/ephemeralcontainers):")
            text.append(_indent(yaml.safe_dump(list(case.ephemeral), sort_keys=False), 4))
        if regression:
            text.append(f"  regression scenario written: {regression}")
        text += [f"  note: {n}" for n in notes]
        exc = disagreement_class(sig)("\n".join(text), case, findings, regression)
        if final:
            self.report.disagreements.append(exc)
        raise exc

    def _maybe_progress(self) -> None:
        now = time.monotonic()
        self.report.elapsed = now - self._t0
        if self.progress is None or now - self._last_progress < self.progress_every:
            return
        self._last_progress = now
        rep = self.report
        of = f"/{self.max_examples}" if self.max_examples else ""
        self.progress(f"[{rep.examples}{of} examples] {rep.requests} requests, {rep.rate:.0f} req/s, "
                      f"{rep.examples / rep.elapsed:.1f} ex/s, 422: {100 * rep.invalid_fraction:.1f}% of examples, "
                      f"disagreements: {rep.failing_examples} failing examples, errors: {rep.errors}")

    # -- regression scenarios ---------------------------------------------------------------------------------

    def sweep(self, pod: dict, update: list | None = None,
              kind: str = "Deployment") -> dict[tuple[str, Level, int], frozenset[str] | None]:
        """What the server reports for ``pod`` as a Pod (or through the update path) and as ``kind``,
        at baseline and restricted, at every policy minor it knows: ``(Pod|workload, level, minor) -> checks``
        (``None``: refused by validation or no answer)."""
        from harness.cluster.runtime import Execution, Submission

        keys, subs = [], []
        for level in (B, R):
            for minor in range(0, self.newest + 1):
                policy = self._policy(level, str(PolicyVersion(minor)))
                keys.append(("Pod", level, minor))
                subs.append(Submission(pod, policy, "fuzz-sweep", update=update))
                if update is None:
                    keys.append(("workload", level, minor))
                    subs.append(Submission(as_kind(pod, kind), policy, "fuzz-sweep"))
        out = {}
        for key, result in zip(keys, self._execute(subs)):
            if not isinstance(result, Execution) or result.observation.outcome in (Outcome.INVALID, Outcome.ERROR,
                                                                                   Outcome.DENIED_OTHER):
                out[key] = None
            else:
                out[key] = frozenset(result.observation.checks)
        return out

    def write_regression(self, case: FuzzCase, findings: list[Finding]) -> tuple[Path, list[str]]:
        """Write the shrunk case as a scenario whose checks are what the server reports (``harness.fuzz.regressions``)."""
        return write_regression(case, findings, sweep=self.sweep, server_version=self.report.server_version,
                                newest=self.newest, directory=self.regressions_dir, target=self.target)

    # -- hypothesis -------------------------------------------------------------------------------------------

    def hypothesis_test(self, strategy, *, max_examples: int, seed: int | None = None,
                        database: str | None = None) -> Callable[[], None]:
        """A ``@given`` function that checks one case per example (Hypothesis shrinks failures)."""
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as hseed
        from hypothesis.database import DirectoryBasedExampleDatabase

        db = DirectoryBasedExampleDatabase(database) if database else None

        @settings(max_examples=max_examples, deadline=None, database=db, derandomize=False,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=True, print_blob=False,
                  phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink), verbosity=Verbosity.quiet)
        @given(case=strategy)
        def differential(case: FuzzCase) -> None:
            self.check(case)

        return hseed(seed)(differential) if seed is not None else differential

    def run_hypothesis(self, strategy, *, max_examples: int, seed: int | None = None,
                       database: str | None = None) -> FuzzReport:
        """Run ``hypothesis_test(strategy, ...)`` to its end and return the report, elapsed time set.

        A disagreement ends the run (it is already in ``report.disagreements``); any other error,
        or an interrupt, is recorded as ``report.aborted``: the run is then not trustworthy."""
        test = self.hypothesis_test(strategy, max_examples=max_examples, seed=seed, database=database)
        try:
            test()
        except Disagreement:
            pass
        except BaseExceptionGroup as group:
            rest = group.subgroup(lambda e: not isinstance(e, Disagreement))
            if rest is not None:
                self.report.aborted = f"{type(rest).__name__}: {rest}"
        except KeyboardInterrupt:
            self.report.aborted = "interrupted"
        except Exception as exc:  # Flaky, a harness error: the run is not trustworthy
            self.report.aborted = f"{type(exc).__name__}: {exc}"
        finally:
            self.report.elapsed = time.monotonic() - self._t0
        return self.report


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line for line in text.rstrip("\n").splitlines())


# -- running -------------------------------------------------------------------------------------------------


def run(runtime, *, examples: int = 300, seed: int | None = None, regressions_dir: Path | None = DEFAULT_REGRESSIONS,
        families: Iterable[str] | None = None, database: str | None = None, workloads: bool = True,
        ephemeral: bool = True, progress: Callable[[str], None] | None = None,
        progress_every: float = 10.0, evaluate: Callable[..., Evaluation] = evaluate_object) -> FuzzReport:
    """Fuzz ``examples`` cases through ``runtime`` (an open ``harness.cluster.runtime.Runtime``) and report.

    Disagreements do not raise: each distinct one is shrunk, written as a regression scenario
    under ``regressions_dir`` (``None``: not written) and listed in ``FuzzReport.disagreements``.
    ``evaluate`` is the prediction (``harness.policy.evaluate_object``; the self-test plants a bug in it).
    """
    fuzzer = Fuzzer(runtime, regressions_dir=regressions_dir, progress=progress, progress_every=progress_every,
                    seed=seed, max_examples=examples, evaluate=evaluate)
    strategy = fuzz_cases(families, workloads=workloads, ephemeral=ephemeral, newest=fuzzer.newest)
    audit, runtime.audit = runtime.audit, None  # audit-event lookups are not compared here and cost time
    try:
        return fuzzer.run_hypothesis(strategy, max_examples=examples, seed=seed, database=database)
    finally:
        runtime.audit = audit


def main(argv: list[str] | None = None, targets: dict[str, Callable[..., FuzzReport]] | None = None) -> int:
    """``python -m harness.fuzz``; ``targets``: further ``--target`` choices (name -> a ``run``-shaped function;
    ``harness.fuzz.__main__`` adds ``vap``, ``harness.fuzz.vap.run_vap``)."""
    targets = {"evaluator": run, **(targets or {})}
    ap = argparse.ArgumentParser(
        prog="python -m harness.fuzz",
        description="Differential fuzzing against a real kube-apiserver (an embedded control plane unless "
                    "--kubeconfig is given): of the offline PodSecurity evaluator (--target evaluator), or of the "
                    "PSS-in-CEL ValidatingAdmissionPolicy set against PodSecurity (--target vap). Exit 0: no "
                    "disagreement; 1: at least one (each shrunk and written as a regression scenario); 2: the run "
                    "could not complete.")
    ap.add_argument("--target", choices=sorted(targets), default="evaluator",
                    help="what is held to the server: 'evaluator' (the offline evaluator vs PodSecurity, at many "
                         "policy versions) or 'vap' (policies/vap/, installed for the run, vs PodSecurity at latest)")
    ap.add_argument("--examples", type=int, default=5000, help="examples to generate (default 5000)")
    ap.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random, printed)")
    ap.add_argument("--k8s-version", metavar="V", help="embedded control plane version, e.g. 1.34 (default: the project's)")
    ap.add_argument("--kubeconfig", metavar="FILE", help="use an existing cluster instead of an embedded one")
    ap.add_argument("--context", metavar="NAME")
    ap.add_argument("--regressions", metavar="DIR", default=str(DEFAULT_REGRESSIONS),
                    help="where shrunk disagreements are written as scenarios (default scenarios/regressions); "
                         "'none' to skip")
    ap.add_argument("--database", metavar="DIR", default=None,
                    help="Hypothesis example database: failures found earlier are replayed first (default: none)")
    ap.add_argument("--families", metavar="LIST", default=None,
                    help="comma-separated check ids or operator names to restrict the mutations to")
    ap.add_argument("--concurrency", type=int, default=12, help="concurrent requests per example (default 12)")
    ap.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    ap.add_argument("--no-workloads", action="store_true", help="send Pods only (no Deployments etc.)")
    ap.add_argument("--no-ephemeral", action="store_true")
    args = ap.parse_args(argv)

    import random

    from harness.cluster.sessions import open_runtime

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    regressions = None if args.regressions == "none" else Path(args.regressions)
    families = [f.strip() for f in args.families.split(",")] if args.families else None
    say(f"differential fuzz ({args.target}): {args.examples} examples, seed {seed}")
    try:
        with open_runtime(kubeconfig=args.kubeconfig, context=args.context, k8s_version=args.k8s_version,
                          progress=say) as runtime:
            runtime.concurrency = args.concurrency
            report = targets[args.target](runtime, examples=args.examples, seed=seed, regressions_dir=regressions,
                                          families=families, database=args.database, workloads=not args.no_workloads,
                                          ephemeral=not args.no_ephemeral, progress=say)
    except Exception as exc:
        say(f"error: {type(exc).__name__}: {exc}")
        return 2
    print(report.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1))
    if report.disagreements:
        return 1
    if report.aborted or (report.requests and report.errors / report.requests > 0.01):
        return 2
    return 0
