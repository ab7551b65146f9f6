"""Sharded runs against a real embedded plane: the merged shards are the unsharded run, item for item.

The shards take their index as a pod of an Indexed Job would: the test creates the example Job
(``examples/fleet/indexed-job.yaml``) on the embedded plane, whose Job controller makes its pods
(nothing runs them: there is no kubelet), and reads from each pod what Kubernetes gave it:
``JOB_COMPLETION_INDEX`` (an env var of the container; the docs say it comes from the pod annotation
``batch.kubernetes.io/job-completion-index``, v1.37's controller takes the pod label of that name)
and nothing holding the Job's ``completions``, which the template passes as ``PSS_HARNESS_SHARDS``. Every run uses pytest-xdist (``-n 2``), so each
worker filters its collection alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cluster.client import Cluster
from harness.core.polling import poll
from harness.core.shard import shard_of
from harness.reports import bundle

from _harness_run import run_harness

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "fleet" / "indexed-job.yaml"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
SHARDS = 3


def _judgement(record: dict) -> tuple:
    obs = record["observed"] or {}
    return (record["result"], record["expected"], obs.get("outcome"), obs.get("checks"), record["controls"])


@pytest.fixture(scope="module")
def job_pods(embedded):
    """The pods the Job controller made for the example Job (completions set to SHARDS), by completion index."""
    admin = Cluster(embedded.kubeconfig)
    ns = "shards"
    admin.create_namespace(ns, {"pod-security.kubernetes.io/enforce": "restricted"})  # the example is restricted
    poll(lambda: admin.request("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default").ok, timeout=60,
         what="the namespace's default ServiceAccount")
    admin.checked("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                  {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "pss-harness-runner"}})
    job = yaml.safe_load(EXAMPLE.read_text())
    job["spec"]["completions"] = job["spec"]["parallelism"] = SHARDS
    job["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "PSS_HARNESS_SHARDS", "value": str(SHARDS)}]
    admin.checked("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)
    pods = poll(lambda: admin.request("GET", f"/api/v1/namespaces/{ns}/pods",
                                      query={"labelSelector": "job-name=pss-harness-shards"}).body.get("items", []),
                until=lambda items: len(items) == SHARDS, timeout=90, interval=0.5, what="the Job's pods")
    return {int(p["metadata"]["annotations"][INDEX_ANNOTATION]): p for p in pods}


def test_the_job_controller_gives_each_pod_its_index_but_not_the_count(job_pods):
    assert sorted(job_pods) == list(range(SHARDS))
    for index, pod in job_pods.items():
        env = pod["spec"]["containers"][0]["env"]
        by_name = {e["name"]: e for e in env}
        # the docs ("Indexed Job for Parallel Processing") name the annotation; v1.37's controller reads the
        # pod's label of the same name (both carry the index)
        assert by_name["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == \
            f"metadata.labels['{INDEX_ANNOTATION}']"
        assert pod["metadata"]["annotations"][INDEX_ANNOTATION] == str(index)
        assert by_name["PSS_HARNESS_SHARDS"]["value"] == str(SHARDS)  # only because the template says so
        assert [e for e in env if e["name"] not in ("JOB_COMPLETION_INDEX", "PSS_HARNESS_SHARDS")] == []
        assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == str(index)
        assert pod["spec"]["hostname"] == f"pss-harness-shards-{index}"


def _pod_env(pod: dict) -> dict[str, str]:
    """The environment the pod's container would see (the fieldRef resolved from its annotation)."""
    out = {}
    for e in pod["spec"]["containers"][0]["env"]:
        if "value" in e:
            out[e["name"]] = e["value"]
        else:
            path = e["valueFrom"]["fieldRef"]["fieldPath"]     # metadata.labels['...'] or metadata.annotations['...']
            field, key = path.removeprefix("metadata.").split("['", 1)
            out[e["name"]] = pod["metadata"][field][key.rstrip("']")]
    return out


def test_the_merged_shards_equal_the_unsharded_run_item_for_item(embedded, job_pods, tmp_path, schema_check):
    whole = run_harness(embedded, tmp_path, run_id="whole")
    assert whole.process.returncode == 1, whole.log  # the corpus's mislabelled scenario fails
    shards = [run_harness(embedded, tmp_path, "--psa-shard", f"0/{SHARDS}", run_id="shard0")]
    shards += [run_harness(embedded, tmp_path, run_id=f"shard{i}", env=_pod_env(job_pods[i])) for i in range(1, SHARDS)]
    reference = bundle.load_results(whole.evidence)["results"]
    assert len(reference) == 3 * 4 * 7
    for i, shard in enumerate(shards):
        data = bundle.load_results(shard.evidence)
        source = "command line" if i == 0 else "$JOB_COMPLETION_INDEX"
        assert data["run"]["shard"] == {"index": i, "count": SHARDS, "source": source}, shard.log
        assert data["results"] and all(shard_of(r["nodeid"], SHARDS) == i for r in data["results"])
        assert f"shard {i}/{SHARDS} ({source})" in shard.log
        schema_check(data, "results")

    def merge(out: Path, *dirs: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness", "report", "merge", str(out), *map(str, dirs)],
                              capture_output=True, text=True, timeout=120)

    missing = merge(tmp_path / "partial", shards[0].evidence, shards[2].evidence)
    assert missing.returncode == 2 and f"shard(s) 1/{SHARDS} of the run are missing" in missing.stderr
    done = merge(tmp_path / "merged", *(s.evidence for s in reversed(shards)))
    assert done.returncode == 0, done.stderr
    verified = subprocess.run([sys.executable, "-m", "harness", "report", "verify", str(tmp_path / "merged")],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    merged = bundle.load_results(tmp_path / "merged")
    schema_check(merged, "results")
    assert merged["run"]["shard_coverage"] == {"count": SHARDS, "present": [0, 1, 2], "missing": [], "complete": True}
    assert [r["nodeid"] for r in merged["results"]] == [r["nodeid"] for r in reference]
    assert [_judgement(r) for r in merged["results"]] == [_judgement(r) for r in reference]
    assert merged["run"]["counts"] == bundle.load_results(whole.evidence)["run"]["counts"]
    assert merged["run"]["corpus_sha256"] == bundle.load_results(whole.evidence)["run"]["corpus_sha256"]
    assert json.loads(json.dumps(merged["run"]["shards"]))[0]["count"] == SHARDS


def test_an_empty_shard_still_leaves_its_bundle_and_succeeds(embedded, tmp_path, schema_check):
    """More shards than a shard can fill: the one that owns no item says so (exit 0, an empty bundle) for merge."""
    whole = run_harness(embedded, tmp_path, "--co", "-q", run_id="listing")
    nodeids = [line for line in whole.process.stdout.splitlines() if "::" in line]
    assert len(nodeids) == 3 * 4 * 7
    count = 200
    empty = next(i for i in range(count) if all(shard_of(n, count) != i for n in nodeids))
    run = run_harness(embedded, tmp_path, "--psa-shard", f"{empty}/{count}", run_id="empty")
    assert run.process.returncode == 0, run.log
    data = bundle.load_results(run.evidence)
    assert data["results"] == [] and data["run"]["shard"]["index"] == empty and data["run"]["items"] == 0
    schema_check(data, "results")
    assert bundle.verify(run.evidence).ok
