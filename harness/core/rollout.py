"""Rollout readiness, the pure part: what a namespace label change will do, and the plan. Pure.

Moving a namespace from privileged to restricted is done in phases: label ``warn`` and ``audit``
at the target, fix what they report, then label ``enforce``. This module holds everything of
``pss-harness rollout`` that needs no cluster:

* **the namespace policy** a set of labels selects (``policy_from_labels``, after upstream
  ``api.PolicyToEvaluate``: a missing label falls back to the cluster default; an explicit
  ``enforce`` stricter than ``warn`` also sets ``warn``; an unparsable enforce label means
  ``restricted:latest``, an unparsable warn/audit level means privileged);
* **whether the server checks existing pods** for a label change (``server_check``, after upstream
  ``ValidateNamespace``, verified against kube-apiserver v1.37.2): only when the *enforce* policy
  changes, the new level is not privileged, and it is not "same version, less strict level". A
  version change in either direction is checked, even with a relaxed level; warn/audit changes
  never are;
* **the server's answer** to that change (``parse_namespace_warnings``): the ``Warning`` texts of
  upstream ``EvaluatePodsInNamespace``::

      new PodSecurity enforce level only checked against the first 3000 of 3001 existing pods
      existing pods in namespace "team-a" violate the new PodSecurity enforce level "restricted:latest"
      api-7d9 (and 4 other pods): allowPrivilegeEscalation != false, runAsNonRoot != true
      debug: privileged, runAsNonRoot != true
      namespace "kube-system" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored

  One line per distinct reason list (reasons only, no details), named after the lexicographically
  first pod with it, sorted; at most 3000 pods are checked (RuntimeClass-exempt pods are skipped and
  not counted in "of M"), within 1 s or half the request's remaining deadline; the API server keeps
  4096 runes of warnings, then cuts each to 256 runes and drops the rest
  (``WARNING_BUDGET_RUNES``);
* **the answer the evaluator predicts** from every pod's offline verdict (``expected_warnings``) and
  the comparison with the server's (``compare_answer``), exact when the server checked every pod,
  a consistency check when it stopped early;
* **the plan** per namespace (``plan_namespace``): ``ready``, ``warn-first``,
  ``blocked-by-exemption``, ``already-at-or-above`` or ``incomplete``, with the labels to set now
  and after the fixes, as ``kubectl label`` lines (``kubectl_label``) and a kustomize patch
  (``kustomize_patch``).

May import: the standard library and ``harness.core`` (model, messages, checks, errors).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import re
from typing import Iterable, Mapping, Sequence

from harness.core.errors import UsageError
from harness.core.messages import TRUNCATION_RUNES, parse_reason_list
from harness.core.model import LATEST, Level, PolicyVersion

__all__ = [
    "DEFAULT_POLICY",
    "LABEL_PREFIX",
    "MAX_PODS_CHECKED",
    "MODES",
    "POD_CHECK_TIMEOUT_SECONDS",
    "WARNING_BUDGET_RUNES",
    "CheckDecision",
    "LevelVersion",
    "NamespaceAnswer",
    "NamespacePlan",
    "NamespacePolicy",
    "Observed",
    "NEEDS_WORK",
    "Plan",
    "PodGroup",
    "PodVerdict",
    "ServerCheck",
    "TemplateVerdict",
    "compare_answer",
    "expected_warnings",
    "kubectl_label",
    "kustomize_patch",
    "label_key",
    "parse_namespace_warnings",
    "plan_namespace",
    "policy_from_labels",
    "report",
    "server_check",
    "sorted_labels",
    "summary",
    "target_labels",
]

LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")      #: the order upstream prints them in the exempt warning
MAX_PODS_CHECKED = 3000                   #: ``defaultNamespaceMaxPodsToCheck``
POD_CHECK_TIMEOUT_SECONDS = 1.0           #: ``defaultNamespacePodCheckTimeout`` (or half the request's deadline)
WARNING_BUDGET_RUNES = 4096               #: apiserver ``truncateAtTotalRunes``; then each warning is cut to 256


def label_key(mode: str, version: bool = False) -> str:
    """``pod-security.kubernetes.io/<mode>`` or ``.../<mode>-version``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    return f"{LABEL_PREFIX}{mode}{'-version' if version else ''}"


