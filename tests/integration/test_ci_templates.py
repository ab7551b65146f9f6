"""The CI templates in examples/ci/ pass real linters, and the linters fail a broken copy.

GitHub Actions: actionlint (built from its Go module, cached: ``_tools.py``; it runs shellcheck on
each ``run:`` script when shellcheck is installed, as .ci/run does) and the GitHub workflow JSON
Schema. GitLab CI: GitLab's own CI JSON Schema. Both schemas are the ones check-jsonschema vendors
(``--builtin-schema vendor.github-workflows`` / ``vendor.gitlab-ci``). No cluster is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _tools import ensure_tool

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / "examples" / "ci" / "github-actions.yml"
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml"


@pytest.fixture(scope="module")
def actionlint() -> Path:
    return ensure_tool("actionlint")


def run_actionlint(binary: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), "-no-color", "-verbose", str(path)], capture_output=True, text=True, timeout=120)


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", f"vendor.{schema}", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_the_github_workflow_passes_actionlint(actionlint):
    proc = run_actionlint(actionlint, GITHUB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if shutil.which("shellcheck"):  # the run: scripts were checked too
        assert 'Rule "shellcheck" was disabled' not in proc.stderr


def test_the_github_workflow_matches_the_workflow_schema():
    proc = check_jsonschema("github-workflows", GITHUB)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_gitlab_job_matches_gitlabs_ci_schema():
    proc = check_jsonschema("gitlab-ci", GITLAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("old, new, expected", [
    ("runs-on: ubuntu-latest\n    timeout-minutes: 120", "runs-onn: ubuntu-latest\n    timeout-minutes: 120",
     'unexpected key "runs-onn"'),
    ("if-no-files-found: warn", "if-no-file-found: warn", 'input "if-no-file-found" is not defined'),
    ("${{ secrets.STAGING_KUBECONFIG }}", "${{ secrets.STAGING_KUBECONFIG }", "unexpected EOF while lexing"),
    ("${{ secrets.STAGING_KUBECONFIG }}", "${{ secret.STAGING_KUBECONFIG }}", 'undefined variable "secret"'),
    ('> "$RUNNER_TEMP/kubeconfig"', "> $RUNNER_TEMP/kubeconfig", "SC2086"),  # shellcheck, through actionlint
])
def test_actionlint_fails_a_broken_workflow(actionlint, tmp_path, old, new, expected):
    if expected.startswith("SC") and not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (.ci/run installs it)")
    text = GITHUB.read_text()
    assert old in text
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace(old, new, 1))
    proc = run_actionlint(actionlint, broken)
    assert proc.returncode == 1 and expected in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("old, new", [
    ("    when: always\n    expire_in: 30 days\n    paths:\n      - reports/evidence/",
     "    when: sometimes\n    expire_in: 30 days\n    paths:\n      - reports/evidence/"),
    ("  timeout: 2h\n", "  timeout: 2h\n  retry: {max: 9}\n"),
    ("  stage: test\n  timeout: 2h", "  stage: 7\n  timeout: 2h"),
    ("  script:\n    - pss-harness run", "  scripts:\n    - pss-harness run"),
])
def test_the_gitlab_schema_fails_a_broken_job(tmp_path, old, new):
    text = GITLAB.read_text()
    assert old in text
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace(old, new, 1))
    proc = check_jsonschema("gitlab-ci", broken)
    assert proc.returncode == 1 and "validation errors" in (proc.stdout + proc.stderr), proc.stdout + proc.stderr


def test_the_workflow_schema_fails_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace("timeout-minutes: 20", "timeout-minutes: twenty", 1))
    proc = check_jsonschema("github-workflows", broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr
