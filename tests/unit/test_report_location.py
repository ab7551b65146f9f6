"""Where a run's reports go: a defined place whatever the rootdir, one directory per run, never the main job's
``reports/`` for the test suite (no cluster: ``--collect-only`` runs in subprocesses).

Before: a scenario directory given from elsewhere wrote under the rootdir (``/reports/...`` when that
was ``/``) and, with no ini file, produced no JUnit XML or Allure results; JUnit and Allure paths were
the shared ``reports/junit.xml`` and ``reports/allure-results`` of the project's addopts, so the test
suite's own run (``make test``) overwrote the main job's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "tests" / "assets" / "_corpus" / "vulnerable-pod.yaml"


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSS_HARNESS_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _collect(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def scenarios(tmp_path) -> Path:
    d = tmp_path / "elsewhere" / "my-scenarios"
    d.mkdir(parents=True)
    shutil.copy(SEED, d / SEED.name)
    return d


def test_reports_go_to_the_current_directory_not_the_rootdir(tmp_path, scenarios):
    cwd = tmp_path / "work"
    cwd.mkdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", str(scenarios), "--co", "-p", "no:cacheprovider",
                           "--psa-run-id", "loc"], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"rootdir: {tmp_path}\n" in proc.stdout  # the common ancestor, not the current directory
    assert (cwd / "reports" / "runs" / "loc" / "junit.xml").is_file()  # JUnit without any ini file or option
    assert not (tmp_path / "reports").exists() and not (scenarios / "reports").exists()


def test_psa_reports_option_and_ini_value(tmp_path, scenarios):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\npsa_reports = out\n")
    # an ini value: relative to the ini file's directory, wherever pytest is started
    _collect(project / "sub", str(scenarios), "--psa-run-id", "ini", "-c", str(project / "pytest.ini"))
    assert (project / "out" / "runs" / "ini" / "junit.xml").is_file()
    # -o and --psa-reports: relative to the current directory
    _collect(project / "sub", str(scenarios), "--psa-run-id", "over", "-c", str(project / "pytest.ini"),
             "-o", "psa_reports=o2")
    assert (project / "sub" / "o2" / "runs" / "over" / "junit.xml").is_file()
    _collect(project / "sub", str(scenarios), "--psa-run-id", "cli", "-c", str(project / "pytest.ini"),
             "--psa-reports", "../cli-reports")
    assert (project / "cli-reports" / "runs" / "cli" / "junit.xml").is_file()
    # the user's own --junitxml wins, and each run keeps its own file
    _collect(project / "sub", str(scenarios), "--psa-run-id", "own", "--junitxml", "mine.xml")
    assert (project / "sub" / "mine.xml").is_file() and not (project / "out" / "runs" / "own").exists()
    assert (project / "out" / "runs" / "ini" / "junit.xml").is_file()


def test_the_test_suite_never_writes_into_the_main_jobs_reports():
    """The suite's own pytest run, from the checkout (as ``make test``), reports into ``test-reports/``."""
    run_id = f"suite{os.getpid()}"
    main, suite = REPO / "reports", REPO / "test-reports"
    before = sorted(p.relative_to(main) for p in main.rglob("*")) if main.exists() else []
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "tests/unit/test_exported_members.py", "-q",
                               "-p", "no:cacheprovider", "-p", "no:xdist", "--psa-run-id", run_id],
                              cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert (suite / "runs" / run_id / "junit.xml").is_file()
        assert (suite / "runs" / run_id / "allure-results").is_dir()
        after = sorted(p.relative_to(main) for p in main.rglob("*")) if main.exists() else []
        assert after == before, "the test suite wrote into the main job's reports/"
    finally:
        shutil.rmtree(suite / "runs" / run_id, ignore_errors=True)