# -- policies -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LevelVersion:
    """One mode's policy, ``restricted:latest``."""

    level: Level
    version: PolicyVersion = LATEST

    def __str__(self) -> str:
        return f"{self.level.value}:{self.version}"

    @classmethod
    def parse(cls, text: str, what: str = "policy") -> "LevelVersion":
        level, sep, version = str(text).partition(":")
        return cls(Level.parse(level, what), PolicyVersion.parse(version, what) if sep else LATEST)

    def equivalent(self, other: "LevelVersion") -> bool:
        """Upstream ``LevelVersion.Equivalent``: both privileged, or the same level and version."""
        return (self.level is Level.PRIVILEGED and other.level is Level.PRIVILEGED) or self == other

    def at_or_above(self, target: "LevelVersion") -> bool:
        """A stricter level (whatever its version), or the same level at the same or a newer version.

        ``latest`` is newer than every ``v1.N``.
        """
        if self.level.rank != target.level.rank:
            return self.level.rank > target.level.rank
        return self.level is Level.PRIVILEGED or self.version >= target.version


@dataclasses.dataclass(frozen=True)
class NamespacePolicy:
    """The policy of each mode a namespace's labels select."""

    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion
    errors: tuple[str, ...] = ()      #: label values PodSecurity cannot parse ("key=value: must be ...")

    def mode(self, name: str) -> LevelVersion:
        return getattr(self, name)

    def fully_privileged(self) -> bool:
        return all(self.mode(m).level is Level.PRIVILEGED for m in MODES)

    def equivalent(self, other: "NamespacePolicy") -> bool:
        return all(self.mode(m).equivalent(other.mode(m)) for m in MODES)

    def to_dict(self) -> dict:
        return {m: str(self.mode(m)) for m in MODES} | {"errors": list(self.errors)}


_PRIVILEGED = LevelVersion(Level.PRIVILEGED, LATEST)
DEFAULT_POLICY = NamespacePolicy(_PRIVILEGED, _PRIVILEGED, _PRIVILEGED)
"""The upstream default of the PodSecurity admission configuration (every mode ``privileged:latest``)."""


def _parse_level(text: str) -> Level | None:
    try:
        return Level(text)
    except ValueError:
        return None


def _parse_version(text: str) -> PolicyVersion | None:
    try:
        return PolicyVersion.parse(text)
    except UsageError:
        return None


def policy_from_labels(labels: Mapping[str, str] | None, defaults: NamespacePolicy = DEFAULT_POLICY) -> NamespacePolicy:
    """The policy PodSecurity evaluates for a namespace with ``labels`` (upstream ``PolicyToEvaluate``)."""
    labels = dict(labels or {})
    modes = {m: defaults.mode(m) for m in MODES}
    errors: list[str] = []
    explicit = {}
    for mode in MODES:
        level, version = modes[mode].level, modes[mode].version
        key = label_key(mode)
        if key in labels:
            parsed = _parse_level(labels[key])
            if parsed is None:
                errors.append(f"{key}={labels[key]}: must be one of privileged, baseline, restricted")
                # enforce fails closed (restricted), audit and warn fail open (privileged)
                parsed = Level.RESTRICTED if mode == "enforce" else Level.PRIVILEGED
            else:
                explicit[mode] = True
            level = parsed
        vkey = label_key(mode, version=True)
        if vkey in labels:
            parsed_version = _parse_version(labels[vkey])
            if parsed_version is None:
                errors.append(f'{vkey}={labels[vkey]}: must be "latest" or "v1.x"')
                parsed_version = LATEST
            version = parsed_version
        modes[mode] = LevelVersion(level, version)
    # an explicit enforce level stricter than warn also warns (unless warn is labelled)
    if explicit.get("enforce") and label_key("warn") not in labels and \
            modes["enforce"].level.rank > modes["warn"].level.rank:
        version = modes["warn"].version if label_key("warn", True) in labels else modes["enforce"].version
        modes["warn"] = LevelVersion(modes["enforce"].level, version)
    return NamespacePolicy(modes["enforce"], modes["audit"], modes["warn"], tuple(errors))


def target_labels(labels: Mapping[str, str] | None, target: LevelVersion,
                  modes: Iterable[str] = ("enforce",)) -> dict[str, str]:
    """``labels`` with ``<mode>`` and ``<mode>-version`` set to ``target`` for each of ``modes``."""
    out = dict(labels or {})
    for mode in modes:
        out[label_key(mode)] = target.level.value
        out[label_key(mode, version=True)] = str(target.version)
    return out


# -- does the server check existing pods? -------------------------------------------------------------

