"""`pss-harness truth` against real API servers: the whole corpus agrees, and wrong data is caught.

The first test is the corpus's server-side truth in CI: every scenario, every kind it declares,
baseline and restricted, ``latest`` and each declared boundary (b-1, b), against the embedded
v1.37.2 (5,140 items; ~25 s including the control-plane start).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness.core.expectations import Policy, expected
from harness.core.model import DEFAULT_K8S_VERSION, LATEST, Level, Mode, PolicyVersion
from harness.core.resources import corpus_dir
from harness.corpus.scenarios import load_corpus

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
HARDENED = (corpus_dir() / "controls" / "bases" / "hardened-pod.yaml").read_text()


def truth(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "harness", "truth", *args], capture_output=True, text=True,
                          timeout=900, cwd=REPO)
    return proc.returncode, proc.stdout, proc.stderr


def test_every_scenario_agrees_with_the_embedded_server():
    status, out, err = truth("--format", "json")
    assert status == 0, err[-3000:] + out[-3000:]
    doc = json.loads(out)
    scenarios = load_corpus([corpus_dir()])
    items, outcomes = 0, Counter()
    for s in scenarios:
        versions = {LATEST} | {PolicyVersion(m) for b in s.boundaries() for m in (b - 1, b)}
        for v in versions:
            for level in (Level.BASELINE, Level.RESTRICTED):
                for kind in s.kinds:
                    items += 1
                    outcomes[expected(s, kind, Policy(level, Mode.ENFORCE, v), 37).outcome.value] += 1
    summary = doc["summary"]
    assert doc["server"] == DEFAULT_K8S_VERSION and doc["target"] == "embedded"
    assert summary["scenarios"] == len(scenarios) >= 150
    assert summary["items"] == items and summary["agree"] == items
    assert summary["disagree"] == 0 and summary["errors"] == 0
    assert doc["disagreements"] == [] and doc["errors"] == []
    assert summary["expected"] == dict(outcomes)
    assert set(outcomes) == {"admitted", "denied", "warned", "invalid"}  # every outcome is exercised
    assert summary["seconds"] > 0
    assert f"truth: {len(scenarios)} scenarios, {items} items" in err  # progress on stderr


def test_wrong_scenario_data_is_a_disagreement_with_exit_1(tmp_path, embedded):
    (tmp_path / "hardened-pod.yaml").write_text(HARDENED)
    # a privileged pod whose data claims the wrong check
    wrong = HARDENED.replace("name: hardened-pod", "name: wrongly-declared") \
        .replace("level: none", "level: baseline").replace("checks: []", "checks: [hostNamespaces]") \
        .replace("allowPrivilegeEscalation: false", "privileged: true")
    (tmp_path / "wrongly-declared.yaml").write_text(wrong)
    status, out, err = truth("--scenarios", str(tmp_path), "--kubeconfig", str(embedded.kubeconfig),
                             "--context", "admin")
    assert status == 1, err[-3000:]
    # 2 scenarios x 9 kinds x 2 levels x latest; the wrong one disagrees at both levels for every kind
    assert "18 agree, 18 disagree, 0 error(s) of 36 items" in out, out
    assert f"against kubeconfig {embedded.kubeconfig} context admin (Kubernetes {DEFAULT_K8S_VERSION})" in out
    lines = [line for line in out.splitlines() if line.startswith("  wrongly-declared [")]
    assert len(lines) == 18 and not [line for line in out.splitlines() if line.startswith("  hardened-pod [")]
    assert "[Pod baseline:latest] expected denied ['hostNamespaces'], observed denied ['privileged']" in out
    assert "denied: missing expected check(s) hostNamespaces; denied: unexpected check(s) privileged" in out
    assert "[Deployment restricted:latest] expected warned ['hostNamespaces'], observed warned ['allowPrivilegeEscalation', 'privileged']" in out
