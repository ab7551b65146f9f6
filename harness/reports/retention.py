"""Retention of evidence bundles: keep the newest N, and none older than D days.

``pss-harness report prune DIR`` (DIR: the directory that holds one bundle per run, e.g.
``reports/evidence``) removes whole bundles only: an immediate subdirectory holding
``results.json`` or ``SHA256SUMS``. Anything else there (a file, a symbolic link, a directory that
is not a bundle) is left alone and named. A bundle's age is its run's ``started`` time from
``results.json``, else the directory's modification time. This replaces ``find -mtime -delete`` in
the chart's CronJob, whose image has no shell.

May import ``harness.core.errors`` and the standard library.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import stat
from pathlib import Path

from harness.core.errors import UsageError

__all__ = ["Bundle", "Plan", "plan", "prune"]

_MARKERS = ("results.json", "SHA256SUMS")


@dataclasses.dataclass(frozen=True)
class Bundle:
    """One bundle directory and when its run started."""

    path: Path
    started: datetime.datetime  #: UTC
    source: str                 #: "results.json" or "mtime": where ``started`` came from


@dataclasses.dataclass
class Plan:
    """What a prune removes and keeps, and what it leaves alone (not a bundle)."""

    remove: list[tuple[Bundle, str]]   #: (bundle, why)
    keep: list[Bundle]
    ignored: list[tuple[str, str]]     #: (name, why)


def _started(path: Path) -> tuple[datetime.datetime, str]:
    try:
        with open(path / "results.json", "rb") as f:
            text = json.load(f)["run"]["started"]
        when = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when.astimezone(datetime.timezone.utc), "results.json"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        mtime = os.stat(path, follow_symlinks=False).st_mtime
        return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc), "mtime"


def _scan(directory: Path, missing_ok: bool = False) -> tuple[list[Bundle], list[tuple[str, str]]]:
    try:
        st = os.stat(directory, follow_symlinks=False)
    except FileNotFoundError:
        if missing_ok:
            return [], []
        raise UsageError(f"report prune {directory}: no such directory (--missing-ok: nothing to prune yet)") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"report prune {directory}: not a directory (a symbolic link is refused); give the "
                         f"directory that holds the bundles, e.g. reports/evidence")
    bundles, ignored = [], []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_symlink():
            ignored.append((entry.name, "a symbolic link"))
        elif not entry.is_dir(follow_symlinks=False):
            ignored.append((entry.name, "not a directory"))
        elif not any(os.path.isfile(os.path.join(entry.path, m)) and not os.path.islink(os.path.join(entry.path, m))
                     for m in _MARKERS):
            ignored.append((entry.name, f"not an evidence bundle (no {' or '.join(_MARKERS)})"))
        else:
            started, source = _started(Path(entry.path))
            bundles.append(Bundle(Path(entry.path), started, source))
    return bundles, ignored


def plan(directory: str | Path, *, keep: int | None = None, max_age_days: float | None = None,
         now: datetime.datetime | None = None, missing_ok: bool = False) -> Plan:
    """Which bundles of ``directory`` go: beyond the newest ``keep``, or older than ``max_age_days``."""
    if keep is None and max_age_days is None:
        raise UsageError("report prune: give --keep N, --max-age DAYS, or both")
    if keep is not None and keep < 0:
        raise UsageError(f"report prune --keep {keep}: a number of bundles, 0 or more")
    if max_age_days is not None and max_age_days < 0:
        raise UsageError(f"report prune --max-age {max_age_days}: a number of days, 0 or more")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    bundles, ignored = _scan(Path(directory), missing_ok)
    newest_first = sorted(bundles, key=lambda b: (b.started, b.path.name), reverse=True)
    remove, kept = [], []
    for rank, b in enumerate(newest_first):
        age_days = (now - b.started).total_seconds() / 86400
        if keep is not None and rank >= keep:
            remove.append((b, f"beyond the newest {keep}"))
        elif max_age_days is not None and age_days > max_age_days:
            remove.append((b, f"{age_days:.1f} days old (--max-age {max_age_days:g})"))
        else:
            kept.append(b)
    return Plan(remove, kept, ignored)


def prune(directory: str | Path, *, keep: int | None = None, max_age_days: float | None = None,
          dry_run: bool = False, now: datetime.datetime | None = None, missing_ok: bool = False) -> Plan:
    """Remove what ``plan`` says (unless ``dry_run``); returns the plan. ``missing_ok``: no directory, nothing to do."""
    p = plan(directory, keep=keep, max_age_days=max_age_days, now=now, missing_ok=missing_ok)
    if not dry_run:
        for bundle, _ in p.remove:
            shutil.rmtree(bundle.path)  # fd-based on Linux: never follows a link planted inside
    return p
