"""``pss-harness assess``: would the cluster refuse these manifests? Offline, and checked live.

    pss-harness assess PATH... --level restricted [--version latest|v1.N]
                       [--offline | --kubeconfig FILE [--context C]] [--format table|json|sarif]
                       [--fail-on denied|warned|never]
    helm template ./chart | pss-harness assess - --level baseline
    kubectl get pods -A -o yaml | pss-harness assess - --level restricted

Each Pod or pod-bearing workload is evaluated by the offline evaluator; unless ``--offline``,
it is also submitted by server-side dry-run into a namespace labelled with the policy (Pods
into an ``enforce`` namespace, workloads into a ``warn`` one) and the server's PodSecurity
verdict is compared with the prediction.

Only a PodSecurity verdict is compared: admitted, warned, or denied by PodSecurity. When the
server refuses the object for another reason (invalid: 400/404/422, e.g. a removed API such as
extensions/v1beta1; denied-other: RBAC, another admission plugin, a webhook) or the request
fails (error), the result is *not compared* (``agree`` null, ``not_compared`` says why).

Objects read back from a cluster (``kubectl get -o yaml``) are made submittable first: a Pod's
ServiceAccount other than ``default``, a PriorityClass the target lacks and the priority values
computed from it, ephemeral containers, and a Job's generated selector are removed
(``harness.corpus.submittable``); every removal is listed in the result (``submitted_changes``)
and printed. When a removal changes what PodSecurity evaluates (ephemeral containers), the
server's answer is compared with the prediction for the object as submitted
(``predicted_submitted``).

Documents that are not Kubernetes objects and files that are not YAML (Helm templates, CI files)
are skipped with a warning naming each; ``--strict`` refuses the input instead.

Exit status (the first that applies):
  4  the server's PodSecurity verdict disagrees with the prediction for some object
  6  some object could not be compared: the server refused it for a reason other than
     PodSecurity (invalid, denied-other) or the request failed (error)
  1  an object would be denied (or warned, with --fail-on warned; never with --fail-on never)
  0  nothing to report
  2  bad input or usage;  3  cluster error (unreachable, preflight);  5  no Kubernetes object in the input

``--format json`` prints one document; the JSON Schema harness/schemas/assess.schema.json
(shipped with the package) documents every field. ``--format sarif`` prints a SARIF 2.1.0 log
(``harness.reports.sarif``): a result per failing check, rule = the check id with its Pod Security
Standards control and link, located at the object's file and line; the exit status is the same. The table fits the terminal's width (long
cells end in …; the JSON has them whole).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import urllib.parse

from harness.core.errors import ClusterError, EmptyInput, UsageError
from harness.core.expectations import Policy
from harness.core.model import Level, Mode, Outcome, PolicyVersion
from harness.core.table import fit_table
from harness.cli import terminal_width

EXIT_FAIL_ON, EXIT_CLUSTER, EXIT_DISAGREE, EXIT_EMPTY, EXIT_NOT_COMPARED = 1, 3, 4, 5, 6
#: outcomes that are a PodSecurity verdict; any other observation is not compared
PODSECURITY_VERDICTS = (Outcome.ADMITTED.value, Outcome.WARNED.value, Outcome.DENIED.value)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assess", help="predict (and check live) which manifests a policy would refuse",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories, or - for stdin")
    p.add_argument("--level", required=True, help="baseline or restricted")
    p.add_argument("--version", default="latest", help="policy version: latest or v1.N (default latest)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--offline", action="store_true", help="evaluate only; do not ask a server")
    target.add_argument("--kubeconfig", metavar="FILE", help="check against this cluster (default: in a pod its own "
                        "cluster as the pod's ServiceAccount, else embedded)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context")
    p.add_argument("--k8s-version", metavar="V", help="version of the embedded control plane")
    p.add_argument("--format", choices=("table", "json", "sarif"), default="table",
                   help="table (default), json (harness/schemas/assess.schema.json) or sarif (SARIF 2.1.0: one "
                        "result per failing check at the object's file and line, for GitHub code scanning)")
    p.add_argument("--fail-on", choices=("denied", "warned", "never"), default="denied")
    p.add_argument("--strict", action="store_true",
                   help="refuse the input if any document is not a Kubernetes object (default: skip it, warn)")
    p.set_defaults(handler=_assess)


def predict(obj: dict, level: Level, version: PolicyVersion, newest: int) -> dict:
    """The offline evaluator's ``{"verdict", "checks", "reasons"}`` for one object."""
    from harness.policy import evaluate_object

    evaluation = evaluate_object(obj, level, version, newest_minor=newest)
    return {"verdict": "allowed" if evaluation.allowed else "denied",
            "checks": sorted({r.id for r in evaluation.results}),
            "reasons": [str(r) for r in evaluation.results]}


