"""How a session ended, as one JSON object for the program that started it (``pss-harness fleet``).

When ``$PSS_HARNESS_STATUS_FILE`` names a file, the controlling process writes it at the end of
the session (never a worker)::

    {"schema": "pss-harness/session-status/v1", "exit_status": 3, "run_id": "1f2e3d4c",
     "error": {"type": "ClusterUnreachable", "message": "..."} | null,
     "evidence": "/abs/path/reports/evidence/<run-id>" | null}

``error`` is the ``HarnessError`` that stopped the session before any item ran (the preflight:
unreachable, missing RBAC, PodSecurity not in effect, a control plane that did not start), by
its class name in ``harness.core.errors``, with its message redacted like every report.
``evidence`` is the bundle the run wrote. A usage error (pytest exit status 4) ends pytest
before a session exists, so no file is written: the caller reads the exit status and stderr.

Imports: pytest, ``harness.core`` and ``harness.reports.redact``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.reports.redact import default_redactor, secrets_from_client

__all__ = ["ENV", "SCHEMA", "failed", "write"]

ENV = "PSS_HARNESS_STATUS_FILE"
SCHEMA = "pss-harness/session-status/v1"
_ERROR = pytest.StashKey[dict]()


def failed(config: pytest.Config, exc: HarnessError, runtime=None) -> None:
    """Remember the error that stopped the session (written by ``write`` at its end).

    The run's server address and credentials (from ``runtime``'s client, if it got that far)
    are redacted from the message like from every report.
    """
    if runtime is not None:
        try:
            default_redactor().add(secrets_from_client(runtime.cluster.api.configuration))
        except AttributeError:
            pass
    config.stash[_ERROR] = {"type": type(exc).__name__, "message": default_redactor().text(str(exc))}


def write(config: pytest.Config, exitstatus: int, run_id: str | None, evidence: Path | None) -> Path | None:
    """Write the status file if ``$PSS_HARNESS_STATUS_FILE`` asks for one; its path, or None."""
    target = os.environ.get(ENV)
    if not target:
        return None
    doc = {"schema": SCHEMA, "exit_status": int(exitstatus), "run_id": run_id,
           "error": config.stash.get(_ERROR, None), "evidence": str(evidence.resolve()) if evidence else None}
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
