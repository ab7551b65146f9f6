"""Parse PodSecurity denial, warning and audit texts back into their parts, and their reasons into check IDs. Pure.

Formats (``k8s.io/pod-security-admission``):

* enforce denial (403 Status message)::

      pods "x" is forbidden: violates PodSecurity "restricted:latest": <items>
      admission webhook "pod-security-webhook.kubernetes.io" denied the request: pods "x" is forbidden: violates ...

* warning (``Warning`` header text) and ``audit-violations`` annotation::

      would violate PodSecurity "restricted:v1.31": <items>

  A raw header value (``299 - "would violate PodSecurity \\"restricted:latest\\": ..."``) is accepted
  too and unquoted first. When a response's warnings exceed 4096 runes the API server cuts each
  warning to **256 runes**, with no marker: such a text is parsed as far as it goes and the
  result is marked ``truncated`` (and ``partial`` when its last item is cut).

``<items>`` are ``reason`` or ``reason (detail)`` joined by ``", "``. Details contain ``", "``,
quotes and (in AppArmor annotation values) nested unescaped quotes, so items are split only at
top level: outside parentheses. If that does not give a well-formed list (a value containing a
parenthesis), the split falls back to boundaries where an item visibly ends and a reason-shaped
text begins. Nothing is ever
dropped: text that maps to no check is reported in ``unknown``.

``parse_reason_list(text, level, minor)`` reads a bare reason list, the form a namespace
label change prints per group of pods (``privileged, runAsNonRoot != true``: reasons only, no
details; ``k8s.io/pod-security-admission`` ``AggregateCheckResult.ForbiddenReason``).

``reasons_to_checks(reasons, level, minor)`` maps reason phrases to check IDs for the level and
evaluated policy minor (two phrases, ``seccompProfile`` and ``procMount``, are shared by a
baseline and a restricted check; the active set disambiguates). ``Violation.checks`` does that
for a parsed message, so that a reason cut short by truncation is not mistaken for another.

``parse_checks(text, server_minor)`` does both in one step and gives the ``ParsedViolation`` that
verdicts compare (``harness.core.verdict``), the fuzzer checks (``harness.fuzz``) and the truth
run reads: the policy the message states, its check IDs, the reasons that map to none, and
whether (and where) the text was cut. This module is the only PodSecurity message parser.

**Attribution is anchored.** ``parse_podsecurity_message`` finds the PodSecurity part anywhere in a
text (a kubectl error line, a ``FailedCreate`` event), which is right for reading but not for
deciding who refused a request: a ValidatingAdmissionPolicy or a webhook may quote PodSecurity's
words. ``podsecurity_denial`` attributes an answer to PodSecurity only on its exact form, as the
built-in admission plugin gives it (``forbiddenResponse``: ``apierrors.NewForbidden`` of the pod's
resource and name, checked against kube-apiserver v1.37 for pods, ``pods/ephemeralcontainers``
updates and ``generateName``, whose generated name is printed)::

      HTTP 403, reason Forbidden, message exactly
      pods "<name>" is forbidden: violates PodSecurity "<level>:<version>": <items>

``podsecurity_event_denial`` holds a controller's ``FailedCreate`` event to the same form, after the
controller's own prefix (``Error creating: ``, or ``create Pod <p> in StatefulSet <s> failed error: ``).
Every other layer's refusal has another prefix after ``is forbidden: `` (``ValidatingAdmissionPolicy
'p' with binding 'b' denied request: ``, ``exceeded quota: ``, ...) or none (``admission webhook
"w" denied the request: ``). The out-of-tree PodSecurity webhook's form (``admission webhook
"pod-security-webhook.kubernetes.io" denied the request: ...``) is read by the parser but not
attributed: the harness tests the built-in plugin, whose audit annotations confirm it.
``podsecurity_warning`` accepts a warning only when it *starts* with ``would violate PodSecurity
"<level>:<version>": `` (a ValidatingAdmissionPolicy's ``Warn`` action prints ``Validation failed
for ValidatingAdmissionPolicy 'p' with binding 'b': `` first).

**ValidatingAdmissionPolicy answers** (``k8s.io/apiserver`` ``pkg/admission/plugin/policy/validating/
dispatcher.go``, checked against kube-apiserver v1.37) are read by ``vap_denial``, ``vap_warning`` and
``vap_audit_failures`` into ``PolicyAnswer``s, for ``--psa-engine vap`` (``harness.core.engines``)::

      denial (HTTP 422 Invalid by default; 403 with ``reason: Forbidden``; the *first* denied decision only):
      <resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<policy>' with binding '<binding>' denied request: <message>
      warning (Warn action), one per failing validation:
      Validation failed for ValidatingAdmissionPolicy '<policy>' with binding '<binding>': <message>
      audit annotation (Audit action) validation.policy.admission.k8s.io/validation_failure, a JSON list (at most 50):
      [{"message": ..., "policy": ..., "binding": ..., "expressionIndex": 0, "validationActions": ["Deny", "Audit"]}]

``named_checks(message, policy)`` reads the check ids a policy's message names: the check id it
starts with, followed by ``:`` (the project's set's convention: ``procMount_restricted: container "c"
must not set securityContext.procMount ...``: the field name in the detail is not a second check);
else every upstream check id that occurs in it as a whole word; else those the policy's name spells
(``disallow-privileged`` -> ``privileged``; the longest wins where one contains another).

May import: ``harness.core.checks``, ``harness.core.expectations`` (the policy minor a server
evaluates) and ``harness.core.model``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Iterable, NamedTuple

from harness.core.checks import CHECKS, reason_to_check
from harness.core.expectations import policy_minor
from harness.core.model import Level, PolicyVersion

__all__ = [
    "TRUNCATION_RUNES",
    "TRUNCATION_TOTAL_RUNES",
    "VAP_VALIDATION_FAILURE",
    "CheckMapping",
    "Item",
    "ParsedViolation",
    "PolicyAnswer",
    "Violation",
    "canonical_reason",
    "named_checks",
    "parse_checks",
    "parse_podsecurity_message",
    "parse_reason_list",
    "podsecurity_denial",
    "podsecurity_event_denial",
    "podsecurity_warning",
    "reasons_to_checks",
    "split_items",
    "unquote_warning_header",
    "vap_audit_failures",
    "vap_denial",
    "vap_warning",
]

TRUNCATION_RUNES = 256  #: a warning cut by the API server is exactly this many runes long ...
TRUNCATION_TOTAL_RUNES = 4096  #: ... which it does once a response's warnings exceed this many runes

_HEAD = re.compile(r'(would violate|violates) PodSecurity '
                   r'"(privileged|baseline|restricted):(latest|v1\.(?:0|[1-9]\d*))": ')
#: the exact head of a PodSecurity denial: a pod's resource and (validated or generated) name
_DENIAL_PREFIX = re.compile(r'pods "[a-z0-9]([a-z0-9.-]*[a-z0-9])?" is forbidden: ')
#: what a controller puts before the error in its ``FailedCreate`` event (ReplicaSet, ReplicationController, Job,
#: DaemonSet: ``Error creating: ``; StatefulSet: ``create Pod <pod> in StatefulSet <set> failed error: ``)
_EVENT_PREFIX = re.compile(r"(?:Error creating: |[Cc]reate Pod \S+ in StatefulSet \S+ failed error: )?")
_WARNING_HEADER = re.compile(r'^\s*(\d{3}) (\S+) "((?:[^"\\]|\\.)*)("?)')

#: reason phrases as printed -> the phrase ``harness.core.checks`` registers (plural forms upstream prints)
_REASON_ALIASES = {"forbidden AppArmor profiles": "forbidden AppArmor profile"}
_KNOWN_REASONS = sorted({c.reason for c in CHECKS.values()} | set(_REASON_ALIASES), key=len, reverse=True)
_BARE = re.compile(r'[A-Za-z][^"(),]*?(?= \(|, |$)')


class Item(NamedTuple):
    """One ``reason (detail)`` element of a message; ``detail`` is ``""`` when there is none."""

    reason: str
    detail: str


@dataclasses.dataclass(frozen=True)
class Violation:
    """One parsed PodSecurity message."""

    kind: str                       #: ``violates`` (enforce) or ``would violate`` (warn, audit)
    level: str                      #: ``baseline`` or ``restricted`` (``privileged`` never violates)
    version: str                    #: the label's own text: ``latest`` or ``v1.N``
    items: tuple[Item, ...]         #: in message order, reason text verbatim
    truncated: bool = False         #: the text was (or looks) cut by the API server's 256-rune truncation
    partial: bool = False           #: the last item is incomplete (cut inside its reason or detail)
    reason_cut: bool = False        #: the last item is cut inside its reason phrase (so it may not map)
    prefix: str = ""                #: what preceded the PodSecurity part (``pods "x" is forbidden: ``, ...)

    @property
    def mode(self) -> str:
        """``enforce`` for ``violates``; ``warn/audit`` for ``would violate``."""
        return "enforce" if self.kind == "violates" else "warn/audit"

    @property
    def policy(self) -> str:
        """``level:version`` as printed, e.g. ``restricted:latest``."""
        return f"{self.level}:{self.version}"

    @property
    def reasons(self) -> list[str]:
        """Reason phrases in message order, normalised to the registry's form (``profiles`` -> ``profile``)."""
        return [canonical_reason(item.reason) for item in self.items]

    def evaluated_minor(self, newest_minor: int) -> int:
        """The policy minor the server evaluated, given the newest it knows (``latest`` on it; clamped to
        this registry's newest, as ``harness.core.expectations.policy_minor`` does)."""
        return policy_minor(PolicyVersion.parse(self.version), newest_minor)

    def checks(self, newest_minor: int) -> "CheckMapping":
        """The check IDs this message names, for a server whose ``latest`` is ``v1.<newest_minor>``."""
        mapping = reasons_to_checks(self.reasons, Level(self.level), self.evaluated_minor(newest_minor),
                                    partial_last=self.reason_cut)
        return dataclasses.replace(mapping, truncated=self.truncated)


