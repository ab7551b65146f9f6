"""``pss-harness``: the command line. One module per command, listed in ``COMMANDS``.

    pss-harness cluster build|up|down|status   the embedded control plane   (harness.cli.cluster)
    pss-harness report verify|build|merge|fleet  evidence bundles, fleet reports (harness.cli.report)
    pss-harness assess PATH...                 would a policy refuse these manifests  (harness.cli.assess)
    pss-harness diff                           what changes between two sides         (harness.cli.diff)
    pss-harness namespaces [--policy F]        the effective enforcement of the cluster's namespaces
                                                                                       (harness.cli.namespaces)
    pss-harness truth                          check the corpus's derived expectations against a server
                                                                                       (harness.cli.truth)
    pss-harness run [PYTEST-ARGS...]           the packaged attack corpus under pytest   (harness.cli.run)
    pss-harness rollout --to LEVEL ...         a phased plan per namespace: warn first, then enforce
                                                                                       (harness.cli.rollout)
    pss-harness fleet --kubeconfig F --contexts A,B   the corpus against several clusters, one process each
                                                                                       (harness.cli.fleet)
    pss-harness watch [--policy F]             drift of the posture and admission configuration, MTTD/MTTR,
                                               Prometheus metrics                     (harness.cli.watch)

The top of the layering: it may import every other package. Each command module has
``add_parser(subparsers)`` and sets a ``handler``; heavy imports happen inside handlers so
``pss-harness --help`` stays fast. A command that sets ``passthrough=True`` receives the
arguments it does not define itself, in order, as ``args.passthrough_args`` (``run`` hands them
to pytest); any other command refuses unknown arguments. Errors the user can fix are printed as
one message with the fix (exit 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness.core.errors import HarnessError

__all__ = ["COMMANDS", "build_parser", "main", "terminal_width"]

#: command name -> the module that implements it
COMMANDS: dict[str, str] = {
    "cluster": "harness.cli.cluster",
    "report": "harness.cli.report",
    "assess": "harness.cli.assess",
    "diff": "harness.cli.diff",
    "truth": "harness.cli.truth",
    "run": "harness.cli.run",
    "rollout": "harness.cli.rollout",
    "namespaces": "harness.cli.namespaces",
    "fleet": "harness.cli.fleet",
    "watch": "harness.cli.watch",
}


def terminal_width() -> int:
    """Columns of the terminal stdout is; 0 when stdout is not a terminal (piped, captured): nothing is cut."""
    import shutil

    if not (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()):
        return 0
    return shutil.get_terminal_size(fallback=(0, 0)).columns


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pss-harness")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        from harness import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pss-harness",
        description="Prove that a cluster's PodSecurity admission blocks container-breakout pods.",
        epilog="Which cluster: an explicit --kubeconfig (or $PSS_HARNESS_KUBECONFIG), else an explicit --k8s-version "
               "(the embedded control plane), else in a pod the pod's own cluster as its ServiceAccount "
               "(in-cluster; $PSS_HARNESS_IN_CLUSTER=0 turns it off), else the embedded control plane.")
    parser.add_argument("--version", action="version", version=f"pss-harness {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.passthrough_args = extra
    try:
        return args.handler(args)
    except HarnessError as exc:
        print(f"pss-harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pss-harness: interrupted", file=sys.stderr)
        return 130
