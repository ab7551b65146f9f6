"""Install like a user: a wheel built from the repository, in a fresh venv, runs the corpus against the embedded plane.

The module builds a wheel from a copy of the repository's files (``pip wheel``, so setuptools'
in-tree ``build/`` never touches the checkout), creates a venv without system site-packages,
installs the wheel and its dependencies from the package index, and then works only from a
directory outside the repository with ``PYTHONPATH`` unset, so nothing can be read from the
checkout:

* ``pss-harness --version`` names the project's version;
* the installed package carries ``harness/_data/scenarios``, ``harness/_data/controlplane`` and
  ``harness/_data/policies`` byte-identical to the repository's trees, and ``harness.core.resources``
  resolves to them;
* ``pss-harness cluster build`` finds the cached binaries (``~/.cache/pss-harness/k8s/v1.37.2``,
  or under ``$PSS_HARNESS_CACHE``). A cold build is not repeated here: CI's first build covers it,
  and the build reads nothing but the Go module, which the equality check above shows the wheel
  ships unchanged;
* ``pss-harness run`` runs a slice of the packaged corpus (the ``privileged`` check, every level
  and mode, Pod and Deployment, under pytest-xdist as the main job runs) against the embedded
  control plane it starts itself: every item passes, and the reports land in the current directory.

Measured on the project's 2-core machine (shared): 31-33 s, with a warm or an empty pip cache
(wheel, venv and install 17-19 s; the run, 77 items, 12-13 s), so it is not marked slow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
_IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "reports", "__pycache__",
                                  ".pytest_cache", ".hypothesis", "*.pyc")
# what points a run at an existing cluster, or steers pytest, in the environment of the suite itself
_FOREIGN_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PSS_HARNESS_KUBECONFIG", "PSS_HARNESS_CONTEXT",
                "PSS_HARNESS_AUDIT_LOG")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV and not k.startswith("PYTEST_")}


def _run(cmd: list, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _copy_sources(dest: Path) -> None:
    """The repository's files as a user's checkout has them: tracked and untracked, not ignored."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True)
    if listed.returncode != 0:  # not a git checkout (an unpacked sdist, say)
        shutil.copytree(REPO, dest, ignore=_IGNORED)
        return
    for rel in filter(None, listed.stdout.split("\0")):
        src = REPO / rel
        if src.is_file():  # a tracked file deleted in the work tree is not part of the checkout
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("wheel-install")
    src, dist, env_dir, user = work / "src", work / "dist", work / "venv", work / "user"
    _copy_sources(src)
    user.mkdir()
    _run([sys.executable, "-m", "venv", env_dir], work)  # no --system-site-packages: only what the wheel pulls in
    python = env_dir / "bin" / "python"
    _run([python, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, src], work)
    wheel, = dist.glob("pss_harness-*.whl")
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel], work, timeout=900)
    return {"python": python, "bin": env_dir / "bin", "user": user, "wheel": wheel}


def test_the_installed_command_reports_the_projects_version(venv):
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    out = _run([venv["bin"] / "pss-harness", "--version"], venv["user"]).stdout
    assert out.strip() == f"pss-harness {version}"


def test_the_package_carries_the_corpus_and_the_go_module_identical_to_the_repositorys(venv):
    code = ("import json, harness; from harness.core import resources as r; "
            "print(json.dumps([harness.__file__, str(r.corpus_dir()), str(r.go_module_dir()), str(r.policies_dir())]))")
    init, corpus, go_module, policies = map(Path, json.loads(_run([venv["python"], "-c", code], venv["user"]).stdout))
    site = Path(init).parent
    assert site.is_relative_to(venv["python"].parent.parent), f"harness imported from {site}, not the venv"
    assert corpus == site / "_data" / "scenarios" and go_module == site / "_data" / "controlplane"
    installed, repo = _tree(corpus), _tree(REPO / "scenarios")
    assert sorted(installed) == sorted(repo)
    assert [name for name in repo if installed[name] != repo[name]] == []
    assert len([n for n in installed if n.endswith(".yaml")]) > 100
    assert _tree(go_module) == _tree(REPO / "controlplane")
    assert (go_module / "go.mod").read_bytes() == (REPO / "controlplane" / "go.mod").read_bytes()
    assert policies == site / "_data" / "policies" and _tree(policies) == _tree(REPO / "policies")
    assert len(list((policies / "vap").glob("pss-*.yaml"))) == 19  # the PSS-in-CEL set --psa-engine vap installs


def test_cluster_build_finds_the_cached_control_plane(venv):
    out = _run([venv["bin"] / "pss-harness", "cluster", "build"], venv["user"], timeout=3600).stdout
    assert re.search(r"Kubernetes v1\.\d+\.\d+ is already built \(etcd v[\d.]+\): /\S+", out), out


def test_run_passes_a_slice_of_the_packaged_corpus_against_the_embedded_plane(venv):
    user = venv["user"]
    proc = subprocess.run(
        [venv["bin"] / "pss-harness", "run", "-m", "check_privileged", "--psa-kinds", "Pod,Deployment",
         "--psa-versions", "latest", "--psa-run-id", "wheel", "-n", "2", "--dist", "loadfile"],
        cwd=user, env=_env(), capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "pss-harness: starting the embedded control plane" in log
    summary = re.search(r"=+ (\d+) passed(?:, (\d+) warnings?)? in [\d.]+s", log)
    assert summary, log[-3000:]
    passed = int(summary.group(1))
    assert passed >= 10
    results = json.loads((user / "reports" / "evidence" / "wheel" / "results.json").read_text())
    records = results["results"]
    assert results["run"]["exit_status"] == 0 and results["run"]["counts"] == {"passed": passed}
    assert len(records) == passed
    assert {r["kind"] for r in records} == {"Pod", "Deployment"}
    assert {r["policy"]["mode"] for r in records} == {"enforce", "warn", "audit"}  # audit: the plane's own log
    assert all("privileged" in r["declared_checks"] for r in records)
    assert all(r["file"].startswith("scenarios/") for r in records), records[0]["file"]
    assert results["run"]["status"] == "passed"
    assert (user / "reports" / "runs" / "wheel" / "junit.xml").is_file()
    assert any((user / "reports" / "runs" / "wheel" / "allure-results").glob("*-result.json"))
    assert (user / "reports" / "history.sqlite").is_file()
    assert (user / "reports" / "latest" / "evidence" / "results.json").is_file()
