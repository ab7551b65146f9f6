"""pytest plugin of the benchmarks (``-p _bench_rss``): each process records its peak RSS and CPU as it ends.

With ``BENCH_RSS_DIR`` set, every pytest process of a run (the controller and each xdist worker)
writes ``<dir>/<worker id or "controller">.json`` with its ``ru_maxrss`` in KiB and its user + system
CPU seconds at ``pytest_unconfigure`` (after the session, and so after the evidence is sealed).
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path


def pytest_unconfigure(config) -> None:
    directory = os.environ.get("BENCH_RSS_DIR")
    if not directory:
        return
    name = getattr(config, "workerinput", {}).get("workerid", "controller")
    me = resource.getrusage(resource.RUSAGE_SELF)
    Path(directory, f"{name}.json").write_text(json.dumps({"maxrss_kib": me.ru_maxrss,
                                                           "cpu_s": me.ru_utime + me.ru_stime}))


def peaks(directory: str | Path) -> dict[str, float]:
    """``{process: peak RSS in MiB}`` of a run whose processes wrote into ``directory``."""
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        out[path.stem] = round(json.loads(path.read_text())["maxrss_kib"] / 1024, 1)
    return out


def cpu_seconds(directory: str | Path) -> dict[str, float]:
    """``{process: CPU seconds}`` of a run whose processes wrote into ``directory``."""
    return {path.stem: round(json.loads(path.read_text())["cpu_s"], 2) for path in sorted(Path(directory).glob("*.json"))}
