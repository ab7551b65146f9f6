"""``pss-harness namespaces``: prove, by behaviour, the effective Pod Security enforcement of the cluster's namespaces.

    pss-harness namespaces [NAME... | --selector S] [--policy desired.yaml]
                           [--kubeconfig FILE [--context C]] [--audit-log FILE|!CMD]
                           [--format table|json] [--bundle DIR] [--concurrency N] [--settle SECONDS]
                           [--metrics-file FILE] [--pushgateway URL]

For each namespace it sends side-effect-free probes (server-side dry-run pod creates and namespace
updates; never a real write) and infers the effective policy per mode — enforce, warn, audit:
``level:version``, ``none`` (exempt, or no PodSecurity) or ``unknown`` — with its source
(label or the cluster's defaults) and exemptions (namespace, user, runtimeClass). With
``--policy`` it checks the posture against a desired-state file and reports findings with stable
ids (README: "Namespaces"). Without ``--kubeconfig``: in a pod, its ServiceAccount (in-cluster);
elsewhere it starts an embedded control plane.
Audit mode needs the cluster's audit events (``--audit-log``); without them audit is ``unknown``.
``--bundle DIR`` adds the sweep to an evidence bundle as its "Namespaces" section.

Exit status: 0 every selected namespace meets the policy (without --policy: every enforce posture
was proven); 1 findings (--policy); 4 without --policy, some posture could not be proven
(unprobeable or unknown); 2 bad input or usage (including a malformed policy file); 3 cluster error.
When ``$PSS_HARNESS_STATUS_FILE`` names a file (``pss-harness fleet --sweep`` sets it), the exit
status and the cluster error, by its class in ``harness.core.errors``, are written there too:
``{"schema": "pss-harness/sweep-status/v1", "exit_status": 3, "error": {"type": "ClusterUnreachable",
"message": "..."} | null}``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
from pathlib import Path
from typing import Iterator

from harness.core.errors import ClusterError, UsageError

EXIT_FINDINGS, EXIT_CLUSTER, EXIT_UNPROVEN = 1, 3, 4
STATUS_ENV, STATUS_SCHEMA = "PSS_HARNESS_STATUS_FILE", "pss-harness/sweep-status/v1"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("namespaces", help="probe the effective Pod Security enforcement of the cluster's namespaces",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", help="namespaces to probe (default: all)")
    p.add_argument("--selector", "-l", metavar="S", help="label selector of the namespaces to probe")
    p.add_argument("--policy", metavar="FILE", help="desired-state policy file (YAML)")
    p.add_argument("--kubeconfig", metavar="FILE", help="probe this cluster (default: in a pod its own cluster as the "
                                                        "pod's ServiceAccount, else an embedded control plane)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context")
    p.add_argument("--audit-log", metavar="FILE|!CMD", help="the cluster's audit events (JSON lines), to read audit mode")
    p.add_argument("--k8s-version", metavar="V", help="version of the embedded control plane")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--concurrency", type=int, default=8, metavar="N", help="requests in flight (default 8)")
    p.add_argument("--settle", type=float, default=5.0, metavar="SECONDS",
                   help="how long to retry transient answers and label/behaviour disagreements (default 5)")
    p.add_argument("--bundle", metavar="DIR", help="add the sweep as the Namespaces section of this evidence bundle "
                                                   "(a new bundle if DIR holds none), sealed again")
    p.add_argument("--metrics-file", metavar="FILE", help="write the sweep's Prometheus metrics to FILE (textfile "
                                                           "collector format, written atomically)")
    p.add_argument("--pushgateway", metavar="URL", help="push the sweep's Prometheus metrics to this Pushgateway "
                                                        "(job pss-harness-namespaces)")
    p.add_argument("--today", metavar="YYYY-MM-DD", help=argparse.SUPPRESS)  # fixed date for exemption expiry
    p.set_defaults(handler=_namespaces)


@contextlib.contextmanager
def _target(args) -> Iterator[tuple]:
    """``(cluster, audit_log, description)``: the given cluster, in-cluster in a pod, or an embedded control plane."""
    from harness.cluster.client import Cluster
    from harness.cluster.incluster import detect

    in_cluster = detect() if not args.kubeconfig and not args.k8s_version else None
    if args.kubeconfig or in_cluster:
        cluster = Cluster(args.kubeconfig, args.context, in_cluster=in_cluster)
        try:
            yield cluster, args.audit_log, cluster.describe()
        finally:
            cluster.close()
        return
    from harness.embedded import announced_embedded_plane

    with announced_embedded_plane(args.k8s_version) as embedded:  # told on stderr
        cluster = Cluster(embedded.kubeconfig)
        try:
            yield cluster, args.audit_log or str(embedded.audit_log), "embedded"
        finally:
            cluster.close()


def _namespaces(args: argparse.Namespace) -> int:
    from harness.corpus.namespace_policy import load_namespace_policy

    if args.names and args.selector:
        raise UsageError("give namespace NAMEs or --selector, not both")
    if args.context and not args.kubeconfig:
        raise UsageError("--context needs --kubeconfig")
    desired = load_namespace_policy(args.policy) if args.policy else None
    today = None
    if args.today:
        try:
            today = datetime.date.fromisoformat(args.today)
        except ValueError:
            raise UsageError(f"--today {args.today!r}: write YYYY-MM-DD") from None
    try:
        doc = run(args, desired, today)
    except ClusterError as exc:
        print(f"pss-harness: error: {exc}", file=sys.stderr)
        _status(EXIT_CLUSTER, {"type": type(exc).__name__, "message": str(exc)})
        return EXIT_CLUSTER
    if args.bundle:
        from harness.reports.namespaces import add_namespaces

        add_namespaces(args.bundle, doc)
        print(f"pss-harness: Namespaces section written to {args.bundle} (sealed)", file=sys.stderr)
    if args.metrics_file or args.pushgateway:
        import time

        from harness.reports import metrics

        registry = metrics.namespaces_registry(doc, time.time())
        if args.metrics_file:
            metrics.write_textfile(registry, args.metrics_file)
        if args.pushgateway:
            metrics.push(registry, args.pushgateway, "pss-harness-namespaces")
    print(json.dumps(doc, indent=2) if args.format == "json" else table(doc))
    _status(exit_status(doc), None)
    return exit_status(doc)


def _status(code: int, error: dict | None) -> None:
    """Tell the program that started the sweep how it ended, if ``$PSS_HARNESS_STATUS_FILE`` asks."""
    from harness.reports.safefs import write_text

    target = os.environ.get(STATUS_ENV)
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path.parent, path.name, json.dumps({"schema": STATUS_SCHEMA, "exit_status": code, "error": error},
                                                      sort_keys=True) + "\n")


def run(args, desired, today) -> dict:
    from harness.cluster.audit import AuditSource
    from harness.cluster.sweep import document, sweep

    with _target(args) as (cluster, audit_log, description):
        audit = AuditSource(audit_log) if audit_log else None
        result = sweep(cluster, names=args.names, selector=args.selector, audit=audit,
                       concurrency=args.concurrency, settle=args.settle,
                       progress=lambda m: print(m, file=sys.stderr, flush=True))
        target = f"{description} (Kubernetes {result.server_version})"
        return document(result, desired, today=today, target=target)


def exit_status(doc: dict) -> int:
    if doc["policy"] is not None:
        return EXIT_FINDINGS if doc["findings"] else 0
    s = doc["summary"]
    return EXIT_UNPROVEN if s["unprobeable"] or s["unknown"] else 0


def _exempt(entry: dict) -> str:
    return ",".join(entry["exempt"]) or "none"


def table(doc: dict) -> str:
    c = doc["cluster"]
    rcs = ", ".join(f"{r['name']} ({'exempt' if r['exempt'] else 'not exempt' if r['exempt'] is False else 'unknown'})"
                    for r in c["runtime_classes"]) or ("none" if c["runtime_classes_listed"] else "not listable")
    runner = c["runner"]
    lines = [f"target {doc['target']}",
             f"PodSecurity {c['plugin']['state']}; runner {runner['username']} "
             f"{'EXEMPT' if runner['exempt'] else 'not exempt' if runner['exempt'] is False else 'exemption unknown'}; "
             f"RuntimeClasses: {rcs}; audit source: {'yes' if c['audit_source'] else 'no (audit unknown)'}"]
    by_ns: dict[str, list[str]] = {}
    for f in doc["findings"]:
        by_ns.setdefault(f["namespace"], []).append(f["id"])
    rows = [("NAMESPACE", "ENFORCE", "WARN", "AUDIT", "SOURCE", "EXEMPT", "PROBE", "FINDINGS")]
    for n in doc["namespaces"]:
        probe = n["probe"]["state"]
        rows.append((n["namespace"], n["enforce"]["text"], n["warn"]["text"], n["audit"]["text"], n["source"],
                     _exempt(n), probe, ",".join(sorted(set(by_ns.get(n["namespace"], [])))) or
                     ("-" if doc["policy"] is None else "ok" if n["rules"] else "(no rule)")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    s = doc["summary"]
    q = doc["requests"]
    lines.append(f"{s['namespaces']} namespace(s) in {s['elapsed_s']}s ({s['namespaces_per_second']}/s): "
                 f"{s['enforce_proven']} proven, {s['unknown']} unknown, {s['unprobeable']} unprobeable; "
                 f"{q['total']} requests ({q['reads']} reads, {q['dry_run_writes']} dry-run, {q['other']} other)")
    for n in doc["namespaces"]:
        if n["probe"]["state"] != "ok" or n["enforce"]["state"] == "unknown":
            lines.append(f"  {n['namespace']}: {n['probe']['reason'] or n['enforce']['evidence']}")
    if doc["policy"] is not None:
        lines.append(f"policy {doc['policy']['path']}: {s['results_passed']}/{s['results']} namespace x rule passed, "
                     f"{s['findings']} finding(s)" + (f", {s['unmatched']} namespace(s) matched no rule"
                                                      if s["unmatched"] else ""))
        for f in doc["findings"]:
            lines.append(f"  [{f['id']}] {f['namespace']} (rule {f['rule']}): {f['message']}")
    return "\n".join(lines)