class CheckDecision(str, enum.Enum):
    CHECKED = "checked"            #: the server evaluates the namespace's pods
    UNCHANGED = "unchanged"        #: the enforce level and version stay as they are
    PRIVILEGED = "to-privileged"   #: the new enforce level is privileged
    RELAXED = "relaxed"            #: same version, less strict level
    INVALID = "invalid-labels"     #: the new labels do not parse: the change is refused

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class ServerCheck:
    """Whether a label change makes the server evaluate the namespace's pods, and why (not)."""

    decision: CheckDecision
    old: NamespacePolicy
    new: NamespacePolicy

    @property
    def runs(self) -> bool:
        return self.decision is CheckDecision.CHECKED

    @property
    def explanation(self) -> str:
        return {
            CheckDecision.CHECKED: f"the enforce policy changes from {self.old.enforce} to {self.new.enforce}: "
                                   "the server checks the existing pods",
            CheckDecision.UNCHANGED: f"the enforce policy stays {self.new.enforce}: the server checks nothing",
            CheckDecision.PRIVILEGED: "the new enforce level is privileged: the server checks nothing",
            CheckDecision.RELAXED: f"{self.old.enforce} to {self.new.enforce} relaxes the level at the same version: "
                                   "the server checks nothing",
            CheckDecision.INVALID: f"the new labels are invalid ({'; '.join(self.new.errors)}): the server refuses them",
        }[self.decision]


def server_check(old_labels: Mapping[str, str] | None, new_labels: Mapping[str, str] | None,
                 defaults: NamespacePolicy = DEFAULT_POLICY) -> ServerCheck:
    """What upstream ``ValidateNamespace`` does with an UPDATE from ``old_labels`` to ``new_labels``.

    (The exempt-namespace warning comes after these tests: an exempt namespace answers with it
    only when the decision is ``checked``.)
    """
    old, new = policy_from_labels(old_labels, defaults), policy_from_labels(new_labels, defaults)
    if new.errors and (not old.errors or new.errors != old.errors):
        decision = CheckDecision.INVALID
    elif new.enforce == old.enforce:
        decision = CheckDecision.UNCHANGED
    elif new.enforce.level is Level.PRIVILEGED:
        decision = CheckDecision.PRIVILEGED
    elif new.enforce.version == old.enforce.version and new.enforce.level.rank <= old.enforce.level.rank:
        decision = CheckDecision.RELAXED
    else:
        decision = CheckDecision.CHECKED
    return ServerCheck(decision, old, new)


# -- the server's answer ----------------------------------------------------------------------

_TRUNCATED = re.compile(r"^new PodSecurity enforce level only checked against the first (\d+) of (\d+) existing pods$")
_HEADER = re.compile(r'^existing pods in namespace "([^"]*)" violate the new PodSecurity enforce level '
                     r'"((?:privileged|baseline|restricted):(?:latest|v1\.\d+))"$')
_EXEMPT = re.compile(r'^namespace "([^"]*)" is exempt from Pod Security, and the policy \((.*)\) will be ignored$')
_LIST_FAILED = "failed to list pods while checking new PodSecurity enforce level"
_GROUP = re.compile(r"^([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)(?: \(and (\d+) other pods?\))?: (.+)$", re.S)


@dataclasses.dataclass(frozen=True)
class PodGroup:
    """One warning line: the pods whose reason list is ``reasons``, named after the first."""

    pod: str                       #: the lexicographically first pod name with these reasons
    count: int                     #: how many pods (checked by the server) have them
    reasons: tuple[str, ...]
    checks: tuple[str, ...]        #: the check IDs the reasons map to
    unknown: tuple[str, ...] = ()  #: reasons no active check uses (never dropped)
    cut: bool = False              #: the line may have been cut at 256 runes: later reasons may be lost
    text: str = ""

    @property
    def reason_text(self) -> str:
        return ", ".join(self.reasons)

    def to_dict(self) -> dict:
        return {"pod": self.pod, "count": self.count, "reasons": list(self.reasons), "checks": list(self.checks),
                "unknown": list(self.unknown), "cut": self.cut}


@dataclasses.dataclass(frozen=True)
class NamespaceAnswer:
    """The PodSecurity warnings of a namespace label change, parsed."""

    warnings: tuple[str, ...] = ()     #: every warning, verbatim, in response order
    checked: int | None = None         #: "only checked against the first N of M": N
    total: int | None = None           #: ... M (pods the server considered: RuntimeClass-exempt ones excluded)
    policy: str | None = None          #: the ``level:version`` of the "existing pods ... violate" line
    groups: tuple[PodGroup, ...] = ()
    exempt_policy: str | None = None   #: the namespace is exempt: the policy text the warning shows
    list_failed: bool = False          #: "failed to list pods while checking ..."
    budget_cut: bool = False           #: the warnings reached the 4096-rune budget: lines may be cut or dropped
    other: tuple[str, ...] = ()        #: warnings that are none of the above (another plugin's), verbatim

    @property
    def exempt(self) -> bool:
        return self.exempt_policy is not None

    @property
    def truncated(self) -> bool:
        """The server stopped before checking every pod (3000 pods, or its time limit)."""
        return self.checked is not None

    @property
    def complete(self) -> bool:
        """Every pod was checked and every line arrived whole."""
        return not (self.truncated or self.budget_cut or self.list_failed)

    @property
    def violating(self) -> int:
        return sum(g.count for g in self.groups)

    def to_dict(self) -> dict:
        return {"warnings": list(self.warnings), "checked": self.checked, "total": self.total,
                "policy": self.policy, "groups": [g.to_dict() for g in self.groups],
                "exempt": self.exempt, "exempt_policy": self.exempt_policy, "list_failed": self.list_failed,
                "budget_cut": self.budget_cut, "complete": self.complete, "other": list(self.other)}


