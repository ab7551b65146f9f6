"""`rollout` planning time against the bare dry-run label loop, on 50 namespaces x 100 pods.

On one embedded control plane, seeded with ``--namespaces`` namespaces of ``--pods`` pods each
(90 % bare pods, one Deployment for the rest; every 5th namespace's pods violate restricted; pods
carry a scheduling gate), the same run measures:

* loop   — what people do by hand: ``kubectl label --dry-run=server --overwrite ns X
           pod-security.kubernetes.io/enforce=restricted`` for each namespace, one after the other
           (a server-side dry-run merge patch per namespace, the warnings read);
* plan   — ``Planner.plan`` on an open target: list pods and workloads, probe and dry-run the
           templates in the harness namespace, the label dry-run per namespace (8 in flight),
           evaluate every pod offline and compare;
* floor  — reading every pod once (the paginated list and its JSON decoding): the least that
           naming every pod costs, which the loop never pays;
* cli    — ``pss-harness rollout --to restricted --all --kubeconfig ...`` end to end, once (its
           start-up, preflight, canary and harness namespace included).

Each figure is the median of ``--repeat`` runs, as wall time and as CPU time: this process's
(``time.process_time``) plus the control plane's (kube-apiserver and etcd, from ``/proc``), which
other load on a shared machine does not inflate; the ratios are plan / loop and plan / floor.

    .venv/bin/python bench/bench_rollout.py [--namespaces 50] [--pods 100] [--repeat 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _report import emit  # noqa: E402  (bench/ is on sys.path when run as a script)
from harness.cluster.client import Cluster, resource_path  # noqa: E402
from harness.cluster.rollout import Planner, connect, gate, select_namespaces, wait_for_pods  # noqa: E402
from harness.core.model import LATEST, Level  # noqa: E402
from harness.core.rollout import parse_namespace_warnings  # noqa: E402
from harness.embedded import EmbeddedCluster  # noqa: E402

HARDENED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _pod(name: str, bad: bool) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "securityContext": {"privileged": True} if bad else HARDENED}]}}


def seed(cluster: Cluster, namespaces: int, pods: int) -> float:
    t0 = time.monotonic()
    replicas = max(pods // 10, 1)
    names = [f"bench-{i:03d}" for i in range(namespaces)]
    for ns in names:
        cluster.checked("POST", resource_path("Namespace", None),
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    work = []
    for i, ns in enumerate(names):
        bad = i % 5 == 0
        work += [(ns, gate(_pod(f"p-{j:03d}", bad))) for j in range(pods - replicas)]
        template = gate(_pod("web", bad))
        work.append((ns, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                          "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                                   "template": {"metadata": {"labels": {"app": "web"}}, "spec": template["spec"]}}}))
    for ns in names:
        cluster.wait_for("serviceaccounts", ns, "default")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda w: cluster.submit(w[1], w[0], dry_run=False).status, work))
    assert set(statuses) == {201}, set(statuses)
    for ns in names:
        wait_for_pods(cluster, ns, pods, timeout=300)
    # the server's pod informer has seen them all when every violating namespace reports every pod
    deadline = time.monotonic() + 120
    for i, ns in enumerate(names):
        while i % 5 == 0:
            answer = parse_namespace_warnings(_dry_run(cluster, ns).warnings, ns, "restricted:latest", 37)
            if answer.violating == pods or time.monotonic() > deadline:
                break
    return time.monotonic() - t0


def _dry_run(cluster: Cluster, ns: str):
    return cluster.request("PATCH", resource_path("Namespace", None, ns),
                           {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
                           {"dryRun": "All"}, content_type="application/merge-patch+json")


def _cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall time, this process's CPU and the control plane's CPU (apiserver + etcd) of a block."""

    def __init__(self, pids: list[int]):
        self.pids = pids

    def __enter__(self):
        self.wall, self.cpu, self.server = time.monotonic(), time.process_time(), sum(map(_cpu, self.pids))
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.server = sum(map(_cpu, self.pids)) - self.server

    @property
    def total_cpu(self) -> float:
        return self.cpu + self.server


def list_floor(cluster: Cluster) -> float:
    """Reading every pod once (paginated GET + JSON decode): what naming every pod costs at least."""
    from harness.cluster.rollout import list_objects

    t0 = time.monotonic()
    list_objects(cluster, "Pod")
    return time.monotonic() - t0


def bare_loop(cluster: Cluster, names: list[str]) -> tuple[float, int]:
    t0 = time.monotonic()
    warnings = 0
    for ns in names:
        resp = _dry_run(cluster, ns)
        assert resp.ok, resp.message
        warnings += len(resp.warnings)
    return time.monotonic() - t0, warnings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    with EmbeddedCluster(progress=lambda m: print(m, file=sys.stderr)) as plane:
        cluster = Cluster(plane.kubeconfig)
        seeded = seed(cluster, args.namespaces, args.pods)
        print(f"seeded {args.namespaces} x {args.pods} pods in {seeded:.1f}s", file=sys.stderr)
        names = [f"bench-{i:03d}" for i in range(args.namespaces)]
        with connect(str(plane.kubeconfig), None, None, offline=False) as target:
            namespaces = [n for n in select_namespaces(target.cluster, all_namespaces=True)
                          if n["metadata"]["name"].startswith("bench-")]
            pids = [plane.pids["kube-apiserver"], plane.pids["etcd"]]
            loops, plans, phases, floors = [], [], [], []
            for _ in range(args.repeat):
                with Meter(pids) as m:
                    bare_loop(cluster, names)
                loops.append(m)
                with Meter(pids) as m:
                    list_floor(cluster)
                floors.append(m)
                planner = Planner(target, Level.RESTRICTED, LATEST)
                with Meter(pids) as m:
                    rollout = planner.plan(namespaces)
                plans.append(m)
                phases.append(rollout.timings)
                assert all(p.agree is not False for p in rollout.plans), [p.disagreements for p in rollout.plans]
                assert sum(p.plan.value == "warn-first" for p in rollout.plans) == len(range(0, args.namespaces, 5))
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "harness", "rollout", "--to", "restricted", "--all",
                               "--kubeconfig", str(plane.kubeconfig), "--format", "json"],
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        cli = time.monotonic() - t0
        assert proc.returncode == 1, proc.stderr

    def med(ms, attr):
        return round(statistics.median(getattr(m, attr) for m in ms), 3)

    median_phases = {k: round(statistics.median(p[k] for p in phases), 3) for k in phases[0]}
    figures = {"namespaces": args.namespaces, "pods_per_namespace": args.pods, "pods": args.namespaces * args.pods,
               "repeat": args.repeat, "seed_seconds": round(seeded, 1)}
    for name, ms in (("bare_loop", loops), ("list_pods_floor", floors), ("plan", plans)):
        figures[name] = {"wall": med(ms, "wall"), "client_cpu": med(ms, "cpu"), "server_cpu": med(ms, "server"),
                         "total_cpu": med(ms, "total_cpu")}
    figures["ratio_plan_to_loop"] = {k: round(figures["plan"][k] / figures["bare_loop"][k], 1)
                                     for k in ("wall", "total_cpu")}
    figures["ratio_plan_to_list_floor"] = {k: round(figures["plan"][k] / figures["list_pods_floor"][k], 2)
                                           for k in ("wall", "total_cpu")}
    figures["plan_phases_wall_seconds"] = median_phases
    figures["cli_end_to_end_seconds"] = round(cli, 2)
    figures["load_average"] = os.getloadavg()[0]
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
