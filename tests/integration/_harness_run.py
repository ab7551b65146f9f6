"""Run the harness as a user would (``python -m pytest scenarios --kubeconfig ...``) into a temporary directory.

Shared by the report tests. The corpus is ``tests/assets/_corpus`` (one attack, one control and
one deliberately mislabelled scenario whose baseline/restricted items fail), laid out as
``scenarios/<level>/<check>/`` in ``workdir``; the run has no ini file, so none of the project's
``addopts`` apply, and every output goes under ``workdir/reports``.
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


def run_harness(cluster, workdir: Path, *extra: str, run_id: str = "reportrun", extra_files: dict | None = None,
                env: dict | None = None) -> HarnessRun:
    """Copy the corpus into ``workdir/scenarios`` (plus ``extra_files``: relative path -> text) and run it.

    ``env``: variables added to the run's environment (an Indexed Job's, say).
    """
    scenarios = workdir / "scenarios"
    for name, where in LAYOUT.items():
        (scenarios / where).mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / name, scenarios / where / name)
    for rel, text in (extra_files or {}).items():
        (scenarios / rel).parent.mkdir(parents=True, exist_ok=True)
        (scenarios / rel).write_text(text)
    reports = workdir / "reports"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PSS_HARNESS_", "PYTEST_"))}, **(env or {})}
    args = [sys.executable, "-m", "pytest", "scenarios", "--rootdir", str(workdir), "-p", "no:cacheprovider", "-n", "2",
            "--kubeconfig", str(cluster.kubeconfig), "--audit-log", str(cluster.audit_log),
            "--psa-kinds", KINDS, "--psa-run-id", run_id,
            "-o", f"psa_reports={reports}", f"--junitxml={reports / 'junit.xml'}",
            f"--alluredir={reports / 'allure-results'}", *extra]
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=600, env=env)
    return HarnessRun(proc, workdir, reports, reports / "evidence" / run_id, reports / "junit.xml",
                      reports / "allure-results")
