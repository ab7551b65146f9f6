"""Signed evidence: an in-toto Statement over every file of a bundle, in a DSSE envelope, signed with Ed25519.

``SHA256SUMS`` shows that a bundle is unchanged only to someone who trusts that file; anyone can
edit ``results.json`` and regenerate it. A signature by a key the user holds cannot be
regenerated. The format is standard, so tools other than this one can check it:

* the **statement** is an in-toto Statement v1 (https://github.com/in-toto/attestation, spec/v1)::

      {"_type": "https://in-toto.io/Statement/v1",
       "subject": [{"name": "<path in the bundle>", "digest": {"sha256": "<hex>"}}, ...],
       "predicateType": PREDICATE_TYPE,
       "predicate": {"run_id", "server_version", "cluster_fingerprint", "harness_version", "counts", ...}}

  with one subject per regular file of the bundle, ``SHA256SUMS`` included (everything but the
  envelope itself);
* the **envelope** is DSSE v1 (https://github.com/secure-systems-lab/dsse, envelope.md and
  protocol.md)::

      {"payloadType": "application/vnd.in-toto+json", "payload": "<base64 of the statement>",
       "signatures": [{"keyid": "<hint>", "sig": "<base64 of the Ed25519 signature>"}]}

  where the signature is over the Pre-Authentication Encoding of the payload, not the payload
  itself: ``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` (``LEN`` is
  the byte length in ASCII decimal, ``SP`` one space). The ``keyid`` is a hint only (the hex
  SHA-256 of the public key's DER SubjectPublicKeyInfo, as ``openssl pkey -pubin -outform DER |
  sha256sum`` prints it); verification tries the given key against every signature;
* it is written as ``bundle.intoto.jsonl`` (one envelope per line, the in-toto bundle
  convention) after ``SHA256SUMS``, which does not list it.

``check`` verifies the signature before it parses the payload (DSSE's rule), then compares the
statement's subjects with exactly the files present: a changed, added or removed file, or a
regenerated ``SHA256SUMS``, is named.

Keys are Ed25519, PEM: the private key PKCS8 (``keygen`` writes it with mode 0600), the public
key SubjectPublicKeyInfo. May import ``harness.core``, ``harness.reports.safefs``,
``cryptography`` and the standard library; nothing here needs pytest or a cluster.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import harness
from harness.core.errors import UsageError
from harness.reports import safefs

__all__ = [
    "ENVELOPE",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "SignatureCheck",
    "check",
    "envelope_keyids",
    "is_signed",
    "keygen",
    "keyid",
    "load_private_key",
    "load_public_key",
    "pae",
    "seal",
    "sign_bundle",
    "statement",
]

ENVELOPE = "bundle.intoto.jsonl"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://pss-harness.dev/attestation/evidence-bundle/v1"
#: run metadata carried into the predicate (signed, and readable without opening results.json)
_PREDICATE_KEYS = ("run_id", "server_version", "cluster_fingerprint", "harness_version", "target", "counts",
                   "items", "exit_status", "started", "finished", "corpus_sha256")


# -- DSSE ----------------------------------------------------------------------------------

def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _b64decode(text: object) -> bytes:
    """DSSE allows standard or URL-safe base64, with or without padding."""
    if not isinstance(text, str):
        raise ValueError("not a base64 string")
    text = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _envelope(payload: bytes, key: Ed25519PrivateKey) -> dict:
    sig = key.sign(pae(PAYLOAD_TYPE, payload))
    return {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [{"keyid": keyid(key.public_key()), "sig": base64.b64encode(sig).decode("ascii")}]}


# -- keys ----------------------------------------------------------------------------------

def keyid(public: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the public key's DER SubjectPublicKeyInfo (a hint for which key signed)."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def keygen(out: str | Path) -> tuple[Path, Path]:
    """Write a new Ed25519 private key to ``out`` (PKCS8 PEM, mode 0600) and its public key to ``out.pub``."""
    private, public = Path(out), Path(f"{out}.pub")
    for path in (private, public):
        if os.path.lexists(path):
            raise UsageError(f"{path} exists; choose another name or remove it (keygen never overwrites a key)")
    if not private.parent.is_dir():
        raise UsageError(f"{private.parent}: no such directory for the key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _read_key_file(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file (pss-harness report keygen OUT makes a key pair)") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot be read ({exc.strerror})") from None


def load_private_key(path: str | Path, what: str = "signing key") -> Ed25519PrivateKey:
    """An unencrypted Ed25519 private key from a PEM file; ``UsageError`` naming the file otherwise."""
    if isinstance(path, Ed25519PrivateKey):
        return path
    data = _read_key_file(path, what)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UsageError(f"{what} {path}: the key is encrypted; give an unencrypted PKCS8 PEM key "
                         "(pss-harness report keygen OUT makes one)") from None
    except (ValueError, binascii.Error):
        hint = " (this is a public key; sign with the private key)" if b"PUBLIC KEY" in data else ""
        raise UsageError(f"{what} {path}: not a PEM private key{hint}; "
                         "pss-harness report keygen OUT makes an Ed25519 key pair") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{what} {path}: a {type(key).__name__.lstrip('_')}; pss-harness signs with Ed25519 "
                         "(pss-harness report keygen OUT makes one)")
    return key


def load_public_key(path: str | Path, what: str = "--key") -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file; ``UsageError`` naming the file otherwise."""
    if isinstance(path, Ed25519PublicKey):
        return path
    data = _read_key_file(path, what)
    if b"PRIVATE KEY" in data:
        raise UsageError(f"{what} {path}: a private key; verify with the public key (the .pub file keygen wrote), "
                         "and keep the private key to yourself")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, binascii.Error):
        raise UsageError(f"{what} {path}: not a PEM public key (give the .pub file pss-harness report keygen wrote)") \
            from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{what} {path}: a {type(key).__name__.lstrip('_')}; pss-harness signatures are Ed25519")
    return key


