"""`pss-harness assess --offline`: the JSON contract, inputs, exit statuses and input errors."""

from __future__ import annotations

import io
import json
import shutil
import time
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
        assert set(r) == {"source", "index", "kind", "namespace", "name", "predicted", "submitted_changes",
                          "predicted_submitted", "observed", "agree", "not_compared"}
        assert r["observed"] is None and r["agree"] is None
        assert r["not_compared"] is None and r["submitted_changes"] is None and r["predicted_submitted"] is None
    assert by_name["node-agent"]["predicted"]["verdict"] == "denied"
    assert by_name["node-agent"]["predicted"]["checks"] == ["hostNamespaces", "hostPathVolumes"]
    assert by_name["debug"]["predicted"]["verdict"] == "denied"
    assert by_name["debug"]["predicted"]["checks"] == ["capabilities_baseline"]
    # the upstream reason text, one 'reason (detail)' per failing check, in message order
    assert by_name["debug"]["predicted"]["reasons"] == ['non-default capabilities (container "c" must not include '
                                                        '"NET_ADMIN" in securityContext.capabilities.add)']
    assert by_name["web"]["predicted"]["verdict"] == "allowed"
    assert (by_name["web"]["namespace"], by_name["node-agent"]["namespace"]) == ("prod", "")  # the object's own
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
    old_prediction = json.loads(old)["results"][0]["predicted"]
    assert (old_prediction["verdict"], old_prediction["checks"]) == ("denied", ["sysctls"])
    assert old_prediction["reasons"] == ['forbidden sysctls (net.ipv4.tcp_rmem)']
    assert json.loads(new)["results"][0]["predicted"] == {"verdict": "allowed", "checks": [], "reasons": []}


BAD_INPUTS = [
    ("a: [unclosed\n", "not valid YAML"),
    ("just a string\n", "document 1: not a Kubernetes object"),
    ("apiVersion: v1\nkind: Pod\n---\n- 1\n", "document 2: not a Kubernetes object"),
    ("apiVersion: v1\nkind: Pod\nmetadata: [a]\n", "Pod: metadata must be a mapping"),
    ("apiVersion: v1\nkind: [Pod]\n", "apiVersion and kind must be strings"),
    ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\n", "a Helm template?"),
]


@pytest.mark.parametrize("content,message", BAD_INPUTS)
def test_bad_input_under_strict_names_the_file_and_document(tmp_path, capsys, content, message):
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    status, _, err = run(capsys, str(f), "--level", "baseline", "--offline", "--strict")
    assert status == 2
    assert str(f) in err and message in err and "Traceback" not in err


@pytest.mark.parametrize("content,message", BAD_INPUTS)
def test_bad_documents_are_skipped_with_a_warning_naming_them(tmp_path, capsys, content, message):
    (tmp_path / "bad.yaml").write_text(content)
    shutil.copy(FIXTURES / "app.yaml", tmp_path / "app.yaml")
    status, out, err = run(capsys, str(tmp_path), "--level", "baseline", "--offline", "--format", "json")
    doc = json.loads(out)
    assert f"warning: skipped {tmp_path / 'bad.yaml'}" in err and message in err and "Traceback" not in err
    assert any(u["source"] == str(tmp_path / "bad.yaml") and message in u["reason"] for u in doc["summary"]["unreadable"])
    assert doc["results"] and {r["source"] for r in doc["results"]} <= {str(tmp_path / "app.yaml"), str(tmp_path / "bad.yaml")}
    assert status in (0, 1)


def test_strict_reports_every_bad_file_not_just_the_first(tmp_path, capsys):
    for n in range(3):
        (tmp_path / f"bad{n}.yaml").write_text("just a string\n")
    status, _, err = run(capsys, str(tmp_path), "--level", "baseline", "--offline", "--strict")
    assert status == 2 and "3 problem(s)" in err
    assert all(str(tmp_path / f"bad{n}.yaml") in err for n in range(3))


@pytest.mark.parametrize("content", ["", "---\n", "# nothing\n"])
def test_empty_input_is_an_error_with_its_own_status(capsys, monkeypatch, content):
    status, _, err = run(capsys, "-", "--level", "baseline", "--offline", stdin=content, monkeypatch=monkeypatch)
    assert status == 5 and "no Kubernetes object in -" in err


def test_yaml_1_1_value_scalar_parses_as_in_kubectl(capsys, monkeypatch):
    crd_enum = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    op: =\n"
                "spec:\n  containers:\n  - name: c\n    image: registry.k8s.io/pause:3.10\n"
                "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n"
                "spec: {enum: [\"!=\", =, =~]}\n")
    status, out, err = run(capsys, "-", "--level", "baseline", "--offline", "--format", "json", stdin=crd_enum, monkeypatch=monkeypatch)
    doc = json.loads(out)
    assert status == 0 and doc["summary"]["objects"] == 2 and doc["results"][0]["name"] == "p"


def test_an_alias_bomb_is_refused_quickly_naming_the_file(tmp_path, capsys):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
              for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\napiVersion: v1\nkind: Pod\n")
    assert bomb.stat().st_size < 1500
    t0 = time.monotonic()
    status, _, err = run(capsys, str(bomb), "--level", "baseline", "--offline", "--strict")
    assert status == 2 and "alias" in err and str(bomb) in err
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("args,message", [
    (["--level", "strict"], "must be one of privileged, baseline, restricted"),
    (["--level", "privileged"], "forbids nothing"),
    (["--level", "baseline", "--version", "v1.x"], 'must be "latest" or "v1.N"'),
    (["--level", "baseline", "--version", "1.30.2"], 'must be "latest" or "v1.N"'),
])
def test_bad_options(capsys, args, message):
    status, _, err = run(capsys, str(FIXTURES), "--offline", *args)
    assert status == 2 and message in err


def test_missing_path(capsys):
    status, _, err = run(capsys, "/no/such/dir", "--level", "baseline", "--offline")
    assert status == 2 and "/no/such/dir: no such file or directory" in err


def test_version_may_be_written_without_the_v(capsys):
    """``--version 1.30`` is what people type; it means v1.30 (label values stay strict)."""
    status, out, _ = run(capsys, str(FIXTURES), "--level", "baseline", "--version", "1.30", "--offline", "--format", "json")
    assert json.loads(out)["version"] == "v1.30" and status in (0, 1)
