"""Evidence records as the makereport hook writes them: complete, and scrubbed of credentials (no cluster)."""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

import pytest

from harness.plugin import evidence
from harness.core.expectations import Expectation, Policy
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.reports.redact import default_redactor
from harness.cluster.runtime import Execution
from harness.corpus.scenarios import load_scenario
from harness.core.verdict import Observation, Verdict

CORPUS = Path(__file__).resolve().parents[1] / "assets" / "_corpus"
TOKEN = "3f1e0c5a9b7d2468ace013579bdf2468ace013579bdf2468ace013579bdf2468"


def fake_item(tmp_path: Path, message: str, warnings: list[str]) -> types.SimpleNamespace:
    """Just enough of a ScenarioItem and its pytest config for ``record_item``."""
    scenario = load_scenario(CORPUS / "vulnerable-pod.yaml")
    config = types.SimpleNamespace(
        _psa_config=types.SimpleNamespace(run_id="unit"), _psa_reports=tmp_path / "reports", rootpath=tmp_path,
        stash=pytest.Stash(),
        option=types.SimpleNamespace(allure_report_dir=None), getini=lambda name: str(tmp_path / "reports"))
    config.stash[evidence._SECRETS_LOADED] = True  # no runtime to read the client's secrets from
    policy = Policy(Level.BASELINE, Mode.ENFORCE, LATEST)
    obs = Observation(Outcome.ERROR, 500, message, warnings, audit_id="a-1", audit_annotations={})
    execution = Execution("pss-unit-ns", {"verb": "POST", "path": "/api/v1/namespaces/pss-unit-ns/pods",
                                          "dryRun": "All", "namespace": "pss-unit-ns", "policy": policy.labels(),
                                          "headers": {"Authorization": f"Bearer {TOKEN}"}},
                          scenario.pod(), obs, time.time(), 0.01)
    return types.SimpleNamespace(
        config=config, scenario=scenario, kind="Pod", policy=policy, nodeid="scenarios/x.yaml::vulnerable-pod[Pod]",
        name="vulnerable-pod[Pod-baseline-enforce-latest]", user_properties=[],
        expectation=Expectation(Outcome.DENIED, frozenset({"privileged"}), reason="enforce denies"),
        execution=execution, verdict=Verdict(False, ("expected denied, observed error",)))


def test_records_are_scrubbed_of_bearer_tokens_and_authorization_headers(tmp_path):
    message = f"upstream said: Authorization: Bearer {TOKEN} rejected"
    item = fake_item(tmp_path, message, [f"299 - token: {TOKEN}"])
    report = types.SimpleNamespace(skipped=False, passed=False, duration=0.01, longrepr=f"failed: {message}")
    evidence.record_item(item, report, None)
    evidence.close_records(item.config)  # records are buffered until the process closes its file

    written = (tmp_path / "reports" / "evidence" / "unit" / "records" / "main.jsonl").read_text()
    assert TOKEN not in written and TOKEN not in report.longrepr
    record = json.loads(written)
    assert record["observed"]["message"] == "upstream said: Authorization: Bearer <redacted> rejected"
    assert record["observed"]["warnings"] == ["299 - token: <redacted>"]
    assert record["request"]["headers"] == {"Authorization": "<redacted>"}
    assert report.longrepr == "failed: upstream said: Authorization: Bearer <redacted> rejected"
    assert record["controls"] == ["privileged"] and record["file"].endswith("vulnerable-pod.yaml")
    assert record["started"] <= record["finished"]
    props = dict(item.user_properties)
    assert props["expected"] == "denied" and props["observed"] == "error" and props["http_status"] == 500


def test_known_secrets_of_the_run_are_scrubbed_too(tmp_path):
    default_redactor().add({"https://192.0.2.10:6443": "<server>"})
    item = fake_item(tmp_path, "dial tcp https://192.0.2.10:6443/api: connection refused", [])
    evidence.record_item(item, types.SimpleNamespace(skipped=False, passed=False, duration=0.0, longrepr=None), None)
    record = item.psa_record
    assert record["observed"]["message"] == "dial tcp <server>/api: connection refused"