# -- signing -------------------------------------------------------------------------------

def _subjects(directory: Path) -> list[dict]:
    listing = safefs.walk(directory)
    if listing.refused:
        raise UsageError(f"{directory}: refusing to sign a bundle holding entries that are not regular files: "
                         + "; ".join(map(str, listing.refused)))
    return [{"name": rel, "digest": {"sha256": safefs.sha256(directory, rel)}}
            for rel in listing.files if rel != ENVELOPE]


def statement(directory: str | Path, run: dict) -> dict:
    """The in-toto Statement over every file of ``directory``, its predicate taken from ``run``."""
    predicate = {k: run.get(k) for k in _PREDICATE_KEYS if run.get(k) is not None}
    predicate["signer"] = {"tool": "pss-harness", "version": harness.__version__}
    return {"_type": STATEMENT_TYPE, "subject": _subjects(Path(directory)), "predicateType": PREDICATE_TYPE,
            "predicate": predicate}


def sign_bundle(directory: str | Path, key, run: dict) -> Path:
    """Sign ``directory`` as it is now (call after ``SHA256SUMS`` is written); write ``ENVELOPE``.

    ``key`` is an ``Ed25519PrivateKey`` or the path of its PEM file; ``run`` the bundle's run metadata.
    """
    directory = Path(directory)
    key = load_private_key(key)
    payload = json.dumps(statement(directory, run), sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False).encode("utf-8")
    return safefs.write_text(directory, ENVELOPE, json.dumps(_envelope(payload, key), sort_keys=True) + "\n")


def is_signed(directory: str | Path) -> bool:
    return os.path.lexists(Path(directory) / ENVELOPE)


def seal(directory: str | Path, key, run: dict) -> Path | None:
    """After a rewrite of the bundle: sign it if ``key`` is given, else drop a signature that no longer applies."""
    if key is not None:
        return sign_bundle(directory, key, run)
    stale = Path(directory) / ENVELOPE
    if os.path.lexists(stale):
        stale.unlink()
    return None


