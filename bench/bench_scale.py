"""Cost growth of the main job with its size: the default matrix at 1x, 4x and 16x the items.

Each size runs ``pytest scenarios --psa-scenarios COPIES -n JOBS`` against one embedded control
plane, where ``COPIES`` holds size - 1 renamed copies of every scenario of the corpus (the same
objects, policies and namespaces; ids ``<id>-x<k>``), so a size-N run has exactly N times the
default matrix's items. For each size it reports items/s, client and server CPU per item (as
``bench_matrix``), and the peak RSS of every pytest process (controller and workers, from the
``_bench_rss`` plugin): linear cost shows as flat per-item figures, bounded memory as a per-process
peak that grows far slower than the items. ``--floor SIZES`` also runs pytest's no-op floor at those sizes
(same reporters), whose controller holds a report per item too: what pytest itself grows by.

    python bench/bench_scale.py [--sizes 1,4,16] [--jobs 2] [--floor 1,4] [--base DIR ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from _bench_rss import peaks
from _report import emit
from bench_matrix import REPO, CpuMeter, child_env, run_floor, run_harness, warm_up
from harness.cluster.client import Cluster
from harness.cluster.namespaces import OWNER, OWNER_LABEL
from harness.core.polling import poll
from harness.embedded import EmbeddedCluster

_NAME = re.compile(r"^(\s+name:\s*)(\S+)\s*$", re.M)


def make_copies(base: list[Path], copies: int, into: Path) -> int:
    """``copies`` renamed copies of every scenario file under ``base`` (id and file stem ``<id>-x<k>``)."""
    n = 0
    for k in range(1, copies + 1):
        for root in base:
            for path in sorted(root.rglob("*.yaml")):
                if any(part.startswith(("_", ".")) for part in path.relative_to(root).parts):
                    continue
                text = path.read_text()
                new_id = f"{path.stem}-x{k}"
                m = _NAME.search(text)
                if not m or m.group(2) != path.stem:
                    raise SystemExit(f"{path}: no 'name: {path.stem}' line to rename")
                target = into / f"x{k}" / root.name / path.relative_to(root).parent / f"{new_id}.yaml"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text[:m.start(2)] + new_id + text[m.end(2):])
                n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,4,16", help="multiples of the base matrix to run")
    ap.add_argument("--jobs", type=int, default=2, help="pytest-xdist workers")
    ap.add_argument("--base", nargs="*", default=["scenarios"], help="scenario directories of the 1x matrix")
    ap.add_argument("--floor", default="", help="sizes at which to run the no-op floor too (e.g. 1,4)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    base = [REPO / b for b in args.base]
    figures: dict = {"base": args.base, "jobs": args.jobs, "sizes": {}}
    with EmbeddedCluster(progress=lambda _: None) as cluster:
        admin = Cluster(cluster.kubeconfig)
        warm_up(cluster, [str(b) for b in base])
        for size in sizes:
            with tempfile.TemporaryDirectory() as work:
                work = Path(work)
                copies = work / "copies"
                copies.mkdir()
                make_copies(base, size - 1, copies)
                extra = ["--psa-scenarios", str(copies)] if size > 1 else []
                reports = work / "reports"
                reports.mkdir()
                with CpuMeter(cluster) as cpu:
                    wall, items = run_harness(cluster, args.jobs, reports, [str(b) for b in base], extra,
                                              rss_dir=work / "rss")
                    poll(lambda: not admin.list_namespaces(f"{OWNER_LABEL}={OWNER}"), timeout=900, interval=0.5,
                         what="the run's namespaces to be deleted")
                row = {
                    "items": items,
                    "wall_s": round(wall, 1),
                    "items_per_s": round(items / wall, 1),
                    "client_cpu_ms_per_item": round(1000 * cpu.client / items, 2),
                    "server_cpu_ms_per_item": round(1000 * cpu.server / items, 2),
                    "peak_rss_mib": peaks(work / "rss"),
                    "reports_mib": round(sum(f.stat().st_size for f in reports.rglob("*") if f.is_file()) / 2**20, 1),
                }
                if str(size) in args.floor.split(","):
                    with CpuMeter(cluster) as fcpu:
                        fwall = run_floor(args.jobs, items, reports, rss_dir=work / "rss-floor")
                    row.update(floor_items_per_s=round(items / fwall, 1),
                               floor_client_cpu_ms_per_item=round(1000 * fcpu.client / items, 2),
                               floor_peak_rss_mib=peaks(work / "rss-floor"))
                figures["sizes"][f"{size}x"] = row
                print(f"{size}x: {row}", file=sys.stderr, flush=True)
    first = figures["sizes"][f"{sizes[0]}x"]
    for size in sizes[1:]:
        row = figures["sizes"][f"{size}x"]
        row["growth_vs_first"] = {
            "items": round(row["items"] / first["items"], 2),
            "client_cpu_per_item": round(row["client_cpu_ms_per_item"] / first["client_cpu_ms_per_item"], 2),
            "server_cpu_per_item": round(row["server_cpu_ms_per_item"] / first["server_cpu_ms_per_item"], 2),
            "items_per_s": round(row["items_per_s"] / first["items_per_s"], 2),
            "peak_rss": {p: round(v / first["peak_rss_mib"][p], 2) for p, v in row["peak_rss_mib"].items()
                         if first["peak_rss_mib"].get(p)},
        }
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
