"""``pss-harness run``: the pytest command it builds, how arguments pass through, and that it collects the corpus.

No cluster: the one real pytest run here is ``--collect-only``. The run against the embedded
control plane from an installed wheel is tests/integration/test_wheel_install.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.cli import run as run_cli
from harness.core.resources import corpus_dir
from harness.corpus.scenarios import load_corpus

REPO = Path(__file__).resolve().parents[2]


def test_the_command_runs_the_packaged_corpus_with_the_plugin_and_reports_into_the_cwd(tmp_path):
    cmd = run_cli.pytest_command(["-k", "privileged"], tmp_path)
    assert cmd[:4] == [sys.executable, "-P", "-m", "pytest"]
    assert cmd[4] == str(corpus_dir())
    assert cmd[cmd.index("-p") + 1] == "harness.plugin"
    assert f"--psa-reports={tmp_path / 'reports'}" in cmd
    # JUnit and Allure: the plugin's per-run defaults under the report directory (never a shared file)
    assert not [a for a in cmd if a.startswith(("--junitxml", "--alluredir", "--clean-alluredir"))]
    assert cmd[-2:] == ["-k", "privileged"]  # the user's arguments come last, so they win


def test_the_users_own_report_paths_replace_the_defaults(tmp_path):
    cmd = run_cli.pytest_command(["--junitxml=out.xml", "--alluredir", "al", "--psa-reports", "mine"], tmp_path)
    assert [a for a in cmd if a.startswith("--junitxml")] == ["--junitxml=out.xml"]
    assert [a for a in cmd if a.startswith("--alluredir")] == ["--alluredir"]
    assert [a for a in cmd if a.startswith("--psa-reports")] == ["--psa-reports"]
    assert "--clean-alluredir" not in cmd


def test_arguments_pass_through_in_order_and_other_commands_refuse_unknown_ones(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append((path, argv)))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--", "-k", "not integration", "-n", "2", "--psa-kinds=Pod"]) == 0
    (path, argv), = calls
    assert path == sys.executable and argv[-5:] == ["-k", "not integration", "-n", "2", "--psa-kinds=Pod"]
    with pytest.raises(SystemExit) as exc:
        cli.main(["cluster", "status", "--bogus"])
    assert exc.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_a_missing_corpus_is_one_message_not_a_traceback(monkeypatch, tmp_path, capsys):
    def missing():
        raise FileNotFoundError("pss-harness data directory 'scenarios' is missing")
    monkeypatch.setattr(run_cli, "corpus_dir", missing)
    assert cli.main(["run"]) == 2
    assert capsys.readouterr().err.strip() == "pss-harness: error: pss-harness data directory 'scenarios' is missing"


def test_it_collects_the_whole_corpus_from_another_directory(tmp_path):
    """The real command with ``--co``, run where there is no checkout: every scenario file is collected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSS_HARNESS_", "PYTEST_"))}
    env["PYTHONPATH"] = str(REPO)  # -P drops the cwd, not PYTHONPATH
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--co", "-q", "--psa-levels", "baseline",
                           "--psa-modes", "enforce", "--psa-versions", "latest", "--psa-kinds", "Pod"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    pod_scenarios = [s for s in load_corpus([corpus_dir()]) if "Pod" in s.kinds]
    assert len(ids) == len(pod_scenarios) > 100  # one baseline-enforce-latest Pod item per scenario
    assert all(i.startswith("scenarios/") for i in ids), ids[:3]
    assert len(list((tmp_path / "reports" / "runs").glob("*/junit.xml"))) == 1  # the run's own JUnit XML


def test_a_run_with_its_own_reports_directory_keeps_pytest_s_cache_there(tmp_path):
    from harness.cli.run import pytest_command

    shared = pytest_command([], tmp_path)
    assert f"cache_dir={tmp_path / '.pytest_cache'}" in shared
    own = pytest_command([], tmp_path, reports=tmp_path / "fleet" / "prod-eu")
    assert f"cache_dir={tmp_path / 'fleet' / 'prod-eu' / '.pytest_cache'}" in own  # fleet: runs share nothing
    assert f"--psa-reports={tmp_path / 'fleet' / 'prod-eu'}" in own
