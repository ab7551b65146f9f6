"""Signed evidence: DSSE/PAE, the in-toto statement, keygen/sign/verify, and every tampering that must fail (no cluster)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.cli import main
from harness.core.errors import UsageError
from harness.reports import bundle, signing

ASSET = Path(__file__).resolve().parents[1] / "assets" / "results-one-failure.json"


def crafted() -> dict:
    return json.loads(ASSET.read_text())


REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "scenarios" / "baseline" / "privileged" / "vulnerable-pod.yaml"


@pytest.fixture
def keys(tmp_path) -> tuple[Path, Path]:
    """(private, public) key files."""
    return signing.keygen(tmp_path / "signing-key")


@pytest.fixture
def signed(tmp_path, keys) -> Path:
    directory = tmp_path / "evidence" / "fixture1"
    bundle.write_bundle(directory, crafted(), {"fingerprint": "f" * 32, "trend": [], "previous": None, "changes": []},
                        sign_key=keys[0])
    return directory


def _problems(directory: Path, public: Path) -> list[str]:
    return list(signing.check(directory, public).problems)


# -- DSSE --------------------------------------------------------------------------------

def test_pae_matches_the_dsse_specification_example():
    # DSSE protocol.md, "Test vectors" / envelope example
    assert signing.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert signing.pae("", b"") == b"DSSEv1 0  0 "
    # lengths are bytes, not characters
    assert signing.pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def _independent_verify(directory: Path, public_pem: bytes) -> dict:
    """Verify the envelope as any DSSE implementation would, from the spec alone; return the statement."""
    env = json.loads((directory / "bundle.intoto.jsonl").read_text().strip())
    assert set(env) == {"payloadType", "payload", "signatures"}
    body = base64.b64decode(env["payload"])
    ptype = env["payloadType"].encode()
    message = b"DSSEv1 " + str(len(ptype)).encode() + b" " + ptype + b" " + str(len(body)).encode() + b" " + body
    public = serialization.load_pem_public_key(public_pem)
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(env["signatures"][0]["sig"]), message)  # raises InvalidSignature
    return json.loads(body)


def test_the_envelope_verifies_with_an_independent_dsse_check(signed, keys):
    statement = _independent_verify(signed, keys[1].read_bytes())
    env = json.loads((signed / "bundle.intoto.jsonl").read_text())
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"].startswith("https://pss-harness.dev/")
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert sorted(subjects) == ["SHA256SUMS", "history.json", "index.html", "results.json"]
    for name, digest in subjects.items():
        assert hashlib.sha256((signed / name).read_bytes()).hexdigest() == digest
    run = crafted()["run"]
    pred = statement["predicate"]
    for key in ("run_id", "server_version", "cluster_fingerprint", "harness_version", "counts", "finished"):
        assert pred[key] == run[key], key
    assert pred["signer"]["tool"] == "pss-harness"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_signature_verifies_with_openssl(signed, keys, tmp_path):
    env = json.loads((signed / "bundle.intoto.jsonl").read_text())
    body = base64.b64decode(env["payload"])
    (tmp_path / "pae.bin").write_bytes(b"DSSEv1 %d application/vnd.in-toto+json %d " % (28, len(body)) + body)
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(env["signatures"][0]["sig"]))
    out = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(keys[1]), "-rawin",
                          "-in", str(tmp_path / "pae.bin"), "-sigfile", str(tmp_path / "sig.bin")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "Signature Verified Successfully" in out.stdout, out.stdout + out.stderr


# -- keys ----------------------------------------------------------------------------------

def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_key(tmp_path, capsys):
    assert main(["report", "keygen", str(tmp_path / "sign")]) == 0
    private, public = tmp_path / "sign", tmp_path / "sign.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in private.read_bytes() and b"BEGIN PUBLIC KEY" in public.read_bytes()
    key = signing.load_private_key(private)
    assert isinstance(key, Ed25519PrivateKey)
    assert signing.keyid(key.public_key()) == signing.keyid(signing.load_public_key(public))
    out = capsys.readouterr().out
    assert "private key" in out and signing.keyid(key.public_key()) in out
    # never overwrites
    assert main(["report", "keygen", str(tmp_path / "sign")]) == 2
    assert "exists" in capsys.readouterr().err


def test_keygen_ignores_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        private, _ = signing.keygen(tmp_path / "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    (b"not a key", "not a PEM private key"),
    ("public", "this is a public key"),
    ("rsa", "pss-harness signs with Ed25519"),
    ("encrypted", "the key is encrypted"),
])
def test_a_bad_signing_key_is_one_clear_error(tmp_path, keys, content, message):
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = tmp_path / "bad.pem"
    if content == "public":
        path.write_bytes(keys[1].read_bytes())
    elif content == "rsa":
        path.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    elif content == "encrypted":
        path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret")))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as err:
        signing.load_private_key(path)
    assert str(path) in str(err.value)


def test_verify_refuses_a_private_key_as_the_public_key(signed, keys, capsys):
    assert main(["report", "verify", str(signed), "--key", str(keys[0])]) == 2
    assert "a private key; verify with the public key" in capsys.readouterr().err


# -- sign and verify ----------------------------------------------------------------------

def test_a_signed_bundle_verifies_with_its_public_key(signed, keys, capsys):
    assert sorted(p.name for p in signed.iterdir()) == ["SHA256SUMS", "bundle.intoto.jsonl", "history.json",
                                                        "index.html", "results.json"]
    # SHA256SUMS does not list the envelope, and the envelope does not break SHA256SUMS
    assert "bundle.intoto.jsonl" not in (signed / "SHA256SUMS").read_text()
    assert bundle.verify(signed).ok
    result = signing.check(signed, keys[1])
    assert result.ok and result.subjects == 4 and result.predicate["run_id"] == "fixture1"
    assert main(["report", "verify", str(signed), "--key", str(keys[1])]) == 0
    out = capsys.readouterr().out
    assert "OK, 3 file(s) match SHA256SUMS" in out
    assert f"signature by key {result.keyid} verified over 4 file(s)" in out


def test_without_a_key_verify_says_the_signature_was_not_checked(signed, capsys):
    assert main(["report", "verify", str(signed)]) == 0
    assert "signature not checked (no --key" in capsys.readouterr().out


def test_require_signature_fails_an_unsigned_bundle(tmp_path, capsys):
    directory = tmp_path / "unsigned"
    bundle.write_bundle(directory, crafted())
    assert main(["report", "verify", str(directory)]) == 0
    assert main(["report", "verify", str(directory), "--require-signature"]) == 1
    assert "signature: the bundle is not signed" in capsys.readouterr().out


def test_a_key_makes_the_signature_required(tmp_path, keys, capsys):
    directory = tmp_path / "unsigned"
    bundle.write_bundle(directory, crafted())
    assert main(["report", "verify", str(directory), "--key", str(keys[1])]) == 1
    assert "bundle.intoto.jsonl is missing: the bundle is not signed" in capsys.readouterr().out


def test_report_sign_signs_an_existing_bundle_and_refuses_a_changed_one(tmp_path, keys, capsys):
    directory = tmp_path / "b"
    bundle.write_bundle(directory, crafted())
    assert main(["report", "sign", str(directory), "--key", str(keys[0])]) == 0
    assert "signed 3 file(s)" in capsys.readouterr().out
    assert signing.check(directory, keys[1]).ok
    (directory / "results.json").write_text("{}")
    assert main(["report", "sign", str(directory), "--key", str(keys[0])]) == 2
    assert "fails verification (changed: results.json); refusing to sign it" in capsys.readouterr().err


def test_report_sign_takes_the_key_from_the_environment(tmp_path, keys, monkeypatch, capsys):
    directory = tmp_path / "b"
    bundle.write_bundle(directory, crafted())
    assert main(["report", "sign", str(directory)]) == 2
    assert "needs --key FILE" in capsys.readouterr().err
    monkeypatch.setenv("PSS_HARNESS_SIGN_KEY", str(keys[0]))
    assert main(["report", "sign", str(directory)]) == 0
    assert signing.check(directory, keys[1]).ok


# -- tampering: each must fail, naming what ----------------------------------------------

def _flip_one_byte(d: Path):
    data = bytearray((d / "results.json").read_bytes())
    i = data.index(b'"failed"') + 1
    data[i] ^= 0x01
    (d / "results.json").write_bytes(bytes(data))


def _edit_and_resum(d: Path):
    (d / "results.json").write_text((d / "results.json").read_text().replace('"failed"', '"passed"'))
    bundle.write_sums(d)  # the consistent forgery SHA256SUMS alone cannot see


@pytest.mark.parametrize("tamper,expected", [
    (_flip_one_byte, ["signature: results.json changed since signing"]),
    (_edit_and_resum, ["signature: SHA256SUMS changed since signing", "signature: results.json changed since signing"]),
    (lambda d: ((d / "planted.js").write_text("alert(1)"), bundle.write_sums(d)),
     ["signature: SHA256SUMS changed since signing", "signature: planted.js was added after signing"]),
    (lambda d: ((d / "history.json").unlink(), bundle.write_sums(d)),
     ["signature: SHA256SUMS changed since signing", "signature: history.json was removed after signing"]),
    (lambda d: (d / "index.html").unlink(), ["signature: index.html was removed after signing"]),
])
def test_every_edit_after_signing_fails_verification_naming_the_file(signed, keys, tamper, expected, capsys):
    tamper(signed)
    problems = _problems(signed, keys[1])
    assert [p.split(" (sha256")[0] for p in problems] == expected
    assert main(["report", "verify", str(signed), "--key", str(keys[1])]) == 1
    out = capsys.readouterr()
    for line in expected:
        assert line in out.out
    assert "FAILED verification" in out.err


def test_another_keys_signature_fails(signed, keys, tmp_path):
    other, _ = signing.keygen(tmp_path / "other")
    # an attacker edits, re-sums and re-signs with a key of their own
    _edit_and_resum(signed)
    signing.sign_bundle(signed, other, crafted()["run"])
    assert signing.check(signed, signing.keygen(tmp_path / "third")[1]).problems[0].startswith(
        "signature: no signature verifies with the key")
    problems = _problems(signed, keys[1])
    assert len(problems) == 1 and "no signature verifies with the key" in problems[0]
    assert signing.keyid(signing.load_private_key(other).public_key()) in problems[0]


def test_a_signature_swapped_in_from_another_envelope_fails(signed, keys, tmp_path):
    other_dir = tmp_path / "other-bundle"
    bundle.write_bundle(other_dir, dict(crafted(), run=dict(crafted()["run"], run_id="other")), sign_key=keys[0])
    env = json.loads((signed / "bundle.intoto.jsonl").read_text())
    env["signatures"] = json.loads((other_dir / "bundle.intoto.jsonl").read_text())["signatures"]
    (signed / "bundle.intoto.jsonl").write_text(json.dumps(env) + "\n")
    assert "no signature verifies" in _problems(signed, keys[1])[0]


def test_a_tampered_payload_fails_even_if_it_matches_the_files(signed, keys):
    _edit_and_resum(signed)
    env = json.loads((signed / "bundle.intoto.jsonl").read_text())
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["subject"] = [{"name": s["name"], "digest": {"sha256": hashlib.sha256((signed / s["name"]).read_bytes()).hexdigest()}}
                       for s in stmt["subject"]]
    env["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    (signed / "bundle.intoto.jsonl").write_text(json.dumps(env) + "\n")
    problems = _problems(signed, keys[1])
    assert len(problems) == 1 and "no signature verifies" in problems[0] and "payload was changed" in problems[0]


@pytest.mark.parametrize("envelope,message", [
    ("", "holds 0 envelopes"),
    ("{}\n{}\n", "holds 2 envelopes"),
    ("not json\n", "cannot be read"),
    ('{"payloadType": "text/plain", "payload": "", "signatures": []}\n', "payloadType is 'text/plain'"),
    ('{"payloadType": "application/vnd.in-toto+json", "payload": "%%%", "signatures": []}\n', "not base64"),
])
def test_a_malformed_envelope_is_named(signed, keys, envelope, message):
    (signed / "bundle.intoto.jsonl").write_text(envelope)
    problems = _problems(signed, keys[1])
    assert len(problems) == 1 and message in problems[0]


def test_a_signed_statement_whose_subjects_differ_from_the_files_is_caught(signed, keys):
    # a statement signed by the right key over other files: the subjects must equal the files present
    signing.sign_bundle(signed, keys[0], crafted()["run"])
    (signed / "late.txt").write_text("x")
    assert _problems(signed, keys[1]) == ["signature: late.txt was added after signing"]


def test_the_envelope_is_never_a_link(signed, keys, tmp_path):
    real = tmp_path / "elsewhere.jsonl"
    shutil.move(signed / "bundle.intoto.jsonl", real)
    (signed / "bundle.intoto.jsonl").symlink_to(real)
    assert "is refused: a symbolic link" in _problems(signed, keys[1])[0]
    assert bundle.verify(signed).refused


# -- re-sealing: build, merge, diff, the pytest run ---------------------------------------

def test_build_with_a_key_re_signs_and_without_one_drops_the_stale_signature(signed, keys, capsys):
    assert main(["report", "build", str(signed), "--sign-key", str(keys[0])]) == 0
    assert "; signed (bundle.intoto.jsonl" in capsys.readouterr().out
    assert signing.check(signed, keys[1]).ok
    (signed / "index.html").unlink()
    assert main(["report", "build", str(signed)]) == 0
    assert "the old signature no longer covered the files and was removed" in capsys.readouterr().out
    assert not signing.is_signed(signed) and bundle.verify(signed).ok
    assert main(["report", "verify", str(signed), "--key", str(keys[1])]) == 1


def test_build_checks_the_key_before_rewriting_anything(signed, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in signed.iterdir()}
    assert main(["report", "build", str(signed), "--sign-key", str(tmp_path / "missing.pem")]) == 2
    assert "--sign-key" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in signed.iterdir()} == before


def test_merge_signs_the_merged_bundle(tmp_path, keys):
    data = crafted()
    shards = []
    for i in range(2):
        shard = dict(data, run=dict(data["run"], run_id=f"shard{i}"), results=data["results"][i::2])
        bundle.write_bundle(tmp_path / f"s{i}", shard)
        shards.append(tmp_path / f"s{i}")
    assert main(["report", "merge", str(tmp_path / "m"), *map(str, shards), "--sign-key", str(keys[0])]) == 0
    result = signing.check(tmp_path / "m", keys[1])
    assert result.ok and result.predicate["run_id"].startswith("merged-")


def test_add_diff_re_signs(signed, keys):
    bundle.add_diff(signed, {"from": "a", "to": "b", "changes": [], "summary": {}}, sign_key=keys[0])
    assert signing.check(signed, keys[1]).ok
    statement = _independent_verify(signed, keys[1].read_bytes())
    assert "diff.json" in {s["name"] for s in statement["subject"]}


def test_the_sign_key_option_is_checked_before_the_run(pytester, tmp_path):
    pytester.makefile(".yaml", **{"vulnerable-pod": SEED.read_text()})
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    result = pytester.runpytest("--co", "--psa-sign-key", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"--psa-sign-key (command line) {bad}: not a PEM private key" in err and "Traceback" not in err


def test_the_sign_key_comes_from_the_environment(pytester, tmp_path, monkeypatch):
    pytester.makefile(".yaml", **{"vulnerable-pod": SEED.read_text()})
    monkeypatch.setenv("PSS_HARNESS_SIGN_KEY", str(tmp_path / "absent.pem"))
    result = pytester.runpytest("--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--psa-sign-key ($PSS_HARNESS_SIGN_KEY)" in result.stderr.str()


# -- the audit-log trace (report verify --audit-log) --------------------------------------

def _audit_log(path: Path, records: list[dict], **override) -> Path:
    """A JSON-lines audit log holding a RequestReceived and a ResponseComplete event per answered record."""
    lines = []
    for r in records:
        obs = r.get("observed") or {}
        if not obs.get("audit_id"):
            continue
        code = override.get(r["nodeid"], obs["status"])
        base = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": obs["audit_id"], "verb": "create",
                "objectRef": {"resource": "pods", "namespace": r["namespace"]}}
        lines.append(json.dumps(dict(base, stage="RequestReceived")))
        lines.append(json.dumps(dict(base, stage="ResponseComplete", responseStatus={"code": code})))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_verify_traces_every_record_to_its_audit_event(signed, tmp_path, capsys):
    records = crafted()["results"]
    log = _audit_log(tmp_path / "audit.log", records)
    assert main(["report", "verify", str(signed), "--audit-log", str(log)]) == 0
    assert "audit: 6 record(s) match their ResponseComplete event" in capsys.readouterr().out


def test_verify_names_records_the_audit_log_contradicts_or_lacks(signed, tmp_path, capsys):
    records = crafted()["results"]
    denied = next(r for r in records if (r.get("observed") or {}).get("status") == 403)
    missing = next(r for r in records if (r.get("observed") or {}).get("status") == 201)
    log = _audit_log(tmp_path / "audit.log", [r for r in records if r is not missing], **{denied["nodeid"]: 201})
    assert main(["report", "verify", str(signed), "--audit-log", str(log)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"audit: {denied['nodeid']}: HTTP 403 recorded, the audit log says 201 " \
           f"(auditID {denied['observed']['audit_id']})" in out
    assert f"audit: {missing['nodeid']}: no ResponseComplete event with auditID {missing['observed']['audit_id']} " \
           f"in {log}" in out
    assert len(out) == 2


def test_an_unreadable_audit_log_is_a_usage_error(signed, tmp_path, capsys):
    assert main(["report", "verify", str(signed), "--audit-log", str(tmp_path / "none.log")]) == 2
    assert "--audit-log" in capsys.readouterr().err


def test_diff_checks_the_bundle_key_before_any_cluster_starts(tmp_path, capsys):
    assert main(["diff", "--bundle", str(tmp_path / "b"), "--sign-key", str(tmp_path / "absent.pem")]) == 2
    assert f"--sign-key {tmp_path / 'absent.pem'}: no such file" in capsys.readouterr().err
