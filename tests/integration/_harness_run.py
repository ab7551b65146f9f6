"""Run the harness as a user would (``python -m pytest scenarios --kubeconfig ...``) into a temporary directory.

Shared by the report tests. The corpus is ``tests/assets/_corpus`` (one attack, one control and
one deliberately mislabelled scenario whose baseline/restricted items fail), laid out as
``scenarios/<level>/<check>/`` in ``workdir``; the run has no ini file, so none of the project's
``addopts`` apply, and every output goes under ``workdir/reports`` where the plugin puts it by
default: ``evidence/<run-id>/``, ``runs/<run-id>/junit.xml`` and ``runs/<run-id>/allure-results/``
(no ``--junitxml`` or ``--alluredir`` is given), ``history.sqlite`` and the ``latest`` link.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CORPUS = ASSETS / "_corpus"
LAYOUT = {"vulnerable-pod.yaml": "baseline/privileged", "mislabelled-pod.yaml": "baseline/privileged",
          "hardened-pod.yaml": "controls"}
KINDS = "Pod,Deployment,CronJob,Job"


@dataclasses.dataclass
class HarnessRun:
    """What one run left behind."""

    process: subprocess.CompletedProcess
    workdir: Path
    reports: Path
    evidence: Path      #: reports/evidence/<run-id>
    junit: Path
    allure: Path

    @property
    def log(self) -> str:
        return self.process.stdout + self.process.stderr


def copy_corpus(workdir: Path, extra_files: dict | None = None) -> Path:
    """``workdir/scenarios``: the corpus, plus ``extra_files`` (relative path -> text)."""
    scenarios = workdir / "scenarios"
    for name, where in LAYOUT.items():
        (scenarios / where).mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / name, scenarios / where / name)
    for rel, text in (extra_files or {}).items():
        (scenarios / rel).parent.mkdir(parents=True, exist_ok=True)
        (scenarios / rel).write_text(text)
    return scenarios


def harness_env() -> dict:
    """The environment of a user's shell: none of this test run's PSS_HARNESS_ or PYTEST_ variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PSS_HARNESS_", "PYTEST_"))}


def harness_command(cluster, *extra: str, run_id: str, audit: bool = True, jobs: int = 2,
                    target: str = "scenarios") -> list[str]:
    """``python -m pytest <target>`` against ``cluster`` with the report corpus's kinds."""
    return [sys.executable, "-m", "pytest", target, "-p", "no:cacheprovider", *(["-n", str(jobs)] if jobs else []),
            "--kubeconfig", str(cluster.kubeconfig), *(["--audit-log", str(cluster.audit_log)] if audit else []),
            "--psa-kinds", KINDS, "--psa-run-id", run_id, *extra]


def run_harness(cluster, workdir: Path, *extra: str, run_id: str = "reportrun", extra_files: dict | None = None,
                audit: bool = True, jobs: int = 2, env: dict | None = None) -> HarnessRun:
    """Copy the corpus into ``workdir/scenarios`` (plus ``extra_files``: relative path -> text) and run it.

    ``audit=False`` leaves out ``--audit-log`` (an external cluster without an audit source);
    ``env``: variables added to the run's environment (an Indexed Job's, say).
    """
    copy_corpus(workdir, extra_files)
    reports = workdir / "reports"
    args = harness_command(cluster, "--rootdir", str(workdir), "--psa-reports", "reports", *extra, run_id=run_id,
                           audit=audit, jobs=jobs)
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=600,
                          env={**harness_env(), **(env or {})})
    return HarnessRun(proc, workdir, reports, reports / "evidence" / run_id, reports / "runs" / run_id / "junit.xml",
                      reports / "runs" / run_id / "allure-results")