def expected_outcome(kind: str, verdict: str) -> str:
    """What the server does if the prediction is right: Pods are enforced, workloads warned."""
    if verdict == "allowed":
        return Outcome.ADMITTED.value
    return Outcome.DENIED.value if kind == "Pod" else Outcome.WARNED.value


def not_compared(observed: dict, obj: dict) -> tuple[str, str]:
    """Why an observation that is not a PodSecurity verdict cannot be compared: (short, full)."""
    outcome, status, message = observed["outcome"], observed["status"], observed["message"].strip()
    said = f": {message}" if message else ""
    if outcome == Outcome.INVALID.value and status == 404:
        what = f"{obj.get('apiVersion', '?')} {obj.get('kind', '?')}"
        return "404 not served", (f"the server does not serve {what} (HTTP 404; a removed or misspelt API?), so "
                                  f"PodSecurity never judged it{said}")
    if outcome == Outcome.INVALID.value:
        short = {422: "422 invalid", 400: "400 bad request"}.get(status, f"{status} refused")
        return short, f"the server refused the object as invalid (HTTP {status}) before PodSecurity judged it{said}"
    if outcome == Outcome.DENIED_OTHER.value:
        return f"{status} other admission", (f"refused by something other than PodSecurity (HTTP {status}: RBAC, "
                                              f"another admission plugin, a policy or a webhook); PodSecurity's "
                                              f"verdict is unknown{said}")
    return ("no answer" if not status else f"{status} error"), \
        f"the request failed ({f'HTTP {status}' if status else 'no answer'}){said}"


def compare(kind: str, predicted: dict, observed: dict, obj: dict) -> tuple[bool | None, str | None, str]:
    """``(agree, not_compared reason, short reason)``: only a PodSecurity verdict is compared."""
    if observed["outcome"] not in PODSECURITY_VERDICTS:
        short, full = not_compared(observed, obj)
        return None, full, short
    agree = observed["outcome"] == expected_outcome(kind, predicted["verdict"]) and \
        observed["checks"] == predicted["checks"]
    return agree, None, ""


def _priority_classes(cluster):
    """A cached ``name -> PriorityClassInfo`` lookup against the target cluster."""
    from harness.corpus.submittable import PriorityClassInfo

    cache: dict[str, PriorityClassInfo] = {}

    def lookup(name: str) -> PriorityClassInfo:
        if name not in cache:
            resp = cluster.request("GET", f"/apis/scheduling.k8s.io/v1/priorityclasses/{urllib.parse.quote(name)}")
            if resp.ok and isinstance(resp.body, dict):
                cache[name] = PriorityClassInfo(True, int(resp.body.get("value") or 0),
                                                str(resp.body.get("preemptionPolicy") or "PreemptLowerPriority"))
            elif resp.status == 404 and resp.reason == "NotFound":
                cache[name] = PriorityClassInfo(False)
            else:  # no permission, or no answer: leave the pod's fields as they are
                cache[name] = PriorityClassInfo(None)
        return cache[name]

    return lookup


def _observe(manifests, level: Level, version: PolicyVersion, args) -> tuple[list, list, str, int]:
    from harness.cluster.runtime import Submission
    from harness.cluster.sessions import open_runtime
    from harness.corpus.submittable import prepare

    with open_runtime(args.kubeconfig, args.context, args.k8s_version) as rt:
        lookup = _priority_classes(rt.cluster)
        prepared = [prepare(m.obj, lookup) for m in manifests]
        work = [Submission(obj, Policy(level, Mode.ENFORCE if m.kind == "Pod" else Mode.WARN, version),
                           m.name or m.kind.lower()) for m, (obj, _) in zip(manifests, prepared)]
        results = rt.execute_many(work)
        target = (f"kubeconfig {args.kubeconfig}" if args.kubeconfig else
                  rt.cluster.describe() if rt.cfg.in_cluster else "embedded") + \
            f" (Kubernetes {rt.cluster.server_version().get('gitVersion', '?')})"
        return prepared, results, target, rt.server_minor


