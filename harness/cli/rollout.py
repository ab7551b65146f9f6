"""``pss-harness rollout``: a phased plan from privileged to baseline or restricted, per namespace.

    pss-harness rollout --to restricted [--version latest|v1.N] (NAMESPACE... | --selector S | --all)
                        [--kubeconfig FILE [--context C] | --k8s-version V [--seed PATH...]]
                        [--offline] [--format table|json|kustomize] [--apply warn [--yes]]
                        [--exempt-runtime-class NAME]... [--settle SECONDS] [--bundle DIR]

For each namespace it asks the server what labelling ``enforce`` at the target would do (a
server-side dry-run of the label change: nothing persists; the server checks the existing pods,
at most 3000, in at most 1 s, one line per distinct reason list), evaluates every existing pod
offline (naming each one) and checks the two agree, evaluates every pod template (Deployments
scaled to 0, CronJobs and Jobs that have not run: what the server's check cannot see) offline and,
unless ``--offline``, by a dry-run create of its pod into a harness namespace enforcing the
target. The plan per namespace:

    ready                 nothing violates the target: label enforce (and warn, audit) now
    warn-first            label warn and audit now, fix the listed workloads, then enforce
    blocked-by-exemption  the namespace is exempt in the admission configuration: labels do nothing
    already-at-or-above   it enforces the target, or a stricter level, already
    incomplete            the server could not check every pod (3000 pods, its time limit, its warning
                          budget) and the evaluator found nothing: not called ready

It prints the exact labels (``kubectl label`` lines; ``--format kustomize``: kustomize patches)
and changes nothing, unless ``--apply warn``: then it labels warn and audit at the target (never
enforce) on the ``ready`` and ``warn-first`` namespaces, after a confirmation (``--yes`` skips it;
without a terminal it refuses), and prints every label it changed.

Without ``--kubeconfig`` it runs on a fresh embedded control plane; ``--seed`` creates manifests
there first (pods get a scheduling gate: nothing runs). Unlabelled modes are taken as the upstream
default, ``privileged:latest``.

Exit status: 0 every namespace is ready or already at or above the target; 1 some namespace needs
work (warn-first, blocked-by-exemption, incomplete); 4 the server and the evaluator disagree on a
pod or a template (takes precedence); 2 usage; 3 the cluster could not be used; 5 no namespace
matched.

Imports: the core at module level; the cluster layer and the manifest reader inside the handler.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from typing import TextIO

from harness.core.errors import ClusterError, UsageError
from harness.core.model import Level, PolicyVersion

__all__ = ["EXIT_CLUSTER", "EXIT_DISAGREE", "EXIT_EMPTY", "EXIT_NEEDS_WORK", "add_parser", "confirm", "table"]

EXIT_NEEDS_WORK, EXIT_CLUSTER, EXIT_DISAGREE, EXIT_EMPTY = 1, 3, 4, 5
MAX_FIXES_SHOWN = 8  #: fix lines per namespace in the table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollout", help="plan the move of namespaces to baseline or restricted (warn, then enforce)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("namespaces", nargs="*", metavar="NAMESPACE", help="namespaces to plan")
    p.add_argument("--to", required=True, metavar="LEVEL", help="the target level: baseline or restricted")
    p.add_argument("--version", default="latest", help="the target policy version: latest or v1.N (default latest)")
    p.add_argument("--selector", "-l", metavar="S", help="plan the namespaces matching this label selector")
    p.add_argument("--all", action="store_true", dest="all_namespaces", help="plan every namespace")
    p.add_argument("--kubeconfig", metavar="FILE", help="plan this cluster (default: in a pod its own cluster as "
                   "the pod's ServiceAccount, else an embedded control plane)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context")
    p.add_argument("--k8s-version", metavar="V", help="version of the embedded control plane")
    p.add_argument("--seed", metavar="PATH", nargs="+", action="extend", default=[],
                   help="embedded plane only: create these manifests first (Namespaces, Pods, workloads)")
    p.add_argument("--offline", action="store_true",
                   help="no harness namespace: evaluate templates offline only (the label dry-run still asks the server)")
    p.add_argument("--exempt-runtime-class", metavar="NAME", action="append", default=[],
                   help="a RuntimeClass the cluster exempts (probed by a dry-run unless --offline)")
    p.add_argument("--format", choices=("table", "json", "kustomize"), default="table")
    p.add_argument("--bundle", metavar="DIR", help="also put the plan into the evidence bundle DIR (rollout.json, "
                                                   "rollout.html; SHA256SUMS re-sealed; a new bundle if DIR holds none)")
    p.add_argument("--apply", choices=("warn",), help="label warn and audit at the target on ready/warn-first namespaces")
    p.add_argument("--yes", action="store_true", help="with --apply: do not ask for confirmation")
    p.add_argument("--settle", type=float, default=5.0, metavar="SECONDS",
                   help="ask the server again for this long while its answer disagrees (its pod cache lags; default 5)")
    p.set_defaults(handler=_rollout)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _validate(args: argparse.Namespace):
    level = Level.parse(args.to, "--to")
    if level is Level.PRIVILEGED:
        raise UsageError("--to privileged: a rollout goes to baseline or restricted")
    version = PolicyVersion.parse(args.version, "--version", lenient=True)
    chosen = sum([bool(args.namespaces), bool(args.selector), args.all_namespaces])
    if chosen != 1:
        raise UsageError("name the namespaces to plan: NAMESPACE..., --selector S or --all (exactly one of them)")
    if args.seed and args.kubeconfig:
        raise UsageError("--seed creates objects: it is for the embedded control plane only (drop --kubeconfig)")
    if args.context and not args.kubeconfig:
        raise UsageError("--context needs --kubeconfig")
    if args.yes and not args.apply:
        raise UsageError("--yes confirms --apply warn; without --apply nothing is changed")
    if args.settle < 0:
        raise UsageError("--settle: must be 0 or more seconds")
    return level, version


def confirm(question: str, stdin: TextIO | None, stderr: TextIO) -> bool:
    """Ask ``question`` on a terminal; ``False`` without one (a pipe, /dev/null, a closed stdin)."""
    if stdin is None or stdin.closed or not stdin.isatty():
        return False
    print(f"{question} [y/N] ", end="", file=stderr, flush=True)
    answer = stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _rollout(args: argparse.Namespace) -> int:
    from harness.core.rollout import NEEDS_WORK, report

    level, version = _validate(args)
    seed_objects = []
    if args.seed:
        from harness.corpus.manifests import read_manifests

        manifests = read_manifests(args.seed, strict=True)
        seed_objects = [m.obj for m in manifests]
    from harness.cluster.rollout import Planner, apply_warn, check_permissions, connect, select_namespaces

    try:
        with connect(args.kubeconfig, args.context, args.k8s_version, offline=args.offline,
                     seed_objects=seed_objects, progress=_say) as target:
            namespaces = select_namespaces(target.cluster, args.namespaces, args.selector, args.all_namespaces)
            if not namespaces:
                print(f"pss-harness: no namespace matches {args.selector or 'the selection'}", file=sys.stderr)
                return EXIT_EMPTY
            check_permissions(target.cluster, [n["metadata"]["name"] for n in namespaces] if args.namespaces else None)
            planner = Planner(target, level, version, settle=args.settle,
                              exempt_runtime_classes=args.exempt_runtime_class, progress=_say)
            rollout = planner.plan(namespaces)
            applied = None
            if args.apply:
                chosen = [p for p in rollout.plans if p.plan.value in ("ready", "warn-first")
                          and any(k.endswith(("/warn", "/audit", "/warn-version", "/audit-version"))
                                  for k in p.labels_now)]
                if chosen:
                    names = ", ".join(p.namespace for p in chosen)
                    if not args.yes and not confirm(
                            f"label warn and audit at {rollout.target} on {len(chosen)} namespace(s): {names}?",
                            sys.stdin, sys.stderr):
                        interactive = sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty()
                        raise UsageError("--apply warn: not confirmed, nothing changed" if interactive else
                                         "--apply warn asks for confirmation and there is no terminal to ask on: "
                                         "pass --yes to label without asking")
                applied = apply_warn(target.cluster, chosen)
    except ClusterError as exc:
        print(f"pss-harness: error: {exc}", file=sys.stderr)
        return EXIT_CLUSTER
    doc = report(rollout.plans, rollout.target, cluster=rollout.description, server_version=rollout.server_version,
                 offline=rollout.offline, runtime_classes=rollout.runtime_classes, timings=rollout.timings,
                 applied=applied)
    if args.bundle:
        from harness.reports.rollout import add_rollout

        sums = add_rollout(args.bundle, doc)
        print(f"rollout plan added to the evidence bundle {args.bundle} ({sums.name} rewritten)", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    elif args.format == "kustomize":
        print((doc["kustomize"]["now"] + ("\n---\n" if doc["kustomize"]["now"] and doc["kustomize"]["later"] else "")
               + doc["kustomize"]["later"]).rstrip() or "# nothing to label")
    else:
        print(table(doc, shutil.get_terminal_size((100, 24)).columns))
    if applied is not None:
        for line in applied_lines(applied):
            print(line, file=sys.stderr if args.format != "table" else sys.stdout)
    if doc["summary"]["disagreements"]:
        return EXIT_DISAGREE
    if any(p.plan in NEEDS_WORK for p in rollout.plans):
        return EXIT_NEEDS_WORK
    return 0


def applied_lines(applied: list[dict]) -> list[str]:
    """What ``--apply warn`` changed, one line per namespace."""
    if not applied:
        return ["applied: nothing to label (no ready or warn-first namespace below the target in warn/audit)"]
    lines = []
    for record in applied:
        if record["status"] != "labelled":
            lines.append(f"applied: {record['namespace']}: {record['status']}")
            continue
        changes = ", ".join(f"{k}: {old if old is not None else '(unset)'} -> {new}"
                            for k, (old, new) in record["set"].items())
        lines.append(f"applied: {record['namespace']}: {changes}")
        for w in record["warnings"]:
            lines.append(f"applied: {record['namespace']}: server warning: {w}")
    return lines


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else (text[:max(width - 1, 0)] + "…" if width > 0 else "")


def table(doc: dict, columns: int = 100) -> str:
    """The plan as a table fitted to ``columns``, then what to do per namespace."""
    header = ("NAMESPACE", "PLAN", "PODS", "TEMPLATES", "TOP CHECKS")
    rows = []
    for ns in doc["namespaces"]:
        v = ns["violations"]
        pods = f"{v['pods']}/{len(ns['pods'])}"
        templates = f"{v['templates']}/{len(ns['templates'])}"
        top = ", ".join(f"{c['check']}×{c['count']}" if c["count"] > 1 else c["check"] for c in v["top_checks"])
        plan = ns["plan"] + (" !" if ns["agree"] is False else "")
        rows.append((ns["namespace"], plan, pods, templates, top or "-"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    widths[0] = min(widths[0], max(12, columns // 3))
    over = sum(widths) + 2 * 4 + len(header[4]) - columns
    if over > 0:   # a narrow terminal: the namespace column gives way first
        widths[0] = max(len(header[0]), widths[0] - over)
    last = max(columns - sum(widths) - 2 * 4, len(header[4]))
    out = [_fit(f"rollout to {doc['target']['policy']} on {doc['cluster']}", columns)]
    for r in [header, *rows]:
        cells = [_fit(r[0], widths[0]).ljust(widths[0])] + [r[i].ljust(widths[i]) for i in (1, 2, 3)]
        out.append(("  ".join(cells) + "  " + _fit(r[4], last)).rstrip())
    s = doc["summary"]
    counts = ", ".join(f"{n} {plan}" for plan, n in s["plans"].items() if n)
    wrap = _wrapper(columns)
    out += wrap(f"{s['namespaces']} namespace(s): {counts}; {s['disagreements']} disagreement(s) "
                "between the server and the evaluator", "")
    for ns in doc["namespaces"]:
        if ns["plan"] == "ready" and not ns["commands"]["now"] and not ns["notes"]:
            continue
        if ns["plan"] == "already-at-or-above" and not ns["notes"] and not ns["fixes"]:
            continue
        out.append("")
        out += wrap(f"{ns['namespace']}: {ns['plan']}: {ns['why']}", "  ")
        for fix in ns["fixes"][:MAX_FIXES_SHOWN]:
            out += wrap(f"  fix {fix['object']} ({fix['when']}): {', '.join(fix['checks'])}", "      ")
        if len(ns["fixes"]) > MAX_FIXES_SHOWN:
            out.append(f"  ... and {len(ns['fixes']) - MAX_FIXES_SHOWN} more to fix (--format json lists them all)")
        for note in ns["notes"]:
            out += wrap(f"  note: {note}", "        ")
        for cmd in ns["commands"]["now"]:   # commands stay whole: they are copied into a shell
            out.append(f"  now:   {cmd}")
        for cmd in ns["commands"]["later"]:
            out.append(f"  later: {cmd}")
        for d in ns["disagreements"]:
            out += wrap(f"  DISAGREE: {d}", "    ")
    return "\n".join(out)


def _wrapper(columns: int):
    width = max(columns, 40)

    def wrap(text: str, indent: str) -> list[str]:
        return textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False,
                             break_on_hyphens=False) or [""]
    return wrap