@dataclasses.dataclass(frozen=True)
class CheckMapping:
    """Reasons mapped to check IDs."""

    checks: tuple[str, ...]                           #: distinct check IDs, in message order
    pairs: tuple[tuple[str, str | None], ...]         #: every reason with its check (``None``: unknown)
    unknown: tuple[str, ...] = ()                     #: reasons no active check uses, verbatim; never dropped
    truncated: bool = False                           #: the source text was cut: more checks may have failed


@dataclasses.dataclass(frozen=True)
class ParsedViolation:
    """The checks one PodSecurity message names, under the policy it states (what verdicts compare)."""

    policy: str                     #: ``level:version`` as the message prints it
    checks: frozenset[str]
    unknown: tuple[str, ...] = ()   #: reason phrases no active check uses (a phrase cut short included)
    truncated: bool = False         #: the text was cut by the API server: more checks may have failed
    cut_reason: str = ""            #: the last reason phrase, when the cut fell inside it (it may not map)
    partial: bool = False           #: the answer names only some failing checks (a ValidatingAdmissionPolicy
    #: denial names the first denying policy only; its audit annotation, when read, names the others)


def parse_checks(text: str, server_minor: int, *, truncated: bool | None = None) -> ParsedViolation | None:
    """Parse the PodSecurity part of ``text`` (see ``parse_podsecurity_message``) into check IDs, as a
    server whose newest policy is ``v1.<server_minor>`` means them; ``None`` if ``text`` has none."""
    parsed = parse_podsecurity_message(text, truncated=truncated)
    if parsed is None:
        return None
    mapping = parsed.checks(server_minor)
    cut = parsed.reasons[-1] if parsed.reason_cut and parsed.items else ""
    return ParsedViolation(parsed.policy, frozenset(mapping.checks), mapping.unknown, parsed.truncated, cut)


