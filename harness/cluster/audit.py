"""The one audit-log reader: find a request's ``ResponseComplete`` audit event by its ``Audit-Id``.

``AuditSource`` reads the API server's JSON-lines audit log, from a file (the embedded control
plane's ``EmbeddedCluster.audit_log``, or ``--audit-log FILE``) or from the output of a command
(``--audit-log '!COMMAND'``). Every reader of audit events in the harness and its tests uses it.

May import the core (errors, polling) and the standard library; no kubernetes client.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

from harness.core.errors import ClusterError, UsageError
from harness.core.polling import PollTimeout, poll

__all__ = ["AuditSource", "log_end", "read_events"]


class AuditSource:
    """Finds the audit event of a request by its ``Audit-Id``: a JSON-lines file, or ``!COMMAND``.

    Thread-safe. A file is read from ``since`` on: by default its size at creation (earlier events
    are not this process's), ``since=0`` for the whole log. Lines are indexed by ``auditID``
    unparsed and only the events asked for are decoded, since most of what a process reads is
    other processes' requests. A truncated (rotated) file is read again from its start; a partial
    last line waits for its end. Each event is handed out once. An event nobody asked for within
    ``KEEP`` seconds of being read is forgotten (other processes' events, mostly): a process's
    memory stays bounded however long the run, and a request's own event is asked for at once.
    """

    KEEP = 120.0  #: seconds an unclaimed event stays indexed

    _ID = re.compile(rb'"auditID"\s*:\s*"([^"]+)"')
    _COMPLETE = re.compile(rb'"stage"\s*:\s*"ResponseComplete"')

    def __init__(self, spec: str | os.PathLike, *, since: int | None = None):
        self.spec = str(spec)
        self._offset = 0
        self._index: dict[str, bytes] = {}
        self._batches: collections.deque[tuple[float, list[str]]] = collections.deque()  #: (read at, ids indexed)
        self._lock = threading.Lock()
        if not self.spec.startswith("!"):
            if not Path(self.spec).exists():
                raise UsageError(f"--audit-log {self.spec}: no such file (use '!COMMAND' to run a command)")
            self._offset = Path(self.spec).stat().st_size if since is None else since

    def _read(self) -> None:
        if self.spec.startswith("!"):
            try:
                out = subprocess.run(shlex.split(self.spec[1:]), capture_output=True, timeout=60).stdout
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ClusterError(f"--audit-log command {self.spec[1:]!r} failed: {exc}") from None
            lines = out.splitlines()
        else:
            with open(self.spec, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < self._offset:  # rotated or truncated: start over
                    self._offset = 0
                fh.seek(self._offset)
                data = fh.read()
            end = data.rfind(b"\n") + 1
            self._offset += end
            lines = data[:end].splitlines()
        now = time.monotonic()
        while self._batches and self._batches[0][0] < now - self.KEEP:
            for old in self._batches.popleft()[1]:
                self._index.pop(old, None)
        added = []
        for line in lines:
            if not self._COMPLETE.search(line):
                continue
            m = self._ID.search(line)
            if m:
                audit_id = m.group(1).decode()
                self._index[audit_id] = line
                added.append(audit_id)
        if added:
            self._batches.append((now, added))

    def _take(self, audit_id: str) -> dict | None:
        line = self._index.pop(audit_id, None)
        if line is None:
            return None
        try:
            event = json.loads(line)
        except ValueError:
            return None
        return event if event.get("auditID") == audit_id and event.get("stage") == "ResponseComplete" else None

    def _lookup(self, audit_id: str) -> tuple[bool, dict | None]:
        with self._lock:
            if audit_id not in self._index:
                self._read()
            if audit_id in self._index:
                return True, self._take(audit_id)
            return False, None

    def find(self, audit_id: str, timeout: float = 5.0) -> dict | None:
        """The event (read once more every 50 ms until ``timeout``), or None if it did not appear."""
        try:
            return poll(lambda: self._lookup(audit_id), until=lambda r: r[0], timeout=timeout, interval=0.05,
                        what=f"audit event {audit_id}")[1]
        except PollTimeout:
            return None


def log_end(path: str | os.PathLike) -> int:
    """The current end of a JSON-lines audit log (0 if it does not exist yet): pass it as ``since``."""
    try:
        return Path(path).stat().st_size
    except FileNotFoundError:
        return 0


def read_events(path: str | os.PathLike, since: int = 0) -> Iterator[dict]:
    """Every complete event written to the log from byte ``since`` on, decoded (for tests and traces)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            for raw in fh:
                if raw.endswith(b"\n"):
                    try:
                        yield json.loads(raw)
                    except ValueError:
                        continue
    except FileNotFoundError:
        return

