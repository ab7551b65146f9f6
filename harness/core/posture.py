"""A namespace's effective Pod Security posture, inferred from the answers to side-effect-free probes. Pure.

The sweep (``harness.cluster.sweep``) sends, per namespace, server-side dry-run requests and hands
the answers here; nothing in this module does I/O. It may import ``harness.core`` only.

The probes (all ``dryRun=All``; facts checked against kube-apiserver v1.37.2):

* ``breakout`` — a pod that violates baseline (hostPID, privileged, a hostPath volume, a probe
  host, four sysctls allowed only from v1.27/29/32/37 on) and restricted. A PodSecurity denial
  ``violates PodSecurity "<level>:<version>"`` names the effective enforce policy, defaults
  included; the items it lists tell which policy minor was *evaluated* (the sweep passes the
  offline evaluator's prediction per minor as ``signatures``). If PodSecurity admits it, its
  ``would violate`` warning names the warn policy (no warning: warn is privileged).
* ``restricted`` — baseline-clean, restricted-violating; sent only when enforce is baseline, to
  read warn (warnings are dropped when enforce denies).
* ``exemption`` — a dry-run namespace UPDATE that tightens enforce; an exempt namespace answers
  with the warning ``namespace "x" is exempt from Pod Security, and the policy (...) will be
  ignored``. User exemptions are never consulted on namespace requests.
* ``plugin`` (once per cluster) — a dry-run namespace update to an invalid enforce level: 422 only
  when the PodSecurity plugin runs.
* ``runtimeClass:<name>`` (once per cluster, per RuntimeClass) — the breakout pod with that
  runtimeClassName, in a namespace whose enforce or warn evaluated the plain one.

What an answer proves (admission order: LimitRanger, ServiceAccount, mutating webhooks, then
PodSecurity, then ValidatingAdmissionPolicy, validating webhooks, ResourceQuota; the chain stops
at the first refusal):

* a PodSecurity denial, or any answer carrying a ``would violate PodSecurity`` warning (warnings
  are added only when PodSecurity allowed), proves what PodSecurity decided;
* a ResourceQuota or ValidatingAdmissionPolicy refusal comes after PodSecurity: it admitted;
* a LimitRange refusal, a missing ServiceAccount, a webhook that does not support dry run or that
  denied (mutating or validating cannot be told apart) prove nothing: the namespace is
  ``unprobeable`` for that probe, never "ok".
* a silent admission proves enforce=privileged only when the plugin is loaded, the namespace is
  not exempt (exemption probe), the runner is not exempt (some probe in the sweep was evaluated),
  and no webhook changed the probe pod.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any, Iterable, Mapping

from harness.core.answers import Response
from harness.core.errors import UsageError
from harness.core.messages import parse_podsecurity_message
from harness.core.model import Level, PolicyVersion

__all__ = [
    "BREAKOUT_POD",
    "LABEL_PREFIX",
    "MODES",
    "RESTRICTED_POD",
    "Answer",
    "ClusterFacts",
    "ModePosture",
    "NamespaceAnswers",
    "PodReading",
    "Posture",
    "derive_cluster_facts",
    "exemption_probe_labels",
    "infer",
    "label_expectation",
    "mutations",
    "namespace_exempt",
    "plugin_probe_labels",
    "read_pod_answer",
    "with_runtime_class",
]

LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "warn", "audit")
PROBE_LABELS = {"app.kubernetes.io/managed-by": "pss-harness", "pss-harness.io/probe": "namespace-sweep"}
EXEMPT_WARNING = re.compile(r'^namespace "([^"]+)" is exempt from Pod Security, and the policy \((.*)\) will be ignored$')
_DRY_RUN_UNSUPPORTED = re.compile(r'admission webhook "([^"]+)" does not support dry run')
_WEBHOOK_DENIED = re.compile(r'admission webhook "([^"]+)" denied the request')
_VAP_DENIED = re.compile(r"ValidatingAdmissionPolicy '([^']+)' with binding '([^']*)' denied request")
_LIMIT_RANGE = re.compile(r"(maximum|minimum) \S+ usage per (Container|Pod)|must be less than or equal to \S+ limit"
                          r"|limit to request ratio")
_AUDIT_PREFIX = "pod-security.kubernetes.io/"

_IMAGE = "registry.k8s.io/pause:3.10"

#: violates baseline and restricted; sysctls allowed only from v1.27, v1.29, v1.32 and v1.37 make the
#: denial's item list tell the evaluated policy minor apart (with the probe host, added in v1.34)
BREAKOUT_POD: dict = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"generateName": "pss-harness-probe-", "labels": dict(PROBE_LABELS)},
    "spec": {
        "hostPID": True,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsUser": 0, "sysctls": [
            {"name": "net.ipv4.ip_local_reserved_ports", "value": "1"},
            {"name": "net.ipv4.tcp_keepalive_time", "value": "100"},
            {"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"},
            {"name": "net.ipv4.tcp_slow_start_after_idle", "value": "0"},
        ]},
        "containers": [{
            "name": "probe", "image": _IMAGE,
            "securityContext": {"privileged": True},
            "readinessProbe": {"tcpSocket": {"host": "10.0.0.1", "port": 80}},
            "volumeMounts": [{"name": "host", "mountPath": "/host"}],
        }],
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
    },
}

#: passes baseline at every version, violates restricted (no securityContext at all)
RESTRICTED_POD: dict = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"generateName": "pss-harness-probe-", "labels": dict(PROBE_LABELS)},
    "spec": {"automountServiceAccountToken": False, "containers": [{"name": "probe", "image": _IMAGE}]},
}


def with_runtime_class(pod: dict, runtime_class: str) -> dict:
    out = copy.deepcopy(pod)
    out["spec"]["runtimeClassName"] = runtime_class
    return out


def exemption_probe_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels for the exemption probe: enforce, warn and audit restricted at a version enforce does not have.

    Tightening enforce (or changing its version) is what makes PodSecurity consider the update;
    setting all three modes to an odd pin keeps the new policy from equalling the cluster's
    defaults (an equal policy would suppress the exemption warning).
    """
    old = labels.get(LABEL_PREFIX + "enforce-version", "")
    pin = "v1.1" if old == "v1.0" else "v1.0"
    out = dict(labels)
    for mode in MODES:
        out[LABEL_PREFIX + mode] = "restricted"
        out[LABEL_PREFIX + mode + "-version"] = pin
    return out


