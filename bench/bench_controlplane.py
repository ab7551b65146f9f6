"""Start-to-ready time and memory of the embedded control plane.

Reports the median of N starts (etcd + kube-apiserver + kube-controller-manager until the
``default`` ServiceAccount exists), the resident memory of the running plane, and both as
ratios against a baseline measured in the same run: starting etcd alone until /health answers.
Target (issue #2): <= 15 s to ready on a 2-core machine once built.

    python bench/bench_controlplane.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _report import emit
from harness.embedded import EmbeddedCluster, binaries_for
from harness.embedded.plane import _free_port
from harness.core.polling import poll


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def etcd_alone() -> tuple[float, float]:
    etcd = binaries_for().etcd
    with tempfile.TemporaryDirectory() as d:
        port, peer = _free_port(), _free_port()
        t0 = time.monotonic()
        proc = subprocess.Popen([str(etcd), f"--data-dir={d}/data", "--unsafe-no-fsync", "--log-level=error",
                                 f"--listen-client-urls=http://127.0.0.1:{port}",
                                 f"--advertise-client-urls=http://127.0.0.1:{port}",
                                 f"--listen-peer-urls=http://127.0.0.1:{peer}",
                                 f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                                 f"--initial-cluster=default=http://127.0.0.1:{peer}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            poll(lambda: _healthy(f"http://127.0.0.1:{port}/health"), timeout=60, interval=0.02, what="etcd /health")
            return time.monotonic() - t0, rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait()


def _healthy(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).read()
        return True
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    starts, mems, base_starts, base_mems = [], [], [], []
    for i in range(args.runs):
        b, bm = etcd_alone()
        base_starts.append(b)
        base_mems.append(bm)
        with EmbeddedCluster(progress=lambda _: None) as c:
            time.sleep(3)  # let post-start hooks settle before reading memory
            mem = sum(rss_mib(p) for p in c.pids.values())
            starts.append(c.started_seconds)
            mems.append(mem)
        print(f"run {i + 1}: ready in {starts[-1]:.2f}s, {mem:.0f} MiB RSS (etcd alone: {b:.2f}s, {bm:.0f} MiB)",
              file=sys.stderr)
    figures = {
        "version": binaries_for().version,
        "runs": args.runs,
        "start_to_ready_median_s": round(statistics.median(starts), 2),
        "start_to_ready_all_s": [round(s, 2) for s in starts],
        "rss_median_mib": round(statistics.median(mems)),
        "baseline_etcd_start_median_s": round(statistics.median(base_starts), 3),
        "baseline_etcd_rss_median_mib": round(statistics.median(base_mems)),
    }
    figures["start_ratio_vs_etcd"] = round(figures["start_to_ready_median_s"] / figures["baseline_etcd_start_median_s"], 1)
    figures["rss_ratio_vs_etcd"] = round(figures["rss_median_mib"] / max(figures["baseline_etcd_rss_median_mib"], 1), 1)
    figures["target_15s_met"] = figures["start_to_ready_median_s"] <= 15
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