def podsecurity_denial(status: int, reason: str, message: str, server_minor: int) -> ParsedViolation | None:
    """The PodSecurity denial in an answer, only on its exact structure (see the module docstring): HTTP
    403, reason ``Forbidden``, and a message that is ``pods "<name>" is forbidden: violates PodSecurity
    "<level>:<version>": <items>`` from its first character; ``None`` for anything else, however much of
    PodSecurity's text it quotes."""
    if status != 403 or reason != "Forbidden" or not message:
        return None
    m = _DENIAL_PREFIX.match(message)
    head = _HEAD.match(message, m.end()) if m else None
    if head is None or head.group(1) != "violates":
        return None
    return parse_checks(message, server_minor)


def podsecurity_event_denial(message: str, server_minor: int) -> ParsedViolation | None:
    """The PodSecurity denial a controller's ``FailedCreate`` event reports, on the exact form (the
    controller's prefix, checked against kube-apiserver v1.37, then the denial from its first character);
    ``None`` for an event that merely quotes one (a policy's copy after ``is forbidden: ...``)."""
    if not message:
        return None
    start = _EVENT_PREFIX.match(message).end()
    m = _DENIAL_PREFIX.match(message, start)
    head = _HEAD.match(message, m.end()) if m else None
    if head is None or head.group(1) != "violates":
        return None
    return parse_checks(message[start:], server_minor)