def _minor(policy: str, newest_minor: int) -> tuple[Level, int]:
    level, _, version = policy.partition(":")
    return Level(level), PolicyVersion.parse(version).resolve(newest_minor)


def parse_namespace_warnings(warnings: Iterable[str], namespace: str, target: LevelVersion | str,
                             newest_minor: int) -> NamespaceAnswer:
    """Parse the ``Warning`` texts of a label change on ``namespace`` (unquoted header values).

    ``target`` is the policy asked for (used to map reasons when the "violate" line is missing);
    ``newest_minor`` is the server's ``latest``. Lines of other namespaces or other plugins are
    kept in ``other``.
    """
    warnings = tuple(warnings)
    total_runes = sum(len(w) for w in warnings)
    budget_cut = total_runes >= WARNING_BUDGET_RUNES or any(len(w) == TRUNCATION_RUNES for w in warnings)
    checked = total = policy = exempt = None
    list_failed = False
    group_lines, other = [], []
    for w in warnings:
        if m := _TRUNCATED.match(w):
            checked, total = int(m.group(1)), int(m.group(2))
        elif (m := _HEADER.match(w)) and m.group(1) == namespace:
            policy = m.group(2)
        elif (m := _EXEMPT.match(w)) and m.group(1) == namespace:
            exempt = m.group(2)
        elif w == _LIST_FAILED:
            list_failed = True
        elif _GROUP.match(w) and policy is not None:   # groups follow the "violate" line, never precede it
            group_lines.append(w)
        else:
            other.append(w)
    level, minor = _minor(policy or str(target), newest_minor)
    groups = []
    for w in group_lines:
        m = _GROUP.match(w)
        cut = budget_cut and len(w) == TRUNCATION_RUNES
        mapping = parse_reason_list(m.group(3), level, minor, truncated=cut)
        reasons = tuple(r for r, _ in mapping.pairs)
        groups.append(PodGroup(m.group(1), int(m.group(2) or 0) + 1, reasons, mapping.checks, mapping.unknown,
                               cut, w))
    return NamespaceAnswer(warnings, checked, total, policy, tuple(groups), exempt, list_failed, budget_cut,
                           tuple(other))


# -- what the evaluator predicts -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PodVerdict:
    """One existing pod, evaluated offline at the target."""

    name: str
    reasons: tuple[str, ...] = ()      #: ForbiddenReason of each failing check, in message order
    checks: tuple[str, ...] = ()       #: the failing checks' IDs
    owner: str | None = None           #: ``Kind/name`` of the workload that owns it (top-most), or None
    runtime_class: str | None = None
    exempt: bool = False               #: its RuntimeClass is exempt: the server skips it

    @property
    def violating(self) -> bool:
        return bool(self.reasons) and not self.exempt

    @property
    def reason_text(self) -> str:
        return ", ".join(self.reasons)

    def to_dict(self) -> dict:
        return {"name": self.name, "owner": self.owner, "runtime_class": self.runtime_class,
                "exempt": self.exempt, "violating": self.violating, "checks": list(self.checks),
                "reasons": list(self.reasons)}


@dataclasses.dataclass(frozen=True)
class Observed:
    """The server's answer to the dry-run create of a template's pod in a namespace enforcing the target."""

    outcome: str                       #: ``admitted``, ``denied``, ``denied-other``, ``invalid``, ``error``, ...
    checks: tuple[str, ...] = ()
    message: str = ""

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "checks": list(self.checks), "message": self.message}


