"""Throughput of the default matrix on the embedded control plane, against two baselines.

All three are measured in the same run, against the same embedded kube-apiserver:

* harness  — ``pytest scenarios -n JOBS`` (collection, preflight, verdicts, evidence included);
* raw      — the same dry-run requests (same objects, same namespace labels) sent by a thread
             pool over urllib3 with pre-serialised bodies: the practical ceiling;
* kubectl  — ``kubectl apply --dry-run=server`` one object at a time, what users do by hand
             (a sample of the requests, extrapolated per request).

Targets (issues #4, #18): harness >= 0.5 x raw, harness >= 25 x kubectl; server CPU per harness
item within 10 % of the raw client's per request; client CPU per item at most floor + 1.5 ms.

More figures say where the time goes, since on a small machine the harness, the API server and
etcd share the same cores:

* floor    — ``pytest -n JOBS`` over as many no-op items with the same reporters (Allure,
             JUnit): what pytest itself costs per item, no cluster involved;
* CPU      — core-seconds used in each phase by the client side (the pytest processes, or
             the raw client's threads) and by kube-apiserver + etcd (from /proc), per item.
             ``*_cpu_bound_*_per_s`` = cores / (client + server core-seconds per item): no
             scheduling can beat it on this machine; ``floor_cpu_bound_items_per_s`` is that
             bound for pytest's floor plus the raw server cost (any pytest run with these reporters);
* requests — what kube-apiserver served in each phase, from its own ``apiserver_request_total``,
             by verb, resource and dry-run (``*_requests_by_verb_and_resource``);
* server   — the server's cost split: a namespace's lifecycle (created, its ServiceAccount awaited,
             deleted and finalised by the namespace controller: ``namespace_lifecycle_server_cpu_ms_each``,
             measured on the raw client's own namespaces), the idle rate (``server_idle_cpu_ms_per_s``),
             and the raw requests again paced at the harness's item rate
             (``raw_paced_server_cpu_ms_per_request``): the API server's CPU per request grows as
             its request rate falls (fewer requests share each wake-up), so a slower client makes
             every request dearer;
* mapped   — the harness run again in the raw client's long-lived namespaces (``--psa-namespace-map``):
             the server's cost per item without a namespace lifecycle per run
             (``harness_mapped_*``, ``ratio_server_harness_mapped_vs_raw``);
* memory   — each pytest process's peak RSS (``*_peak_rss_mib``, from the ``_bench_rss`` plugin).

The pytest runs get the environment less ``PYTHONDONTWRITEBYTECODE`` (bytecode and pytest's
rewritten plugin modules cached, as for an installed harness) after a collect-only warm-up.

    python bench/bench_matrix.py [--jobs 2] [--kubectl-sample 60]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import urllib3
import yaml

from harness.cluster.client import Cluster, resource_path
from harness.cluster.namespaces import OWNER, OWNER_LABEL
from harness.core.polling import poll
from harness.plugin.collect import policies_for
from _report import emit
from harness.embedded import EmbeddedCluster
from harness.core.model import Level, Mode
from harness.corpus.scenarios import load_corpus
from harness.core.kinds import as_kind
from _bench_rss import cpu_seconds, peaks

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent


def child_env(rss_dir: Path | None = None) -> dict:
    """The measured pytest runs' environment: bytecode cached (as installed), the benchmarks' plugin importable."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    if rss_dir is not None:
        Path(rss_dir).mkdir(parents=True, exist_ok=True)
        env["BENCH_RSS_DIR"] = str(rss_dir)
    return env


def warm_up(cluster: EmbeddedCluster, dirs=("scenarios",)) -> None:
    """A collect-only run: bytecode and pytest's rewritten plugin modules cached before anything is timed."""
    subprocess.run([sys.executable, "-m", "pytest", *dirs, "--co", "-q", "-p", "no:cacheprovider",
                    "--kubeconfig", str(cluster.kubeconfig)], cwd=REPO, capture_output=True, env=child_env())


