"""Namespace sweep throughput: ``harness.cluster.sweep`` over 500 namespaces vs a raw concurrent loop.

On one embedded control plane (defaults enforce=baseline) with ``--namespaces`` namespaces in four
postures (unlabelled, enforce=restricted, enforce=privileged+warn=restricted, enforce=baseline
pinned to v1.30), measured in the same run:

* sweep — ``sweep(cluster, concurrency=N)``: listing, every probe, inference, the document (as
          ``pss-harness namespaces --format json`` builds it), without an audit source; and once
          more with the embedded audit log (audit lookups included), for information;
* raw   — exactly the requests that sweep sent (same methods, paths, queries and bodies, recorded
          from it), sent by a bare urllib3 pool on N threads with no inference and no ordering:
          the ceiling for these requests on this machine.

Each figure is the best of ``--repeat`` runs, alternating sweep, raw and audited sweep. The ratio is
raw wall / sweep wall (1.0: the sweep costs nothing over sending its requests; target >= 0.5).

    .venv/bin/python bench/bench_sweep.py [--namespaces 500] [--concurrency 8] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import ssl
import sys
import time
from pathlib import Path

import urllib.parse

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cluster.client import Cluster  # noqa: E402
from harness.cluster.audit import AuditSource  # noqa: E402
from harness.cluster.sweep import document, sweep  # noqa: E402
from harness.embedded import EmbeddedCluster, PodSecurityDefaults  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit  # noqa: E402

PSA = "pod-security.kubernetes.io/"
KINDS = [{}, {PSA + "enforce": "restricted"}, {PSA + "enforce": "privileged", PSA + "warn": "restricted"},
         {PSA + "enforce": "baseline", PSA + "enforce-version": "v1.30"}]


class RecordingCluster(Cluster):
    """A Cluster that remembers every request it sent (for the raw loop to replay)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.sent: list[tuple[str, str, bytes | None, dict]] = []

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        self.sent.append((method, path, None if body is None else json.dumps(body).encode(), dict(query or {})))
        return super().request(method, path, body, query, content_type)


def setup(plane: EmbeddedCluster, n: int) -> None:
    admin = Cluster(plane.kubeconfig)
    names = [f"ns-{i:04d}" for i in range(n)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: admin.create_namespace(names[i], KINDS[i % 4]), range(n)))
    deadline = time.monotonic() + 300
    while True:
        have = {i["metadata"]["namespace"] for i in admin.checked(
            "GET", "/api/v1/serviceaccounts", query={"fieldSelector": "metadata.name=default"}).body["items"]}
        if set(names) <= have:
            return
        if time.monotonic() > deadline:
            raise SystemExit("ServiceAccounts did not appear")
        time.sleep(0.2)


def run_sweep(plane: EmbeddedCluster, concurrency: int, audit: bool) -> tuple[float, dict, list]:
    cluster = RecordingCluster(plane.kubeconfig)
    source = AuditSource(str(plane.audit_log)) if audit else None
    t0 = time.monotonic()
    result = sweep(cluster, audit=source, concurrency=concurrency)
    doc = document(result)
    wall = time.monotonic() - t0
    cluster.close()
    return wall, doc, cluster.sent


def run_raw(plane: EmbeddedCluster, requests: list, concurrency: int) -> float:
    ctx = ssl.create_default_context(cafile=str(plane.ca_file))
    pool = urllib3.PoolManager(maxsize=concurrency, ssl_context=ctx)
    headers = {"Authorization": f"Bearer {plane.admin.token}", "Content-Type": "application/json",
               "Accept": "application/json"}
    prepared = [(m, plane.server + p + ("?" + urllib.parse.urlencode(q) if q else ""), b)
                for m, p, b, q in requests]

    def send(req):
        r = pool.request(req[0], req[1], body=req[2], headers=headers)
        assert r.status in (200, 201, 400, 403, 422), (r.status, req[1])

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(send, prepared))
    wall = time.monotonic() - t0
    pool.clear()
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--namespaces", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    with EmbeddedCluster(defaults=PodSecurityDefaults(enforce="baseline"), progress=lambda m: None) as plane:
        setup(plane, args.namespaces)
        run_sweep(plane, args.concurrency, False)  # warm-up (connections, the server's caches)
        sweeps, raws, audits = [], [], []
        doc, sent = None, []
        for _ in range(args.repeat):
            wall, doc, sent = run_sweep(plane, args.concurrency, False)
            sweeps.append(wall)
            raws.append(run_raw(plane, sent, args.concurrency))
            audits.append(run_sweep(plane, args.concurrency, True)[0])
        audited = min(audits)
    n = len(doc["namespaces"])
    sweep_wall, raw_wall = min(sweeps), min(raws)
    figures = {
        "namespaces": n,
        "requests": len(sent),
        "concurrency": args.concurrency,
        "cores": os.cpu_count(),
        "sweep_wall_s": round(sweep_wall, 3),
        "sweep_namespaces_per_s": round(n / sweep_wall, 1),
        "sweep_requests_per_s": round(len(sent) / sweep_wall, 1),
        "raw_wall_s": round(raw_wall, 3),
        "raw_requests_per_s": round(len(sent) / raw_wall, 1),
        "ratio_sweep_vs_raw": round(raw_wall / sweep_wall, 2),
        "sweep_with_audit_wall_s": round(audited, 3),
        "sweep_with_audit_namespaces_per_s": round(n / audited, 1),
        "all_walls_s": {"sweep": [round(w, 3) for w in sweeps], "raw": [round(w, 3) for w in raws],
                        "sweep_with_audit": [round(w, 3) for w in audits]},
        "postures": {k: sum(1 for x in doc["namespaces"] if x["enforce"]["text"] == k)
                     for k in sorted({x["enforce"]["text"] for x in doc["namespaces"]})},
    }
    figures["target_0_5_met"] = figures["ratio_sweep_vs_raw"] >= 0.5
    return emit(figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