def podsecurity_warning(text: str, server_minor: int) -> ParsedViolation | None:
    """The PodSecurity warning (or ``audit-violations`` annotation) ``text`` is, only when it starts with
    ``would violate PodSecurity "<level>:<version>": `` (a raw ``299 - "..."`` header value is unquoted
    first); ``None`` for a text that merely quotes one."""
    if not text:
        return None
    unquoted, _ = unquote_warning_header(text)
    head = _HEAD.match(unquoted)
    if head is None or head.group(1) != "would violate":
        return None
    return parse_checks(text, server_minor)


def canonical_reason(reason: str) -> str:
    return _REASON_ALIASES.get(reason, reason)


def reasons_to_checks(reasons: Iterable[str], level: Level | str, minor: int, *,
                      partial_last: bool = False) -> CheckMapping:
    """Map reason phrases to the check IDs active at ``level`` / policy ``minor``.

    A reason that no active check uses is kept in ``unknown`` (and paired with ``None``). With
    ``partial_last``, the last reason may be cut short: it maps only if it is a whole known
    phrase that no longer phrase starts with.
    """
    level = Level(level)
    reasons = list(reasons)
    pairs, checks, unknown = [], [], []
    for i, reason in enumerate(reasons):
        canonical = canonical_reason(reason)
        check = reason_to_check(canonical, level, minor)
        if check and partial_last and i == len(reasons) - 1:
            if any(r != reason and r.startswith(reason) and canonical_reason(r) != canonical for r in _KNOWN_REASONS):
                check = None
        pairs.append((reason, check))
        if check is None:
            unknown.append(reason)
        elif check not in checks:
            checks.append(check)
    return CheckMapping(tuple(checks), tuple(pairs), tuple(unknown))


def unquote_warning_header(value: str) -> tuple[str, bool]:
    """``(text, complete)`` of a raw ``299 - "..."`` header value; ``(value, True)`` if it is not one.

    ``complete`` is False when the closing quote is missing (the value itself was cut).
    """
    m = _WARNING_HEADER.match(value)
    if not m:
        return value, True
    return re.sub(r"\\(.)", r"\1", m.group(3)), bool(m.group(4))


def _depth_split(text: str) -> tuple[list[str], int]:
    """Split at ``", "`` outside parentheses; also return the final parenthesis depth."""
    parts, depth, start, i = [], 0, 0, 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and ch == "," and text.startswith(", ", i):
            parts.append(text[start:i])
            start = i + 2
            i += 1
        i += 1
    parts.append(text[start:])
    return parts, depth


def _well_formed(part: str) -> bool:
    reason, sep, rest = part.partition(" (")
    if not reason or any(ch in reason for ch in '()"'):
        return False
    return not sep or rest.endswith(")")


