"""`pss-harness assess --offline`: the JSON contract, inputs, exit statuses and input errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"


def run(capsys, *args, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(["assess", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_json_contract_for_a_directory(capsys):
    status, out, _ = run(capsys, str(FIXTURES), "--level", "baseline", "--offline", "--format", "json")
    doc = json.loads(out)
    assert set(doc) == {"level", "version", "target", "results", "summary"}
    assert (doc["level"], doc["version"], doc["target"]) == ("baseline", "latest", "offline")
    by_name = {r["name"]: r for r in doc["results"]}
    assert set(by_name) == {"web", "node-agent", "debug", "nightly"}  # the Service has no pod template
    for r in doc["results"]:
        assert set(r) == {"source", "index", "kind", "name", "predicted", "observed", "agree"}
        assert r["observed"] is None and r["agree"] is None
    assert by_name["node-agent"]["predicted"] == {"verdict": "denied", "checks": ["hostNamespaces", "hostPathVolumes"]}
    assert by_name["debug"]["predicted"] == {"verdict": "denied", "checks": ["capabilities_baseline"]}
    assert by_name["web"]["predicted"]["verdict"] == "allowed"
    assert by_name["debug"]["index"] == 0 and by_name["nightly"]["index"] == 1
    assert doc["summary"]["skipped"][0]["kind"] == "Service"
    assert status == 1  # --fail-on denied (default)


def test_restricted_level_and_fail_on_never(capsys):
    status, out, _ = run(capsys, str(FIXTURES / "list.json"), "--level", "restricted", "--offline",
                         "--format", "json", "--fail-on", "never")
    doc = json.loads(out)
    nightly = next(r for r in doc["results"] if r["name"] == "nightly")
    assert nightly["predicted"]["checks"] == ["allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot",
                                              "seccompProfile_restricted"]
    assert status == 0


def test_stdin_and_table(capsys, monkeypatch):
    text = (FIXTURES / "app.yaml").read_text()
    status, out, _ = run(capsys, "-", "--level", "baseline", "--offline", stdin=text, monkeypatch=monkeypatch)
    assert "-#1" in out and "node-agent" in out and "hostNamespaces, hostPathVolumes" in out
    assert "3 evaluated" not in out and "2 evaluated, 1 would be denied" in out


def test_pinned_version_changes_the_prediction(tmp_path, capsys):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}]},
                    "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
    f = tmp_path / "p.json"
    f.write_text(json.dumps(pod))
    _, old, _ = run(capsys, str(f), "--level", "baseline", "--version", "v1.31", "--offline", "--format", "json")
    _, new, _ = run(capsys, str(f), "--level", "baseline", "--version", "v1.32", "--offline", "--format", "json")
    assert json.loads(old)["results"][0]["predicted"] == {"verdict": "denied", "checks": ["sysctls"]}
    assert json.loads(new)["results"][0]["predicted"] == {"verdict": "allowed", "checks": []}


@pytest.mark.parametrize("content,message", [
    ("a: [unclosed\n", "YAML syntax error"),
    ("just a string\n", "document 1 is not a Kubernetes object"),
    ("apiVersion: v1\nkind: Pod\n---\n- 1\n", "document 2 is not a Kubernetes object"),
])
def test_bad_input_names_the_file_and_document(tmp_path, capsys, content, message):
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    status, _, err = run(capsys, str(f), "--level", "baseline", "--offline")
    assert status == 2
    assert str(f) in err and message in err and "Traceback" not in err


@pytest.mark.parametrize("args,message", [
    (["--level", "strict"], "must be one of privileged, baseline, restricted"),
    (["--level", "privileged"], "forbids nothing"),
    (["--level", "baseline", "--version", "1.30"], 'must be "latest" or "v1.N"'),
])
def test_bad_options(capsys, args, message):
    status, _, err = run(capsys, str(FIXTURES), "--offline", *args)
    assert status == 2 and message in err


def test_missing_path(capsys):
    status, _, err = run(capsys, "/no/such/dir", "--level", "baseline", "--offline")
    assert status == 2 and "/no/such/dir: no such file or directory" in err
