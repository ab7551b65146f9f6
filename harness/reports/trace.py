"""An independent trace of a bundle: every record's audit ID and HTTP status against the cluster's audit log.

A signature shows who sealed a bundle, not that its records describe requests the server
answered. The API server's audit log is written by the server, not by the harness: each
request the harness recorded carries the server's ``Audit-Id`` (``observed.audit_id``), and the
log's ``ResponseComplete`` event of that ID holds the status the server sent
(``responseStatus.code``) and the namespace it was sent to (``objectRef.namespace``). A record
whose ID has no event, or whose status or namespace differs from the event's, is named.

Records without a server answer (status 0: the request never arrived) or without an
observation (skipped items) carry nothing to trace and are counted, not failed.

The log is read as JSON lines of ``audit.k8s.io/v1`` ``Event`` objects (the log backend's
format), or of ``EventList`` objects (the webhook backend's batches). May import the standard
library and ``harness.core`` only.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable

from harness.core.errors import UsageError

__all__ = ["AuditTrace", "check_audit_log"]


@dataclasses.dataclass(frozen=True)
class AuditTrace:
    """What ``check_audit_log`` found."""

    log: str
    traced: int = 0
    untraceable: int = 0            #: records with no server answer or no observation
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        extra = f"; {self.untraceable} record(s) had no server answer to trace" if self.untraceable else ""
        return f"audit: {self.traced} record(s) match their ResponseComplete event in {self.log}{extra}"


def _events(path: Path, wanted: set[str]) -> dict[str, dict]:
    """auditID -> its ResponseComplete event, for the IDs in ``wanted``."""
    found: dict[str, dict] = {}
    try:
        fh = path.open("r", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"--audit-log {path}: cannot be read ({exc.strerror}); give the API server's "
                         "JSON-lines audit log (--audit-log-path)") from None
    with fh:
        for line in fh:
            if "ResponseComplete" not in line:
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "EventList" else [doc]
            for event in items or []:
                if (isinstance(event, dict) and event.get("stage") == "ResponseComplete"
                        and event.get("auditID") in wanted):
                    found[event["auditID"]] = event
    return found


def check_audit_log(records: Iterable[dict], log: str | Path) -> AuditTrace:
    """Compare each record's ``observed.audit_id``, ``observed.status`` and namespace with the audit log."""
    path = Path(log)
    records = list(records)
    traceable = [r for r in records if isinstance(r.get("observed"), dict) and r["observed"].get("status")]
    untraceable = len(records) - len(traceable)
    problems = []
    wanted = set()
    for r in traceable:
        audit_id = r["observed"].get("audit_id")
        if not audit_id:
            problems.append(f"audit: {r['nodeid']}: HTTP {r['observed']['status']} recorded without an audit ID")
        else:
            wanted.add(audit_id)
    events = _events(path, wanted) if wanted else {}
    traced = 0
    for r in traceable:
        obs = r["observed"]
        audit_id = obs.get("audit_id")
        if not audit_id:
            continue
        event = events.get(audit_id)
        if event is None:
            problems.append(f"audit: {r['nodeid']}: no ResponseComplete event with auditID {audit_id} in {path}")
            continue
        code = (event.get("responseStatus") or {}).get("code")
        namespace = (event.get("objectRef") or {}).get("namespace")
        if code != obs.get("status"):
            problems.append(f"audit: {r['nodeid']}: HTTP {obs.get('status')} recorded, the audit log says {code} "
                            f"(auditID {audit_id})")
        elif r.get("namespace") and namespace and namespace != r["namespace"]:
            problems.append(f"audit: {r['nodeid']}: namespace {r['namespace']} recorded, the audit log says "
                            f"{namespace} (auditID {audit_id})")
        else:
            traced += 1
    return AuditTrace(str(path), traced, untraceable, tuple(problems))