def _item(part: str, cut: bool) -> Item:
    reason, sep, rest = part.partition(" (")
    if not sep:
        return Item(part, "")
    if not cut:
        return Item(reason, rest[:-1] if rest.endswith(")") else rest)
    _, depth = _depth_split("(" + rest)
    return Item(reason, rest[:-1] if depth == 0 and rest.endswith(")") else rest)


def split_items(text: str, *, truncated: bool = False) -> list[Item]:
    """Split ``a (x, y), b, c (z)`` into ``[Item("a", "x, y"), Item("b", ""), Item("c", "z")]``.

    With ``truncated``, the last part may be incomplete and is kept as far as it goes.
    """
    text = text.rstrip("\r\n")
    if not text.strip():
        return []
    parts, depth = _depth_split(text)
    body = parts[:-1] if truncated else parts
    if not all(_well_formed(p) for p in body) or (depth and not truncated):
        anchored = _anchor_split(text)
        if anchored is not None:
            parts = anchored
    items = [_item(p, cut=truncated and i == len(parts) - 1) for i, p in enumerate(parts)]
    return [it for it in items if it.reason or it.detail]


def _anchor_split(text: str) -> list[str] | None:
    """Split at ``", "`` where one item visibly ends and a reason-shaped one begins (the fallback for
    values containing parentheses): the text since the last boundary ends with ``)`` or is a bare
    reason, and what follows is a reason (letters first, no quotes, commas or parentheses) ending
    at ``" ("``, ``", "`` or the end.
    """
    if not _BARE.match(text):
        return None
    starts = [0]
    for m in re.finditer(", ", text):
        before = text[starts[-1]:m.start()]
        if (before.endswith(")") or _BARE.fullmatch(before)) and _BARE.match(text, m.end()):
            starts.append(m.end())
    return [text[a:b - 2] for a, b in zip(starts, starts[1:])] + [text[starts[-1]:]]


def _looks_cut(body: str) -> bool:
    """The structure shows the text stops mid-item (unclosed parenthesis, dangling separator)."""
    if not body or body.endswith((",", " (", " ")):
        return True
    parts, depth = _depth_split(body)
    if depth == 0:
        return " (" in parts[-1] and not parts[-1].endswith(")")
    anchored = _anchor_split(body)  # a value may hold a parenthesis: trust the reason anchors instead
    return anchored is None or not (anchored[-1].endswith(")") or anchored[-1] in _KNOWN_REASONS)


def parse_podsecurity_message(text: str, *, truncated: bool | None = None) -> Violation | None:
    """Find and parse the PodSecurity part of ``text`` (a Status message, warning, annotation or raw
    ``Warning`` header value); ``None`` if it has none.

    ``truncated``: ``None`` detects it (a ``would violate`` text of exactly 256 runes, or one
    that stops mid-item); ``True``/``False`` overrides the detection (e.g. when the caller
    knows the response's warnings exceeded 4096 runes).
    """
    if not text:
        return None
    text, header_complete = unquote_warning_header(text)
    m = _HEAD.search(text)
    if not m:
        return None
    body = text[m.end():].rstrip("\r\n")
    if truncated is None:
        # only warnings are cut; denials and annotations are whole whatever their shape
        truncated = m.group(1) == "would violate" and (
            not header_complete or (m.start() == 0 and len(text) == TRUNCATION_RUNES) or _looks_cut(body))
    items = split_items(body, truncated=truncated)
    partial = bool(truncated) and _last_is_partial(body)
    reason_cut = partial and " (" not in _depth_split(body)[0][-1]
    return Violation(m.group(1), m.group(2), m.group(3), tuple(items), bool(truncated), partial, reason_cut,
                     text[:m.start()])


def _last_is_partial(body: str) -> bool:
    """In a cut text, the last item is whole only if it closes its detail; a bare reason at the end may
    have lost its detail (every upstream check gives one) or part of its own phrase."""
    parts, depth = _depth_split(body)
    return depth > 0 or not parts[-1].endswith(")")


