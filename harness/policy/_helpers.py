"""Shared helpers for the check modules: the container visitor, field access, and the upstream
message-building primitives (``joinQuote``, ``pluralize``, Go ``%q`` quoting). Pure.

Checks read plain ``dict``s as decoded from YAML or JSON. An absent field, an explicit ``null``
and an empty object mean the same thing, as they do after the API server decodes a request.

May import: the standard library only.
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "Failure",
    "container_sc",
    "containers",
    "go_quote",
    "join_quote",
    "name",
    "pluralize",
    "pod_sc",
    "profile_type",
    "relax_for_user_namespace",
    "setters",
    "windows_pod",
]

_EMPTY: dict = {}


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """What a check returns when it forbids a pod; a passing check returns ``None``."""

    reason: str  #: the ForbiddenReason phrase, e.g. ``privileged``; never empty
    detail: str  #: the ForbiddenDetail, e.g. ``container "c" must not set securityContext.privileged=true``


def containers(spec: dict) -> list[dict]:
    """Every container in upstream visiting order: ``initContainers``, ``containers``, ``ephemeralContainers``."""
    out = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ()),
           *(spec.get("ephemeralContainers") or ())]
    for c in out:
        if type(c) is not dict:  # malformed input: keep only the mappings
            return [c for c in out if isinstance(c, dict)]
    return out


def container_sc(c: dict) -> dict:
    """A container's ``securityContext`` (``{}`` when unset)."""
    return c.get("securityContext") or _EMPTY


def pod_sc(spec: dict) -> dict:
    """The pod's ``spec.securityContext`` (``{}`` when unset)."""
    return spec.get("securityContext") or _EMPTY


def profile_type(sc: dict, field: str) -> str | None:
    """The ``type`` of a security context's ``seccompProfile``/``appArmorProfile`` (``field``); ``None``: unset.
    A profile set without a type reads as ``""``."""
    profile = sc.get(field)
    if profile is None:
        return None
    return str((profile or {}).get("type") or "")


def name(c: dict) -> str:
    return str(c.get("name") or "")


def relax_for_user_namespace(spec: dict) -> bool:
    """``spec.hostUsers`` is set and false (upstream ``relaxPolicyForUserNamespacePod``)."""
    return spec.get("hostUsers") is False


def windows_pod(spec: dict) -> bool:
    """``spec.os.name`` is ``windows``."""
    return ((spec.get("os") or _EMPTY).get("name")) == "windows"


def join_quote(items) -> str:
    """``"a", "b"``: each item wrapped in double quotes, *not* escaped, joined by ``", "``."""
    items = list(items)
    if not items:
        return ""
    return '"' + '", "'.join(items) + '"'


def pluralize(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def setters(pod: bool, bad_containers: list[str]) -> str:
    """``pod``, ``container "a"``, ``containers "a", "b"`` or ``pod and containers "a", "b"``."""
    parts = ["pod"] if pod else []
    if bad_containers:
        parts.append(f'{pluralize("container", "containers", len(bad_containers))} {join_quote(bad_containers)}')
    return " and ".join(parts)


_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
               "\\": r"\\", '"': r"\""}


def go_quote(s: str) -> str:
    """Go's ``%q`` / ``strconv.Quote`` of a string: double-quoted, Go escapes, printable Unicode kept."""
    out = ['"']
    for ch in s:
        esc = _GO_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            cp = ord(ch)
            if cp < 0x80:
                out.append(f"\\x{cp:02x}")
            elif cp < 0x10000:
                out.append(f"\\u{cp:04x}")
            else:
                out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)