def plugin_probe_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels for the plugin probe: an enforce level no PodSecurity accepts (it answers 422)."""
    out = dict(labels)
    bad = "pss-harness-invalid"
    out[LABEL_PREFIX + "enforce"] = bad if labels.get(LABEL_PREFIX + "enforce") != bad else bad + "-2"
    return out


# -- answers --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    """One probe request and what came back, kept whole for the evidence."""

    probe: str                     #: breakout | restricted | exemption | plugin | runtimeClass:<name>
    method: str
    path: str
    query: Mapping[str, str]
    status: int
    reason: str = ""
    message: str = ""
    warnings: tuple[str, ...] = ()
    audit_id: str = ""
    sent: Any = None               #: the object sent
    returned: Any = None           #: the object the server returned (2xx only)
    audit: Mapping[str, str] | None = None   #: PodSecurity audit annotations; None: no audit event read
    elapsed: float = 0.0
    _reading: Any = dataclasses.field(default=None, compare=False, repr=False)  #: read_pod_answer's memo

    @classmethod
    def of(cls, probe: str, resp: Response, sent: Any) -> "Answer":
        return cls(probe, resp.method, resp.path, dict(resp.query), resp.status, resp.reason, resp.message,
                   tuple(resp.warnings), resp.audit_id, sent, resp.body if resp.ok else None, None, resp.elapsed)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    def with_audit(self, annotations: Mapping[str, str] | None) -> "Answer":
        return dataclasses.replace(self, audit=None if annotations is None else
                                   {k: v for k, v in annotations.items() if k.startswith(_AUDIT_PREFIX)},
                                   _reading=None)

    def to_dict(self) -> dict:
        return {"probe": self.probe, "request": {"method": self.method, "path": self.path, "query": dict(self.query),
                                                 "body": self.sent},
                "answer": {"status": self.status, "reason": self.reason, "message": self.message,
                           "warnings": list(self.warnings), "audit_id": self.audit_id,
                           "audit_annotations": None if self.audit is None else dict(self.audit)},
                "elapsed_ms": round(self.elapsed * 1000, 1)}


@dataclasses.dataclass(frozen=True)
class PodReading:
    """What one pod probe's answer proves about PodSecurity."""

    kind: str                          #: denied | passed | unprobeable | error
    policy: str = ""                   #: denied: the enforce ``level:version`` the denial names
    items: tuple[tuple[str, str], ...] = ()   #: denied: the listed ``(reason, detail)`` items
    warn_policy: str = ""              #: passed: the ``level:version`` of a PodSecurity warning ("" = none)
    refused_by: str = ""               #: passed but refused later (ResourceQuota, a policy, a webhook)
    why: str = ""                      #: unprobeable/error: what stopped the probe
    transient: bool = False            #: worth retrying (a new namespace without its ServiceAccount yet)
    exempt: str = ""                   #: the audit event's ``exempt`` annotation
    audit_policy: str = ""             #: the audit event's ``audit-violations`` policy ("" = none)
    enforce_policy: str = ""           #: the audit event's ``enforce-policy`` annotation
    evaluated: bool = False            #: the audit event shows PodSecurity evaluated the pod (not exempt)


