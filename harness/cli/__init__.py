"""``pss-harness``: the command line. One module per command, listed in ``COMMANDS``.

    pss-harness cluster build|up|down|status   the embedded control plane   (harness.cli.cluster)
    pss-harness report verify|build|merge      evidence bundles             (harness.cli.report)
    pss-harness assess PATH...                 would a policy refuse these manifests  (harness.cli.assess)
    pss-harness diff                           what changes between two sides         (harness.cli.diff)
    pss-harness namespaces [--policy F]        the effective enforcement of the cluster's namespaces
                                                                                       (harness.cli.namespaces)
    pss-harness truth                          check the corpus's derived expectations against a server
                                                                                       (harness.cli.truth)

The top of the layering: it may import every other package. Each command module has
``add_parser(subparsers)`` and sets a ``handler``; heavy imports happen inside handlers so
``pss-harness --help`` stays fast. Errors the user can fix are printed as one message with the
fix (exit 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness.core.errors import HarnessError

__all__ = ["COMMANDS", "build_parser", "main"]

#: command name -> the module that implements it
COMMANDS: dict[str, str] = {
    "cluster": "harness.cli.cluster",
    "report": "harness.cli.report",
    "assess": "harness.cli.assess",
    "diff": "harness.cli.diff",
    "namespaces": "harness.cli.namespaces",
}


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
        description="Prove that a cluster's PodSecurity admission blocks container-breakout pods.")
    parser.add_argument("--version", action="version", version=f"pss-harness {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
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
