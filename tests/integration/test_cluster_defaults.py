"""A corpus run on a cluster whose AdmissionConfiguration sets PodSecurity ``defaults:`` still tests only its policies.

The embedded plane runs with defaults enforce=baseline, warn=restricted, audit=restricted (a hardened
cluster a user may point the nightly job at). A namespace labelled for one mode only would take the
other two from those defaults: a warn- or audit-mode item for a privileged pod would be denied by the
default enforce level, and enforce-mode items would draw the default's warnings and audit-violations.
The harness pins every mode in its namespaces (``harness.core.expectations.Policy.labels``), so a slice
of the real corpus, through the real plugin, in all three modes (audit read from the plane's audit
log), passes item for item; and each record's ``request.policy`` is exactly the PodSecurity labels its
namespace carries.

May import: the harness (embedded, cluster client, core) and the integration helpers.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.cluster.client import Cluster
from harness.cluster.namespaces import PROBE_POD
from harness.core.verdict import observe
from harness.embedded import EmbeddedCluster, PodSecurityDefaults

from _harness_run import harness_command, harness_env

ROOT = Path(__file__).resolve().parents[2]
SLICE = [  # attacks at both levels (one on the update path), a versioned check and two controls
    "scenarios/baseline/privileged/privileged-container.yaml",
    "scenarios/baseline/privileged/privileged-ephemeral-container.yaml",
    "scenarios/baseline/hostNamespaces/host-pid.yaml",
    "scenarios/restricted/runAsNonRoot/run-as-non-root-false-container.yaml",
    "scenarios/restricted/allowPrivilegeEscalation/privilege-escalation-unset.yaml",
    "scenarios/restricted/capabilities_restricted/capabilities-not-dropped-container.yaml",
    "scenarios/controls/bases/hardened-pod.yaml",
    "scenarios/controls/bases/baseline-base.yaml",
]
DEFAULTS = PodSecurityDefaults(enforce="baseline", warn="restricted", audit="restricted")
RUN_ID = "defaults"
PSA = "pod-security.kubernetes.io/"


@pytest.fixture(scope="module")
def hardened():
    with EmbeddedCluster(defaults=DEFAULTS) as plane:
        yield plane


@pytest.fixture(scope="module")
def run(hardened, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("defaults-run")
    for rel in SLICE:
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, workdir / rel)
    args = harness_command(hardened, "--rootdir", str(workdir), "--psa-reports", "reports", "--keep-namespaces",
                           run_id=RUN_ID)
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=600, env=harness_env())
    results = json.loads((workdir / "reports" / "evidence" / RUN_ID / "results.json").read_text())
    return proc, results


def test_the_plane_really_has_the_defaults(hardened):
    """Without pinned labels the defaults apply: a namespace labelled only warn=privileged denies a privileged pod."""
    admin = Cluster(hardened.kubeconfig)
    admin.create_namespace("unpinned-warn", {PSA + "warn": "privileged", PSA + "warn-version": "latest"})
    admin.wait_for("serviceaccounts", "unpinned-warn", "default")
    obs = observe(admin.submit(PROBE_POD, "unpinned-warn"), 37)
    assert obs.outcome.value == "denied" and obs.violation.policy == "baseline:latest", obs


def test_every_item_of_a_corpus_slice_passes_in_all_three_modes(run, schema_check):
    proc, results = run
    log = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, log
    schema_check(results, "results")
    records = results["results"]
    by_mode = collections.Counter(r["policy"]["mode"] for r in records)
    assert set(by_mode) == {"enforce", "warn", "audit"} and min(by_mode.values()) >= 20, by_mode
    not_passed = [(r["name"], r["result"], r["problems"]) for r in records if r["result"] != "passed"]
    assert not not_passed, not_passed[:5]
    audit = [r for r in records if r["policy"]["mode"] == "audit" and r["policy"]["level"] != "privileged"
             and r["expected"]["audit_checks"]]
    assert audit and all(r["observed"]["audit_annotations"].get(PSA + "audit-violations") for r in audit)
    # the modes not under test are privileged: a Pod's audit event says so, never the default's baseline
    # (workloads are never enforced: their events carry no enforce-policy)
    assert {r["observed"]["audit_annotations"].get(PSA + "enforce-policy") for r in audit
            if r["kind"] == "Pod"} == {"privileged:latest"}


def test_each_record_names_exactly_the_labels_its_namespace_carries(run, hardened):
    _, results = run
    admin = Cluster(hardened.kubeconfig)
    carried = {ns["metadata"]["name"]: {k: v for k, v in ns["metadata"]["labels"].items() if k.startswith(PSA)}
               for ns in admin.list_namespaces(f"pss-harness.io/run-id={RUN_ID}")}
    seen = set()
    for r in results["results"]:
        if r["request"] is None:
            continue
        ns = r["request"]["namespace"]
        assert r["request"]["policy"] == carried[ns], (r["name"], ns)
        assert len(carried[ns]) == 6, carried[ns]  # every mode and its version pinned
        seen.add(r["policy"]["mode"])
    assert seen == {"enforce", "warn", "audit"}
