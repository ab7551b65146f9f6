"""A run's records where they lie: the per-process JSON-lines files, indexed, read back one at a time.

``finish_run`` seals a run from ``<evidence>/records/<worker>.jsonl`` (one record per line, as
``redact.Redactor.dumps`` wrote it: sorted keys, one line). Reading every record back into memory
would hold the whole run at once (17,000 items: ~0.5 GB of dicts; 16 times that is more than a
machine has). ``RecordStore.scan`` reads each line once and keeps only where it lies and a *slim*
record: the fields the run's summaries, history and the report's sections read (``slim``), with
the values a scenario's or a policy's items share held once. Then

* ``lines()`` gives the record lines in node id order, as bytes, for ``results.json`` (copied, not
  re-encoded: ``bundle.dump_results`` would write the same text);
* ``record(slim)`` reads one full record back (the report's per-item details), on demand.

Records are ordered as ``sorted(records, key=nodeid)`` would order them, read from the files in
name order (the order ``finish_run`` read them in before).

Imports: the standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

__all__ = ["HEAVY", "RecordStore", "slim"]

#: fields no summary reads (the per-item details of the report read them from the full record)
HEAVY = frozenset({"manifest", "request", "references", "problems", "controller", "namespace", "started",
                   "finished", "duration", "worker", "name"})
#: fields every item of one scenario file shares (held once per scenario)
_PER_SCENARIO = ("title", "gain", "level", "file", "scenario_sha256", "severity", "declared_checks", "attack",
                 "ms_matrix", "cis", "nsa")


class _Shared:
    """Equal values held once: a scenario's fields, policies, expectations, check lists."""

    def __init__(self) -> None:
        self.values: dict = {}

    def __call__(self, value):
        try:
            key = _freeze(value)
        except TypeError:
            return value
        return self.values.setdefault(key, value)


def _freeze(value):
    if isinstance(value, dict):
        return ("d", tuple((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("l", tuple(_freeze(v) for v in value))
    hash(value)
    return value


def slim(record: dict, shared: _Shared | None = None) -> dict:
    """``record`` without ``HEAVY`` fields, ``observed`` reduced to its outcome; shared values held once."""
    share = shared or (lambda v: v)
    out = {}
    for key, value in record.items():
        if key in HEAVY:
            continue
        if key == "observed":
            value = None if value is None else share({"outcome": value.get("outcome")})
        elif key in _PER_SCENARIO or key in ("policy", "expected", "controls", "kind", "result", "scenario"):
            value = share(value)
        out[sys.intern(key)] = value  # json.loads makes each record's keys anew
    return out


class RecordStore:
    """Where each record of a run lies (file, offset, length), its slim copy, in node id order."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self._entries: list[tuple[str, int, int, int]] = []   #: (nodeid, file index, offset, length)
        self.records: list[dict] = []                          #: slim records, in node id order
        self._where: dict[int, tuple[int, int, int]] = {}      #: id(slim record) -> (file index, offset, length)
        self._handles: dict[int, object] = {}                  #: open files of ``record`` (``close``)

    @classmethod
    def scan(cls, paths: Iterable[str | os.PathLike]) -> "RecordStore":
        """Index every non-blank line of ``paths`` (read in the given order); each parsed once, kept slim."""
        store = cls([Path(p) for p in paths])
        shared = _Shared()
        found: list[tuple[str, int, int, int, dict]] = []
        for n, path in enumerate(store.paths):
            offset = 0
            with open(path, "rb") as fh:
                for line in fh:
                    length = len(line)
                    body = line.strip()
                    if body:
                        record = json.loads(body)
                        found.append((record["nodeid"], n, offset + _leading(line), len(body), slim(record, shared)))
                    offset += length
        found.sort(key=lambda e: e[0])  # stable: equal node ids keep their reading order
        for nodeid, n, offset, length, record in found:
            store._entries.append((nodeid, n, offset, length))
            store.records.append(record)
            store._where[id(record)] = (n, offset, length)
        return store

    def __len__(self) -> int:
        return len(self._entries)

    def lines(self) -> Iterator[bytes]:
        """Each record's JSON text (bytes, no newline), in node id order."""
        handles: dict[int, object] = {}
        try:
            for _nodeid, n, offset, length in self._entries:
                fh = handles.get(n)
                if fh is None:
                    fh = handles[n] = open(self.paths[n], "rb")
                fh.seek(offset)
                yield fh.read(length)
        finally:
            for fh in handles.values():
                fh.close()

    def record(self, slim_record: dict) -> dict:
        """The full record of one of ``records`` (read from its file; ``close`` closes the files)."""
        n, offset, length = self._where[id(slim_record)]
        fh = self._handles.get(n)
        if fh is None:
            fh = self._handles[n] = open(self.paths[n], "rb")
        fh.seek(offset)
        return json.loads(fh.read(length))

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()

    def __enter__(self) -> "RecordStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _leading(line: bytes) -> int:
    """How many whitespace bytes precede the JSON text of ``line``."""
    return len(line) - len(line.lstrip())
