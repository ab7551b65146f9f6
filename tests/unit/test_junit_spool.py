"""JUnit spooling: the file pytest's junitxml writes is the same bytes, the scenario cases not held in memory."""

from __future__ import annotations

import re

from _pytest.junitxml import LogXML
from _pytest.reports import TestReport

from harness.plugin.junit_spool import JunitSpool

PROPS = [("scenario", "vulnerable-pod"), ("checks", "privileged,hostPath<&>\"'"), ("audit_id", "1234-abcd")]


def _reports(nodeid: str, outcome: str = "passed", node=None) -> list[TestReport]:
    out = []
    for when in ("setup", "call", "teardown"):
        failed = outcome == "failed" and when == "call"
        r = TestReport(nodeid, ("scenarios/x.yaml", None, nodeid), {}, "failed" if failed else "passed",
                       "AssertionError: missing expected check(s) privileged <b>" if failed else None, when,
                       duration=0.25, user_properties=PROPS + [("item", nodeid)])
        r.node = node
        out.append(r)
    return out


def _interleaved() -> list[TestReport]:
    """Two xdist workers' reports, interleaved: cases finish in another order than they started."""
    a = _reports("scenarios/baseline/a.yaml::a[Pod-baseline-enforce-latest]", node="gw0")
    b = _reports("scenarios/baseline/b.yaml::b[Pod-restricted-warn-1.30]", "failed", node="gw1")
    c = _reports("tests/unit/test_other.py::test_not_a_scenario", node="gw0")
    d = _reports("scenarios/x.yml::d[Deployment-privileged-audit-latest]", node="gw1")
    return [a[0], b[0], c[0], a[1], b[1], b[2], c[1], d[0], c[2], d[1], a[2], d[2]]


def _write(path, spooled: bool) -> tuple[bytes, JunitSpool | None]:
    xml = LogXML(str(path), None)
    spool = JunitSpool(xml) if spooled else None
    xml.pytest_sessionstart()
    for report in _interleaved():
        xml.pytest_runtest_logreport(report)
    held = [r for r in xml.node_reporters_ordered if "testcase" in repr(r.to_xml())]
    xml.pytest_sessionfinish()
    if spool is not None:
        assert len(held) == 1, "only the case that is not a scenario's keeps its element"
        spool.rewrite()
    return path.read_bytes(), spool


def _stable(data: bytes) -> bytes:
    """Without the suite's wall-clock attributes (its time and timestamp), which differ between any two runs."""
    suite = re.search(rb"<testsuite [^>]*>", data)
    head = re.sub(rb' (time|timestamp)="[^"]*"', b"", suite.group(0))
    return data[:suite.start()] + head + data[suite.end():]


def test_the_file_is_pytest_s_own_bytes_in_pytest_s_order(tmp_path):
    plain, _ = _write(tmp_path / "plain.xml", spooled=False)
    spooled, spool = _write(tmp_path / "spooled.xml", spooled=True)
    assert b"pss-spooled" not in spooled and b"<testcase" in spooled
    assert _stable(spooled) == _stable(plain)
    names = re.findall(rb'<testcase [^>]*name="([^"]+)"', spooled)
    assert names == [b"a[Pod-baseline-enforce-latest]", b"b[Pod-restricted-warn-1.30]", b"test_not_a_scenario",
                     b"d[Deployment-privileged-audit-latest]"]
    assert b"hostPath&lt;&amp;&gt;" in spooled and b"missing expected check(s) privileged" in spooled
    assert not list(tmp_path.glob("*.spool")) and not list(tmp_path.glob("*.tmp"))  # nothing left behind
    assert spool.spool is None


def test_a_file_larger_than_one_read_is_rewritten_whole(tmp_path, monkeypatch):
    from harness.plugin import junit_spool

    monkeypatch.setattr(junit_spool, "_CHUNK", 7)  # every placeholder straddles reads
    plain, _ = _write(tmp_path / "plain.xml", spooled=False)
    spooled, _ = _write(tmp_path / "spooled.xml", spooled=True)
    assert _stable(spooled) == _stable(plain)