@dataclasses.dataclass(frozen=True)
class TemplateVerdict:
    """One workload's pod template: what its pods will meet once enforce is labelled."""

    kind: str
    name: str
    reasons: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    replicas: int | None = None        #: ``spec.replicas`` where the kind has it
    runtime_class: str | None = None
    exempt: bool = False
    observed: Observed | None = None   #: None: not dry-run (``--offline``)
    running: int = 0                   #: existing pods it owns in the namespace

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def violating(self) -> bool:
        return bool(self.reasons) and not self.exempt

    @property
    def agree(self) -> bool | None:
        if self.observed is None:
            return None
        if self.violating:
            return self.observed.outcome == "denied" and tuple(sorted(self.observed.checks)) == tuple(sorted(self.checks))
        return self.observed.outcome == "admitted"

    @property
    def future_only(self) -> bool:
        """No pod of it exists now: the server's namespace check cannot see it (replicas 0, CronJob, ...)."""
        return self.running == 0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "replicas": self.replicas, "running": self.running,
                "runtime_class": self.runtime_class, "exempt": self.exempt, "violating": self.violating,
                "checks": list(self.checks), "reasons": list(self.reasons),
                "observed": self.observed.to_dict() if self.observed else None, "agree": self.agree}


def _plural(n: int) -> str:
    return "1 other pod" if n == 1 else f"{n} other pods"


