"""The local run history: one row per run and one per control, in ``reports/history.sqlite``.

A *control* is one (check id x level x mode) cell of the evidence matrix (``record.control_summary``);
its status in a run is ``failed`` if any item failed, else ``passed`` if any passed, else
``skipped``. ``snapshot`` answers the two questions the HTML report shows: the trend of the last
runs on the same cluster (by fingerprint) and which controls changed since the previous one.
Runs that held another engine to the corpus (``--psa-engine vap``: a ValidatingAdmissionPolicy
set) are another history on the same cluster (``history_key``): PodSecurity's results are never
compared with a policy set's.

Each run row keeps the run's status (passed, failed, incomplete). An incomplete run (interrupted,
audit mode not observed, ...) is in the trend but is never the *previous* run another is compared
with. The comparison is like with like: a cell counts as changed only if both runs observed it
(passed or failed in each) and its status differs; cells the previous run observed and this one
did not (a ``-m`` subset, audit mode left out) are a *selection change*, listed apart
(``selection.not_run``), as are cells only this run observed (``selection.new``).

    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "history.sqlite")
    >>> run = {"run": {"run_id": "r1", "started": "2026-01-01T00:00:00+00:00", "cluster_fingerprint": "f"},
    ...        "results": []}
    >>> record_run(db, run); [r["run_id"] for r in trend(db, "f")]
    ['r1']

Writers on the same file are serialised by SQLite's own locking (xdist controllers of parallel
runs may share it).

Imports: the standard library (``sqlite3``) and ``harness.reports.record``; never ``bundle`` or
``html`` (the bundle calls this module, not the reverse).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Iterator

from harness.reports.record import Results, control_summary, status_of

__all__ = ["bundle_digest", "changes", "compare", "drift_events", "history_key", "previous_run", "record_drift",
           "record_run", "set_bundle_digest", "snapshot", "trend"]

TREND_LENGTH = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    server_version TEXT,
    fingerprint TEXT NOT NULL,
    harness_version TEXT,
    corpus_sha256 TEXT,
    total INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    bundle_sha256 TEXT,
    status TEXT
);
CREATE TABLE IF NOT EXISTS controls (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    check_id TEXT NOT NULL,
    level TEXT NOT NULL,
    mode TEXT NOT NULL,
    passed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (run_id, check_id, level, mode)
);
CREATE INDEX IF NOT EXISTS runs_by_cluster ON runs (fingerprint, started);
CREATE TABLE IF NOT EXISTS drift_events (
    id TEXT PRIMARY KEY,
    finding TEXT NOT NULL,
    subject TEXT NOT NULL,
    namespace TEXT,
    severity TEXT,
    preexisting INTEGER NOT NULL,
    changed REAL,
    change_source TEXT,
    detected REAL NOT NULL,
    remediated REAL,
    resolution TEXT,
    event_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drift_by_detection ON drift_events (detected);
"""


@contextlib.contextmanager
def _db(path: str | Path) -> Iterator[sqlite3.Connection]:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        conn.executescript(_SCHEMA)
        if "status" not in {row["name"] for row in conn.execute("PRAGMA table_info(runs)")}:
            conn.execute("ALTER TABLE runs ADD COLUMN status TEXT")  # a store written before runs had a status
        with conn:
            yield conn
    finally:
        conn.close()


def history_key(run: dict) -> str:
    """The history a run belongs to: its cluster fingerprint, plus the engine when it is not PodSecurity
    (``<fingerprint>+vap:pss-harness``), so that like is compared with like."""
    fingerprint = run.get("cluster_fingerprint") or "unknown"
    engine = run.get("engine") or {}
    if engine.get("name") in (None, "podsecurity"):
        return fingerprint
    return f"{fingerprint}+{engine['name']}:{engine.get('policy_set') or '-'}"


def record_run(path: str | Path, results: Results) -> None:
    """Add (or replace) the summary of one run's ``results.json`` content."""
    run, records = results["run"], results["results"]
    counts = {k: sum(1 for r in records if r.get("result") == k) for k in ("passed", "failed", "skipped")}
    with _db(path) as conn:
        conn.execute("DELETE FROM controls WHERE run_id = ?", (run["run_id"],))
        conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, started, finished, server_version, fingerprint, harness_version,"
            " corpus_sha256, total, passed, failed, skipped, bundle_sha256, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run["run_id"], run.get("started", ""), run.get("finished"), run.get("server_version"),
             history_key(run), run.get("harness_version"), run.get("corpus_sha256"),
             len(records), counts["passed"], counts["failed"], counts["skipped"], None, status_of(run, records)))
        conn.executemany(
            "INSERT INTO controls VALUES (?,?,?,?,?,?,?,?)",
            [(run["run_id"], c, lv, m, s["passed"], s["failed"], s["skipped"], s["status"])
             for (c, lv, m), s in sorted(control_summary(records).items())])


def set_bundle_digest(path: str | Path, run_id: str, digest: str) -> None:
    """Remember the SHA-256 of a run's ``SHA256SUMS``: an anchor outside the bundle for ``verify``."""
    with _db(path) as conn:
        conn.execute("UPDATE runs SET bundle_sha256 = ? WHERE run_id = ?", (digest, run_id))


