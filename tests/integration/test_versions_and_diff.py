"""Several Kubernetes versions side by side, and the upgrade diff between them (issue: regression check)."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cluster.client import Cluster
from harness.embedded import EmbeddedCluster, binaries_for
from harness.reports import bundle

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "upgrade"
OLD = "1.34"  # built by `make controlplane` (pss-harness cluster build --k8s-version 1.34)

# what moving from policy v1.34 to v1.37 changes for tests/fixtures/upgrade (see the files' comments)
EXPECTED_CHANGES = {
    ("sysctl-slow-start", "Pod", "baseline", "newly-admitted", ("sysctls",), ()),
    ("sysctl-slow-start", "Pod", "restricted", "newly-admitted", ("sysctls",), ()),
    ("userns-root", "Pod", "restricted", "newly-admitted", ("runAsNonRoot", "runAsUser"), ()),
    ("userns-unmasked", "Deployment", "baseline", "newly-admitted", ("procMount",), ()),
    ("userns-unmasked", "Deployment", "restricted", "checks-changed", ("procMount",), ("procMount_restricted",)),
}


# ... each one the Pod Security Standards' own (the evaluator at v1.34 and v1.37 predicts both answers)
EXPLANATIONS = {
    ("sysctl-slow-start", "Pod", "baseline"): "expected-relaxation (v1.37: sysctls)",
    ("sysctl-slow-start", "Pod", "restricted"): "expected-relaxation (v1.37: sysctls)",
    ("userns-root", "Pod", "restricted"): "expected-relaxation (v1.35: runAsNonRoot, runAsUser)",
    ("userns-unmasked", "Deployment", "baseline"): "expected-relaxation (v1.35: procMount)",
    ("userns-unmasked", "Deployment", "restricted"): "expected-change (v1.35: procMount, procMount_restricted)",
}


def explanations(doc: dict) -> dict:
    return {(c["name"], c["kind"], c["level"]): (c["explanation"] or {}).get("text") for c in doc["changes"]}


def diff(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "harness", "diff", "--format", "json", *args],
                          capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert proc.returncode in (0, 1, 3, 4, 5), proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def changes(doc: dict) -> set:
    return {(c["name"], c["kind"], c["level"], c["change"], tuple(c["from"]["checks"]), tuple(c["to"]["checks"]))
            for c in doc["changes"]}


def test_two_versions_run_side_by_side():
    with EmbeddedCluster(OLD, controller_manager=False) as old, EmbeddedCluster(controller_manager=False) as new:
        assert old.version.startswith("v1.34.") and new.version == binaries_for().version
        assert old.ports["apiserver"] != new.ports["apiserver"]
        assert Cluster(old.kubeconfig).server_version()["gitVersion"] == old.version
        assert Cluster(new.kubeconfig).server_version()["gitVersion"] == new.version


def test_pinned_policy_versions_on_one_server_report_exactly_the_upgrade_changes(tmp_path, schema_check):
    status, doc = diff("--no-corpus", "--from-policy", "v1.34", "--to-policy", "latest", str(FIXTURES),
                       "--bundle", str(tmp_path / "bundle"))
    schema_check(doc, "diff")
    # the same diff as a bundle of its own: its results.json and diff.json conform too
    assert bundle.verify(tmp_path / "bundle").ok
    schema_check(json.loads((tmp_path / "bundle" / "results.json").read_text()), "results")
    sealed = json.loads((tmp_path / "bundle" / "diff.json").read_text())
    schema_check(sealed, "diff")
    assert {k: v for k, v in sealed.items() if k not in ("started", "finished")} == doc
    assert changes(doc) == EXPECTED_CHANGES
    # #11.18: the four relaxations and the procMount rewording are the standard's own, not regressions
    assert explanations(doc) == EXPLANATIONS
    assert status == 0  # nothing unexplained
    assert doc["summary"]["compared"] == 8 and doc["summary"]["newly-admitted"] == 0
    assert (doc["summary"]["expected"], doc["summary"]["unexplained"]) == (5, 0)
    assert sum(c["change"] == "newly-admitted" for c in doc["changes"]) == 4
    # --fail-on-expected counts them: the regressions-found status of before
    strict, doc2 = diff("--no-corpus", "--from-policy", "v1.34", "--to-policy", "latest", str(FIXTURES),
                        "--fail-on-expected")
    assert strict == 3 and changes(doc2) == EXPECTED_CHANGES


def test_embedded_1_34_vs_1_37_reports_the_same_policy_changes(schema_check):
    status, doc = diff("--no-corpus", "--from-k8s", OLD, "--to-k8s", binaries_for().version, str(FIXTURES))
    schema_check(doc, "diff")
    assert changes(doc) == EXPECTED_CHANGES
    assert explanations(doc) == EXPLANATIONS  # 'latest' on each server: v1.34 and v1.37
    assert status == 0
    assert "v1.34" in doc["from"] and "v1.37.2" in doc["to"]


def test_no_change_means_exit_zero_and_an_empty_list(schema_check):
    status, doc = diff("--no-corpus", "--from-policy", "v1.36", "--to-policy", "v1.35", str(FIXTURES / "unchanged.yaml"))
    schema_check(doc, "diff")
    assert status == 0 and doc["changes"] == [] and doc["summary"]["compared"] == 2


def test_the_corpus_upgrade_from_policy_v1_34_is_all_the_standards_own(schema_check):
    """#11.18: the intended v1.35/v1.37 relaxations of the corpus (64 of them) were 'regressions',
    so every upgrade exited 3; each is now explained, and nothing is left unexplained."""
    status, doc = diff("--from-policy", "v1.34", "--to-policy", "latest")
    schema_check(doc, "diff")
    s = doc["summary"]
    assert s["changed"] > 0 and s["expected"] == s["changed"] and s["unexplained"] == 0, \
        [c for c in doc["changes"] if not c["explanation"]][:5]
    labels = collections.Counter(c["explanation"]["label"] for c in doc["changes"])
    assert set(labels) == {"expected-relaxation", "expected-change"} and labels["expected-relaxation"] >= 64
    for c in doc["changes"]:
        assert c["explanation"]["versions"] and set(c["explanation"]["versions"]) <= {"v1.35", "v1.37"}, c
        assert (c["change"] == "newly-admitted") == (c["explanation"]["label"] == "expected-relaxation"), c
    assert status == 0
    # grouped across kinds: every change in exactly one group
    assert sum(len(g["kinds"]) for g in doc["groups"]) == len(doc["changes"]) > len(doc["groups"])
