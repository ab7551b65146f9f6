"""Parse PodSecurity denial, warning and audit texts back into their parts. Pure.

Formats (k8s.io/pod-security-admission): ``violates PodSecurity "<level>:<version>": <items>``
for enforce denials (inside ``pods "x" is forbidden: ...``, or after an admission-webhook
prefix) and ``would violate PodSecurity "<level>:<version>": <items>`` for warnings and audit
annotations. Items are ``reason`` or ``reason (detail)`` joined by ``", "``; details contain
commas and quotes, so splitting happens only outside parentheses and quotes.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["Violation", "parse_podsecurity_message", "split_items"]

_HEAD = re.compile(r'(would violate|violates) PodSecurity "(privileged|baseline|restricted):(latest|v1\.\d+)": ')
_TRUNCATION_RUNES = 256


@dataclasses.dataclass(frozen=True)
class Violation:
    """One parsed PodSecurity message."""

    kind: str                            #: ``violates`` (enforce) or ``would violate`` (warn, audit)
    level: str
    version: str                         #: the label's own text: ``latest`` or ``v1.N``
    items: tuple[tuple[str, str], ...]   #: (reason, detail) in message order; detail may be ""
    truncated: bool = False              #: the text looks cut (warning headers over 4 KiB are cut to 256 runes)

    @property
    def reasons(self) -> list[str]:
        return [reason for reason, _ in self.items]


def split_items(text: str) -> list[tuple[str, str]]:
    """Split ``a (x, y), b, c (z)`` into ``[("a", "x, y"), ("b", ""), ("c", "z")]``."""
    items, depth, quoted, start = [], 0, False, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth = max(depth - 1, 0)
        elif not quoted and depth == 0 and text.startswith(", ", i):
            items.append(text[start:i])
            start = i + 2
            i += 1
        i += 1
    items.append(text[start:])
    out = []
    for item in (it.strip() for it in items):
        if not item:
            continue
        if item.endswith(")") and " (" in item:
            reason, detail = item.split(" (", 1)
            out.append((reason.strip(), detail[:-1]))
        else:
            out.append((item, ""))
    return out


def parse_podsecurity_message(text: str) -> Violation | None:
    """Find and parse the PodSecurity part of ``text``; ``None`` if it has none."""
    if not text:
        return None
    m = _HEAD.search(text)
    if not m:
        return None
    body = text[m.end():]
    truncated = len(text) == _TRUNCATION_RUNES or body.count("(") != body.count(")")
    return Violation(m.group(1), m.group(2), m.group(3), tuple(split_items(body)), truncated)
