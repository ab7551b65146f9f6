"""``pss-harness truth``: does a server's PodSecurity answer every scenario as the corpus data says?

    pss-harness truth                                       # the corpus against an embedded control plane
    pss-harness truth --k8s-version 1.34                    # ... of another Kubernetes version
    pss-harness truth --kubeconfig staging.yaml --context admin
    pss-harness truth --scenarios my-org-scenarios/ [--only ID,ID] [--wide] [--format json]

For every scenario, each kind it declares, levels baseline and restricted, and policy versions
``latest`` plus each boundary the scenario declares (the minor below it and the boundary;
``--wide`` adds every minor where any check changes, and the one below), the scenario is
submitted (server-side dry-run; the update path through ``pods/ephemeralcontainers``) into a
namespace labelled ``enforce=<level>`` + ``enforce-version=<v>``, and the server's answer is
judged against the expectation derived from the scenario data
(``harness.core.expectations.expected``) by the harness's own classification
(``harness.core.verdict``): the outcome (Pods denied, workloads warned since warn follows the
enforce label, ``invalid`` refused by API validation, otherwise admitted) and the exact set of
checks named. Run it after changing a scenario or a check; run it against a staging cluster to
confirm that its PodSecurity answers like upstream's.

Progress goes to stderr; the report (``--format table|json``) to stdout.
Exit status: 0 every item agrees; 1 some disagree; 2 bad usage or scenario data; 3 the cluster
could not be used, or failed to answer some request (those items are listed).

Imports: the core at module level; the corpus and the cluster layer inside the handler.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time

from harness.core.errors import ClusterError, ControlPlaneError, UsageError
from harness.core.expectations import Policy, auto_versions, expected
from harness.core.model import Level, Mode, Outcome, PolicyVersion

__all__ = ["add_parser", "items_for", "versions_for"]

EXIT_DISAGREE, EXIT_CLUSTER = 1, 3
LEVELS = (Level.BASELINE, Level.RESTRICTED)
PROGRESS_EVERY = 5.0  #: seconds between progress lines


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("truth", help="check every scenario's derived expectation against a server",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--k8s-version", metavar="V", help="version of the embedded control plane (default: the project's)")
    target.add_argument("--kubeconfig", metavar="FILE", help="check this cluster (default: in a pod its own cluster "
                        "as the pod's ServiceAccount, else an embedded one)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context (with --kubeconfig)")
    p.add_argument("--scenarios", metavar="DIR", nargs="+", action="extend",
                   help="scenario directories (default: the shipped corpus)")
    p.add_argument("--only", metavar="ID,...", help="only these scenario ids")
    p.add_argument("--wide", action="store_true",
                   help="also every policy minor where any check changes, and the minor below it")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=_truth)


def versions_for(scenario, wide: bool = False) -> list[PolicyVersion]:
    """``latest`` and the scenario's declared boundaries (b-1, b); ``wide``: every check's too."""
    versions = set(auto_versions(scenario))
    if wide:
        from harness.core.checks import CHECKS

        for check in CHECKS.values():
            for v in check.versions:
                versions |= {PolicyVersion(v), PolicyVersion(max(v - 1, 0))}
    return sorted(versions)


def items_for(scenarios, wide: bool = False) -> list[tuple]:
    """``(scenario, kind, policy)`` for every item a truth run checks, in corpus order."""
    return [(s, kind, Policy(level, Mode.ENFORCE, version))
            for s in scenarios for version in versions_for(s, wide) for level in LEVELS for kind in s.kinds]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _scenarios(args) -> list:
    from pathlib import Path

    from harness.core.resources import corpus_dir
    from harness.corpus.scenarios import load_corpus

    dirs = [Path(d) for d in (args.scenarios or [corpus_dir()])]
    for d in dirs:
        if not d.exists():
            raise UsageError(f"--scenarios {d}: no such directory")
    scenarios = load_corpus(dirs)
    if args.only:
        wanted = [i.strip() for i in args.only.split(",") if i.strip()]
        unknown = sorted(set(wanted) - {s.id for s in scenarios})
        if unknown:
            raise UsageError(f"--only: no scenario with id {', '.join(unknown)} in {', '.join(map(str, dirs))}")
        scenarios = [s for s in scenarios if s.id in set(wanted)]
    if not scenarios:
        raise UsageError(f"no scenarios in {', '.join(map(str, dirs))}: give --scenarios DIR holding scenario files")
    return scenarios


def _truth(args: argparse.Namespace) -> int:
    if args.context and not args.kubeconfig:
        raise UsageError("--context needs --kubeconfig (without it the embedded control plane is used)")
    scenarios = _scenarios(args)
    try:
        doc = _run(scenarios, args)
    except (ClusterError, ControlPlaneError) as exc:
        print(f"pss-harness: error: {exc}", file=sys.stderr)
        return EXIT_CLUSTER
    print(json.dumps(doc, indent=2) if args.format == "json" else _table(doc))
    if doc["summary"]["errors"]:
        return EXIT_CLUSTER
    return EXIT_DISAGREE if doc["summary"]["disagree"] else 0


def _run(scenarios, args) -> dict:
    from harness.cluster.sessions import open_runtime
    from harness.core.verdict import judge

    with open_runtime(args.kubeconfig, args.context, args.k8s_version, progress=_say) as rt:
        server = rt.cluster.server_version().get("gitVersion", "?")
        minor = rt.server_minor
        items = items_for(scenarios, args.wide)
        policies = {policy for _, _, policy in items}
        _say(f"truth: {len(scenarios)} scenarios, {len(items)} items in {len(policies)} namespaces on {server}")
        t0 = time.monotonic()
        futures = rt.submit_many([rt.submission(s, kind, policy) for s, kind, policy in items])
        expected_outcomes = collections.Counter()
        disagreements, errors, other_warnings = [], [], collections.defaultdict(set)
        last = t0
        for n, ((s, kind, policy), future) in enumerate(zip(items, futures), 1):
            result = future.result()
            if isinstance(result, BaseException):  # a ClusterError is reported as such (exit 3); others are bugs
                raise result
            want = expected(s, kind, policy, minor)
            expected_outcomes[want.outcome.value] += 1
            obs = result.observation
            other_warnings[s.id].update(w for w in obs.warnings if "PodSecurity" not in w)
            verdict = judge(want, obs, policy, audit_observed=obs.audit_annotations is not None)
            if not verdict.passed:
                record = {"scenario": s.id, "path": str(s.path), "kind": kind, "level": policy.level.value,
                          "version": str(policy.version), "namespace": result.namespace,
                          "expected": {"outcome": want.outcome.value, "checks": sorted(want.checks)},
                          "observed": {"outcome": obs.outcome.value, "status": obs.status, "checks": sorted(obs.checks),
                                       "message": obs.message,
                                       "warnings": [w for w in obs.warnings if "PodSecurity" in w]},
                          "problems": list(verdict.problems)}
                (errors if obs.outcome is Outcome.ERROR else disagreements).append(record)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                _say(f"  {n}/{len(items)} ({now - t0:.0f}s, {len(disagreements)} disagreement(s), {len(errors)} error(s))")
        seconds = time.monotonic() - t0
        in_cluster = rt.cluster.describe() if rt.cfg.in_cluster else None
    checked = len(items)
    target = f"kubeconfig {args.kubeconfig}" + (f" context {args.context}" if args.context else "") \
        if args.kubeconfig else in_cluster or "embedded"
    return {
        "target": target, "server": server, "server_minor": minor, "wide": bool(args.wide),
        "summary": {"scenarios": len(scenarios), "items": checked, "namespaces": len(policies),
                    "agree": checked - len(disagreements) - len(errors), "disagree": len(disagreements),
                    "errors": len(errors), "expected": dict(sorted(expected_outcomes.items())),
                    "seconds": round(seconds, 1), "items_per_second": round(checked / seconds, 1) if seconds else None},
        "disagreements": disagreements,
        "errors": errors,
        "other_warnings": {sid: sorted(ws) for sid, ws in sorted(other_warnings.items()) if ws},
    }


def _line(r: dict) -> str:
    obs = r["observed"]
    said = obs["message"] or next(iter(obs["warnings"]), "")  # the denial, else the PodSecurity warning
    return (f"  {r['scenario']} [{r['kind']} {r['level']}:{r['version']}] expected {r['expected']['outcome']} "
            f"{r['expected']['checks']}, observed {obs['outcome']} {obs['checks']}: "
            f"{'; '.join(r['problems'])}" + (f"\n    {said[:400]}" if said else ""))


def _table(doc: dict) -> str:
    s = doc["summary"]
    lines = [f"truth: {s['scenarios']} scenarios against {doc['target']} (Kubernetes {doc['server']}), "
             f"{s['items']} items in {s['namespaces']} namespaces"]
    for title, records in (("DISAGREE", doc["disagreements"]), ("ERROR", doc["errors"])):
        if records:
            lines.append(f"{title}: {len(records)} item(s)")
            lines += [_line(r) for r in records]
    if doc["other_warnings"]:
        lines.append(f"{len(doc['other_warnings'])} scenario(s) drew non-PodSecurity warnings (--format json lists them)")
    expected_counts = ", ".join(f"{n} {o}" for o, n in s["expected"].items())
    lines.append(f"{s['agree']} agree, {s['disagree']} disagree, {s['errors']} error(s) of {s['items']} items "
                 f"(expected: {expected_counts}) in {s['seconds']:.1f}s ({s['items_per_second']} items/s)")
    return "\n".join(lines)