def _psa_warning(warnings: Iterable[str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    for w in warnings:
        v = parse_podsecurity_message(w)
        if v is not None and v.kind == "would violate":
            return v.policy, tuple((i.reason, i.detail) for i in v.items)
    return "", ()


def read_pod_answer(answer: Answer) -> PodReading:
    """Classify a pod probe's answer by what it proves; anything unrecognised is an error, never a pass."""
    if answer._reading is None:
        object.__setattr__(answer, "_reading", _read_pod_answer(answer))
    return answer._reading


def _read_pod_answer(answer: Answer) -> PodReading:
    audit = answer.audit or {}
    extra = {"exempt": audit.get(_AUDIT_PREFIX + "exempt", ""),
             "enforce_policy": audit.get(_AUDIT_PREFIX + "enforce-policy", ""),
             "evaluated": _AUDIT_PREFIX + "enforce-policy" in audit}
    av = audit.get(_AUDIT_PREFIX + "audit-violations")
    parsed_av = parse_podsecurity_message(av) if av else None
    extra["audit_policy"] = parsed_av.policy if parsed_av else ""
    warn_policy, _ = _psa_warning(answer.warnings)
    msg = answer.message
    if answer.status == 0:
        return PodReading("error", why=f"no answer: {msg}", **extra)
    if answer.ok:
        return PodReading("passed", warn_policy=warn_policy, **extra)
    if answer.status == 403 and "violates PodSecurity" in msg:
        v = parse_podsecurity_message(msg)
        if v is not None and v.kind == "violates":
            return PodReading("denied", policy=v.policy, items=tuple((i.reason, i.detail) for i in v.items), **extra)
    if warn_policy:  # PodSecurity adds warnings only to requests it allowed; something later refused it
        return PodReading("passed", warn_policy=warn_policy, refused_by=_refuser(answer), **extra)
    if answer.status == 403 and "exceeded quota" in msg:
        return PodReading("passed", refused_by="ResourceQuota: " + msg, **extra)
    m = _VAP_DENIED.search(msg)
    if answer.status in (400, 403, 422) and m:
        return PodReading("passed", refused_by=f"ValidatingAdmissionPolicy {m.group(1)}: {msg}", **extra)
    m = _DRY_RUN_UNSUPPORTED.search(msg)
    if m:
        return PodReading("unprobeable", why=f"webhook {m.group(1)} does not support dry run", **extra)
    m = _WEBHOOK_DENIED.search(msg)
    if m:
        return PodReading("unprobeable", why=f"webhook {m.group(1)} denied the probe before it could be read: {msg}",
                          **extra)
    if answer.status == 403 and "error looking up service account" in msg:
        return PodReading("unprobeable", why=f"the namespace has no default ServiceAccount: {msg}", transient=True,
                          **extra)
    if answer.status == 403 and _LIMIT_RANGE.search(msg):
        return PodReading("unprobeable", why=f"a LimitRange refused the probe before PodSecurity: {msg}", **extra)
    if answer.status == 403 and "is being terminated" in msg:
        return PodReading("unprobeable", why=f"the namespace is terminating: {msg}", **extra)
    if answer.status == 403:
        return PodReading("error", why=f"refused before PodSecurity could be read (403): {msg}", **extra)
    if answer.status == 404:
        return PodReading("error", why=f"the namespace is gone (404): {msg}", **extra)
    if answer.status == 429 or answer.status >= 500:
        return PodReading("error", why=f"{answer.status} {answer.reason}: {msg}", transient=True, **extra)
    return PodReading("error", why=f"{answer.status} {answer.reason}: {msg or answer.returned}", **extra)


def _refuser(answer: Answer) -> str:
    msg = answer.message
    for rx, name in ((_DRY_RUN_UNSUPPORTED, "webhook {} (no dry run)"), (_WEBHOOK_DENIED, "webhook {}"),
                     (_VAP_DENIED, "ValidatingAdmissionPolicy {}")):
        m = rx.search(msg)
        if m:
            return name.format(m.group(1)) + f": {msg}"
    if "exceeded quota" in msg:
        return "ResourceQuota: " + msg
    return f"{answer.status} {answer.reason}: {msg}"


# -- mutation ---------------------------------------------------------------------------------------

def _differences(sent: Any, got: Any, path: str) -> list[str]:
    """Paths where ``got`` lacks or changes what ``sent`` has (the server's own defaults only add fields)."""
    if isinstance(sent, dict):
        if not isinstance(got, dict):
            return [path]
        return [d for k, v in sent.items() for d in _differences(v, got.get(k), f"{path}.{k}")]
    if isinstance(sent, list):
        if not isinstance(got, list) or len(got) != len(sent):
            return [path]
        return [d for i, (a, b) in enumerate(zip(sent, got)) for d in _differences(a, b, f"{path}[{i}]")]
    return [] if sent == got else [path]


_ADDED_SECURITY = ("hostPID", "hostIPC", "hostNetwork", "hostUsers", "runtimeClassName", "securityContext",
                   "initContainers", "ephemeralContainers")


def mutations(sent: Any, returned: Any) -> list[str]:
    """Fields a mutating webhook (or policy) changed between the sent and the returned pod.

    Everything sent must come back unchanged, and no security-relevant field may appear that was
    not sent (security contexts, host namespaces, containers, volumes); fields the API server
    defaults (probe timings, hostPath type, dnsPolicy, ...) are not changes.
    """
    if not isinstance(returned, dict) or not isinstance(sent, dict):
        return []
    s, r = sent.get("spec") or {}, returned.get("spec") or {}
    out = _differences(s, r, "spec")
    for key in _ADDED_SECURITY:
        if key not in s and r.get(key) not in (None, False, {}, [], ""):
            out.append(f"spec.{key}")
    for group in ("containers", "initContainers"):
        for i, (a, b) in enumerate(zip(s.get(group) or [], r.get(group) or [])):
            if (b.get("securityContext") or {}) != (a.get("securityContext") or {}) and \
                    f"spec.{group}[{i}].securityContext" not in " ".join(out):
                out.append(f"spec.{group}[{i}].securityContext")
    if (r.get("securityContext") or {}) != (s.get("securityContext") or {}) and "spec.securityContext" not in out:
        out.append("spec.securityContext")
    return sorted(set(out))


# -- cluster facts -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClusterFacts:
    """What the sweep proved once for the whole cluster."""

    plugin: str = "unknown"                 #: loaded | disabled | unknown
    plugin_evidence: str = ""
    runner: str = ""
    runner_exempt: bool | None = None       #: None: nothing in the sweep proved it either way
    runner_evidence: str = ""
    runtime_classes: tuple[str, ...] = ()   #: every RuntimeClass listed (empty when not listable)
    runtime_classes_listed: bool = True
    exempt_runtime_classes: Mapping[str, bool | None] = dataclasses.field(default_factory=dict)
    runtime_class_evidence: Mapping[str, str] = dataclasses.field(default_factory=dict)
    audit_source: bool = False
    newest_minor: int = 0

    def to_dict(self) -> dict:
        return {"plugin": {"state": self.plugin, "evidence": self.plugin_evidence},
                "runner": {"username": self.runner, "exempt": self.runner_exempt, "evidence": self.runner_evidence},
                "runtime_classes": [{"name": n, "exempt": self.exempt_runtime_classes.get(n),
                                     "evidence": self.runtime_class_evidence.get(n, "")}
                                    for n in self.runtime_classes],
                "runtime_classes_listed": self.runtime_classes_listed,
                "audit_source": self.audit_source, "newest_minor": self.newest_minor}


@dataclasses.dataclass
class NamespaceAnswers:
    """Every answer the sweep collected for one namespace."""

    name: str
    labels: dict[str, str]
    breakout: Answer | None = None
    restricted: Answer | None = None
    exemption: Answer | None = None
    attempts: int = 1                   #: how many times the breakout probe was sent (retries on lag)
    history: list[Answer] = dataclasses.field(default_factory=list)  #: superseded answers (retries)

    def answers(self) -> list[Answer]:
        return [a for a in (*self.history, self.breakout, self.restricted, self.exemption) if a is not None]


def namespace_exempt(answer: Answer | None) -> bool | None:
    """The exemption probe's verdict: True (warning seen), False (evaluated, no warning), None (not read)."""
    if answer is None or not answer.ok:
        return None
    return any(EXEMPT_WARNING.match(w) for w in answer.warnings)


def label_expectation(labels: Mapping[str, str]) -> dict[str, str | None]:
    """What the labels alone say per mode: a level, ``restricted`` for an invalid enforce, or None (no label)."""
    out: dict[str, str | None] = {}
    for mode in MODES:
        v = labels.get(LABEL_PREFIX + mode)
        if v is None:
            out[mode] = None
        elif v in ("privileged", "baseline", "restricted"):
            out[mode] = v
        else:
            out[mode] = "restricted" if mode == "enforce" else "privileged"  # fail closed / fail open
    if out["warn"] is None and labels.get(LABEL_PREFIX + "enforce") in ("baseline", "restricted"):
        out["warn"] = out["enforce"]  # an explicit enforce raises an unset warn
    return out


def derive_cluster_facts(plugin: Answer | None, namespaces: Iterable[NamespaceAnswers], *, runner: str,
                         runtime_classes: Iterable[str] | None, runtime_class_answers: Mapping[str, Answer],
                         audit_source: bool, newest_minor: int) -> ClusterFacts:
    """Cluster-wide facts from the plugin probe and from every namespace's answers."""
    namespaces = list(namespaces)
    readings = [(ns, read_pod_answer(ns.breakout)) for ns in namespaces if ns.breakout is not None]
    evaluated = [(ns, r) for ns, r in readings if r.kind == "denied" or r.warn_policy or r.audit_policy
                 or (r.evaluated and not r.exempt)]
    # the plugin
    if evaluated:
        ns, r = evaluated[0]
        state, why = "loaded", (f"namespace {ns.name}: PodSecurity evaluated the breakout probe "
                                f"({'denied under ' + r.policy if r.policy else 'warned under ' + r.warn_policy if r.warn_policy else 'audit event'})")
    elif plugin is None:
        state, why = "unknown", "the plugin probe was not sent"
    elif plugin.status == 422 and LABEL_PREFIX + "enforce" in plugin.message:
        state, why = "loaded", f"an invalid enforce label was refused: {plugin.message}"
    elif plugin.ok:
        state, why = "disabled", ("a dry-run namespace update to an invalid enforce level was accepted "
                                  f"({plugin.path}): no PodSecurity admission is running")
    else:
        state, why = "unknown", f"the plugin probe was answered {plugin.status} {plugin.reason}: {plugin.message}"
    # the runner's user exemption
    exempt: bool | None = None
    rwhy = "no probe in this sweep could tell (no namespace enforces or warns, and no audit event names it)"
    for ns, r in readings:
        if r.exempt == "user":
            exempt, rwhy = True, f"the audit event of the probe in {ns.name} says exempt=user"
            break
    else:
        if evaluated:
            ns, r = evaluated[0]
            exempt, rwhy = False, f"PodSecurity evaluated the runner's probe in namespace {ns.name}"
        elif state == "loaded":
            for ns, r in readings:
                want = label_expectation(ns.labels)
                says_deny = want["enforce"] in ("baseline", "restricted") or want["warn"] in ("baseline", "restricted")
                if r.kind == "passed" and not r.warn_policy and not r.refused_by and says_deny \
                        and namespace_exempt(ns.exemption) is False \
                        and not mutations(ns.breakout.sent, ns.breakout.returned):
                    exempt = True
                    rwhy = (f"namespace {ns.name} is labelled to deny or warn ({_psa_labels(ns.labels)}), is not "
                            "exempt, and admitted the breakout probe silently: the runner identity is exempt")
                    break
    # runtime classes
    listed = runtime_classes is not None
    rcs = tuple(sorted(runtime_classes or ()))
    rc_state: dict[str, bool | None] = {}
    rc_why: dict[str, str] = {}
    for rc in rcs:
        a = runtime_class_answers.get(rc)
        if a is None:
            rc_state[rc], rc_why[rc] = None, "not probed: no namespace in the sweep enforces or warns"
            continue
        r = read_pod_answer(a)
        ns_name = a.path.split("/")[4] if a.path.count("/") >= 4 else "?"
        if r.exempt == "runtimeClass" or (r.kind == "passed" and not r.warn_policy and not r.refused_by
                                          and not mutations(a.sent, a.returned)):
            rc_state[rc], rc_why[rc] = True, (f"the breakout probe with runtimeClassName {rc} was admitted silently "
                                              f"in {ns_name}, where the plain probe was evaluated")
        elif r.kind == "denied" or r.warn_policy:
            rc_state[rc], rc_why[rc] = False, f"PodSecurity evaluated the probe with runtimeClassName {rc} in {ns_name}"
        else:
            rc_state[rc], rc_why[rc] = None, f"the probe with runtimeClassName {rc} could not be read: {r.why or r.refused_by}"
    return ClusterFacts(state, why, runner, exempt, rwhy, rcs, listed, rc_state, rc_why, audit_source, newest_minor)


def _psa_labels(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k[len(LABEL_PREFIX):]}={v}" for k, v in sorted(labels.items()) if k.startswith(LABEL_PREFIX)) \
        or "no pod-security labels"


# -- posture ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModePosture:
    """The effective policy of one mode, and how it is known."""

    state: str                 #: proven | none | unknown
    level: str | None = None   #: proven: privileged, baseline or restricted
    version: str | None = None  #: proven: the version the server names (latest, v1.N)
    source: str = "unknown"    #: label | default | unknown (label: the namespace sets this mode's level label)
    evidence: str = ""
    evaluated: tuple[int, int] | None = None   #: enforce: the policy minors the denial's items are consistent with
    version_confirmed: bool | None = None       #: enforce: the printed version lies in ``evaluated``

    @property
    def text(self) -> str:
        if self.state == "proven":
            return self.level if self.level == "privileged" else f"{self.level}:{self.version}"
        return self.state

    def rank(self) -> int | None:
        if self.state == "none":
            return 0
        return Level(self.level).rank if self.state == "proven" and self.level else None

    def to_dict(self) -> dict:
        return {"state": self.state, "level": self.level, "version": self.version, "text": self.text,
                "source": self.source, "evidence": self.evidence,
                "evaluated": None if self.evaluated is None else
                {"from": f"v1.{self.evaluated[0]}", "to": f"v1.{self.evaluated[1]}"},
                "version_confirmed": self.version_confirmed}


@dataclasses.dataclass(frozen=True)
class Posture:
    """One namespace's effective Pod Security posture."""

    namespace: str
    labels: Mapping[str, str]           #: its labels (as listed when it was last probed)
    enforce: ModePosture
    warn: ModePosture
    audit: ModePosture
    exempt: tuple[str, ...]             #: namespace | user | runtimeClass:<name> | unknown (empty: none)
    probe: str = "ok"                   #: ok | unprobeable | error
    probe_reason: str = ""
    mutated: tuple[str, ...] = ()       #: fields a webhook changed in the probe pod (the returned pod is in evidence)
    labels_agree: bool | None = None    #: the behaviour matches what the labels say (None: nothing to compare)
    notes: tuple[str, ...] = ()
    evidence: tuple[Answer, ...] = ()

    @property
    def source(self) -> str:
        return self.enforce.source

    @property
    def psa_labels(self) -> dict[str, str]:
        return {k: v for k, v in self.labels.items() if k.startswith(LABEL_PREFIX)}

    def mode(self, mode: str) -> ModePosture:
        return getattr(self, mode)

    def to_dict(self, evidence: bool = True) -> dict:
        out = {"namespace": self.namespace, "labels": dict(self.labels), "source": self.source,
               "enforce": self.enforce.to_dict(), "warn": self.warn.to_dict(), "audit": self.audit.to_dict(),
               "exempt": list(self.exempt), "probe": {"state": self.probe, "reason": self.probe_reason},
               "mutated": list(self.mutated), "labels_agree": self.labels_agree, "notes": list(self.notes)}
        if evidence:
            out["evidence"] = [a.to_dict() for a in self.evidence]
            returned = [a.returned for a in self.evidence if a.probe == "breakout" and a.returned is not None]
            if self.mutated and returned:
                out["mutated_pod"] = returned[-1]
        return out


def _split(policy: str) -> tuple[str, str]:
    level, _, version = policy.partition(":")
    return level, version


def _source(labels: Mapping[str, str], mode: str) -> str:
    if LABEL_PREFIX + mode in labels or LABEL_PREFIX + mode + "-version" in labels:
        return "label"
    if mode == "warn" and labels.get(LABEL_PREFIX + "enforce") in ("baseline", "restricted"):
        return "label"  # raised from the explicit enforce label
    return "default"


#: ``signatures[level]`` lists ``(minor, items)``: the denial items the breakout probe gets at each policy minor
Signatures = Mapping[str, list[tuple[int, tuple[tuple[str, str], ...]]]]


def _evaluated(level: str, items: tuple[tuple[str, str], ...], signatures: Signatures | None
               ) -> tuple[int, int] | None:
    rows = (signatures or {}).get(level) or []
    minors = [m for m, want in rows if want == items]
    if not minors:
        return None
    return min(minors), max(minors)


def infer(ns: NamespaceAnswers, facts: ClusterFacts, signatures: Signatures | None = None) -> Posture:
    """The posture of one namespace (see the module docstring for what each answer proves)."""
    labels = {k: v for k, v in ns.labels.items() if k.startswith(LABEL_PREFIX)}
    evidence = tuple(ns.answers())
    src = {m: _source(labels, m) for m in MODES}
    notes: list[str] = []
    ns_exempt = namespace_exempt(ns.exemption)

    def posture(enforce: ModePosture, warn: ModePosture, audit: ModePosture, exempt=(), probe="ok", why="",
                mutated=(), agree=None) -> Posture:
        return Posture(ns.name, dict(ns.labels), enforce, warn, audit, tuple(exempt), probe, why, tuple(mutated), agree,
                       tuple(notes), evidence)

    def unknown(why: str, source: str = "unknown") -> ModePosture:
        return ModePosture("unknown", source=source, evidence=why)

    def none(why: str) -> tuple[ModePosture, ModePosture, ModePosture]:
        e, w, a = (ModePosture("none", source=src[m], evidence=why) for m in MODES)
        return e, w, a

    if facts.plugin == "disabled":
        return posture(*none(facts.plugin_evidence), probe="ok")
    if ns_exempt:
        w = next(w for w in ns.exemption.warnings if EXEMPT_WARNING.match(w))
        return posture(*none(f"exempt namespace: {w}"), exempt=("namespace",))
    if facts.runner_exempt:
        u = unknown(f"the runner identity {facts.runner!r} is exempt from PodSecurity: every probe it sends is "
                    "admitted unevaluated, so nothing can be proven for other identities; run the sweep as an "
                    "identity that is not exempt")
        return posture(dataclasses.replace(u, source=src["enforce"]), dataclasses.replace(u, source=src["warn"]),
                       dataclasses.replace(u, source=src["audit"]), exempt=("user",), probe="ok")
    if ns.breakout is None:
        u = unknown("the breakout probe was not sent")
        return posture(u, u, u, probe="error", why="the breakout probe was not sent")

    r = read_pod_answer(ns.breakout)
    if r.exempt == "namespace":  # the exemption probe could not be read, but the audit event names it
        return posture(*none("exempt namespace: the breakout probe's audit event says exempt=namespace"),
                       exempt=("namespace",))
    exempt = tuple(f"runtimeClass:{n}" for n, v in sorted(facts.exempt_runtime_classes.items()) if v)
    if not facts.runtime_classes_listed:
        notes.append("RuntimeClasses could not be listed: runtimeClass exemptions were not probed")
    elif any(v is None for v in facts.exempt_runtime_classes.values()):
        notes.append("some RuntimeClass exemptions could not be probed: "
                     + ", ".join(n for n, v in facts.exempt_runtime_classes.items() if v is None))
    mutated = tuple(mutations(ns.breakout.sent, ns.breakout.returned))
    if mutated:
        notes.append(f"a mutating webhook changed the breakout probe ({', '.join(mutated)}); "
                     "the returned pod is kept in the evidence")

    audit = _audit(r, facts, src["audit"])

    if r.kind == "denied":
        level, version = _split(r.policy)
        span = _evaluated(level, r.items, signatures)
        confirmed = None
        if signatures and level in signatures:
            minor = PolicyVersion.parse(version).resolve(facts.newest_minor) if version else None
            confirmed = span is not None and minor is not None and span[0] <= minor <= span[1]
        ev = f"the breakout probe was denied: violates PodSecurity \"{r.policy}\""
        if confirmed is False and span is None:
            notes.append(f"the denial names {r.policy} but its items match no policy minor for the probe as sent: "
                         "a mutating webhook may have changed the probe, or the server evaluates differently")
        elif confirmed is False:
            notes.append(f"the denial names {r.policy} but its items match policy minors v1.{span[0]}..v1.{span[1]}: "
                         "the evaluated version is not the printed one")
        enforce = ModePosture("proven", level, version, src["enforce"], ev, span, confirmed)
        warn = _warn_under_enforce(ns, level, version, src["warn"])
        return posture(enforce, warn, audit, exempt=exempt, mutated=mutated, agree=_agree(labels, level, version))

    if r.kind in ("unprobeable", "error"):
        u = unknown(f"the breakout probe could not be read: {r.why}", src["enforce"])
        if ns_exempt is False:
            notes.append("the namespace is not exempt (exemption probe)")
        return posture(u, unknown("the breakout probe could not be read", src["warn"]), audit, exempt=exempt,
                       probe=r.kind, why=r.why, mutated=mutated)

    # PodSecurity admitted the breakout probe (maybe refused later: that proves it admitted)
    if r.refused_by:
        notes.append(f"admitted by PodSecurity, then refused by {r.refused_by}")
    if r.warn_policy:
        level, version = _split(r.warn_policy)
        enforce = ModePosture("proven", "privileged", None, src["enforce"],
                              "the breakout probe was admitted by PodSecurity (with a warning)")
        warn = ModePosture("proven", level, version, src["warn"],
                           f"the breakout probe was warned: would violate PodSecurity \"{r.warn_policy}\"")
        return posture(enforce, warn, audit, exempt=exempt, mutated=mutated, agree=_agree(labels, "privileged", None))
    # silently admitted
    if mutated:
        u = unknown(f"the breakout probe was admitted after a webhook changed it ({', '.join(mutated)})",
                    src["enforce"])
        return posture(u, unknown("the probe was changed by a webhook", src["warn"]), audit, exempt=exempt,
                       mutated=mutated)
    if ns_exempt is None:
        u = unknown("the breakout probe was admitted silently and the exemption probe could not be read"
                    + (f" ({ns.exemption.status} {ns.exemption.message})" if ns.exemption else ""), src["enforce"])
        return posture(u, dataclasses.replace(u, source=src["warn"]), audit, exempt=exempt + ("unknown",),
                       mutated=mutated)
    if facts.runner_exempt is None and not r.evaluated:
        u = unknown("the breakout probe was admitted silently: enforce is privileged unless the runner identity is "
                    "exempt, and nothing in this sweep proved it is not (an --audit-log would)", src["enforce"])
        return posture(u, dataclasses.replace(u, source=src["warn"]), audit, exempt=exempt + ("unknown",),
                       mutated=mutated)
    why = "the breakout probe was admitted silently; the namespace is not exempt and the runner is not exempt"
    enforce = ModePosture("proven", "privileged", None, src["enforce"], why)
    warn = ModePosture("proven", "privileged", None, src["warn"], why + " (no PodSecurity warning)")
    return posture(enforce, warn, audit, exempt=exempt, mutated=mutated,
                   agree=_agree(labels, "privileged", None, warn_level="privileged"))


def _agree(labels: Mapping[str, str], level: str, version: str | None, warn_level: str | None = None) -> bool | None:
    """Whether the observed enforce (and warn) match what the labels say; None when the labels say nothing."""
    want = label_expectation(labels)
    checks = []
    if want["enforce"] is not None:
        checks.append(want["enforce"] == level)
    pinned = labels.get(LABEL_PREFIX + "enforce-version")
    if pinned is not None and version is not None and level != "privileged":
        try:
            checks.append(str(PolicyVersion.parse(pinned)) == version)
        except UsageError:
            checks.append(version == "latest")  # an invalid version label means latest
    if warn_level is not None and want["warn"] is not None:
        checks.append(want["warn"] == warn_level)
    return all(checks) if checks else None


def _warn_under_enforce(ns: NamespaceAnswers, level: str, version: str, source: str) -> ModePosture:
    if level == "restricted":
        return ModePosture("unknown", source=source, evidence=(
            "masked: enforce restricted denies every pod that would show a warning (warnings are dropped when "
            "enforce denies)"))
    if ns.restricted is None:
        return ModePosture("unknown", source=source, evidence="the restricted probe was not sent")
    r = read_pod_answer(ns.restricted)
    if r.kind == "passed" and r.warn_policy:
        wl, wv = _split(r.warn_policy)
        return ModePosture("proven", wl, wv, source,
                           f"the restricted probe (baseline-clean) was warned: would violate PodSecurity \"{r.warn_policy}\"")
    if r.kind == "passed":
        return ModePosture("unknown", source=source, evidence=(
            f"privileged or baseline: the baseline-clean restricted probe got no warning, and enforce "
            f"baseline:{version} hides what warn says about baseline violations"))
    return ModePosture("unknown", source=source, evidence=f"the restricted probe could not be read: {r.why}")


def _audit(r: PodReading, facts: ClusterFacts, source: str) -> ModePosture:
    if not facts.audit_source:
        return ModePosture("unknown", source=source, evidence="no audit source: give --audit-log to read the audit mode")
    if r.exempt:
        return ModePosture("unknown", source=source, evidence=f"the audit event says exempt={r.exempt}")
    if r.audit_policy:
        level, version = _split(r.audit_policy)
        return ModePosture("proven", level, version, source,
                           f"the breakout probe's audit event: would violate PodSecurity \"{r.audit_policy}\"")
    if r.evaluated:
        return ModePosture("proven", "privileged", None, source,
                           f"the breakout probe's audit event has enforce-policy={r.enforce_policy} and no "
                           "audit-violations")
    return ModePosture("unknown", source=source, evidence="no PodSecurity annotations in the probe's audit event "
                                                          "(or no audit event was found)")
