"""The shared vocabulary: levels, modes, policy versions, outcomes.

Everything that reports a result (the pytest run, ``assess``, ``diff``, the evidence bundle)
speaks in these terms; none of it does I/O.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re

from harness.core.errors import UsageError

__all__ = ["DEFAULT_K8S_VERSION", "LATEST", "Level", "Mode", "Outcome", "PolicyVersion", "VersionRange"]


DEFAULT_K8S_VERSION = "v1.37.2"
"""The Kubernetes release the embedded control plane builds by default (``controlplane/go.mod`` pins
it; a unit test holds the two equal). Every default, help text and report takes it from here."""


class Level(str, enum.Enum):
    """A Pod Security Standards level, ordered from permissive to strict."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str, what: str = "level") -> "Level":
        try:
            return cls(text)
        except ValueError:
            raise UsageError(f"{what} {text!r}: must be one of privileged, baseline, restricted") from None


_LEVEL_RANK = {Level.PRIVILEGED: 0, Level.BASELINE: 1, Level.RESTRICTED: 2}


class Mode(str, enum.Enum):
    """A PodSecurity admission mode (the namespace label that selects it)."""

    ENFORCE = "enforce"
    WARN = "warn"
    AUDIT = "audit"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str, what: str = "mode") -> "Mode":
        try:
            return cls(text)
        except ValueError:
            raise UsageError(f"{what} {text!r}: must be one of enforce, warn, audit") from None


class Outcome(str, enum.Enum):
    """What the API server did with one request."""

    ADMITTED = "admitted"          #: accepted, no PodSecurity warning
    WARNED = "warned"              #: accepted with a ``would violate PodSecurity`` Warning header
    DENIED = "denied"              #: 403 whose message is a PodSecurity violation
    DENIED_OTHER = "denied-other"  #: refused by something else (RBAC, a webhook, quota, ...)
    INVALID = "invalid"            #: 400/422, or the API/kind is not served
    ERROR = "error"                #: timeout, 5xx, connection failure

    def __str__(self) -> str:
        return self.value


_VERSION_RE = re.compile(r"^v1\.(0|[1-9][0-9]*)$")


@functools.total_ordering
@dataclasses.dataclass(frozen=True)
class PolicyVersion:
    """A policy version label value: ``v1.N`` or ``latest`` (which sorts above every ``v1.N``)."""

    minor: int | None  #: ``None`` means ``latest``

    @classmethod
    def parse(cls, text: str, what: str = "policy version", *, lenient: bool = False) -> "PolicyVersion":
        """``latest`` or ``v1.N``; ``lenient`` (options typed by people) also takes ``1.N``.

        Namespace label values are never lenient: PodSecurity itself accepts only ``v1.N``.
        """
        text = str(text).strip()
        if text == "latest":
            return LATEST
        if lenient and re.match(r"^1\.\d+$", text):
            text = "v" + text
        m = _VERSION_RE.match(text)
        if not m:
            raise UsageError(f'{what} {text!r}: must be "latest" or "v1.N" (e.g. v1.25)')
        return cls(int(m.group(1)))

    @property
    def is_latest(self) -> bool:
        return self.minor is None

    def resolve(self, newest_minor: int) -> int:
        """The minor the server evaluates: ``latest`` and any newer label clamp to ``newest_minor``."""
        return newest_minor if self.minor is None else min(self.minor, newest_minor)

    def __str__(self) -> str:
        return "latest" if self.minor is None else f"v1.{self.minor}"

    def __lt__(self, other: "PolicyVersion") -> bool:
        big = 10**9
        return (big if self.minor is None else self.minor) < (big if other.minor is None else other.minor)


LATEST = PolicyVersion(None)

_RANGE_TERM = re.compile(r"^(>=|<)(v1\.\d+)$")


@dataclasses.dataclass(frozen=True)
class VersionRange:
    """Half-open range of policy minors, written ``>=v1.25``, ``<v1.32``, ``>=v1.19 <v1.35`` or ``all``."""

    since: int = 0            #: first minor included
    until: int | None = None  #: first minor excluded (``None``: no upper bound)

    @classmethod
    def parse(cls, text: str) -> "VersionRange":
        text = str(text).strip()
        if text in ("", "all"):
            return cls()
        since, until = 0, None
        for term in text.split():
            m = _RANGE_TERM.match(term)
            if not m:
                raise UsageError(f"version range {text!r}: terms are >=v1.N and <v1.N, e.g. '>=v1.19 <v1.35'")
            minor = PolicyVersion.parse(m.group(2)).minor
            if m.group(1) == ">=":
                since = minor
            else:
                until = minor
        if until is not None and until <= since:
            raise UsageError(f"version range {text!r} is empty")
        return cls(since, until)

    def __contains__(self, minor: int) -> bool:
        return minor >= self.since and (self.until is None or minor < self.until)

    def intersect(self, other: "VersionRange") -> "VersionRange | None":
        since = max(self.since, other.since)
        untils = [u for u in (self.until, other.until) if u is not None]
        until = min(untils) if untils else None
        return None if until is not None and until <= since else VersionRange(since, until)

    def boundaries(self) -> set[int]:
        """Minors where membership changes (for choosing versions to test)."""
        return {b for b in (self.since, self.until) if b}

    def __str__(self) -> str:
        parts = ([f">=v1.{self.since}"] if self.since else []) + ([f"<v1.{self.until}"] if self.until is not None else [])
        return " ".join(parts) or "all"