def _observation(result) -> dict:
    if isinstance(result, BaseException):
        return {"outcome": Outcome.ERROR.value, "status": 0, "checks": [], "message": str(result), "warnings": []}
    o = result.observation
    return {"outcome": o.outcome.value, "status": o.status, "checks": sorted(o.checks), "message": o.message,
            "warnings": list(o.warnings)}


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
    prepared, observed = [None] * len(evaluated), [None] * len(evaluated)
    target, server_minor = "offline", newest_minor()
    if not args.offline and evaluated:
        try:
            prepared, observed, target, server_minor = _observe(evaluated, level, version, args)
        except ClusterError as exc:
            print(f"pss-harness: error: {exc}", file=sys.stderr)
            return EXIT_CLUSTER
    newest = min(server_minor, newest_minor())
    results = [_result(m, prep, res, level, version, newest) for m, prep, res in zip(evaluated, prepared, observed)]
    summary = {
        "objects": len(objects), "evaluated": len(evaluated),
        "skipped": [{"source": m.source, "index": m.index, "kind": m.kind,
                     "reason": "no pod template: PodSecurity does not evaluate it"} for m in skipped],
        "unreadable": [{"source": p.source, "line": p.line, "reason": p.reason} for p in objects.problems],
        "denied": sum(r["predicted"]["verdict"] == "denied" for r in results),
        "warned": sum((r["observed"] or {}).get("outcome") == "warned" for r in results),
        "disagreements": sum(r["agree"] is False for r in results),
        "not_compared": sum(r["not_compared"] is not None for r in results),
        "changed_before_submission": sum(bool(r["submitted_changes"]) for r in results),
    }
    doc = {"level": level.value, "version": str(version), "target": target, "results": results, "summary": summary}
    if args.format == "sarif":
        print(json.dumps(render_sarif(doc, evaluated, level, version, newest), indent=2))
    else:
        print(json.dumps(doc, indent=2) if args.format == "json" else render_table(doc, terminal_width()))
    return exit_status(summary, args.fail_on)


def _result(m, prep, result, level: Level, version: PolicyVersion, newest: int) -> dict:
    predicted = predict(m.obj, level, version, newest)
    record = {"source": m.source, "index": m.index, "kind": m.kind, "namespace": m.namespace, "name": m.name,
              "predicted": predicted, "submitted_changes": None, "predicted_submitted": None,
              "observed": None, "agree": None, "not_compared": None}
    if result is None:
        return record
    sent, changes = prep
    record["submitted_changes"] = [c.to_dict() for c in changes]
    compared_with = predicted
    if changes:
        as_sent = predict(sent, level, version, newest)
        if as_sent != predicted:  # a removal changed what PodSecurity evaluates
            record["predicted_submitted"] = compared_with = as_sent
    obs = _observation(result)
    record["observed"] = obs
    record["agree"], record["not_compared"], _ = compare(m.kind, compared_with, obs, sent)
    return record


def render_sarif(doc: dict, manifests, level: Level, version: PolicyVersion, newest: int) -> dict:
    """The assessment as a SARIF 2.1.0 log (``harness.reports.sarif``): the evaluator's failing checks per object."""
    from harness import __version__
    from harness.policy import evaluate_object
    from harness.reports.sarif import sarif_log

    failures = [evaluate_object(m.obj, level, version, newest_minor=newest).results for m in manifests]
    return sarif_log(doc, [m.line for m in manifests], failures, tool_version=__version__)


def exit_status(summary: dict, fail_on: str) -> int:
    """The exit status of a finished assessment (see the module docstring for the order)."""
    if summary["disagreements"]:
        return EXIT_DISAGREE
    if summary["not_compared"]:
        return EXIT_NOT_COMPARED
    if fail_on == "denied" and summary["denied"]:
        return EXIT_FAIL_ON
    if fail_on == "warned" and (summary["denied"] or summary["warned"]):
        return EXIT_FAIL_ON
    return 0



def _where(r: dict) -> str:
    name = f"{r['namespace']}/{r['name']}" if r["namespace"] else r["name"] or "(unnamed)"
    return f"{r['source']}#{r['index']} {name} ({r['kind']})"