def expected_warnings(namespace: str, policy: LevelVersion | str, pods: Iterable[PodVerdict]) -> list[str]:
    """The warnings the server gives when it checks every one of ``pods`` (at most 3000; exempt ones skipped)."""
    considered = [p for p in pods if not p.exempt]
    first: dict[str, str] = {}
    count: collections.Counter = collections.Counter()
    for p in considered:
        if not p.reasons:
            continue
        text = p.reason_text
        count[text] += 1
        if text not in first or p.name < first[text]:
            first[text] = p.name
    warnings = []
    if len(considered) > MAX_PODS_CHECKED:
        warnings.append(f"new PodSecurity enforce level only checked against the first {MAX_PODS_CHECKED} of "
                        f"{len(considered)} existing pods")
    if not first:
        return warnings
    warnings.append(f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level "{policy}"')
    lines = []
    for text, pod in first.items():
        n = count[text]
        lines.append(f"{pod}: {text}" if n == 1 else f"{pod} ({'and ' + _plural(n - 1)}): {text}")
    return warnings + sorted(lines)


def compare_answer(answer: NamespaceAnswer, check: ServerCheck, namespace: str, pods: Sequence[PodVerdict]) -> list[str]:
    """Differences between the server's answer and the evaluator's pod verdicts (empty: they agree).

    When the server checked every pod the warnings must be exactly ``expected_warnings``. When it
    stopped early, each group it names must exist offline with at least as many pods, naming one of
    them, and its "of M" must be the number of non-exempt pods. When the budget cut the warnings, the
    lines that arrived must be the expected ones (or their first 256 runes), in order.
    """
    if answer.exempt:
        return []
    psa = [w for w in answer.warnings if w not in answer.other]
    if not check.runs:
        return [f"the server checked pods although {check.explanation}: {psa}"] if psa else []
    if answer.list_failed:
        return []
    policy = answer.policy or str(check.new.enforce)
    expected = expected_warnings(namespace, policy, pods)
    considered = [p for p in pods if not p.exempt]
    if not answer.truncated and not answer.budget_cut:
        if psa == expected:
            return []
        missing = [w for w in expected if w not in psa]
        extra = [w for w in psa if w not in expected]
        return [f"the evaluator predicts, the server did not say: {w}" for w in missing] + \
               [f"the server says, the evaluator does not predict: {w}" for w in extra]
    problems = []
    if answer.truncated:
        if answer.total != len(considered):
            problems.append(f"the server considered {answer.total} pods, the namespace has {len(considered)} "
                            "that no RuntimeClass exemption skips")
        by_reasons: dict[str, list[str]] = collections.defaultdict(list)
        for p in considered:
            if p.reasons:
                by_reasons[p.reason_text].append(p.name)
        for g in answer.groups:
            names = by_reasons.get(g.reason_text)
            if g.cut:
                names = next((v for k, v in by_reasons.items() if k.startswith(g.reason_text)), None)
            if not names:
                problems.append(f"the server names {g.pod} ({g.count} pod(s)): {g.reason_text}; "
                                "the evaluator finds no pod with these reasons")
            elif g.pod not in names or g.count > len(names):
                problems.append(f"the server names {g.pod} and {g.count} pod(s) for {g.reason_text}; "
                                f"the evaluator finds {len(names)}: {', '.join(sorted(names)[:5])}")
        return problems
    # budget cut only: a prefix of the expected lines, each whole or cut at 256 runes
    if len(psa) > len(expected):
        problems.append(f"the server gave {len(psa)} lines, the evaluator predicts {len(expected)}")
    for got, want in zip(psa, expected):
        if got != want and not (len(got) == TRUNCATION_RUNES and want.startswith(got)):
            problems.append(f"the server says {got!r}, the evaluator predicts {want!r}")
    return problems


# -- the plan -----------------------------------------------------------------------------------

class Plan(str, enum.Enum):
    READY = "ready"                                 #: enforce now
    WARN_FIRST = "warn-first"                       #: warn + audit now; fix what is listed; then enforce
    BLOCKED = "blocked-by-exemption"                #: the namespace is exempt: labels do nothing
    ALREADY = "already-at-or-above"                 #: it enforces the target (or stricter) already
    INCOMPLETE = "incomplete"                       #: the server could not check every pod; nothing found

    def __str__(self) -> str:
        return self.value


#: plans that leave the namespace needing work (exit status 1)
NEEDS_WORK = (Plan.WARN_FIRST, Plan.BLOCKED, Plan.INCOMPLETE)


@dataclasses.dataclass(frozen=True)
class NamespacePlan:
    """Everything ``rollout`` says about one namespace."""

    namespace: str
    labels: Mapping[str, str]               #: its PodSecurity labels now
    current: NamespacePolicy
    target: LevelVersion
    plan: Plan
    why: str
    check: ServerCheck                      #: what the server does with the enforce label change
    answer: NamespaceAnswer                 #: what it answered (the dry-run)
    pods: tuple[PodVerdict, ...]
    templates: tuple[TemplateVerdict, ...]
    differences: tuple[str, ...]            #: server vs evaluator on the existing pods
    labels_now: Mapping[str, str]           #: labels to set now
    labels_later: Mapping[str, str]         #: labels to set once the listed fixes are made
    notes: tuple[str, ...] = ()

    @property
    def violating_pods(self) -> list[PodVerdict]:
        return [p for p in self.pods if p.violating]

    @property
    def violating_templates(self) -> list[TemplateVerdict]:
        return [t for t in self.templates if t.violating]

    @property
    def disagreements(self) -> list[str]:
        """Server vs evaluator on existing pods, and on template pods (dry-run vs offline)."""
        out = list(self.differences)
        for t in self.templates:
            if t.agree is False:
                out.append(f"{t.ref}: the evaluator predicts {'denied ' + ', '.join(t.checks) if t.violating else 'admitted'}"
                           f", the server answered {t.observed.outcome} {', '.join(t.observed.checks)} "
                           f"{t.observed.message}".rstrip())
        return out

    @property
    def agree(self) -> bool | None:
        if self.disagreements:
            return False
        compared = self.check.runs and not self.answer.exempt or any(t.agree is not None for t in self.templates)
        return True if compared else None

    def top_checks(self, n: int | None = None) -> list[tuple[str, int]]:
        """Check IDs by how many violating pods and templates fail them."""
        counter: collections.Counter = collections.Counter()
        for p in self.violating_pods:
            counter.update(p.checks)
        for t in self.violating_templates:
            counter.update(t.checks)
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:n] if n is not None else ranked

    def fixes(self) -> list[dict]:
        """What to fix before enforcing: each violating template, then the violating pods no violating
        template covers, grouped by owner and failing checks (``pods`` names them all)."""
        out = [{"object": t.ref, "pods": [], "checks": list(t.checks),
                "when": f"{t.running} pod(s) now" if t.running else "no pod now: its next one fails"}
               for t in self.violating_templates]
        covered = {t.ref for t in self.violating_templates}
        groups: dict[tuple, list[str]] = {}
        for p in self.violating_pods:
            if p.owner is None or p.owner not in covered:
                groups.setdefault((p.owner, p.checks), []).append(p.name)
        for (owner, checks), names in groups.items():
            names = sorted(names)
            what = f"Pod/{names[0]}" + (f" and {len(names) - 1} more like it" if len(names) > 1 else "")
            out.append({"object": what + (f" (of {owner})" if owner else ""), "pods": names, "checks": list(checks),
                        "when": "exists now"})
        return out

    def commands(self) -> dict[str, list[str]]:
        return {"now": [kubectl_label(self.namespace, self.labels_now)] if self.labels_now else [],
                "later": [kubectl_label(self.namespace, self.labels_later)] if self.labels_later else []}

    def to_dict(self) -> dict:
        return {
            "namespace": self.namespace,
            "plan": self.plan.value,
            "why": self.why,
            "labels": dict(self.labels),
            "current": self.current.to_dict(),
            "target": str(self.target),
            "server_check": {"runs": self.check.runs, "decision": self.check.decision.value,
                             "explanation": self.check.explanation},
            "server": self.answer.to_dict(),
            "pods": [p.to_dict() for p in self.pods],
            "templates": [t.to_dict() for t in self.templates],
            "violations": {"pods": len(self.violating_pods), "templates": len(self.violating_templates),
                           "top_checks": [{"check": c, "count": n} for c, n in self.top_checks()]},
            "fixes": self.fixes(),
            "agree": self.agree,
            "disagreements": self.disagreements,
            "labels_now": dict(self.labels_now),
            "labels_later": dict(self.labels_later),
            "commands": self.commands(),
            "notes": list(self.notes),
        }


