"""``pss-harness``: the command line.

    pss-harness cluster build [--k8s-version V] [--force]
    pss-harness cluster up    [--k8s-version V] [--name N] [--detach]
    pss-harness cluster down  [--name N]
    pss-harness cluster status
    pss-harness report verify DIR [--history DB]
    pss-harness report build  DIR [--history DB] [--force]
    pss-harness report merge  OUT DIR... [--no-verify]

Errors the user can fix are printed as one message with the fix, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from harness.errors import HarnessError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def command(name: str):
    """Register a function that adds the ``name`` sub-command to the parser."""
    def register(fn):
        _COMMANDS[name] = fn
        return fn
    return register


@command("cluster")
def _cluster_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="build, start and stop the embedded control plane")
    csub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    version_help = "Kubernetes version, e.g. 1.36 or v1.37.2 (default: the pinned v1.37.2)"

    b = csub.add_parser("build", help="build kube-apiserver, kube-controller-manager and etcd (cached)")
    b.add_argument("--k8s-version", metavar="V", help=version_help)
    b.add_argument("--force", action="store_true", help="rebuild even if cached binaries exist")
    b.set_defaults(handler=_cluster_build)

    u = csub.add_parser("up", help="start a control plane and print its kubeconfig; Ctrl-C stops it")
    u.add_argument("--k8s-version", metavar="V", help=version_help)
    u.add_argument("--name", default="default", help="name of this cluster (default: default)")
    u.add_argument("--detach", action="store_true", help="return once ready; stop it with `cluster down`")
    u.set_defaults(handler=_cluster_up)

    d = csub.add_parser("down", help="stop a cluster started with `cluster up --detach`")
    d.add_argument("--name", default="default", help="name of the cluster (default: default)")
    d.set_defaults(handler=_cluster_down)

    s = csub.add_parser("status", help="list running named clusters")
    s.set_defaults(handler=_cluster_status)


def _cluster_build(args: argparse.Namespace) -> int:
    from harness.embedded.builder import binaries_for, build

    existing = binaries_for(args.k8s_version)
    if existing.exist() and not args.force:
        info = existing.info()
        print(f"Kubernetes {existing.version} is already built (etcd {info.get('etcd')}): {existing.directory}")
        return 0
    bins = build(args.k8s_version, force=args.force)
    print(bins.directory)
    return 0


def _cluster_up(args: argparse.Namespace) -> int:
    from harness.embedded.supervisor import up

    return up(args.name, args.k8s_version, detach=args.detach)


def _cluster_down(args: argparse.Namespace) -> int:
    from harness.embedded.supervisor import down

    return down(args.name)


def _cluster_status(args: argparse.Namespace) -> int:
    from harness.embedded.supervisor import running

    states = running()
    if not states:
        print("no named cluster is running")
    for s in states:
        print(f"{s['name']}: Kubernetes {s['version']} at {s['server']} (supervisor PID {s['supervisor']}) "
              f"kubeconfig {s['kubeconfig']}")
    return 0


@command("report")
def _report_parser(sub: argparse._SubParsersAction) -> None:
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
    from harness import bundle, history

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
    from harness import bundle

    out = bundle.build(args.directory, history_db=args.history, force=args.force)
    print(f"{out.parent / bundle.INDEX}; {out}")
    return 0


def _report_merge(args: argparse.Namespace) -> int:
    from harness import bundle

    out = bundle.merge(args.out, args.directories, check=not args.no_verify)
    data = bundle.load_results(out)
    print(f"{out}: {data['run']['items']} item(s) from {len(args.directories)} shard(s), run {data['run']['run_id']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pss-harness",
        description="Prove that a cluster's PodSecurity admission blocks container-breakout pods.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except HarnessError as exc:
        print(f"pss-harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pss-harness: interrupted", file=sys.stderr)
        return 130


import harness.cli_assess  # noqa: E402,F401  (registers `assess`)
import harness.cli_diff  # noqa: E402,F401  (registers `diff`)

if __name__ == "__main__":
    sys.exit(main())
