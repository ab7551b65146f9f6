"""Garbage collection in a long session: what lives until its end is frozen out of the collector's scans.

CPython's cyclic collector scans every tracked container in each full (generation 2) collection,
and runs one each time the long-lived objects have grown by a quarter. In a run of 17,000 items
a worker's collected items, and the controller's reports (pytest's terminal reporter keeps every
report until the end), are most of its heap: the full collections spent 2-3.5 s per process
rescanning them (about a sixth of the client's CPU). They live until the session ends, so they
are frozen (``gc.freeze``): moved to the permanent generation, which no collection scans. Objects
made later are collected as before; a cycle already garbage when frozen would stay (the young
generations are collected every few hundred allocations, long before).

Only in large sessions of scenario items (``FREEZE_AT`` of them collected, or every
``ITEMS_PER_FREEZE`` of their reports received): a small run, such as a plugin test running a
session inside another, or another project's test suite, is left alone.

Reports a controller receives from xdist workers each bring their own copy of every string
(17 keywords, 16 properties, the node id three times per item): ``share_strings`` makes equal
strings one object (``sys.intern``), which changes no value.

What pytest keeps of a passed item to the end (the terminal reporter keeps all three of its
reports; JUnit keeps its XML element) it needs only for counting: once every plugin has seen a
passed report in the process that reports (the controller, or a run without xdist),
``slim_passed`` drops its properties and keywords (JUnit copied the properties into its element
already) and the terminal reporter's copy of passed setup and teardown reports, which no summary
reads. An item's own properties are dropped too once its reports are out (``release`` in
``harness.plugin.collect``).

Imports: the standard library only.
"""

from __future__ import annotations

import gc
import sys
import types

__all__ = ["FREEZE_AT", "ITEMS_PER_FREEZE", "ReportCounter", "after_collection", "share_strings", "slim_passed"]

FREEZE_AT = 2000         #: scenario items collected before the collection is frozen
ITEMS_PER_FREEZE = 2000  #: scenario items reported (three reports each) between two freezes of what a process holds


def after_collection(items: int) -> bool:
    """Freeze the collected session if it holds at least ``FREEZE_AT`` items; whether it did."""
    if items < FREEZE_AT:
        return False
    gc.freeze()
    return True


class ReportCounter:
    """Counts the scenario items reported to a process; every ``ITEMS_PER_FREEZE`` of them, freezes what it holds."""

    def __init__(self) -> None:
        self.reports = 0

    def __call__(self) -> bool:
        self.reports += 1
        if self.reports % ITEMS_PER_FREEZE:
            return False
        gc.freeze()
        return True


def _shared(value):
    return sys.intern(value) if type(value) is str else value


def share_strings(report) -> None:
    """Make the strings of ``report`` the interned equal ones: node id, location, and (unless it passed) keywords
    and user properties."""
    # the attribute names and plain string values too ("passed", "call", the worker id, the run's
    # uid): an unserialised report's __dict__ brings its own copies (16 keys per report)
    attributes = vars(report)
    named = [(sys.intern(k), _shared(v)) for k, v in attributes.items()]
    attributes.clear()
    attributes.update(named)
    report.nodeid = _shared(report.nodeid)
    carried = getattr(report, "pss_harness", None)
    if type(carried) is dict:
        report.pss_harness = {sys.intern(k): _shared(v) for k, v in carried.items()}
    location = getattr(report, "location", None)
    if isinstance(location, tuple):
        report.location = tuple(_shared(v) for v in location)
    if getattr(report, "outcome", None) == "passed":  # ``slim_passed`` drops its keywords and properties
        return
    keywords = getattr(report, "keywords", None)
    if type(keywords) is dict:
        report.keywords = {_shared(k): v for k, v in keywords.items()}
    props = getattr(report, "user_properties", None)
    if props:
        report.user_properties = [tuple(_shared(v) for v in p) if type(p) is tuple else p for p in props]


_NO_KEYWORDS = types.MappingProxyType({})  #: what a slimmed report has for keywords (read-only, one for all)


def slim_passed(report, stats: dict | None) -> bool:
    """Once every plugin saw it: a passed report keeps only what counting needs; whether it was slimmed.

    ``stats``: the terminal reporter's (``TerminalReporter.stats``), whose list of passed setup and
    teardown reports (key ``""``) gives this report up if it is the last one added. Reports that
    did not pass (failures, errors, skips: summaries and ``--lf`` read them) are left alone.
    """
    if report.outcome != "passed" or getattr(report, "wasxfail", None) is not None:
        return False
    report.user_properties = ()
    report.keywords = _NO_KEYWORDS
    if report.when != "call" and stats is not None:
        kept = stats.get("")
        if kept and kept[-1] is report:
            kept.pop()
    return True
