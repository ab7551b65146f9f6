"""The few lines a run ends with in the terminal: what was proven, and where the evidence is.

``summary_lines`` turns what ``evidence.finish_run`` sealed (the results, the history snapshot,
the bundle's directory and digest) into lines; the plugin prints them as the ``pss-harness``
section of pytest's terminal summary, before pytest's short summary and its final line::

    run 8f3a2c1d: PASSED · 17048 items · Kubernetes v1.37.2
    attacks refused as owed (passed/owed; enforce: Pods denied, workloads warned · warn: warned · audit: annotated)
      baseline     enforce 1210/1210  warn 1210/1210  audit 1210/1210
      restricted   enforce 3401/3401  warn 3401/3401  audit 3401/3401
    controls passing: 451/451 (check × level × mode)
    skipped: none
    SHA256SUMS sha256 5d0c…
    evidence: reports/evidence/8f3a2c1d/

An incomplete or failed run says why on its first line and the next ones (interrupted, items that
did not run, audit mode not observed, collection errors naming the file). pytest's conventions
hold: under ``-q`` one line (status and evidence), under ``-qq`` nothing.

Imports: the standard library and ``harness.reports.record``; no pytest (the plugin prints).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from harness.reports.record import control_summary, status_of

__all__ = ["summary_lines"]

_LEVELS = ("privileged", "baseline", "restricted")
_MODES = ("enforce", "warn", "audit")
_SKIP_PREFIX = "Skipped: "


def _shown(path: Path, cwd: Path) -> str:
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:
        return f"{path}/"
    return f"{path}/" if rel.startswith("..") else f"{rel}/"


def _owed(record: dict) -> bool:
    """An attack item the server owes a PodSecurity reaction: a denial, a warning or an audit annotation."""
    exp = record.get("expected") or {}
    return bool(record.get("level")) and bool(exp.get("checks") or exp.get("audit_checks"))


def caught_per_cell(records: list[dict]) -> dict[tuple[str, str], tuple[int, int]]:
    """(level, mode) -> (caught, owed): attack items owed a PodSecurity reaction, and those that passed."""
    owed, caught = Counter(), Counter()
    for r in records:
        if _owed(r):
            key = (r["policy"]["level"], r["policy"]["mode"])
            owed[key] += 1
            caught[key] += r["result"] == "passed"
    return {k: (caught[k], owed[k]) for k in owed}


def summary_lines(finished: dict, *, verbosity: int = 0, cwd: Path | None = None) -> list[str]:
    """The terminal's closing lines for a sealed run (``evidence.finished_run``); [] under ``-qq``."""
    if verbosity <= -2:
        return []
    results, directory = finished["results"], Path(finished["directory"])
    run, records = results["run"], results["results"]
    status = status_of(run, records)
    where = _shown(directory, cwd or Path.cwd())
    reasons = list(run.get("incomplete_reasons") or [])
    errors = list(run.get("collection_errors") or [])
    why = [f"{len(errors)} file(s) could not be collected"] if errors else []
    why += reasons
    head = f"run {run.get('run_id')}: {status.upper()}"
    if verbosity < 0:
        return [f"pss-harness: {head}" + (f" ({'; '.join(why)})" if why else "") + f"; evidence: {where}"]
    lines = [f"{head} · {len(records)} items · Kubernetes {run.get('server_version') or '?'}"]
    lines += [f"  incomplete: {r}" for r in reasons]
    for e in errors:
        message = (e.get("message") or "").strip().splitlines()[-1:] or [""]
        named = e["file"] in message[0] or Path(e["file"]).name in message[0]
        lines.append(f"  not collected: {message[0] if named else e['file'] + ': ' + message[0]}")
    cells = caught_per_cell(records)
    if cells:
        modes = [m for m in _MODES if any(k[1] == m for k in cells)]
        lines.append("attacks refused as owed (passed/owed; enforce: Pods denied, workloads warned · "
                     "warn: warned · audit: annotated)")
        for level in [lv for lv in _LEVELS if any(k[0] == lv for k in cells)]:
            row = "  ".join(f"{m} {cells[(level, m)][0]}/{cells[(level, m)][1]}" if (level, m) in cells
                            else f"{m} -" for m in modes)
            lines.append(f"  {level:<11}  {row}")
    else:
        lines.append("attacks refused as owed: none owed in this selection")
    controls = control_summary(records)
    passing = sum(1 for c in controls.values() if c["status"] == "passed")
    lines.append(f"controls passing: {passing}/{len(controls)} (check \u00d7 level \u00d7 mode)")
    skips = Counter((r.get("skip_reason") or "").removeprefix(_SKIP_PREFIX) or "(no reason given)"
                    for r in records if r["result"] == "skipped")
    if len(skips) == 1:
        (reason, n), = skips.items()
        lines.append(f"skipped: {n}, because {reason}")
    elif skips:
        lines.append(f"skipped: {sum(skips.values())}")
        ranked = skips.most_common()
        lines += [f"  {n} because {reason}" for reason, n in ranked[:5]]
        if len(ranked) > 5:
            lines.append(f"  {sum(n for _, n in ranked[5:])} for {len(ranked) - 5} other reason(s) (see results.json)")
    else:
        lines.append("skipped: none")
    history = finished.get("history") or {}
    if history.get("previous"):
        changed = len(history.get("changes") or [])
        text = f"history: {changed} control(s) changed since run {history['previous']['run_id']} on this cluster"
        not_run = len((history.get("selection") or {}).get("not_run") or [])
        if not_run:
            text += f"; selection changed: {not_run} cell(s) not run this time"
        lines.append(text + " (index.html#history)")
    lines += [f"warning: {p}" for p in finished.get("problems") or []]
    lines.append(f"SHA256SUMS sha256 {finished.get('digest')}")
    if finished.get("signed"):
        lines.append(finished["signed"])
    lines.append(f"evidence: {where}")
    return lines
