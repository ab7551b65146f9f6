"""``pss-harness report``: verify, rebuild and merge evidence bundles.

    pss-harness report verify DIR [--history DB]
    pss-harness report build  DIR [--history DB] [--force]
    pss-harness report merge  OUT DIR... [--no-verify]
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="verify, rebuild and merge evidence bundles (reports/evidence/<run-id>)")
    rsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    history_help = "history store (reports/history.sqlite)"

    v = rsub.add_parser("verify", help="check every file of a bundle against its SHA256SUMS; "
                                       "exit 1 naming each changed, added or removed file")
    v.add_argument("directory", metavar="DIR")
    v.add_argument("--history", metavar="DB", help=f"also compare SHA256SUMS with the digest recorded in the {history_help}")
    v.set_defaults(handler=_report_verify)

    b = rsub.add_parser("build", help="regenerate index.html and SHA256SUMS from results.json")
    b.add_argument("directory", metavar="DIR")
    b.add_argument("--history", metavar="DB", help=f"refresh the trend and changes from the {history_help}")
    b.add_argument("--force", action="store_true", help="rebuild even if results.json no longer matches SHA256SUMS")
    b.set_defaults(handler=_report_build)

    m = rsub.add_parser("merge", help="join the bundles of several shards of one run into a new bundle OUT")
    m.add_argument("out", metavar="OUT")
    m.add_argument("directories", metavar="DIR", nargs="+")
    m.add_argument("--no-verify", action="store_true", help="merge shards even if they fail verification")
    m.set_defaults(handler=_report_merge)


def _report_verify(args: argparse.Namespace) -> int:
    from harness.reports import bundle
    from harness.reports import history

    result = bundle.verify(args.directory)
    problems = result.lines()
    if args.history and not result.malformed:
        run_id = bundle.load_results(args.directory)["run"].get("run_id", "")
        recorded, actual = history.bundle_digest(args.history, run_id), bundle.sums_digest(args.directory)
        if recorded is None:
            problems.append(f"history: run {run_id} has no recorded bundle digest in {args.history}")
        elif recorded != actual:
            problems.append(f"changed: SHA256SUMS (sha256 {actual}; {args.history} recorded {recorded} for run {run_id})")
    for line in problems:
        print(line)
    if problems:
        print(f"{args.directory}: FAILED verification ({len(problems)} problem(s))", file=sys.stderr)
        return 1
    print(f"{args.directory}: OK, {result.checked} file(s) match SHA256SUMS (sha256 {bundle.sums_digest(args.directory)})")
    return 0


def _report_build(args: argparse.Namespace) -> int:
    from harness.reports import bundle

    out = bundle.build(args.directory, history_db=args.history, force=args.force)
    print(f"{out.parent / bundle.INDEX}; {out}")
    return 0


def _report_merge(args: argparse.Namespace) -> int:
    from harness.reports import bundle

    out = bundle.merge(args.out, args.directories, check=not args.no_verify)
    data = bundle.load_results(out)
    print(f"{out}: {data['run']['items']} item(s) from {len(args.directories)} shard(s), run {data['run']['run_id']}")
    return 0