def bundle_digest(path: str | Path, run_id: str) -> str | None:
    if not Path(path).is_file():
        return None
    with _db(path) as conn:
        row = conn.execute("SELECT bundle_sha256 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return row["bundle_sha256"] if row else None


def trend(path: str | Path, fingerprint: str, until: str | None = None, limit: int = TREND_LENGTH) -> list[dict]:
    """The last ``limit`` runs on the cluster ``fingerprint`` (oldest first), up to run ``until``."""
    with _db(path) as conn:
        bound = ""
        args: list = [fingerprint]
        if until:
            row = conn.execute("SELECT started FROM runs WHERE run_id = ?", (until,)).fetchone()
            if row:
                bound, args = " AND (started < ? OR run_id = ?)", [fingerprint, row["started"], until]
        rows = conn.execute(
            "SELECT run_id, started, finished, server_version, total, passed, failed, skipped, status FROM runs "
            f"WHERE fingerprint = ?{bound} ORDER BY started DESC, run_id DESC LIMIT ?", (*args, limit)).fetchall()
    return [dict(r) for r in reversed(rows)]


def previous_run(path: str | Path, run_id: str) -> dict | None:
    """The complete run on the same cluster that started last before ``run_id`` (never an incomplete one)."""
    with _db(path) as conn:
        row = conn.execute("SELECT fingerprint, started FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        prev = conn.execute(
            "SELECT run_id, started, server_version, status FROM runs WHERE fingerprint = ? AND started < ? "
            "AND run_id != ? AND COALESCE(status, '') != 'incomplete' ORDER BY started DESC LIMIT 1",
            (row["fingerprint"], row["started"], run_id)).fetchone()
    return dict(prev) if prev else None


def _statuses(conn: sqlite3.Connection, run_id: str) -> dict[tuple[str, str, str], str]:
    rows = conn.execute("SELECT check_id, level, mode, status FROM controls WHERE run_id = ?", (run_id,))
    return {(r["check_id"], r["level"], r["mode"]): r["status"] for r in rows}


_OBSERVED = ("passed", "failed")


def compare(path: str | Path, run_id: str, previous: str) -> dict:
    """Like with like: ``changes`` in cells both runs observed, and the ``selection`` change apart.

    ``changes``: cells passed or failed in both runs whose status differs. ``selection``:
    ``not_run``, cells the previous run observed that this one did not run or only skipped;
    ``new``, cells this run observed that the previous one did not. Each cell is
    ``{"check", "level", "mode", "before", "after"}`` (``absent`` where a run had no such cell).
    """
    with _db(path) as conn:
        before, after = _statuses(conn, previous), _statuses(conn, run_id)
    out: dict = {"changes": [], "selection": {"not_run": [], "new": []}}
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key, "absent"), after.get(key, "absent")
        cell = {"check": key[0], "level": key[1], "mode": key[2], "before": b, "after": a}
        if b in _OBSERVED and a in _OBSERVED:
            if a != b:
                out["changes"].append(cell)
        elif b in _OBSERVED:
            out["selection"]["not_run"].append(cell)
        elif a in _OBSERVED:
            out["selection"]["new"].append(cell)
    return out


def changes(path: str | Path, run_id: str, previous: str) -> list[dict]:
    """Controls whose status differs between ``previous`` and ``run_id``, among cells both runs observed."""
    return compare(path, run_id, previous)["changes"]


def snapshot(path: str | Path, run_id: str, fingerprint: str) -> dict:
    """What the report shows about history: trend, previous complete run on this cluster, changed controls,
    and the selection change (cells not run this time, cells new this time)."""
    prev = previous_run(path, run_id)
    compared = compare(path, run_id, prev["run_id"]) if prev else {"changes": [], "selection": {"not_run": [], "new": []}}
    return {"fingerprint": fingerprint, "trend": trend(path, fingerprint, until=run_id),
            "previous": prev, **compared}


def record_drift(path: str | Path, event: dict) -> None:
    """Add or update one drift event of ``pss-harness watch`` (``harness.core.drift.DriftEvent.to_dict()``)."""
    import json

    with _db(path) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO drift_events (id, finding, subject, namespace, severity, preexisting, changed,"
            " change_source, detected, remediated, resolution, event_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (event["id"], event["finding"], event["subject"], event.get("namespace"), event.get("severity"),
             int(bool(event.get("preexisting"))), event.get("changed_at"), event.get("change_source"),
             event["detected_at"], event.get("remediated_at"), event.get("resolution"),
             json.dumps(event, sort_keys=True, default=str)))


def drift_events(path: str | Path, since: float | None = None, until: float | None = None) -> list[dict]:
    """The recorded drift events detected in ``[since, until]`` (seconds since the epoch), oldest first."""
    import json

    if not Path(path).is_file():
        return []
    with _db(path) as conn:
        rows = conn.execute("SELECT event_json FROM drift_events WHERE detected >= ? AND detected <= ? "
                            "ORDER BY detected, id", (since if since is not None else float("-inf"),
                                                      until if until is not None else float("inf"))).fetchall()
    return [json.loads(r["event_json"]) for r in rows]
