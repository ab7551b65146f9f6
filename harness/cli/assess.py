"""``pss-harness assess``: would the cluster refuse these manifests? Offline, and checked live.

    pss-harness assess PATH... --level restricted [--version latest|v1.N]
                       [--offline | --kubeconfig FILE [--context C]] [--format table|json]
                       [--fail-on denied|warned|never]
    helm template ./chart | pss-harness assess - --level baseline

Each Pod or pod-bearing workload is evaluated by the offline evaluator; unless ``--offline``,
it is also submitted by server-side dry-run into a namespace labelled with the policy (Pods
into an ``enforce`` namespace, workloads into a ``warn`` one) and the server's answer is
compared with the prediction.

Documents that are not Kubernetes objects and files that are not YAML (Helm templates, CI files)
are skipped with a warning naming each; ``--strict`` refuses the input instead.

Exit status: 0 nothing to report; 1 an object would be denied (or warned, per ``--fail-on``);
4 the prediction and the server disagree (takes precedence); 2 bad input or usage; 3 cluster error;
5 the input holds no Kubernetes object.

``--format json`` prints one document; the JSON Schema harness/schemas/assess.schema.json
(shipped with the package) documents every field.
"""

from __future__ import annotations

import argparse
import json
import sys

from harness.core.errors import ClusterError, EmptyInput, UsageError
from harness.core.expectations import Policy
from harness.core.model import Level, Mode, Outcome, PolicyVersion

EXIT_FAIL_ON, EXIT_CLUSTER, EXIT_DISAGREE, EXIT_EMPTY = 1, 3, 4, 5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assess", help="predict (and check live) which manifests a policy would refuse",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories, or - for stdin")
    p.add_argument("--level", required=True, help="baseline or restricted")
    p.add_argument("--version", default="latest", help="policy version: latest or v1.N (default latest)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--offline", action="store_true", help="evaluate only; do not ask a server")
    target.add_argument("--kubeconfig", metavar="FILE", help="check against this cluster (default: embedded)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context")
    p.add_argument("--k8s-version", metavar="V", help="version of the embedded control plane")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--fail-on", choices=("denied", "warned", "never"), default="denied")
    p.add_argument("--strict", action="store_true",
                   help="refuse the input if any document is not a Kubernetes object (default: skip it, warn)")
    p.set_defaults(handler=_assess)


def _evaluate(obj: dict, level: Level, version: PolicyVersion, newest: int) -> tuple[str, list[str]]:
    from harness.policy import evaluate_object

    evaluation = evaluate_object(obj, level, version, newest_minor=newest)
    return ("allowed" if evaluation.allowed else "denied"), sorted({r.id for r in evaluation.results})


def _observe(manifests, level: Level, version: PolicyVersion, args) -> tuple[list, str, int]:
    from harness.cluster.runtime import Submission
    from harness.cluster.sessions import open_runtime

    with open_runtime(args.kubeconfig, args.context, args.k8s_version) as rt:
        work = [Submission(m.obj, Policy(level, Mode.ENFORCE if m.kind == "Pod" else Mode.WARN, version),
                           m.name or m.kind.lower()) for m in manifests]
        results = rt.execute_many(work)
        target = (f"kubeconfig {args.kubeconfig}" if args.kubeconfig else "embedded") + \
            f" (Kubernetes {rt.cluster.server_version().get('gitVersion', '?')})"
        return results, target, rt.server_minor


def _assess(args: argparse.Namespace) -> int:
    from harness.core.checks import newest_minor
    from harness.corpus.manifests import read_manifests

    level = Level.parse(args.level, "--level")
    if level is Level.PRIVILEGED:
        raise UsageError("--level privileged forbids nothing: use baseline or restricted")
    version = PolicyVersion.parse(args.version, "--version", lenient=True)
    try:
        objects = read_manifests(args.paths, strict=args.strict)
    except EmptyInput as exc:
        print(f"pss-harness: error: {exc}", file=sys.stderr)
        return EXIT_EMPTY
    for problem in objects.problems:
        print(f"pss-harness: warning: skipped {problem}", file=sys.stderr)
    evaluated = [m for m in objects if m.pod_bearing]
    skipped = [m for m in objects if not m.pod_bearing]
    observed, target, server_minor = [None] * len(evaluated), "offline", newest_minor()
    if not args.offline and evaluated:
        try:
            observed, target, server_minor = _observe(evaluated, level, version, args)
        except ClusterError as exc:
            print(f"pss-harness: error: {exc}", file=sys.stderr)
            return EXIT_CLUSTER
    results = []
    for m, result in zip(evaluated, observed):
        verdict, checks = _evaluate(m.obj, level, version, min(server_minor, newest_minor()))
        record = {"source": m.source, "index": m.index, "kind": m.kind, "name": m.name,
                  "predicted": {"verdict": verdict, "checks": checks}, "observed": None, "agree": None}
        if result is not None:
            if isinstance(result, BaseException):
                obs = {"outcome": Outcome.ERROR.value, "checks": [], "message": str(result), "warnings": []}
            else:
                o = result.observation
                obs = {"outcome": o.outcome.value, "checks": sorted(o.checks), "message": o.message,
                       "warnings": o.warnings}
            record["observed"] = obs
            want = "admitted" if verdict == "allowed" else ("denied" if m.kind == "Pod" else "warned")
            record["agree"] = obs["outcome"] == want and obs["checks"] == checks
        results.append(record)
    summary = {
        "objects": len(objects), "evaluated": len(evaluated),
        "skipped": [{"source": m.source, "index": m.index, "kind": m.kind,
                     "reason": "no pod template: PodSecurity does not evaluate it"} for m in skipped],
        "unreadable": [{"source": p.source, "line": p.line, "reason": p.reason} for p in objects.problems],
        "denied": sum(r["predicted"]["verdict"] == "denied" for r in results),
        "warned": sum((r["observed"] or {}).get("outcome") == "warned" for r in results),
        "disagreements": sum(r["agree"] is False for r in results),
    }
    doc = {"level": level.value, "version": str(version), "target": target, "results": results, "summary": summary}
    print(json.dumps(doc, indent=2) if args.format == "json" else _table(doc))
    if summary["disagreements"]:
        return EXIT_DISAGREE
    if args.fail_on == "denied" and summary["denied"]:
        return EXIT_FAIL_ON
    if args.fail_on == "warned" and (summary["denied"] or summary["warned"]):
        return EXIT_FAIL_ON
    return 0


def _table(doc: dict) -> str:
    rows = [("SOURCE", "KIND", "NAME", "PREDICTED", "OBSERVED", "AGREE", "CHECKS")]
    for r in doc["results"]:
        obs = r["observed"]["outcome"] if r["observed"] else "-"
        agree = {True: "yes", False: "NO", None: "-"}[r["agree"]]
        rows.append((f"{r['source']}#{r['index']}", r["kind"], r["name"], r["predicted"]["verdict"], obs, agree,
                     ", ".join(r["predicted"]["checks"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [f"policy {doc['level']}:{doc['version']} — target {doc['target']}"]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    s = doc["summary"]
    lines.append(f"{s['evaluated']} evaluated, {s['denied']} would be denied, {s['disagreements']} disagreement(s)"
                 + (f", {len(s['skipped'])} skipped (no pod template)" if s["skipped"] else ""))
    for r in doc["results"]:
        if r["agree"] is False:
            lines.append(f"DISAGREE {r['source']}#{r['index']}: predicted {r['predicted']}, observed "
                         f"{r['observed']['outcome']} {r['observed']['checks']} {r['observed']['message']}")
    return "\n".join(lines)
