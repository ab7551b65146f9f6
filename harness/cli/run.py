"""``pss-harness run``: the main job from an installed package: the attack corpus against a cluster.

    pss-harness run [PYTEST-ARGS...]

Runs pytest with the plugin (``-p harness.plugin``) on the corpus the package ships
(``harness.core.resources.corpus_dir()``: ``harness/_data/scenarios`` in a wheel, ``scenarios/``
in a checkout). Without ``--kubeconfig`` the plugin starts the embedded control plane, building it
first if it is not cached. Every report goes to ``./reports`` of the current directory (the
evidence bundle, the history, ``runs/<run-id>/junit.xml`` and ``allure-results/``, the ``latest``
link), as ``make run`` writes them in a checkout; ``--psa-reports DIR`` chooses another. Every
argument is passed to pytest, e.g. ``pss-harness run -n 2 --dist loadfile --psa-levels baseline``;
``pss-harness run -- --help`` lists pytest's and the plugin's options. The exit status is pytest's.

May import the core. pytest runs as ``python -m pytest`` in place of this process (``os.execv``),
so the terminal, Ctrl-C (the plugin stops the control plane it started) and the exit status are
pytest's own; the CLI never imports pytest.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.resources import corpus_dir

__all__ = ["add_parser", "pytest_command"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run the packaged attack corpus with pytest (embedded control plane unless --kubeconfig "
             "or in a pod)",
        description="Run the packaged attack corpus with pytest; reports go to ./reports. Any further "
                    "argument is passed to pytest (`pss-harness run -- --help` shows pytest's and the plugin's "
                    "options), e.g. `pss-harness run -n 2 --dist loadfile -m level_restricted`.",
        usage="pss-harness run [PYTEST-ARGS...]")
    p.set_defaults(handler=_run, passthrough=True)


def _has_option(args: list[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


def pytest_command(pytest_args: list[str], cwd: Path, reports: Path | None = None) -> list[str]:
    """The ``python -m pytest`` command line running the corpus with ``pytest_args``, reporting into ``cwd/reports``.

    ``reports``: another reports directory (``pss-harness fleet``: one per cluster), which then
    holds pytest's cache too, so that runs side by side share nothing.
    """
    try:
        corpus = corpus_dir()
    except FileNotFoundError as exc:
        raise HarnessError(str(exc)) from None
    cache = cwd / ".pytest_cache" if reports is None else reports / ".pytest_cache"
    reports = cwd / "reports" if reports is None else reports
    # -P: the installed package, not a `harness/` that happens to be in the current directory.
    # --rootdir: node ids and evidence paths read `scenarios/...` as in a checkout; pytest's cache
    # and the reports stay in the current directory, out of the installed package.
    # The plugin writes JUnit XML and Allure results per run under the report directory unless
    # --junitxml / --alluredir say otherwise.
    cmd = [sys.executable, "-P", "-m", "pytest", str(corpus), "-p", "harness.plugin",
           "--rootdir", str(corpus.parent), "-o", f"cache_dir={cache}"]
    if not _has_option(pytest_args, "--psa-reports"):
        cmd.append(f"--psa-reports={reports}")
    return cmd + pytest_args


def _run(args: argparse.Namespace) -> int:
    extra = list(args.passthrough_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    cmd = pytest_command(extra, Path.cwd())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
    return 0  # not reached: execv replaces this process (or raises OSError)
