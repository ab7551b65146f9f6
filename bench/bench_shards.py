"""Sharded runs and the fleet's own cost, against one embedded control plane, with CPU accounting.

Two comparisons, each measured in the same run against the same kube-apiserver:

* **shards**: the default matrix as one run (``pytest scenarios -n JOBS``) vs the same matrix as
  SHARDS runs side by side (``--psa-shard I/SHARDS``, each ``-n SHARD_JOBS``), as the pods of an
  Indexed Job would run it. Figures: wall time of each, the ratio, and the core-seconds of the
  client side (every pytest process) and of kube-apiserver + etcd per phase (``CpuMeter`` of
  ``bench_matrix``). The shards' bundles are merged and must hold exactly the unsharded items.
  On a machine whose cores the server shares, the shards cannot beat the cores: the CPU figures
  say how close each phase gets (``cpu_bound_s`` = total core-seconds / cores).
* **fleet overhead**: ``pss-harness fleet`` over CONTEXTS contexts of the same plane (one at a time)
  with a small selection, vs as many ``pss-harness run`` of the same selection back to back, in
  alternation, REPEATS times: (fleet wall - direct wall) / CONTEXTS is what the fleet costs per
  cluster beyond the cluster's own run; the fleet's wall minus the sum of its runs' durations is
  its own bookkeeping (spawning, the status file, verifying each bundle, the summary).

Each phase ends when the namespace controller has deleted the phase's namespaces, so their
deletion is accounted to the phase that made them.

    python bench/bench_shards.py [--jobs 2] [--shards 4] [--shard-jobs 1] [--selection "-m kind_pod"] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from _report import emit
from bench_matrix import CpuMeter
from harness.cluster.client import Cluster
from harness.cluster.namespaces import OWNER, OWNER_LABEL
from harness.core.polling import poll
from harness.embedded import EmbeddedCluster

REPO = Path(__file__).resolve().parents[1]
FLEET_SELECTION = ["--psa-kinds", "Pod", "-m", "level_restricted and mode_enforce"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PSS_HARNESS_", "PYTEST_"))}


def _pytest(cluster: EmbeddedCluster, reports: Path, run_id: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "scenarios", "-q", "-p", "no:cacheprovider",
            "--kubeconfig", str(cluster.kubeconfig), "--audit-log", str(cluster.audit_log), "--psa-run-id", run_id,
            "-o", f"psa_reports={reports}", "--junitxml", str(reports / f"junit-{run_id}.xml"),
            f"--alluredir={reports / ('allure-' + run_id)}", *extra]


def _wait(procs: list[subprocess.Popen], what: str, cluster: EmbeddedCluster) -> None:
    """Wait for the runs, then until the namespace controller has deleted their namespaces.

    A run's namespace deletion is asynchronous (the controller lists and deletes every resource
    type in each), so without this its cost would land in the next phase's CPU accounting.
    """
    for p in procs:
        out, _ = p.communicate()
        if p.returncode not in (0, 1):
            raise SystemExit(f"{what} failed (exit {p.returncode}):\n{out[-3000:]}")
    admin = Cluster(cluster.kubeconfig)
    poll(lambda: admin.list_namespaces(f"{OWNER_LABEL}={OWNER}"), until=lambda left: not left, timeout=600,
         interval=0.5, what="the runs' namespaces to be deleted")


def run_unsharded(cluster, reports: Path, jobs: int, selection: list[str]) -> dict:
    with CpuMeter(cluster) as cpu:
        t0 = time.monotonic()
        proc = subprocess.Popen(_pytest(cluster, reports, "whole", ["-n", str(jobs), *selection]), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
        _wait([proc], "the unsharded run", cluster)
        wall = time.monotonic() - t0
    return {"wall_s": round(wall, 2), "client_cpu_s": round(cpu.client, 2), "server_cpu_s": round(cpu.server, 2)}


def run_sharded(cluster, reports: Path, shards: int, shard_jobs: int, selection: list[str]) -> dict:
    xdist = ["-n", str(shard_jobs)] if shard_jobs > 1 else []
    with CpuMeter(cluster) as cpu:
        t0 = time.monotonic()
        procs = [subprocess.Popen(_pytest(cluster, reports, f"shard{i}", [*xdist, "--psa-shard", f"{i}/{shards}",
                                                                           *selection]),
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
                 for i in range(shards)]
        _wait(procs, "a shard", cluster)
        wall = time.monotonic() - t0
    return {"wall_s": round(wall, 2), "client_cpu_s": round(cpu.client, 2), "server_cpu_s": round(cpu.server, 2)}


def _items(directory: Path) -> list[str]:
    return [r["nodeid"] for r in json.loads((directory / "results.json").read_text())["results"]]


def _fleet_kubeconfig(cluster: EmbeddedCluster, contexts: int, path: Path) -> list[str]:
    data = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    names = [f"c{i}" for i in range(contexts)]
    data["contexts"] = [{"name": n, "context": {"cluster": data["clusters"][0]["name"], "user": "admin"}} for n in names]
    data["current-context"] = names[0]
    path.write_text(yaml.safe_dump(data))
    return names


def run_fleet_overhead(cluster, work: Path, contexts: int, repeats: int) -> dict:
    """Medians over ``repeats`` alternations of a direct run and a fleet of ``contexts`` contexts (same plane)."""
    env = _env()
    names = _fleet_kubeconfig(cluster, contexts, work / "kubeconfig")
    direct_walls, fleet_walls, own, runs = [], [], [], []
    items = 0
    for r in range(repeats):
        t0 = time.monotonic()
        for _ in range(contexts):  # the same runs back to back, as the fleet runs them (--parallel 1)
            direct = subprocess.run([sys.executable, "-m", "harness", "run", "--kubeconfig", str(cluster.kubeconfig),
                                     "-p", "no:cacheprovider", *FLEET_SELECTION], cwd=work, capture_output=True,
                                    text=True, env=env)
            if direct.returncode != 0:
                raise SystemExit(f"the direct run failed:\n{direct.stdout[-3000:]}")
        direct_walls.append(time.monotonic() - t0)
        t0 = time.monotonic()
        fleet = subprocess.run([sys.executable, "-m", "harness", "fleet", "--kubeconfig", str(work / "kubeconfig"),
                                "--contexts", ",".join(names), "--reports", str(work / f"fleet{r}"), "--format", "json",
                                "--", *FLEET_SELECTION], cwd=work, capture_output=True, text=True, env=env)
        fleet_walls.append(time.monotonic() - t0)
        if fleet.returncode != 0:
            raise SystemExit(f"the fleet failed (exit {fleet.returncode}):\n{fleet.stdout[-3000:]}\n{fleet.stderr[-3000:]}")
        doc = json.loads(fleet.stdout)
        assert all(row["verdict"] == "passed" for row in doc["clusters"]), doc["clusters"]
        durations = [row["duration"] for row in doc["clusters"]]
        runs += durations
        own.append((fleet_walls[-1] - sum(durations)) / contexts)
        items = doc["clusters"][0]["items"]
    per_cluster = [(f - d) / contexts for f, d in zip(fleet_walls, direct_walls)]
    return {"contexts": contexts, "repeats": repeats, "items_per_cluster": items,
            "direct_runs_back_to_back_wall_s": [round(w, 2) for w in direct_walls],
            "fleet_wall_s": [round(w, 2) for w in fleet_walls],
            "fleet_minus_direct_per_cluster_s": [round(x, 2) for x in per_cluster],
            "fleet_minus_direct_per_cluster_s_median": round(statistics.median(per_cluster), 2),
            "fleet_own_cost_per_cluster_s_median": round(statistics.median(own), 3),
            "run_under_fleet_s_median": round(statistics.median(runs), 2),
            "direct_run_s_median": round(statistics.median(direct_walls) / contexts, 2)}


def shard_figures(cluster, work: Path, args, selection: list[str]) -> dict:
    whole = run_unsharded(cluster, work / "whole", args.jobs, selection)
    sharded = run_sharded(cluster, work / "shards", args.shards, args.shard_jobs, selection)
    reference = _items(work / "whole" / "evidence" / "whole")
    merged = subprocess.run([sys.executable, "-m", "harness", "report", "merge", str(work / "merged"),
                             *(str(work / "shards" / "evidence" / f"shard{i}") for i in range(args.shards))],
                            capture_output=True, text=True)
    if merged.returncode != 0:
        raise SystemExit(f"merge failed: {merged.stderr}")
    cores = os.cpu_count() or 1
    for phase in (whole, sharded):
        phase["cpu_bound_s"] = round((phase["client_cpu_s"] + phase["server_cpu_s"]) / cores, 2)
    namespaces = len({r["namespace"] for r in json.loads((work / "whole" / "evidence" / "whole" / "results.json")
                                                         .read_text())["results"] if r.get("namespace")})
    return {
        "items": len(reference), "selection": args.selection or "(default matrix)", "policy_namespaces": namespaces,
        "unsharded": {**whole, "jobs": args.jobs},
        "sharded": {**sharded, "shards": args.shards, "jobs_per_shard": args.shard_jobs},
        "speedup_wall": round(whole["wall_s"] / sharded["wall_s"], 3),
        "cpu_ratio_sharded_over_unsharded": round((sharded["client_cpu_s"] + sharded["server_cpu_s"])
                                                  / (whole["client_cpu_s"] + whole["server_cpu_s"]), 3),
        "merged_equals_unsharded": _items(work / "merged") == reference,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2, help="-n of the unsharded run")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--shard-jobs", type=int, default=1, help="-n of each shard (1: no xdist)")
    ap.add_argument("--selection", default="", help="extra pytest arguments for both phases (default: the whole matrix)")
    ap.add_argument("--fleet-contexts", type=int, default=3)
    ap.add_argument("--fleet-repeats", type=int, default=3)
    ap.add_argument("--skip-shards", action="store_true", help="measure the fleet's overhead only")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    selection = shlex.split(args.selection)
    with EmbeddedCluster() as cluster, tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        work = Path(tmp)
        figures = {"cores": os.cpu_count() or 1}
        if not args.skip_shards:
            figures.update(shard_figures(cluster, work, args, selection))
        figures["fleet"] = run_fleet_overhead(cluster, work, args.fleet_contexts, args.fleet_repeats)
        figures["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
