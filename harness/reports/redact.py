"""Scrub credentials from anything the harness writes: evidence, reports, attachments, messages.

Two layers, both applied by ``Redactor.scrub``:

* **Known secrets.** The values the run actually uses, taken from the client's configuration
  (``secrets_from_client``): the bearer token or password, and the API server's URL. These are
  replaced wherever they appear, even inside longer strings.
* **Shapes.** Anything that looks like a credential, whether or not we know it: an
  ``Authorization`` header or ``Bearer <token>``, a PEM block (private keys, certificates), a
  kubeconfig credential field (``token:``, ``client-key-data:``, ``password:`` ...), a
  ``--token=``/``--password=`` flag, user:password in a URL, and the ``host=..., port=...`` of
  urllib3's transport errors (the server address, whatever it is). Mapping keys named like a
  credential (``Authorization``, ``token``, ``password``, ``client-key-data`` ...) have their value
  replaced whatever it looks like.

    >>> r = Redactor(secrets={"s3cr3t-token-value": "<token>"})
    >>> r.scrub({"message": "Authorization: Bearer abc.def.ghi", "note": "sent s3cr3t-token-value"})
    {'message': 'Authorization: Bearer <redacted>', 'note': 'sent <token>'}

Redaction never raises and returns a new object; non-string leaves are returned unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

__all__ = ["REDACTED", "Redactor", "default_redactor", "redact", "secrets_from_client"]

REDACTED = "<redacted>"

#: mapping keys whose value is a credential whatever it looks like (compared lower-case, ``_`` as ``-``)
SENSITIVE_KEYS = frozenset({
    "authorization", "proxy-authorization", "token", "bearer-token", "id-token", "refresh-token",
    "access-token", "api-key", "apikey", "password", "passwd", "client-key", "client-key-data",
    "private-key", "secret-key", "x-api-key", "cookie", "set-cookie",
})

_SHAPES: list[tuple[re.Pattern[str], str]] = [
    # PEM blocks of any type (private keys, certificates, CSRs); also an unterminated one
    (re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.S), "<redacted PEM block>"),
    # Authorization: Bearer/Basic/Negotiate <credential>  (also JSON/dict renderings)
    (re.compile(r"(?i)(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|negotiate|token)\s+)?"
                r"[^\s\"',}]+"),
     lambda m: f"{m.group(1)}{(m.group(2) + ' ') if m.group(2) else ''}{REDACTED}"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), rf"\1 {REDACTED}"),
    # kubeconfig / config credential fields, YAML or JSON style
    (re.compile(r"(?i)([\"']?\b(?:client-key-data|client-certificate-data|certificate-authority-data|token|"
                r"id-token|refresh-token|access-token|password|client-secret)\b[\"']?\s*:\s*[\"']?)[^\s\"',}]+"),
     rf"\1{REDACTED}"),
    # command-line flags carrying credentials
    (re.compile(r"(?i)(--(?:token|password|client-key|bearer-token|client-secret)[= ])\S+"), rf"\1{REDACTED}"),
    # user:password@ in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), rf"\1{REDACTED}@"),
    # urllib3's transport errors name the server as host='10.0.0.1', port=6443 (ConnectionPool reprs)
    (re.compile(r"(?i)\bhost=(['\"])[^'\"]*\1,\s*port=\d+"), "host=<server>"),
]


# every shape above needs one of these words or marks; strings without them skip the patterns
_MAY_HOLD_A_SHAPE = re.compile(r"(?i)-----BEGIN|authorization|bearer|token|password|secret|-data|client-key|://|host=")


def _norm_key(key: str) -> str:
    return key.strip().lower().replace("_", "-")


class Redactor:
    """Replaces known secret values and credential-shaped text; see the module docstring.

    ``secrets`` maps an exact value to its replacement (``{"https://10.0.0.1:6443": "<server>"}``).
    Values shorter than 6 characters are ignored: replacing them would mangle ordinary text.
    """

    def __init__(self, secrets: Mapping[str, str] | None = None):
        self.secrets: dict[str, str] = {}
        self.add(secrets or {})

    def add(self, secrets: Mapping[str, str]) -> None:
        for value, replacement in secrets.items():
            if isinstance(value, str) and len(value) >= 6:
                self.secrets[value] = replacement
        self._ordered = sorted(self.secrets, key=len, reverse=True)  # longest first: a URL before its host

    def text(self, value: str) -> str:
        """``value`` with every known secret and credential shape replaced."""
        for secret in self._ordered:
            if secret in value:
                value = value.replace(secret, self.secrets[secret])
        if _MAY_HOLD_A_SHAPE.search(value):  # most strings (names, images, paths) cannot match any shape
            for pattern, replacement in _SHAPES:
                value = pattern.sub(replacement, value)
        return value

    def scrub(self, value: Any) -> Any:
        """A copy of ``value`` (str, mapping, list, tuple, nested) with credentials replaced."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                key = self.text(k) if isinstance(k, str) else k
                if isinstance(k, str) and _norm_key(k) in SENSITIVE_KEYS and v not in (None, "", True, False):
                    out[key] = REDACTED
                else:
                    out[key] = self.scrub(v)
            return out
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(v) for v in value)
        return value

    def dumps(self, value: Any) -> tuple[Any, str]:
        """``(scrub(value), its JSON text)``: sorted keys, one line; the scrubbing walk only when needed.

        Serialising is needed anyway; when the text holds no known secret, no hint of a
        credential shape and no credential-named key, every string in ``value`` is clean and
        the walk would change nothing, so ``value`` is returned as it is.
        """
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        if self._may_need_scrubbing(text):
            value = self.scrub(value)
            text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        return value, text

    def _may_need_scrubbing(self, text: str) -> bool:
        if text.isascii():  # nearly always: substring tests on the lower-cased text are much faster
            low = text.lower()
            if any(word in low for word in _HINT_WORDS) or ("://" in text and _URL_USERINFO.search(text)):
                return True
        elif _TEXT_MAY_HOLD_A_SHAPE.search(text) or _SENSITIVE_KEY_TEXT.search(text):
            return True  # (?i) also equates some non-ASCII letters with ASCII ones: let re decide
        for secret in self._ordered:
            # a secret JSON would escape cannot be looked for in the text: assume the worst
            if secret in text or not _JSON_VERBATIM.fullmatch(secret):
                return True
        return False


