"""Signed evidence from a real run: ``--psa-sign-key`` seals the bundle, ``report verify --key`` checks it,
and an edited, re-summed bundle fails; ``--audit-log`` traces every record to the server's own audit log.

One harness run (``_harness_run``: the 3-scenario corpus) against the session's embedded cluster.
"""

from __future__ import annotations

import base64
import json
import shutil

import pytest
from cryptography.hazmat.primitives import serialization

from _harness_run import run_harness
from harness.cli import main
from harness.reports import bundle, signing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return signing.keygen(tmp_path_factory.mktemp("keys") / "evidence-key")


@pytest.fixture(scope="module")
def run(embedded, tmp_path_factory, keys):
    result = run_harness(embedded, tmp_path_factory.mktemp("signed-run"), "--psa-sign-key", str(keys[0]),
                         run_id="signedrun")
    assert result.process.returncode == 1, result.log[-4000:]  # the mislabelled scenario fails on purpose
    return result


def test_the_run_signs_its_bundle_and_it_verifies_with_the_public_key(run, keys, capsys):
    assert sorted(p.name for p in run.evidence.iterdir()) == ["SHA256SUMS", "bundle.intoto.jsonl", "history.json",
                                                              "index.html", "results.json"]
    kid = signing.keyid(signing.load_public_key(keys[1]))
    assert f"signed with key {kid}" in run.process.stdout
    assert main(["report", "verify", str(run.evidence), "--key", str(keys[1]),
                 "--history", str(run.reports / "history.sqlite")]) == 0
    assert f"signature by key {kid} verified over 4 file(s)" in capsys.readouterr().out
    # the statement, read as any in-toto tool would, describes this run
    env = json.loads((run.evidence / "bundle.intoto.jsonl").read_text())
    body = base64.b64decode(env["payload"])
    message = b"DSSEv1 %d %s %d %s" % (len(env["payloadType"]), env["payloadType"].encode(), len(body), body)
    serialization.load_pem_public_key(keys[1].read_bytes()).verify(base64.b64decode(env["signatures"][0]["sig"]),
                                                                   message)
    statement, results = json.loads(body), bundle.load_results(run.evidence)
    assert statement["predicate"]["run_id"] == "signedrun"
    assert statement["predicate"]["counts"] == results["run"]["counts"]
    assert statement["predicate"]["cluster_fingerprint"] == results["run"]["cluster_fingerprint"]
    # the key's path is not evidence
    assert results["run"]["options"]["sign_key"] == "(given)"
    assert str(keys[0]) not in (run.evidence / "results.json").read_text()


def test_every_record_traces_to_the_servers_audit_log(run, embedded, capsys):
    assert main(["report", "verify", str(run.evidence), "--audit-log", str(embedded.audit_log)]) == 0
    out = capsys.readouterr().out
    items = len(bundle.load_results(run.evidence)["results"])
    assert f"audit: {items} record(s) match their ResponseComplete event" in out


def test_an_edited_and_re_summed_bundle_fails_verification(run, keys, embedded, tmp_path, capsys):
    forged = tmp_path / "forged"
    shutil.copytree(run.evidence, forged)
    text = (forged / "results.json").read_text()
    # the forgery: a failed item reported as passed, and a denial reported as admitted
    lines = text.splitlines()
    i = next(n for n, l in enumerate(lines) if '"result": "failed"' in l)
    lines[i] = lines[i].replace('"result": "failed"', '"result": "passed"')
    j = next(n for n, l in enumerate(lines) if '"status": 403' in l)
    lines[j] = lines[j].replace('"status": 403', '"status": 201')
    (forged / "results.json").write_text("\n".join(lines) + "\n")
    bundle.write_sums(forged)
    assert main(["report", "verify", str(forged)]) == 0  # SHA256SUMS alone is fooled
    capsys.readouterr()
    assert main(["report", "verify", str(forged), "--key", str(keys[1]),
                 "--audit-log", str(embedded.audit_log)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [l.split(" (sha256")[0] for l in out if l.startswith("signature:")] == [
        "signature: SHA256SUMS changed since signing", "signature: results.json changed since signing"]
    forged_id = json.loads(lines[j].rstrip(","))["nodeid"]
    assert [l for l in out if l.startswith("audit:")] == [
        l for l in out if l.startswith(f"audit: {forged_id}: HTTP 201 recorded, the audit log says 403")]
    assert len([l for l in out if l.startswith("audit:")]) == 1
