"""What a server answered to one request, as plain data: the seam between the cluster layer and the core. Pure.

``harness.cluster`` builds a ``Response`` from the HTTP exchange; ``harness.core.verdict``
classifies it. Nothing here talks to a network.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

__all__ = ["Response", "parse_warning_header"]

_WARNING_RE = re.compile(r'^\s*(\d{3})\s+(\S+)\s+"((?:[^"\\]|\\.)*)"')


def parse_warning_header(value: str) -> str:
    """The text of one ``Warning: 299 - "text"`` header value (RFC 7234 quoted-string unescaped)."""
    m = _WARNING_RE.match(value)
    if not m:
        return value.strip()
    return re.sub(r"\\(.)", r"\1", m.group(3))


@dataclasses.dataclass
class Response:
    """What the server answered to one request (status 0: no answer; ``transport_error`` says why)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any = None                 #: decoded JSON body (a Status on errors), or None
    warnings: list[str] = dataclasses.field(default_factory=list)
    audit_id: str = ""
    elapsed: float = 0.0
    transport_error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        """The Status message of an error (or the transport error)."""
        if self.transport_error:
            return self.transport_error
        if isinstance(self.body, dict) and self.body.get("kind") == "Status":
            return str(self.body.get("message", ""))
        return ""

    @property
    def reason(self) -> str:
        if isinstance(self.body, dict) and self.body.get("kind") == "Status":
            return str(self.body.get("reason", ""))
        return ""
