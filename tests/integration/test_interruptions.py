"""SIGTERM (``timeout``, a CI cancellation, a Job's deadline) is treated like Ctrl-C.

Before: SIGTERM killed pytest where it stood, leaving every namespace of the run Active and no
bundle (135 namespaces leaked in one probe). Now the run cleans up the namespaces of every process
(the controller deletes what killed workers left) and seals its bundle. And the interrupted run
reads INCOMPLETE everywhere (before, its bundle was headed PASSED, all green, with only "Exit
status 2" in the metadata, and it became the history's "previous run"): ``run.status`` in
results.json, the HTML header, the JUnit properties, the history store (never a previous run).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cluster.namespaces import OWNER, OWNER_LABEL, RUN_LABEL
from harness.reports import bundle

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def _live(admin, run_id: str) -> list[str]:
    items = admin.list_namespaces(f"{OWNER_LABEL}={OWNER},{RUN_LABEL}={run_id}")
    return [n["metadata"]["name"] for n in items if n.get("status", {}).get("phase") != "Terminating"]


@pytest.mark.parametrize("target", ["process-group", "controller"])
def test_sigterm_cleans_up_every_namespace_and_seals_the_bundle(embedded, admin, tmp_path, target):
    run_id = f"term{target[0]}"
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSS_HARNESS_", "PYTEST_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "scenarios/baseline", "scenarios/restricted", "-q", "-p", "no:cacheprovider",
         "-n", "2", "--dist", "loadfile", "--kubeconfig", str(embedded.kubeconfig),
         "--audit-log", str(embedded.audit_log), "--psa-run-id", run_id, "-o", f"psa_reports={reports}",
         f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        # both workers are submitting once their namespaces exist
        _until(lambda: len(_live(admin, run_id)) >= 4, 180, "the run's namespaces")
        if target == "process-group":
            os.killpg(proc.pid, signal.SIGTERM)   # what `timeout` and CI runners do
        else:
            os.kill(proc.pid, signal.SIGTERM)     # what `kill PID` does
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode not in (0, None), out[-3000:]
    _until(lambda: not _live(admin, run_id), 60, f"no Active namespace of run {run_id}")
    sealed = reports / "evidence" / run_id
    assert (sealed / "SHA256SUMS").is_file(), out[-3000:]
    result = bundle.verify(sealed)
    assert not result.lines(), result.lines()
    run = bundle.load_results(sealed)["run"]
    assert run["exit_status"] == pytest.ExitCode.INTERRUPTED
    assert run["status"] == "incomplete", run
    assert run["incomplete_reasons"][0].startswith("interrupted ("), run["incomplete_reasons"]
    assert re.search(r"after \d+ of \d+ items", run["incomplete_reasons"][0])
    header = re.search(r"<header>.*?</header>", (sealed / "index.html").read_text(), re.S).group(0)
    assert '<div class="sub">INCOMPLETE' in header and "interrupted (" in header and "PASSED" not in header
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["pss-harness.status"] == "incomplete" and props["pss-harness.incomplete_reasons"].startswith("interrupted")
    with sqlite3.connect(reports / "history.sqlite") as conn:
        assert conn.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone() == ("incomplete",)