# -- verifying -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SignatureCheck:
    """What ``check`` found: ``ok`` only if a signature by the key verifies and covers exactly the files present."""

    keyid: str
    problems: tuple[str, ...] = ()
    subjects: int = 0
    predicate: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_envelope(directory: Path) -> dict:
    """The one DSSE envelope in ``ENVELOPE``; ``ValueError`` saying what is wrong with it."""
    text = safefs.read_bytes(directory, ENVELOPE).decode("utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"holds {len(lines)} envelopes, expected one")
    env = json.loads(lines[0])
    if not isinstance(env, dict) or not isinstance(env.get("signatures"), list) or "payload" not in env:
        raise ValueError("not a DSSE envelope (needs payloadType, payload and signatures)")
    return env


def envelope_keyids(directory: str | Path) -> list[str]:
    """The (unauthenticated) keyids an envelope names, for a message; [] if unreadable."""
    try:
        return [str(s.get("keyid", "")) for s in _read_envelope(Path(directory))["signatures"] if isinstance(s, dict)]
    except (OSError, ValueError, safefs.Refused):
        return []


def check(directory: str | Path, public_key) -> SignatureCheck:
    """Verify ``ENVELOPE`` with ``public_key`` and compare its subjects with the files present."""
    directory = Path(directory)
    public = load_public_key(public_key)
    kid = keyid(public)

    def fail(*problems: str) -> SignatureCheck:
        return SignatureCheck(kid, tuple(f"signature: {p}" for p in problems))

    try:
        env = _read_envelope(directory)
    except FileNotFoundError:
        return fail(f"{ENVELOPE} is missing: the bundle is not signed "
                    "(pss-harness report sign DIR --key FILE signs it)")
    except safefs.Refused as exc:
        return fail(f"{ENVELOPE} is refused: {exc.refusal.reason}")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return fail(f"{ENVELOPE} cannot be read: {exc}")
    if env.get("payloadType") != PAYLOAD_TYPE:
        return fail(f"payloadType is {env.get('payloadType')!r}, expected {PAYLOAD_TYPE}")
    try:
        payload = _b64decode(env["payload"])
    except (ValueError, binascii.Error):
        return fail("the payload is not base64")
    message = pae(PAYLOAD_TYPE, payload)
    named = []
    verified = False
    for s in env["signatures"]:
        if not isinstance(s, dict):
            continue
        named.append(str(s.get("keyid", "")) or "(no keyid)")
        try:
            public.verify(_b64decode(s.get("sig")), message)
        except (InvalidSignature, ValueError, binascii.Error):
            continue
        verified = True
        break
    if not verified:
        return fail(f"no signature verifies with the key {kid} (the envelope names keyid(s) "
                    f"{', '.join(named) or 'none'}): signed by another key, or the payload was changed")
    # only now is the payload trusted enough to parse
    try:
        stmt = json.loads(payload)
    except ValueError:
        return fail("the signed payload is not JSON")
    problems = []
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        return fail(f"the signed payload is not an in-toto Statement v1 (_type {STATEMENT_TYPE})")
    if stmt.get("predicateType") != PREDICATE_TYPE:
        problems.append(f"predicateType is {stmt.get('predicateType')!r}, expected {PREDICATE_TYPE}")
    signed: dict[str, str] = {}
    for subject in stmt.get("subject") or []:
        name = subject.get("name") if isinstance(subject, dict) else None
        digest = (subject.get("digest") or {}).get("sha256") if isinstance(subject, dict) else None
        reason = safefs.escape_reason(name) if isinstance(name, str) else "not a name"
        if reason or not isinstance(digest, str):
            problems.append(f"subject {name!r} is not a file of the bundle with a sha256 digest ({reason or 'no digest'})")
        elif name in signed:
            problems.append(f"subject {name} is listed twice")
        else:
            signed[name] = digest
    listing = safefs.walk(directory)
    present = [f for f in listing.files if f != ENVELOPE]
    refused = {r.path for r in listing.refused}
    for name in present:
        if name not in signed:
            problems.append(f"{name} was added after signing")
            continue
        try:
            actual = safefs.sha256(directory, name)
        except (safefs.Refused, OSError) as exc:
            problems.append(f"{name} cannot be checked ({exc})")
            continue
        if actual != signed[name]:
            problems.append(f"{name} changed since signing (sha256 {actual}, signed {signed[name]})")
    for name in sorted(set(signed) - set(present)):
        problems.append(f"{name} is no longer a regular file" if name in refused else f"{name} was removed after signing")
    return SignatureCheck(kid, tuple(f"signature: {p}" for p in problems), len(signed),
                          stmt.get("predicate") if isinstance(stmt.get("predicate"), dict) else None)
