"""The Allure results writer and the direct labelling write what allure-commons' own logger and hooks would.

``allure_writer.write_item`` must produce the bytes ``AllureFileLogger`` produces (it replaces how
that logger writes, nothing else), and ``allure.apply_to_result`` must leave a test result as the
``allure.dynamic`` hook calls would. No cluster.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import attr
import pytest
from allure_commons.logger import AllureFileLogger
from allure_commons import model2 as m

from harness.plugin import allure_writer


def _result() -> m.TestResult:
    """A result with every kind of value: nested steps, empty and falsy fields, False, non-ASCII, a dict."""
    step = m.TestStepResult(name="step ü", status="passed", start=0, stop=5, parameters=[m.Parameter("p", "'v'", False)],
                          attachments=[m.Attachment(name="a", source="x-attachment.json", type="application/json")],
                          steps=[m.TestStepResult(name="inner", description="")])
    return m.TestResult(name="vulnerable-pod as Pod in baseline/enforce/latest", status="failed", uuid="u-1",
                      statusDetails=m.StatusDetails(message="expected denied, observed admitted", trace="", flaky=False),
                      description="**t**\n\nAttacker gains: -", steps=[step], historyId="h", testCaseId="c",
                      fullName="scenarios/x.yaml#vulnerable-pod", start=1700000000000, stop=1700000000001,
                      labels=[m.Label("epic", "baseline"), m.Label("tag", "CIS 5.2.2"), m.Label("severity", "blocker")],
                      links=[m.Link("link", "https://example.test/a", "https://example.test/a")],
                      parameters=[m.Parameter("kind", "'Pod'"), m.Parameter("version", "'latest'", None, None)],
                      titlePath=["scenarios", "x.yaml"], attachments=[], stage={"k": [1, (2, 3)], "z": None})


def _asdict(obj) -> dict:
    return attr.asdict(obj, filter=lambda _, v: v or v is False)


@pytest.mark.parametrize("obj", [_result(), m.TestResult(), m.TestResultContainer(uuid="c", children=["u-1"], befores=[]),
                                 m.Globals(errors=[m.GlobalError(message="m", timestamp=1)])],
                         ids=["result", "empty", "container", "globals"])
def test_plain_is_attrs_asdict_with_allure_commons_filter(obj):
    assert allure_writer.plain(obj) == _asdict(obj)
    assert json.dumps(allure_writer.plain(obj)) == json.dumps(_asdict(obj))  # the same key order too


@pytest.mark.parametrize("indent", [None, "1"])
def test_written_files_are_byte_for_byte_allure_commons_own(tmp_path, monkeypatch, indent):
    if indent:
        monkeypatch.setenv("ALLURE_INDENT_OUTPUT", indent)
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    AllureFileLogger(theirs)._report_item(_result())
    ours.mkdir()
    allure_writer.write_item(str(ours), _result())
    (a,), (b,) = list(theirs.iterdir()), list(ours.iterdir())
    assert b.name.endswith("-result.json") and len(b.name) == len(a.name)
    assert b.read_bytes() == a.read_bytes()
    assert not list(ours.glob("*.tmp"))


def test_install_replaces_how_a_registered_logger_writes(tmp_path):
    import allure_commons

    logger = AllureFileLogger(tmp_path)
    allure_commons.plugin_manager.register(logger, "test-allure-writer")
    try:
        assert allure_writer.install()
        assert "_report_item" in vars(logger)
        logger.report_result(_result())
    finally:
        allure_commons.plugin_manager.unregister(name="test-allure-writer")
    (written,) = list(tmp_path.iterdir())
    assert json.loads(written.read_text()) == _asdict(_result())


RECORD = {
    "scenario": "vulnerable-pod", "kind": "Deployment", "title": "A pod mounting the host", "gain": "node root",
    "policy": {"level": "restricted", "mode": "warn", "version": "v1.30"}, "controls": ["hostPathVolumes", "privileged"],
    "attack": ["T1611"], "ms_matrix": ["MS-TA9013"], "cis": ["5.2.2"], "severity": "high",
    "expected": {"outcome": "warned", "reason": "warn mode warns"},
    "references": ["https://kubernetes.io/docs/concepts/security/pod-security-standards/", "PSS-1",
                   "https://kubernetes.io/docs/concepts/security/pod-security-standards/"],
}


def test_direct_labels_equal_the_hook_calls(pytester):
    """Two items labelled from the same record, one through ``allure.dynamic``, one on the result directly:
    their Allure results differ in nothing but identity and timing."""
    pytester.makepyfile(test_two=textwrap.dedent(f"""
        import pytest
        from harness.plugin import allure as al

        RECORD = {RECORD!r}

        @pytest.mark.parametrize("how", ["hooks", "direct"])
        def test_labelled(how, request):
            import allure
            allure.dynamic.parameter("kind", "overwritten by the plan")  # one parameter already there
            allure.dynamic.link("PSS-1", name="PSS-1")                   # and one link
            steps = al.plan(RECORD)
            if how == "hooks":
                al.apply_by_hooks(steps)
            else:
                attach = al._Attachments.of(request.config)
                assert attach.direct
                al.apply_to_result(attach.current_test(), steps, request.config)
    """))
    alluredir = pytester.path / "allure"
    result = pytester.runpytest_subprocess("-p", "no:harness.plugin", "-p", "no:cacheprovider", f"--alluredir={alluredir}",
                                           "--allure-link-pattern", "link:https://tracker.test/{}")
    result.assert_outcomes(passed=2)
    found = {}
    for path in alluredir.glob("*-result.json"):
        data = json.loads(path.read_text())
        how = next(p["value"] for p in data["parameters"] if p["name"] == "how")
        for key in ("uuid", "historyId", "testCaseId", "start", "stop", "fullName"):
            data.pop(key, None)
        data["parameters"] = [p for p in data["parameters"] if p["name"] != "how"]
        found[how] = data
    assert found["'direct'"] == found["'hooks'"]
    labels = found["'direct'"]["labels"]
    assert [lb["value"] for lb in labels if lb["name"] == "feature"] == ["hostPathVolumes", "privileged"]
    assert [lb["value"] for lb in labels if lb["name"] == "tag"][:3] == ["T1611", "MS-TA9013", "CIS 5.2.2"]
    assert [p["value"] for p in found["'direct'"]["parameters"] if p["name"] == "kind"] == ["'Deployment'"]
    assert [link["url"] for link in found["'direct'"]["links"]].count("https://tracker.test/PSS-1") == 1
    assert found["'direct'"]["name"] == "vulnerable-pod as Deployment in restricted/warn/v1.30"
