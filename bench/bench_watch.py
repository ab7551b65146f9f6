"""`pss-harness watch`: MTTD/MTTR over induced drifts, and the watch process's idle cost on a cluster of N namespaces.

On one embedded control plane with ``--namespaces`` namespaces (``team-NNN``, labelled
``enforce=restricted``; a policy holds ``team-*`` to enforce restricted at ``latest``), it starts
``pss-harness watch`` as its own process (``--kubeconfig``, ``--audit-log``: change times from the
audit events), then:

* idle — for ``--idle`` seconds nothing changes (the periodic full sweep every ``--interval`` runs
  meanwhile): the watch process's CPU time (utime + stime from ``/proc``) and RSS over the window;
* drifts — ``--drifts`` drifts of four kinds in turn (relax ``enforce`` to baseline, remove it, pin
  ``enforce-version`` to v1.24, create an unlabelled ``team-new-N``), each awaited in the events
  file (polled, with a deadline), then restored (label back, namespace deleted) and its remediation
  awaited: MTTD (the event's change -> detection, from the audit ``requestReceivedTimestamp``), the
  wall-clock latency seen by this script (request sent -> event written), and MTTR.

    .venv/bin/python bench/bench_watch.py [--namespaces 300] [--drifts 50] [--idle 600] [--interval 5m] [--json FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import emit  # noqa: E402  (bench/ is on sys.path when run as a script)
from harness.cluster.client import Cluster  # noqa: E402
from harness.core.drift import percentile  # noqa: E402
from harness.core.polling import poll  # noqa: E402
from harness.embedded import EmbeddedCluster  # noqa: E402

PSA = "pod-security.kubernetes.io/"
POLICY = """apiVersion: pss-harness.io/v1
kind: NamespacePolicy
rules:
  - {name: tenants, namespaces: ["team-*"], minimum: {enforce: restricted}, version: latest, defaults: forbidden}
"""
TICK = os.sysconf("SC_CLK_TCK")


def cpu_rss(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:")) / 1024
    return cpu, rss


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--namespaces", type=int, default=300)
    ap.add_argument("--drifts", type=int, default=50)
    ap.add_argument("--idle", type=float, default=600.0)
    ap.add_argument("--interval", default="5m")
    ap.add_argument("--json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    (tmp / "policy.yaml").write_text(POLICY)
    events = tmp / "events.jsonl"
    with EmbeddedCluster(progress=lambda m: None) as plane:
        admin = Cluster(plane.kubeconfig)
        names = [f"team-{i:03d}" for i in range(args.namespaces)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: admin.create_namespace(n, {PSA + "enforce": "restricted"}), names))
        poll(lambda: len(admin.checked("GET", "/api/v1/serviceaccounts",
                                       query={"fieldSelector": "metadata.name=default"}).body["items"])
             >= args.namespaces, timeout=300, interval=0.5, what="default ServiceAccounts")
        log = open(tmp / "watch.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "harness", "watch", "--kubeconfig", str(plane.kubeconfig),
                                 "--policy", str(tmp / "policy.yaml"), "--interval", args.interval,
                                 "--audit-log", str(plane.audit_log), "--events", str(events),
                                 "--history", str(tmp / "history.sqlite")],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": os.getcwd()})
        try:
            t_start = time.monotonic()
            poll(lambda: "startup sweep" in (tmp / "watch.log").read_text() or proc.poll() is not None,
                 timeout=600, interval=0.2, what="the watch's startup sweep")
            startup = time.monotonic() - t_start
            startup_line = next(line for line in (tmp / "watch.log").read_text().splitlines() if "startup sweep" in line)
            time.sleep(5)   # let the startup settle before the idle window opens (not a wait for a condition)
            cpu0, rss0 = cpu_rss(proc.pid)
            t0 = time.monotonic()
            rss_max = rss0
            while time.monotonic() - t0 < args.idle:
                time.sleep(min(10.0, args.idle - (time.monotonic() - t0)) if args.idle else 0)
                rss_max = max(rss_max, cpu_rss(proc.pid)[1])
                if proc.poll() is not None:
                    raise SystemExit("the watch exited")
            cpu1, rss1 = cpu_rss(proc.pid)
            idle_s = time.monotonic() - t0
            idle_drifts = sum(1 for line in (tmp / "watch.log").read_text().splitlines() if "DRIFT" in line)
            kinds = ["relax", "remove", "pin", "new"]
            mttd, wall, mttr = [], [], []
            drift_cpu0 = cpu_rss(proc.pid)[0]
            for i in range(args.drifts):
                kind = kinds[i % len(kinds)]
                target = names[(i * 7) % len(names)]
                n = len(records(events))
                t = time.time()
                if kind == "relax":
                    label(admin, target, {PSA + "enforce": "baseline"})
                elif kind == "remove":
                    label(admin, target, {PSA + "enforce": None})
                elif kind == "pin":
                    label(admin, target, {PSA + "enforce-version": "v1.24"})
                else:
                    target = f"team-new-{i}"
                    admin.create_namespace(target, {})
                opened = poll(lambda: next((r for r in records(events)[n:] if r.get("transition") == "opened"
                                            and r.get("namespace") == target), None),
                              timeout=60, interval=0.02, what=f"drift {i} ({kind} {target})")
                mttd.append(opened["detection_latency_s"])
                wall.append(opened["detected_at"] - t)
                if kind == "new":
                    admin.delete_namespace(target)
                else:
                    label(admin, target, {PSA + "enforce": "restricted", PSA + "enforce-version": None})
                closed = poll(lambda: next((r for r in records(events) if r.get("transition") == "remediated"
                                            and r.get("id") == opened["id"]), None),
                              timeout=60, interval=0.02, what=f"remediation {i}")
                mttr.append(closed["time_to_remediate_s"])
            drift_cpu = cpu_rss(proc.pid)[0] - drift_cpu0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
        history = subprocess.run([sys.executable, "-m", "harness", "report", "history", "--db",
                                  str(tmp / "history.sqlite")], capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": os.getcwd()}).stdout

    def stats(values):
        return {"p50": round(percentile(values, 50), 3), "p95": round(percentile(values, 95), 3),
                "mean": round(statistics.mean(values), 3), "max": round(max(values), 3), "n": len(values)}

    return emit({
        "namespaces": args.namespaces, "startup_s": round(startup, 1), "startup": startup_line,
        "idle": {"seconds": round(idle_s, 1), "interval": args.interval, "cpu_s": round(cpu1 - cpu0, 2),
                 "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / idle_s, 2) if idle_s else None,
                 "rss_mib_start": round(rss0, 1), "rss_mib_end": round(rss1, 1), "rss_mib_max": round(rss_max, 1)},
        "drifts": {"count": args.drifts, "mttd_s": stats(mttd), "request_to_event_s": stats(wall),
                   "mttr_s": stats(mttr), "cpu_s": round(drift_cpu, 2)},
        "drift_lines_while_idle": idle_drifts,
        "report_history": history.splitlines(),
    }, args.json)


def label(admin: Cluster, name: str, labels: dict) -> None:
    resp = admin.request("PATCH", f"/api/v1/namespaces/{name}", {"metadata": {"labels": labels}},
                         content_type="application/merge-patch+json")
    assert resp.ok, resp.message


if __name__ == "__main__":
    sys.exit(main())