def parse_reason_list(text: str, level: Level | str, minor: int, *, truncated: bool = False) -> CheckMapping:
    """Map a bare ``reason, reason, ...`` list (no details) to check IDs at ``level`` / ``minor``.

    Reason phrases hold no ``", "``, so the list splits there. With ``truncated`` (the text may have
    been cut by the API server's 256-rune truncation) the last reason may be incomplete: it maps
    only if no longer known phrase starts with it, and the mapping is marked ``truncated``.
    """
    text = text.rstrip("\r\n")
    reasons = [r for r in text.split(", ")] if text.strip() else []
    if truncated and reasons and reasons[-1].endswith(","):
        reasons[-1] = reasons[-1][:-1]
    reasons = [r for r in reasons if r]
    mapping = reasons_to_checks(reasons, level, minor, partial_last=truncated)
    return dataclasses.replace(mapping, truncated=truncated)


# -- ValidatingAdmissionPolicy answers ----------------------------------------------------------------------------

VAP_VALIDATION_FAILURE = "validation.policy.admission.k8s.io/validation_failure"

_VAP_DENIAL = re.compile(r'(?:[a-z0-9.-]+(?: "[^"]*")? is forbidden: )?'
                         r"ValidatingAdmissionPolicy '([^']+)' with binding '([^']+)' denied request: (.*)", re.S)
_VAP_WARNING = re.compile(r"Validation failed for ValidatingAdmissionPolicy '([^']+)' with binding '([^']+)': (.*)",
                          re.S)
_CHECK_WORD = re.compile("(?<![A-Za-z0-9_])(" + "|".join(sorted(CHECKS, key=len, reverse=True)) + ")(?![A-Za-z0-9_])")
_LEADING_CHECK = re.compile(r"\s*\[?(" + "|".join(sorted(CHECKS, key=len, reverse=True)) + r")\]?:")
_NORMALISED = {c: re.sub(r"[^a-z0-9]", "", c.lower()) for c in CHECKS}


@dataclasses.dataclass(frozen=True)
class PolicyAnswer:
    """One ValidatingAdmissionPolicy's failed validation, as a denial, a warning or an audit annotation entry."""

    policy: str
    binding: str
    message: str
    actions: tuple[str, ...] = ()   #: the binding's validationActions (audit annotation entries only)

    @property
    def checks(self) -> tuple[str, ...]:
        return named_checks(self.message, self.policy)


def named_checks(message: str, policy: str = "") -> tuple[str, ...]:
    """The check id ``message`` starts with (``<id>: ...``); else the ids it names as whole words (in order,
    distinct); else those the policy's name spells."""
    lead = _LEADING_CHECK.match(message or "")
    if lead:
        return (lead.group(1),)
    found = list(dict.fromkeys(_CHECK_WORD.findall(message or "")))
    if found or not policy:
        return tuple(found)
    name = re.sub(r"[^a-z0-9]", "", policy.lower())
    spelt = [c for c, n in _NORMALISED.items() if n in name]
    return tuple(c for c in spelt if not any(o != c and _NORMALISED[c] in _NORMALISED[o] for o in spelt))


def vap_denial(message: str) -> PolicyAnswer | None:
    """The ValidatingAdmissionPolicy denial a Status message is (from its first character), else ``None``."""
    m = _VAP_DENIAL.match(message or "")
    return PolicyAnswer(m.group(1), m.group(2), m.group(3)) if m else None


def vap_warning(text: str) -> PolicyAnswer | None:
    """The ValidatingAdmissionPolicy ``Warn`` warning ``text`` is (a raw header value is unquoted first), else ``None``."""
    unquoted, _ = unquote_warning_header(text or "")
    m = _VAP_WARNING.match(unquoted)
    return PolicyAnswer(m.group(1), m.group(2), m.group(3)) if m else None


def vap_audit_failures(value: str | None) -> list[PolicyAnswer]:
    """The entries of a ``validation_failure`` audit annotation (malformed text: none)."""
    try:
        entries = json.loads(value) if value else []
    except ValueError:
        return []
    return [PolicyAnswer(str(e.get("policy", "")), str(e.get("binding", "")), str(e.get("message", "")),
                         tuple(str(a) for a in e.get("validationActions") or ()))
            for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