#: ``_MAY_HOLD_A_SHAPE`` for a whole JSON text: a URL only with user info (``://user:pw@``), since
#: references and server paths are full of plain URLs; JSON escaping keeps every hint matchable
_TEXT_MAY_HOLD_A_SHAPE = re.compile(_MAY_HOLD_A_SHAPE.pattern.replace("|://", r"|://[^/\s@]*@"))
#: for ASCII text: every word a shape needs and a fragment of every credential-named key
_HINT_WORDS = ("-----begin", "authorization", "bearer", "token", "password", "passwd", "secret", "-data",
               "client-key", "client_key", "api-key", "api_key", "apikey", "private-key", "private_key", "cookie",
               "host=")
_URL_USERINFO = re.compile(r"://[^/\s@]*@")
#: a credential-named key as JSON writes it (``"api_key":``), however spelt (case, ``_``/``-``)
_PAD = r"(?:\s|\\[nrtfb]|\\u00[0-9a-fA-F]{2})*"  # what str.strip() removes, also as JSON escapes it
_SENSITIVE_KEY_TEXT = re.compile(
    '(?i)"' + _PAD + "(?:" + "|".join(re.escape(k).replace("\\-", "[-_]") for k in sorted(SENSITIVE_KEYS))
    + ")" + _PAD + '"\\s*:')
#: strings that appear in JSON text exactly as they are (no quote, backslash or control character)
_JSON_VERBATIM = re.compile(r'[^"\\\x00-\x1f]*')


def secrets_from_client(configuration: Any) -> dict[str, str]:
    """Known secrets of a ``kubernetes.client.Configuration``: credentials and the server URL.

    The server URL (and its ``host:port``) is replaced by ``<server>``: evidence identifies the
    cluster by its fingerprint, never by its address.
    """
    out: dict[str, str] = {}
    host = str(getattr(configuration, "host", "") or "")
    if host:
        out[host.rstrip("/")] = "<server>"
        hostport = re.sub(r"^[a-z]+://", "", host.rstrip("/"), flags=re.I)
        if ":" in hostport or "." in hostport:
            out[hostport] = "<server>"
    for value in (getattr(configuration, "api_key", None) or {}).values():
        if isinstance(value, str):
            out[value] = REDACTED
            if value.lower().startswith("bearer "):
                out[value[7:].strip()] = REDACTED
    password = getattr(configuration, "password", None)
    if isinstance(password, str):
        out[password] = REDACTED
    for attr in ("key_file", "cert_file"):
        path = getattr(configuration, attr, None)
        if path:
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for line in fh.read().splitlines():
                        if len(line) >= 40 and not line.startswith("-----"):
                            out[line] = REDACTED  # base64 body lines of the client key/cert
            except OSError:
                pass
    return out


_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor; ``evidence`` registers the run's known secrets on it."""
    return _DEFAULT


def redact(value: Any) -> Any:
    """Scrub ``value`` with the process-wide redactor."""
    return _DEFAULT.scrub(value)