def _pss_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if k.startswith(LABEL_PREFIX)}


def _modes_below(current: NamespacePolicy, target: LevelVersion, modes: Iterable[str]) -> list[str]:
    return [m for m in modes if not current.mode(m).at_or_above(target)]


def plan_namespace(namespace: str, labels: Mapping[str, str] | None, target: LevelVersion, answer: NamespaceAnswer,
                   pods: Sequence[PodVerdict], templates: Sequence[TemplateVerdict], *,
                   defaults: NamespacePolicy = DEFAULT_POLICY) -> NamespacePlan:
    """The plan for one namespace, from its labels, the server's answer and the offline verdicts."""
    labels = _pss_labels(labels)
    current = policy_from_labels(labels, defaults)
    check = server_check(labels, target_labels(labels, target), defaults)
    differences = tuple(compare_answer(answer, check, namespace, pods))
    bad_pods = [p for p in pods if p.violating]
    bad_templates = [t for t in templates if t.violating]
    notes = []
    if check.decision is CheckDecision.RELAXED or (check.runs and current.enforce.at_or_above(target)):
        notes.append(f"labelling enforce={target} would relax {current.enforce}: nothing to do")
    elif check.decision is CheckDecision.UNCHANGED:
        notes.append(f"enforce is {current.enforce} already: the label change is a no-op")
    if current.errors:
        notes.append("invalid PodSecurity labels: " + "; ".join(current.errors))
    exempt_rcs = sorted({p.runtime_class for p in pods if p.exempt} | {t.runtime_class for t in templates if t.exempt})
    if exempt_rcs:
        notes.append(f"RuntimeClass {', '.join(exempt_rcs)} is exempt: its pods are skipped by the server")
    if answer.truncated:
        notes.append(f"the server checked only {answer.checked} of {answer.total} pods (it stops at "
                     f"{MAX_PODS_CHECKED} pods or {POD_CHECK_TIMEOUT_SECONDS:g} s); the evaluator checked all {len(pods)}")
    if answer.budget_cut:
        notes.append(f"the server's warnings reached its {WARNING_BUDGET_RUNES}-rune budget: {len(answer.warnings)} "
                     "line(s) arrived, later ones were cut or dropped; the evaluator names every pod")
    if answer.other:
        notes.append(f"{len(answer.other)} other warning(s): " + " | ".join(answer.other))

    later: dict[str, str] = {}
    now: dict[str, str] = {}
    if check.decision is CheckDecision.INVALID:
        plan, why = Plan.INCOMPLETE, f"{check.explanation}; fix the namespace's PodSecurity labels first"
    elif current.enforce.at_or_above(target):
        plan, why = Plan.ALREADY, f"enforce is {current.enforce}, at or above {target}"
        if current.enforce.level.rank > target.level.rank and current.enforce.version < target.version:
            why += f" (a stricter level pinned at {current.enforce.version})"
    elif answer.exempt:
        plan = Plan.BLOCKED
        why = (f"the namespace is exempt from Pod Security in the admission configuration: its labels are ignored "
               f"(the server said so); remove it from exemptions.namespaces before labelling")
    else:
        if bad_pods or bad_templates or answer.groups:
            plan = Plan.WARN_FIRST
            parts = []
            if bad_pods or answer.groups:
                n = max(len(bad_pods), answer.violating)
                parts.append(f"{n} pod{'s' if n != 1 else ''}")
            if bad_templates:
                future = sum(t.future_only for t in bad_templates)
                parts.append(f"{len(bad_templates)} template{'s' if len(bad_templates) != 1 else ''}"
                             + (f" ({future} with no pod running now)" if future else ""))
            verb = "violates" if len(parts) == 1 and parts[0].startswith("1 ") else "violate"
            why = f"{' and '.join(parts)} {verb} {target}: warn and audit now, fix them, then enforce"
        elif not answer.complete and check.runs:
            plan = Plan.INCOMPLETE
            if answer.truncated:
                why = (f"the server checked only {answer.checked} of {answer.total} pods; the evaluator found no "
                       "violation among all of them")
            elif answer.list_failed:
                why = "the server could not list the pods to check them"
            else:
                why = "the server's warnings reached its 4096-rune budget: some lines were cut or dropped"
        else:
            plan, why = Plan.READY, f"no pod and no pod template violates {target}"
        if plan is Plan.READY:
            now = {k: v for m in _modes_below(current, target, MODES) for k, v in _mode_labels(m, target).items()}
        else:
            now = {k: v for m in _modes_below(current, target, ("warn", "audit")) for k, v in _mode_labels(m, target).items()}
            later = _mode_labels("enforce", target)
    return NamespacePlan(namespace, labels, current, target, plan, why, check, answer, tuple(pods), tuple(templates),
                         differences, sorted_labels(now), sorted_labels(later), tuple(notes))