def render_table(doc: dict, width: int = 0) -> str:
    """The text form of an assessment: the table (fitted to ``width``; 0: no limit), then details."""
    some_not_compared = any(r["not_compared"] for r in doc["results"])
    header = ["SOURCE", "NAMESPACE", "KIND", "NAME", "PREDICTED", "OBSERVED", "AGREE"] + \
        (["NOT COMPARED"] if some_not_compared else []) + ["CHECKS", "REASONS"]
    rows = [header]
    for r in doc["results"]:
        obs = r["observed"]
        agree = {True: "yes", False: "NO", None: "-"}[r["agree"]]
        short = compare(r["kind"], r["predicted_submitted"] or r["predicted"], obs, {})[2] if obs else ""
        rows.append([f"{r['source']}#{r['index']}", r["namespace"] or "-", r["kind"], r["name"] or "-",
                     r["predicted"]["verdict"], obs["outcome"] if obs else "-", agree]
                    + ([short or "-"] if some_not_compared else [])
                    + [", ".join(r["predicted"]["checks"]) or "-", "; ".join(r["predicted"]["reasons"]) or "-"])
    table = fit_table(rows, width, shrink=("REASONS", "CHECKS", "SOURCE", "NOT COMPARED", "NAME", "NAMESPACE"),
                      drop=("REASONS", "CHECKS", "NAMESPACE"), keep_end=("SOURCE",))
    lines = [f"policy {doc['level']}:{doc['version']} — target {doc['target']}", *table.lines]
    if table.dropped:
        lines.append(f"(left out for lack of width: {', '.join(table.dropped)}; see --format json)")
    s = doc["summary"]
    lines.append(f"{s['evaluated']} evaluated, {s['denied']} would be denied, {s['disagreements']} disagreement(s)"
                 + (f", {s['not_compared']} not compared" if s["not_compared"] else "")
                 + (f", {s['changed_before_submission']} changed before submission"
                    if s["changed_before_submission"] else "")
                 + (f", {len(s['skipped'])} skipped (no pod template)" if s["skipped"] else ""))
    for r in doc["results"]:
        if r["agree"] is False:
            lines += _disagreement(r)
    for r in doc["results"]:
        if r["not_compared"]:
            lines += [f"NOT COMPARED {_where(r)}: {r['observed']['outcome']}", f"    {r['not_compared']}"]
    lines += _changes(doc["results"])
    return "\n".join(lines)


def _checks(prediction_or_observation: dict) -> str:
    return ", ".join(prediction_or_observation["checks"]) or "no checks"


def _disagreement(r: dict) -> list[str]:
    predicted, obs = r["predicted_submitted"] or r["predicted"], r["observed"]
    pad = " " * 15
    out = [f"DISAGREE {_where(r)}",
           f"    predicted: {expected_outcome(r['kind'], predicted['verdict'])} ({_checks(predicted)})"
           + (" for the object as submitted" if r["predicted_submitted"] else "")]
    out += [pad + reason for reason in predicted["reasons"]]
    out.append(f"    observed:  {obs['outcome']} ({_checks(obs)})" + (f", HTTP {obs['status']}" if obs["status"] else ""))
    if obs["message"]:
        out.append(f"    message:   {obs['message']}")
    for n, w in enumerate(obs["warnings"]):
        out.append(("    warnings:  " if n == 0 else pad) + w)
    return out


def _changes(results: list[dict]) -> list[str]:
    changed = [r for r in results if r["submitted_changes"]]
    if not changed:
        return []
    out = ["changed before submission (the server was sent the object without these fields):"]
    why: dict[str, list[str]] = {}
    for r in changed:
        removed = ", ".join(f"{c['path']}={c['value']}" for c in r["submitted_changes"])
        out.append(f"  {_where(r)}: removed {removed}")
        if r["predicted_submitted"]:
            p = r["predicted_submitted"]
            out.append(f"    predicted as submitted: {p['verdict']} ({_checks(p)})")
        for c in r["submitted_changes"]:
            paths = why.setdefault(c["reason"], [])
            if c["path"] not in paths:
                paths.append(c["path"])
    out.append("  why:")
    out += [f"    {', '.join(paths)}: {reason}" for reason, paths in why.items()]
    return out