def matrix(scenarios):
    """(policy, kind, object) for every dry-run item of the default matrix (update paths excluded)."""
    for s in scenarios:
        if s.update:
            continue
        for policy in policies_for(s, list(Level), list(Mode), None):
            for kind in s.kinds:
                yield policy, kind, as_kind(s.pod(), kind)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (from /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Core-seconds of the client side and of the API server + etcd over one phase."""

    def __init__(self, cluster: EmbeddedCluster):
        self.server_pids = [pid for name, pid in cluster.pids.items() if name in ("kube-apiserver", "etcd")]

    def __enter__(self):
        self._server = sum(map(_cpu_seconds, self.server_pids))
        self._self, self._children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc):
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        self.server = sum(map(_cpu_seconds, self.server_pids)) - self._server
        self.client = (me.ru_utime + me.ru_stime - self._self.ru_utime - self._self.ru_stime
                       + kids.ru_utime + kids.ru_stime - self._children.ru_utime - self._children.ru_stime)


_REQUEST_TOTAL = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$', re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_counts(admin: Cluster) -> dict[str, float]:
    """kube-apiserver's own count of the requests it served, by ``VERB resource[/sub] [dryRun]``."""
    text = admin.request("GET", "/metrics").body
    counts: dict[str, float] = {}
    for m in _REQUEST_TOTAL.finditer(text if isinstance(text, str) else ""):
        labels = dict(_LABEL.findall(m.group("labels")))
        if not labels.get("resource"):
            continue  # health checks, discovery
        key = f"{labels['verb']} {labels['resource']}" + (f"/{labels['subresource']}" if labels.get("subresource") else "") \
            + (" dryRun" if labels.get("dry_run") else "")
        counts[key] = counts.get(key, 0) + float(m.group("value"))
    return counts


def counted(admin: Cluster, before: dict[str, float]) -> dict[str, int]:
    """Requests served since ``before``, busiest first (the accounting of issue #18, item 1)."""
    after = request_counts(admin)
    delta = {k: int(v - before.get(k, 0)) for k, v in after.items() if v - before.get(k, 0) >= 1}
    return dict(sorted(delta.items(), key=lambda kv: -kv[1]))


def run_floor(jobs: int, items: int, reports: Path, rss_dir: Path | None = None) -> float:
    """Wall time of ``items`` no-op pytest items with the harness run's reporters."""
    with tempfile.TemporaryDirectory() as d:
        test = Path(d) / "test_floor.py"
        test.write_text(f"import pytest\n\n@pytest.mark.parametrize('i', range({items}))\n"
                        f"def test_noop(i):\n    assert i >= 0\n")
        args = [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider", "-p", "no:harness.plugin",
                "-p", "_bench_rss", "-n", str(jobs), "--capture=sys", "--junitxml", str(reports / "floor.xml"),
                f"--alluredir={reports / 'floor-allure'}"]
        t0 = time.monotonic()
        out = subprocess.run(args, cwd=d, capture_output=True, text=True, env=child_env(rss_dir))
        wall = time.monotonic() - t0
    if out.returncode != 0:
        raise SystemExit(f"floor run failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return wall


def run_harness(cluster: EmbeddedCluster, jobs: int, reports: Path, dirs=("scenarios",), extra=(),
                rss_dir: Path | None = None) -> tuple[float, int]:
    args = [sys.executable, "-m", "pytest", *dirs, "-q", "-p", "no:cacheprovider", "-p", "_bench_rss", "-n", str(jobs),
            "--kubeconfig", str(cluster.kubeconfig), "--audit-log", str(cluster.audit_log),
            "-o", f"psa_reports={reports}", "--junitxml", str(reports / "junit.xml"),
            f"--alluredir={reports / 'allure-results'}", *extra]
    t0 = time.monotonic()
    out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=child_env(rss_dir))
    wall = time.monotonic() - t0
    m = re.search(r"(\d+) passed", out.stdout)
    if out.returncode != 0 or not m:
        raise SystemExit(f"harness run failed:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
    return wall, int(m.group(1)) + int((re.search(r"(\d+) skipped", out.stdout) or [0, 0])[1])


def run_raw(cluster: EmbeddedCluster, items, namespaces, threads: int, rate: float | None = None) -> float:
    """Wall time of the items' dry-run requests on ``threads`` threads; ``rate``: at most that many per second."""
    token = cluster.admin.token
    ctx = ssl.create_default_context(cafile=str(cluster.ca_file))
    pool = urllib3.PoolManager(maxsize=threads, ssl_context=ctx)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    requests = [(cluster.server + resource_path(kind, namespaces[policy]) + "?dryRun=All", json.dumps(obj).encode())
                for policy, kind, obj in items]
    start = time.monotonic()
    lock = threading.Lock()
    sent = [0]

    def send(req):
        if rate:  # request n goes out no earlier than n / rate seconds after the start
            with lock:
                n, sent[0] = sent[0], sent[0] + 1
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        r = pool.request("POST", req[0], body=req[1], headers=headers)
        assert r.status in (201, 403, 422), r.status

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(send, requests))
    return time.monotonic() - t0


def run_kubectl(cluster: EmbeddedCluster, items, namespaces, sample: int) -> float:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return float("nan")
    step = max(1, len(items) // sample)
    chosen = items[::step][:sample]
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, (policy, kind, obj) in enumerate(chosen):
            f = Path(d) / f"{i}.yaml"
            f.write_text(yaml.safe_dump(obj))
            files.append((f, namespaces[policy]))
        t0 = time.monotonic()
        for f, ns in files:
            subprocess.run([kubectl, "--kubeconfig", str(cluster.kubeconfig), "apply", "--dry-run=server",
                            "-n", ns, "-f", str(f)], capture_output=True)
        return (time.monotonic() - t0) / len(files)


def create_namespaces(admin: Cluster, policies) -> dict:
    """One namespace per policy, labelled as the harness labels its own, each with its ServiceAccount."""
    namespaces = {}
    for i, policy in enumerate(sorted(policies)):
        name = f"bench-{i}"
        admin.create_namespace(name, policy.labels())
        namespaces[policy] = name
    for name in namespaces.values():
        admin.wait_for("serviceaccounts", name, "default")
    return namespaces


def delete_namespaces(admin: Cluster, names) -> None:
    """Delete ``names`` and wait until the namespace controller has finalised them."""
    for name in names:
        admin.delete_namespace(name)
    poll(lambda: not [n for n in admin.list_namespaces("kubernetes.io/metadata.name") if n["metadata"]["name"] in names],
         timeout=600, interval=0.5, what="the benchmark's namespaces to be deleted")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="pytest-xdist workers for the harness run")
    ap.add_argument("--threads", type=int, default=8, help="threads of the raw client")
    ap.add_argument("--kubectl-sample", type=int, default=60, help="kubectl invocations to time")
    ap.add_argument("--paced-sample", type=int, default=3000, help="raw requests sent at the harness's rate")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    scenarios = load_corpus([REPO / "scenarios"])
    items = list(matrix(scenarios))
    with EmbeddedCluster(progress=lambda _: None) as cluster, tempfile.TemporaryDirectory() as reports:
        reports = Path(reports)
        admin = Cluster(cluster.kubeconfig)
        warm_up(cluster)
        with CpuMeter(cluster) as idle:
            time.sleep(5)
        idle_wall = 5.0
        policies = {p for p, _, _ in items}
        with CpuMeter(cluster) as ns_up:
            namespaces = create_namespaces(admin, policies)
        run_raw(cluster, items[:50], namespaces, args.threads)  # warm-up
        before = request_counts(admin)
        with CpuMeter(cluster) as harness_cpu:
            harness_wall, harness_items = run_harness(cluster, args.jobs, reports, rss_dir=reports / "rss-harness")
            # the namespace controller deletes the run's namespaces after the run: that work is the
            # harness's, so the phase ends when they are gone (else it lands in the raw phase)
            poll(lambda: not admin.list_namespaces(f"{OWNER_LABEL}={OWNER}"), timeout=600, interval=0.5,
                 what="the harness run's namespaces to be deleted")
        harness_requests = counted(admin, before)
        harness_rate = harness_items / harness_wall
        # the same run in long-lived namespaces (--psa-namespace-map: the raw client's, as a nightly
        # job can map its own): what the server works per item without a namespace lifecycle per run
        ns_map = reports / "namespace-map.yaml"
        (reports / "mapped").mkdir()
        ns_map.write_text(yaml.safe_dump({p.label: n for p, n in namespaces.items()}))
        before = request_counts(admin)
        with CpuMeter(cluster) as mapped_cpu:
            mapped_wall, mapped_items = run_harness(cluster, args.jobs, reports / "mapped",
                                                    extra=["--psa-namespace-map", str(ns_map)])
        mapped_requests = counted(admin, before)
        before = request_counts(admin)
        with CpuMeter(cluster) as raw_cpu:
            raw_wall = run_raw(cluster, items, namespaces, args.threads)
        raw_requests = counted(admin, before)
        sample = items[::max(1, len(items) // args.paced_sample)][:args.paced_sample]
        with CpuMeter(cluster) as paced_cpu:
            paced_wall = run_raw(cluster, sample, namespaces, args.threads, rate=harness_rate)
        kubectl_per = run_kubectl(cluster, items, namespaces, args.kubectl_sample)
        with CpuMeter(cluster) as floor_cpu:
            floor_wall = run_floor(args.jobs, harness_items, reports, rss_dir=reports / "rss-floor")
        with CpuMeter(cluster) as ns_down:
            delete_namespaces(admin, set(namespaces.values()))
        harness_rss, floor_rss = peaks(reports / "rss-harness"), peaks(reports / "rss-floor")
        harness_proc_cpu, floor_proc_cpu = cpu_seconds(reports / "rss-harness"), cpu_seconds(reports / "rss-floor")
    raw_rate = len(items) / raw_wall
    kubectl_rate = 1 / kubectl_per
    cores = os.cpu_count() or 1

    def per_item_ms(seconds: float, n: int) -> float:
        return round(1000 * seconds / n, 2)

    harness_namespaces = harness_requests.get("DELETE namespaces", 0)
    per_namespace = (ns_up.server + ns_down.server) / max(1, len(namespaces))
    harness_server_less_ns = harness_cpu.server - harness_namespaces * per_namespace
    figures = {
        "scenarios": len(scenarios),
        "harness_items": harness_items,
        "harness_wall_s": round(harness_wall, 1),
        "harness_items_per_s": round(harness_rate, 1),
        "raw_requests": len(items),
        "raw_wall_s": round(raw_wall, 1),
        "raw_requests_per_s": round(raw_rate, 1),
        "kubectl_s_per_request": round(kubectl_per, 3),
        "kubectl_requests_per_s": round(kubectl_rate, 2),
        "floor_wall_s": round(floor_wall, 1),
        "floor_items_per_s": round(harness_items / floor_wall, 1),
        "ratio_harness_vs_raw": round(harness_rate / raw_rate, 2),
        "ratio_harness_vs_kubectl": round(harness_rate / kubectl_rate, 1),
        "ratio_harness_vs_floor": round(harness_rate / (harness_items / floor_wall), 2),
        "harness_client_cpu_ms_per_item": per_item_ms(harness_cpu.client, harness_items),
        "harness_server_cpu_ms_per_item": per_item_ms(harness_cpu.server, harness_items),
        "floor_client_cpu_ms_per_item": per_item_ms(floor_cpu.client, harness_items),
        "raw_client_cpu_ms_per_request": per_item_ms(raw_cpu.client, len(items)),
        "raw_server_cpu_ms_per_request": per_item_ms(raw_cpu.server, len(items)),
        "harness_cpu_bound_items_per_s": round(cores * harness_items / (harness_cpu.client + harness_cpu.server), 1),
        "raw_cpu_bound_requests_per_s": round(cores * len(items) / (raw_cpu.client + raw_cpu.server), 1),
        "cpu_count": cores,
        "harness_requests_total": sum(harness_requests.values()),
        "harness_requests_per_item": round(sum(harness_requests.values()) / harness_items, 3),
        "raw_requests_total": sum(raw_requests.values()),
        "harness_requests_by_verb_and_resource": harness_requests,
        "raw_requests_by_verb_and_resource": raw_requests,
        # -- issue #18: where the time goes ----------------------------------------------------
        "client_cpu_ms_above_floor": round((harness_cpu.client - floor_cpu.client) / harness_items * 1000, 2),
        "floor_cpu_bound_items_per_s": round(cores * harness_items / (floor_cpu.client + harness_items
                                                                      * raw_cpu.server / len(items)), 1),
        "server_idle_cpu_ms_per_s": round(1000 * idle.server / idle_wall, 2),
        "harness_namespaces": harness_namespaces,
        "namespace_lifecycle_server_cpu_ms_each": round(1000 * per_namespace, 1),
        "harness_server_cpu_ms_per_item_less_namespaces": per_item_ms(harness_server_less_ns, harness_items),
        "raw_paced_requests_per_s": round(len(sample) / paced_wall, 1),
        "raw_paced_server_cpu_ms_per_request": per_item_ms(paced_cpu.server, len(sample)),
        "ratio_server_harness_vs_raw": round(harness_cpu.server / harness_items / (raw_cpu.server / len(items)), 2),
        "ratio_server_harness_less_namespaces_vs_raw_paced": round(
            harness_server_less_ns / harness_items / (paced_cpu.server / len(sample)), 2),
        "harness_mapped_items_per_s": round(mapped_items / mapped_wall, 1),
        "harness_mapped_server_cpu_ms_per_item": per_item_ms(mapped_cpu.server, mapped_items),
        "harness_mapped_client_cpu_ms_per_item": per_item_ms(mapped_cpu.client, mapped_items),
        "harness_mapped_requests_per_item": round(sum(mapped_requests.values()) / mapped_items, 3),
        "harness_mapped_requests_by_verb_and_resource": mapped_requests,
        "ratio_server_harness_mapped_vs_raw": round(mapped_cpu.server / mapped_items / (raw_cpu.server / len(items)), 2),
        "harness_peak_rss_mib": harness_rss,
        "floor_peak_rss_mib": floor_rss,
        "harness_process_cpu_s": harness_proc_cpu,
        "floor_process_cpu_s": floor_proc_cpu,
    }
    figures["ratio_floor_bound_vs_raw"] = round(figures["floor_cpu_bound_items_per_s"] / raw_rate, 2)
    figures["target_raw_0_5_met"] = figures["ratio_harness_vs_raw"] >= 0.5
    figures["target_kubectl_20x_met"] = figures["ratio_harness_vs_kubectl"] >= 20
    figures["target_kubectl_25x_met"] = figures["ratio_harness_vs_kubectl"] >= 25
    figures["target_server_10pct_met"] = figures["ratio_server_harness_vs_raw"] <= 1.1
    figures["target_server_10pct_met_mapped_namespaces"] = figures["ratio_server_harness_mapped_vs_raw"] <= 1.1
    figures["target_client_floor_1_5ms_met"] = figures["client_cpu_ms_above_floor"] <= 1.5
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
