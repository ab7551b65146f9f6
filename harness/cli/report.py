"""``pss-harness report``: verify, rebuild, merge and sign evidence bundles; the fleet report.

    pss-harness report verify DIR [--key PUB] [--require-signature] [--audit-log FILE] [--history DB]
    pss-harness report build  DIR [--history DB] [--force] [--sign-key FILE]
    pss-harness report merge  OUT DIR... [--no-verify] [--allow-incomplete] [--sign-key FILE]
    pss-harness report fleet  OUT BUNDLE|FLEET-DIR... [--key PUB] [--sign-key FILE] [--format text|json]
    pss-harness report keygen OUT                 writes OUT (private, 0600) and OUT.pub
    pss-harness report sign   DIR --key FILE      signs an intact bundle (bundle.intoto.jsonl)
    pss-harness report prune  DIR [--keep N] [--max-age DAYS] [--dry-run] [--missing-ok]
                                                  retention: removes old bundles from DIR (reports/evidence)
    pss-harness report history [--db DB] [--since DURATION] [--format table|json]
                                                  MTTD/MTTR per finding type of pss-harness watch's drift events

``--sign-key`` and ``sign --key`` default to ``$PSS_HARNESS_SIGN_KEY``, as for the pytest run.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_parser"]

_SIGN_ENV = "PSS_HARNESS_SIGN_KEY"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="verify, rebuild, merge and sign evidence bundles (reports/evidence/<run-id>); "
                                      "the fleet report")
    rsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    history_help = "history store (reports/history.sqlite)"
    sign_help = (f"Ed25519 private key (PEM) to sign the rewritten bundle with (default ${_SIGN_ENV}); without one, "
                 "a signature the bundle had is removed, since it no longer covers the files")

    v = rsub.add_parser("verify", help="check every file of a bundle against its SHA256SUMS (and its signature); "
                                       "exit 1 naming each changed, added, removed or refused file")
    v.add_argument("directory", metavar="DIR")
    v.add_argument("--history", metavar="DB", help=f"also compare SHA256SUMS with the digest recorded in the {history_help}")
    v.add_argument("--key", metavar="PUB", help="Ed25519 public key (PEM, the .pub of report keygen): the bundle must "
                                                "carry a signature by it covering exactly the files present")
    v.add_argument("--require-signature", action="store_true", help="fail an unsigned bundle")
    v.add_argument("--audit-log", metavar="FILE", help="the cluster's JSON-lines audit log: every record's audit ID "
                                                       "must have a ResponseComplete event with the recorded HTTP status")
    v.set_defaults(handler=_report_verify)

    b = rsub.add_parser("build", help="regenerate index.html and SHA256SUMS from results.json")
    b.add_argument("directory", metavar="DIR")
    b.add_argument("--history", metavar="DB", help=f"refresh the trend and changes from the {history_help}")
    b.add_argument("--force", action="store_true", help="rebuild even if results.json no longer matches SHA256SUMS")
    b.add_argument("--sign-key", metavar="FILE", help=sign_help)
    b.set_defaults(handler=_report_build)

    m = rsub.add_parser("merge", help="join the bundles of several shards of one run into a new bundle OUT")
    m.add_argument("out", metavar="OUT")
    m.add_argument("directories", metavar="DIR", nargs="+")
    m.add_argument("--no-verify", action="store_true", help="merge shards even if they fail verification")
    m.add_argument("--allow-incomplete", action="store_true",
                   help="merge the shards of a sharded run even if some are missing (the merged run says which, "
                        "in run.shard_coverage and the report); without it a missing shard is refused")
    m.add_argument("--sign-key", metavar="FILE", help=sign_help)
    m.set_defaults(handler=_report_merge)

    f = rsub.add_parser("fleet", help="one sealed HTML + JSON report from many clusters' bundles (and fleet "
                                      "directories of pss-harness fleet): cluster x control, drift, versions")
    f.add_argument("out", metavar="OUT")
    f.add_argument("inputs", metavar="BUNDLE|FLEET-DIR", nargs="+",
                   help="evidence bundles (reports/evidence/<run-id>) and/or the --reports DIR of pss-harness fleet")
    f.add_argument("--key", metavar="PUB", help="Ed25519 public key: every bundle must carry a signature by it")
    f.add_argument("--sign-key", metavar="FILE", help=f"Ed25519 private key (PEM) to sign the report with "
                                                      f"(default ${_SIGN_ENV})")
    f.add_argument("--format", choices=("text", "json"), default="text",
                   help="what to print: a summary line per cluster, or the report's JSON")
    f.set_defaults(handler=_report_fleet)

    k = rsub.add_parser("keygen", help="write a new Ed25519 key pair: OUT (private, mode 0600) and OUT.pub")
    k.add_argument("out", metavar="OUT")
    k.set_defaults(handler=_report_keygen)

    s = rsub.add_parser("sign", help="sign an intact bundle: an in-toto statement over every file, in a DSSE "
                                     "envelope (DIR/bundle.intoto.jsonl)")
    s.add_argument("directory", metavar="DIR")
    s.add_argument("--key", metavar="FILE", help=f"Ed25519 private key (PEM, PKCS8; default ${_SIGN_ENV})")
    s.set_defaults(handler=_report_sign)

    r = rsub.add_parser("prune", help="retention: remove evidence bundles beyond the newest N or older than D days "
                                      "from DIR (the directory holding one bundle per run, e.g. reports/evidence)")
    r.add_argument("directory", metavar="DIR")
    r.add_argument("--keep", type=int, metavar="N", help="keep the newest N bundles (by the run's start time)")
    r.add_argument("--max-age", type=float, metavar="DAYS", help="remove bundles older than DAYS")
    r.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    r.add_argument("--missing-ok", action="store_true", help="a missing DIR is nothing to prune (a first run), "
                                                             "not an error")
    r.set_defaults(handler=_report_prune)
    h = rsub.add_parser("history", help="MTTD and MTTR per finding type of the drift events pss-harness watch "
                                        "recorded")
    h.add_argument("--db", default="reports/history.sqlite", metavar="DB", help=history_help)
    h.add_argument("--since", metavar="DURATION", help="only events detected in the last DURATION (e.g. 24h, 7d)")
    h.add_argument("--format", choices=("table", "json"), default="table")
    h.set_defaults(handler=_report_history)


def _sign_key(given: str | None, flag: str):
    """The loaded private key from ``given`` or ``$PSS_HARNESS_SIGN_KEY`` (checked before anything is written)."""
    from harness.reports import signing

    path = given or os.environ.get(_SIGN_ENV) or None
    if path is None:
        return None
    return signing.load_private_key(path, flag if given else f"${_SIGN_ENV}")


def _report_verify(args: argparse.Namespace) -> int:
    from harness.reports import bundle
    from harness.reports import history
    from harness.reports import signing

    public = signing.load_public_key(args.key) if args.key else None
    result = bundle.verify(args.directory)
    problems = result.lines()
    notes = []
    if args.history and not result.malformed and not result.refused:
        run_id = bundle.load_results(args.directory)["run"].get("run_id", "")
        recorded, actual = history.bundle_digest(args.history, run_id), bundle.sums_digest(args.directory)
        if recorded is None:
            problems.append(f"history: run {run_id} has no recorded bundle digest in {args.history}")
        elif recorded != actual:
            problems.append(f"changed: SHA256SUMS (sha256 {actual}; {args.history} recorded {recorded} for run {run_id})")
    if public is not None:
        sig = signing.check(args.directory, public)
        problems += sig.problems
        if sig.ok:
            notes.append(f"signature by key {sig.keyid} verified over {sig.subjects} file(s)")
    elif signing.is_signed(args.directory):
        notes.append(f"signature not checked (no --key; the envelope names keyid(s) "
                     f"{', '.join(signing.envelope_keyids(args.directory)) or 'none'})")
    elif args.require_signature:
        problems.append(f"signature: the bundle is not signed (no {signing.ENVELOPE}; --require-signature)")
    if args.audit_log:
        if result.refused or result.malformed:
            problems.append("audit: not checked, the bundle itself fails verification")
        else:
            from harness.reports import trace

            found = trace.check_audit_log(bundle.load_results(args.directory)["results"], args.audit_log)
            problems += found.problems
            if found.ok:
                notes.append(found.summary())
    for line in problems:
        print(line)
    if problems:
        for note in notes:
            print(note, file=sys.stderr)
        print(f"{args.directory}: FAILED verification ({len(problems)} problem(s))", file=sys.stderr)
        return 1
    print(f"{args.directory}: OK, {result.checked} file(s) match SHA256SUMS (sha256 {bundle.sums_digest(args.directory)})")
    for note in notes:
        print(note)
    return 0


def _resealed(directory, was_signed: bool, key) -> str:
    from harness.reports import signing

    if key is not None:
        return f"; signed ({signing.ENVELOPE}, key {signing.keyid(key.public_key())})"
    if was_signed:
        return (f"; the old signature no longer covered the files and was removed: sign again with "
                f"pss-harness report sign {directory} --key FILE")
    return ""


def _report_build(args: argparse.Namespace) -> int:
    from harness.reports import bundle
    from harness.reports import signing

    key = _sign_key(args.sign_key, "--sign-key")
    was_signed = signing.is_signed(args.directory)
    out = bundle.build(args.directory, history_db=args.history, force=args.force, sign_key=key)
    print(f"{out.parent / bundle.INDEX}; {out}{_resealed(args.directory, was_signed, key)}")
    return 0


def _report_merge(args: argparse.Namespace) -> int:
    from harness.reports import bundle

    key = _sign_key(args.sign_key, "--sign-key")
    out = bundle.merge(args.out, args.directories, check=not args.no_verify, sign_key=key,
                       allow_incomplete=args.allow_incomplete)
    data = bundle.load_results(out)
    cover = data["run"].get("shard_coverage")
    shards = f"{len(cover['present'])} of {cover['count']} shards" if cover else f"{len(args.directories)} shard(s)"
    print(f"{out}: {data['run']['items']} item(s) from {shards}, run {data['run']['run_id']}"
          f"{_resealed(out, False, key)}")
    if cover and cover["missing"]:
        missing = ", ".join(f"{i}/{cover['count']}" for i in cover["missing"])
        print(f"{out}: INCOMPLETE: shard(s) {missing} missing", file=sys.stderr)
    return 0


def _report_fleet(args: argparse.Namespace) -> int:
    """Exit status: that of ``pss-harness fleet`` for the verdicts shown (0 all passed, 1 findings, 4 unchecked, 5 both)."""
    import json

    from harness.reports import bundle
    from harness.reports import fleet
    from harness.reports import signing

    key = _sign_key(args.sign_key, "--sign-key")
    public = signing.load_public_key(args.key) if args.key else None
    doc = fleet.document(fleet.collect(args.inputs, key=public))
    fleet.write(args.out, doc, sign_key=key)
    if args.format == "json":
        print(json.dumps(doc, indent=1, sort_keys=True))
    else:
        for c in doc["clusters"]:
            print(f"{c['name']}: {c['verdict']}" + (f" ({c['cause']})" if c["cause"] else ""))
        s = doc["summary"]
        print(f"{args.out}/{fleet.INDEX}: {s['clusters']} cluster(s), {s['findings']} with a finding, "
              f"{s['unchecked']} not checked, {len(s['drifted'])} drifted; SHA256SUMS sha256 "
              f"{bundle.sums_digest(args.out)}{_resealed(args.out, False, key)}")
    return doc["summary"]["exit_status"]


def _report_keygen(args: argparse.Namespace) -> int:
    from harness.reports import signing

    private, public = signing.keygen(args.out)
    print(f"private key {private} (mode 0600; keep it to yourself, sign with --psa-sign-key {private})")
    print(f"public key  {public} (keyid {signing.keyid(signing.load_public_key(public))}; "
          f"verify with pss-harness report verify DIR --key {public})")
    return 0


def _report_sign(args: argparse.Namespace) -> int:
    from harness.core.errors import UsageError
    from harness.reports import bundle
    from harness.reports import signing

    key = _sign_key(args.key, "--key")
    if key is None:
        raise UsageError(f"report sign needs --key FILE (or ${_SIGN_ENV}): the Ed25519 private key to sign with "
                         "(pss-harness report keygen OUT makes one)")
    out = bundle.sign(args.directory, key)
    signed = signing.check(args.directory, key.public_key())
    print(f"{out}: signed {signed.subjects} file(s) with key {signed.keyid}")
    return 0


def _report_prune(args: argparse.Namespace) -> int:
    from harness.reports import retention

    plan = retention.prune(args.directory, keep=args.keep, max_age_days=args.max_age, dry_run=args.dry_run,
                           missing_ok=args.missing_ok)
    verb = "would remove" if args.dry_run else "removed"
    for bundle, why in plan.remove:
        print(f"{verb} {bundle.path} (started {bundle.started:%Y-%m-%dT%H:%M:%SZ}, {why})")
    for name, why in plan.ignored:
        print(f"left alone {name}: {why}", file=sys.stderr)
    print(f"{args.directory}: {verb} {len(plan.remove)} bundle(s), kept {len(plan.keep)}", file=sys.stderr)
    return 0


def _report_history(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from harness.core.drift import summarize
    from harness.core.errors import UsageError
    from harness.reports import history

    if not Path(args.db).is_file():
        raise UsageError(f"--db {args.db}: no such history store (pss-harness watch --history DB writes one)")
    since = None
    if args.since:
        from harness.cli.watch import parse_duration

        since = time.time() - parse_duration(args.since, "--since")
    events = history.drift_events(args.db, since=since)
    summary = summarize(events, since=since)
    if args.format == "json":
        print(json.dumps({"db": args.db, "since": since, "events": len(events), "by_finding": summary}, indent=2))
        return 0
    if not events:
        print(f"{args.db}: no drift events" + (f" in the last {args.since}" if args.since else ""))
        return 0

    def fmt(v) -> str:
        return "-" if v is None else f"{v:.2f}s" if v < 120 else f"{v / 60:.1f}m" if v < 7200 else f"{v / 3600:.1f}h"

    rows = [("FINDING", "EVENTS", "OPEN", "MTTD MEAN", "MTTD P50", "MTTD P95", "MTTR MEAN", "MTTR P50", "MTTR P95")]
    for finding, s in summary.items():
        rows.append((finding if finding != "*" else "(all)", str(s["events"]), str(s["open"]),
                     fmt(s["mttd"]["mean"]), fmt(s["mttd"]["p50"]), fmt(s["mttd"]["p95"]),
                     fmt(s["mttr"]["mean"]), fmt(s["mttr"]["p50"]), fmt(s["mttr"]["p95"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"drift events in {args.db}" + (f" (last {args.since})" if args.since else "") +
          ": MTTD = change -> detection, MTTR = detection -> remediation")
    for r in rows:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
    pre = sum(s["preexisting"] for f, s in summary.items() if f != "*")
    if pre:
        print(f"{pre} event(s) were present when the watch started: their change time is unknown (no MTTD)")
    return 0
