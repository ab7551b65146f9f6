"""The run's status (passed, failed, incomplete), tracked in the controlling process and stated everywhere.

A ``RunTracker`` is registered in the controller (or the only process) and sees what pytest and
pytest-xdist report there: every item's result (xdist forwards the workers' reports, and each
scenario item's report carries ``pss_harness``, set by ``evidence.record_item``), the collection
errors (a malformed scenario under ``-n 2`` is reported by the workers), the items selected and
finished, an interruption (Ctrl-C, SIGTERM: ``pytest_keyboard_interrupt``) or an early stop
(``-x``). At the end of the session, before the junitxml plugin writes its file, it decides the
status by ``harness.reports.record.run_status`` and states it:

* JUnit: the global properties ``pss-harness.status`` and ``pss-harness.incomplete_reasons``;
* the exit status: an incomplete run never exits 0 (2, pytest's "interrupted"), a failed one
  never exits 0 (1) -- pytest's own non-zero status is kept;
* ``results.json`` (``run.status``, ``incomplete_reasons``, ``collection_errors``), the HTML header
  and the history store get it through ``evidence.finish_run``.

Only runs that seal a bundle (the preflight passed: ``evidence.has_run``) get a status.

Imports: pytest, ``harness.reports`` (record, redact) and ``harness.plugin.evidence``.
"""

from __future__ import annotations

from collections import Counter

import pytest

from harness.plugin import evidence
from harness.reports.record import AUDIT_UNOBSERVED, run_status
from harness.reports.redact import default_redactor

__all__ = ["RunTracker", "tracker_of"]

_NAME = "pss-harness-run-status"
_MESSAGE_LIMIT = 2000


def tracker_of(config: pytest.Config) -> "RunTracker | None":
    return config.pluginmanager.get_plugin(_NAME)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


def _interruption(excinfo) -> tuple[str | None, str | None]:
    """(interrupted, stopped): what a KeyboardInterrupt or ``pytest.exit`` at the top of the session means."""
    value = excinfo.value
    text = str(value).strip()
    if isinstance(value, KeyboardInterrupt):
        if text.startswith("stopping after"):  # pytest-xdist's -x / --maxfail
            return None, text
        if not text:
            return "KeyboardInterrupt: Ctrl-C", None
        if "keyboard-interrupt" in text:  # xdist: a worker was interrupted (the process group got the signal)
            return f"{text} (Ctrl-C or SIGTERM)", None
        return text, None
    return None, f"pytest.exit: {text}" if text else "pytest.exit"


class RunTracker:
    """What the controller saw of the run; ``status`` once the session finished."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.counts: Counter = Counter()      #: scenario items' results (and crashed items: failed)
        self.audit_unobserved = 0
        self.finished: set[str] = set()       #: node ids of every item that reached its verdict
        self.errors: list[dict] = []          #: collection errors: {"file", "message"}
        self.interrupted: str | None = None
        self.stopped: str | None = None
        self.status: dict | None = None

    @classmethod
    def install(cls, config: pytest.Config) -> None:
        if not hasattr(config, "workerinput") and not config.pluginmanager.has_plugin(_NAME):
            config.pluginmanager.register(cls(config), _NAME)

    # -- what pytest reports ---------------------------------------------------------------

    def pytest_collectreport(self, report) -> None:
        if not report.failed:
            return
        # the node id's path is relative to the rootdir, as an item's record's "file" is
        where = report.nodeid.split("::")[0] if report.nodeid else str(getattr(report, "fspath", "") or "?")
        text = getattr(report, "longreprtext", None) or str(report.longrepr)
        self.errors.append({"file": where,
                            "message": default_redactor().text(text.strip())[-_MESSAGE_LIMIT:]})

    def pytest_runtest_logreport(self, report) -> None:
        crashed = report.when == "???"  # pytest-xdist: the worker died while running the item
        if not (report.when == "call" or crashed or (report.when == "setup" and not report.passed)):
            if report.when == "teardown" and report.failed and getattr(report, "pss_harness", None):
                self.counts["failed"] += 1
            return
        self.finished.add(report.nodeid)
        item = getattr(report, "pss_harness", None)
        if crashed:
            self.counts["failed"] += 1
        elif item:
            result = "failed" if report.failed else ("skipped" if report.skipped else "passed")
            self.counts[result] += 1
            if report.skipped and AUDIT_UNOBSERVED in _skip_reason(report):
                self.audit_unobserved += 1

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        interrupted, stopped = _interruption(excinfo)
        self.interrupted = self.interrupted or interrupted
        self.stopped = self.stopped or stopped

    # -- the verdict on the run ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file and the evidence is sealed
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        if not evidence.has_run(self.config):
            return
        stopped = self.stopped or (session.shouldfail if isinstance(session.shouldfail, str) else None) \
            or (session.shouldstop if isinstance(session.shouldstop, str) else None)
        self.status = run_status(counts=dict(self.counts), collection_errors=self.errors,
                                 interrupted=self.interrupted, stopped=stopped,
                                 selected=session.testscollected or None, ran=len(self.finished),
                                 audit_unobserved=self.audit_unobserved)
        self._junit_properties()
        if session.exitstatus == pytest.ExitCode.OK:
            if self.status["status"] == "failed":
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            elif self.status["status"] == "incomplete":
                session.exitstatus = pytest.ExitCode.INTERRUPTED

    def _junit_properties(self) -> None:
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - pytest internals moved
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is None or self.status is None:
            return
        xml.add_global_property("pss-harness.status", self.status["status"])
        xml.add_global_property("pss-harness.incomplete_reasons", "; ".join(self.status["incomplete_reasons"]))
        for error in self.status["collection_errors"]:
            xml.add_global_property("pss-harness.collection_error", f"{error['file']}: {error['message'][:300]}")
