"""JUnit XML for long runs: each scenario test case is serialised once it is final and spooled to disk.

pytest's junitxml plugin keeps every test case's XML element until the session ends, when it
writes the file in one go. A harness item carries 17 properties (scenario, policy, checks, audit
id, ...), so each case held ~7 KB of element objects in the reporting process: at 272,000 items
(16 times the default matrix) that alone was ~1.8 GB of a 5.1 GB controller. Here a scenario
case's element is serialised as pytest would serialise it (``ElementTree.tostring``, the same
bytes) the moment pytest finalises it, appended to a spool file next to the report, and the
element is replaced by a placeholder ``<pss-spooled i="N" />``. After pytest has written its file
(``trylast``), the file is rewritten, streaming, with each placeholder replaced by its case: the
same bytes as pytest's own file, cases in pytest's order, without holding them.

Only cases whose node id names a scenario file (``.yaml::``) are spooled; another project's test
cases, and a pytest whose junitxml lacks what this relies on (``LogXML.finalize``,
``node_reporters``, ``_NodeReporter.to_xml``, ``logfile``), are left to pytest as they are.

Imports: pytest (the junitxml plugin's stash key), ``harness.plugin.collect`` (what a scenario node
id is) and the standard library.
"""

from __future__ import annotations

import array
import os
import re
import xml.etree.ElementTree as ET

import pytest

from harness.plugin.collect import is_scenario_nodeid

__all__ = ["JunitSpool", "install"]

_TAG = "pss-spooled"
_PLACEHOLDER = re.compile(rb'<pss-spooled i="(\d+)" />')
_CHUNK = 1 << 20


class _Placeholder:
    """A spooled case's ``to_xml``: the placeholder element, made only when pytest writes its file."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i

    def __call__(self) -> ET.Element:
        return ET.Element(_TAG, i=str(self.i))


class JunitSpool:
    """Spools a ``LogXML``'s finalised scenario cases; ``rewrite`` puts them back into its written file."""

    def __init__(self, xml) -> None:
        self.xml = xml
        self.path = f"{os.path.abspath(xml.logfile)}.{os.getpid()}.spool"
        self.spool = None                                 # opened on the first spooled case
        self.offsets = array.array("q")                    #: case N's offset in the spool
        self.lengths = array.array("q")                    #: and its length
        original = xml.finalize

        def finalize(report) -> None:
            reporter = xml.node_reporters.get((getattr(report, "id", report.nodeid), getattr(report, "node", None)))
            original(report)
            if reporter is not None and is_scenario_nodeid(report.nodeid):
                self._spool(reporter)

        xml.finalize = finalize

    def _spool(self, reporter) -> None:
        data = ET.tostring(reporter.to_xml(), encoding="unicode").encode("utf-8")
        if self.spool is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self.spool = open(self.path, "w+b")
        self.offsets.append(self.spool.tell())
        self.lengths.append(len(data))
        self.spool.write(data)
        reporter.to_xml = _Placeholder(len(self.offsets) - 1)

    def rewrite(self) -> None:
        """Replace the placeholders of the written file by their cases (tmp file and rename); remove the spool."""
        if self.spool is None:
            return
        target = os.path.abspath(self.xml.logfile)
        try:
            if not os.path.exists(target):
                return
            self.spool.flush()
            tmp = f"{target}.{os.getpid()}.tmp"
            with open(target, "rb") as src, open(tmp, "wb") as out:
                tail = b""
                while True:
                    block = src.read(_CHUNK)
                    text = tail + block
                    if not block:
                        out.write(self._expand(text))
                        break
                    cut = text.rfind(b"<")  # a placeholder is never split: hold back from the last tag start
                    if cut < 0:
                        cut = len(text)
                    out.write(self._expand(text[:cut]))
                    tail = text[cut:]
            os.replace(tmp, target)
        finally:
            self.spool.close()
            self.spool = None
            os.unlink(self.path)

    def _expand(self, text: bytes) -> bytes:
        def case(m: re.Match) -> bytes:
            i = int(m.group(1))
            self.spool.seek(self.offsets[i])
            return self.spool.read(self.lengths[i])

        return _PLACEHOLDER.sub(case, text)


class _Plugin:
    def __init__(self) -> None:
        self.spool: JunitSpool | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from _pytest import junitxml

        xml = session.config.stash.get(junitxml.xml_key, None)
        relies_on = (callable(getattr(xml, "finalize", None)) and isinstance(getattr(xml, "node_reporters", None), dict)
                     and callable(getattr(junitxml._NodeReporter, "to_xml", None)) and getattr(xml, "logfile", None))
        if xml is not None and relies_on:
            self.spool = JunitSpool(xml)

    @pytest.hookimpl(trylast=True)  # after junitxml wrote its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.spool is not None:
            self.spool.rewrite()


def install(config: pytest.Config) -> None:
    """Spool scenario cases in the reporting process (a worker writes no JUnit file)."""
    if not hasattr(config, "workerinput") and config.option.xmlpath:
        config.pluginmanager.register(_Plugin(), "pss-harness-junit-spool")