def _mode_labels(mode: str, target: LevelVersion) -> dict[str, str]:
    return {label_key(mode): target.level.value, label_key(mode, version=True): str(target.version)}


# -- the labels, as commands and as a patch ------------------------------------------------------------

_SAFE = re.compile(r"^[A-Za-z0-9._/=:-]+$")


def _shell(word: str) -> str:
    return word if _SAFE.match(word) else "'" + word.replace("'", "'\\''") + "'"


def kubectl_label(namespace: str, labels: Mapping[str, str]) -> str:
    """``kubectl label --overwrite namespace NS k=v ...`` (keys in mode order: enforce, audit, warn)."""
    items = sorted(labels.items(), key=lambda kv: _label_order(kv[0]))
    return " ".join(["kubectl", "label", "--overwrite", "namespace", _shell(namespace),
                     *(_shell(f"{k}={v}") for k, v in items)])


def sorted_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """``labels`` in mode order (enforce, audit, warn; each level before its version)."""
    return dict(sorted(labels.items(), key=lambda kv: _label_order(kv[0])))


def _label_order(key: str) -> tuple:
    name = key[len(LABEL_PREFIX):] if key.startswith(LABEL_PREFIX) else key
    mode, _, rest = name.partition("-")
    return (MODES.index(mode) if mode in MODES else len(MODES), rest, key)


def _yaml_scalar(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kustomize_patch(changes: Mapping[str, Mapping[str, str]], title: str) -> str:
    """A kustomization ``patches:`` block setting ``changes`` (namespace -> labels); ``""`` if none."""
    if not any(changes.values()):
        return ""
    lines = [f"# kustomization.yaml: {title}", "patches:"]
    for namespace, labels in changes.items():
        if not labels:
            continue
        lines += ["  - target:", "      kind: Namespace", f"      name: {namespace}", "    patch: |-",
                  "      apiVersion: v1", "      kind: Namespace", "      metadata:", f"        name: {namespace}",
                  "        labels:"]
        for k, v in sorted(labels.items(), key=lambda kv: _label_order(kv[0])):
            lines.append(f"          {k}: {_yaml_scalar(v)}")
    return "\n".join(lines) + "\n"


# -- the report ------------------------------------------------------------------------------------

SCHEMA_ID = "https://pss-harness.dev/schemas/rollout.schema.json"


def summary(plans: Sequence[NamespacePlan]) -> dict:
    """Counts per plan, disagreements, and the namespaces each phase labels."""
    counts = {p.value: 0 for p in Plan}
    for plan in plans:
        counts[plan.plan.value] += 1
    return {
        "namespaces": len(plans),
        "plans": counts,
        "violating_pods": sum(len(p.violating_pods) for p in plans),
        "violating_templates": sum(len(p.violating_templates) for p in plans),
        "disagreements": sum(len(p.disagreements) for p in plans),
        "label_now": [p.namespace for p in plans if p.labels_now],
        "enforce_later": [p.namespace for p in plans if p.labels_later],
    }


def report(plans: Sequence[NamespacePlan], target: LevelVersion, *, cluster: str, server_version: str,
           offline: bool, runtime_classes: Mapping[str, bool | None], timings: Mapping[str, float],
           applied: Sequence[dict] | None = None) -> dict:
    """The ``--format json`` document (``harness/schemas/rollout.schema.json``)."""
    now = {p.namespace: dict(p.labels_now) for p in plans if p.labels_now}
    later = {p.namespace: dict(p.labels_later) for p in plans if p.labels_later}
    return {
        "$schema": SCHEMA_ID,
        "target": {"level": target.level.value, "version": str(target.version), "policy": str(target)},
        "cluster": cluster,
        "server_version": server_version,
        "offline": offline,
        "runtime_classes": {rc: ({True: "exempt", False: "not exempt", None: "unknown"}[v])
                            for rc, v in sorted(runtime_classes.items())},
        "namespaces": [p.to_dict() for p in plans],
        "summary": summary(plans),
        "kustomize": {"now": kustomize_patch(now, f"phase 1, label now ({target})"),
                      "later": kustomize_patch(later, f"phase 2, enforce {target} once the fixes are made")},
        "applied": list(applied) if applied is not None else None,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
