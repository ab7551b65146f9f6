"""``pss-harness``: the command line.

    pss-harness cluster build [--k8s-version V] [--force]
    pss-harness cluster up    [--k8s-version V] [--name N] [--detach]
    pss-harness cluster down  [--name N]
    pss-harness cluster status

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


if __name__ == "__main__":
    sys.exit(main())
