"""The Pod Security Standards as ValidatingAdmissionPolicies (CEL): the project's PSS-in-CEL set, as data. Pure.

One ``ValidatingAdmissionPolicy`` per upstream check (19), each with one validation whose
message starts with the check id (``privileged: container "c" must not set ...``), implementing
the check's ``latest`` variant (policy v1.``SET_MINOR``) exactly as ``harness.policy`` does:
containers, initContainers and ephemeralContainers; pod- vs container-level precedence; the
Windows (``spec.os.name: windows``) and user-namespace (``spec.hostUsers: false``) relaxations;
the sysctl and SELinux-type allow-lists; the AppArmor annotations. Every value list is read from
``harness.policy.tables`` (one source), and ``IMPLEMENTED`` names the variant each policy
implements, so a new upstream variant in ``harness.core.checks`` fails ``check_implemented``.

What each policy sees and when it acts is PodSecurity's (``k8s.io/pod-security-admission``
``admission.go``):

* Pods on CREATE and UPDATE, and the ``pods/ephemeralcontainers`` subresource; an UPDATE is
  judged only when it is *significant* (the number of containers or init containers changes, an
  image changes, or an ephemeral container is added or changes image), as PodSecurity's
  ``isSignificantPodUpdate``: a label or finalizer change to a running privileged pod is never refused;
* the pod templates of the eight workload kinds (``harness.core.kinds`` has the paths) on CREATE
  and UPDATE; a workload without a template is admitted.

Bindings (``bindings``) select namespaces by one label per mode, as PodSecurity's own labels do::

    vap.pss-harness.io/enforce: baseline | restricted   Pods: Deny (and Audit); workloads: Warn
    vap.pss-harness.io/warn:    baseline | restricted   Pods and workloads: Warn
    vap.pss-harness.io/audit:   baseline | restricted   Pods and workloads: Audit

A check is bound at each level where PodSecurity runs it at ``latest``: baseline runs the 12
baseline checks; restricted runs 15, because four baseline checks are *overridden* there by their
restricted counterparts and never reported (``capabilities_baseline`` by ``capabilities_restricted``,
``hostPathVolumes`` by ``restrictedVolumes``, ``procMount`` by ``procMount_restricted``,
``seccompProfile_baseline`` by ``seccompProfile_restricted``; ``harness.core.checks.active_checks``).
So the set names at each level exactly the checks PodSecurity names. The enforce binding of Pods
is ``[Deny, Audit]``: the API server's denial names only the first failing policy (in no fixed
order), the audit annotation ``validation.policy.admission.k8s.io/validation_failure`` lists them all.
Workloads in an enforce namespace get warnings where the namespace has no warn label, as
PodSecurity's warn level defaults to its enforce level. One difference remains: on a Pod the set
denies, warn bindings still add their warnings (PodSecurity drops its warnings when it denies).

Not modelled (configuration, not semantics): PodSecurity's AdmissionConfiguration exemptions
(usernames, namespaces, runtime classes) and its version labels (the set is ``latest`` only).

``documents()`` gives the files of ``policies/vap/`` as ``{file name: [objects]}``;
``harness.corpus.vapset`` writes and checks them. May import: ``harness.core`` and
``harness.policy.tables`` (pure data).
"""

from __future__ import annotations

import re

from harness.core.checks import CHECKS, active_checks, newest_minor
from harness.core.engines import VAP_LABEL_PREFIX
from harness.core.kinds import KINDS
from harness.core.model import Level, Mode
from harness.policy.tables import (ALLOWED_VOLUME_TYPES, APPARMOR_ALLOWED_ANNOTATIONS, APPARMOR_ALLOWED_TYPES,
                                   APPARMOR_ANNOTATION_PREFIX, BASELINE_CAPABILITIES, HOST_HANDLERS,
                                   HOST_NAMESPACE_FIELDS, LIFECYCLE_HOOKS, LOCALHOST_ANNOTATION_PREFIX, PROBE_FIELDS,
                                   PROC_MOUNT_ALLOWED, RESTRICTED_ADD_CAPABILITIES, RESTRICTED_DROP_CAPABILITY,
                                   RESTRICTED_VOLUME_TYPES, SECCOMP_ALLOWED_TYPES, SELINUX_FORBIDDEN_FIELDS,
                                   allowed_selinux_types, allowed_sysctls)

__all__ = ["BINDING_SHAPES", "IMPLEMENTED", "LABEL_PREFIX", "PART_OF", "SET_MINOR", "BindingShape", "binding_name",
           "bindings", "bound_levels", "check_implemented", "check_of_policy", "documents", "file_name",
           "level_label", "policies", "policy", "policy_name", "slug"]

#: the policy minor the set implements: ``latest`` as this registry knows it
SET_MINOR = newest_minor()
#: the namespace label of each mode: ``vap.pss-harness.io/<mode>: <level>``
LABEL_PREFIX = VAP_LABEL_PREFIX
#: the ``app.kubernetes.io/part-of`` label every object of the set carries
PART_OF = "pss-harness-vap"
API_VERSION = "admissionregistration.k8s.io/v1"

#: check id -> the newest variant minor its policy implements; must equal the registry's (``check_implemented``)
IMPLEMENTED = {
    "appArmorProfile": 0, "capabilities_baseline": 0, "hostNamespaces": 0, "hostPathVolumes": 0, "hostPorts": 0,
    "hostProbesAndHostLifecycle": 34, "privileged": 0, "procMount": 35, "seLinuxOptions": 31,
    "seccompProfile_baseline": 19, "sysctls": 37, "windowsHostProcess": 0, "allowPrivilegeEscalation": 25,
    "capabilities_restricted": 25, "procMount_restricted": 35, "restrictedVolumes": 0, "runAsNonRoot": 35,
    "runAsUser": 35, "seccompProfile_restricted": 25,
}


def check_implemented() -> list[str]:
    """Problems: checks whose newest upstream variant is not the one the set implements (empty: none)."""
    problems = [f"{c.id}: the registry's newest variant is v1.{c.versions[-1]}, the VAP set implements "
                f"v1.{IMPLEMENTED.get(c.id)}: update harness/policy/vap.py and regenerate policies/vap/"
                for c in CHECKS.values() if IMPLEMENTED.get(c.id) != c.versions[-1]]
    return problems + [f"{c}: not a check" for c in IMPLEMENTED if c not in CHECKS]


def slug(check_id: str) -> str:
    """``allowPrivilegeEscalation`` -> ``allow-privilege-escalation``; ``seccompProfile_baseline`` ->
    ``seccomp-profile-baseline`` (object names are lower case)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", check_id).replace("_", "-").lower()


def policy_name(check_id: str) -> str:
    return f"pss-{slug(check_id)}"


_BY_POLICY = {policy_name(c): c for c in CHECKS}


def check_of_policy(name: str) -> str | None:
    """The check id of one of this set's policy names (``pss-run-as-user`` -> ``runAsUser``), else ``None``."""
    return _BY_POLICY.get(name)


def file_name(check_id: str) -> str:
    return f"{policy_name(check_id)}.yaml"


def level_label(mode: Mode | str) -> str:
    """The namespace label key that selects ``mode`` (``vap.pss-harness.io/warn``)."""
    return f"{LABEL_PREFIX}{Mode(mode).value}"


def bound_levels(check_id: str) -> list[Level]:
    """The levels at which PodSecurity runs (and reports) ``check_id`` at ``latest``."""
    return [lv for lv in (Level.BASELINE, Level.RESTRICTED)
            if any(c.id == check_id for c in active_checks(lv, SET_MINOR))]


# -- CEL building blocks -------------------------------------------------------------------------------------


def _lit(values) -> str:
    """A CEL list literal of strings."""
    def q(s: str) -> str:
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "[" + ", ".join(q(v) for v in values) + "]"


_POD_SC = "variables.spec.?securityContext"
_C_SC = "c.?securityContext"


def _kind_switch() -> str:
    """``variables.pod``: the Pod itself or the workload's pod template (paths from ``harness.core.kinds``)."""
    by_path: dict[tuple, list[str]] = {}
    for k in KINDS.values():
        by_path.setdefault(k.template_path, []).append(k.name)
    common = max((p for p in by_path if p), key=lambda p: len(by_path[p]))

    def opt(path: tuple) -> str:
        return "object" + "".join(f".?{step}" for step in path) + ".orValue({})"

    branches = []
    for path, names in by_path.items():
        if path == common:
            continue
        test = f"request.kind.kind == '{names[0]}'" if len(names) == 1 else f"request.kind.kind in {_lit(names)}"
        branches.append(f"{test} ? {'object' if not path else opt(path)}")
    return " : ".join(branches + [opt(common)])


_VARIABLES = [
    ("pod", _kind_switch()),
    ("spec", "variables.pod.?spec.orValue({})"),
    ("annotations", "variables.pod.?metadata.?annotations.orValue({})"),
    ("containers", "variables.spec.?initContainers.orValue([]) + variables.spec.?containers.orValue([]) + "
                   "variables.spec.?ephemeralContainers.orValue([])"),
    ("windows", "variables.spec.?os.?name.orValue('') == 'windows'"),
    ("userNamespace", "variables.spec.?hostUsers.orValue(true) == false"),
]


def _significant_update() -> str:
    """PodSecurity's ``isSignificantPodUpdate``: which Pod UPDATEs it judges (others are always allowed)."""
    def lst(obj: str, field: str) -> str:
        return f"{obj}.spec.?{field}.orValue([])"
    parts = ["request.kind.kind != 'Pod'", "request.operation != 'UPDATE'"]
    for field in ("containers", "initContainers"):
        parts.append(f"size({lst('object', field)}) != size({lst('oldObject', field)})")
        parts.append(f"{lst('object', field)}.map(c, c.?image.orValue('')) != "
                     f"{lst('oldObject', field)}.map(c, c.?image.orValue(''))")
    parts.append(f"{lst('object', 'ephemeralContainers')}.exists(e, !{lst('oldObject', 'ephemeralContainers')}"
                 f".exists(o, o.name == e.name && o.?image.orValue('') == e.?image.orValue('')))")
    return " ||\n".join(parts)


_MATCH_CONDITIONS = [{"name": "significant-pod-update", "expression": _significant_update()}]


def _names(items: str, pred: str, var: str = "c") -> str:
    """The names of ``items`` (a CEL list) for which ``pred`` (over ``var``) holds."""
    return f"{items}.filter({var}, {pred}).map({var}, {var}.?name.orValue(''))"


def _quoted(names: str) -> str:
    return f"{names}.map(n, '\"' + n + '\"').join(', ')"


def _who(names: str, one: str = "container", many: str = "containers") -> str:
    """``container "a"`` / ``containers "a", "b"`` of a CEL list of names."""
    return f"(size({names}) == 1 ? '{one} ' : '{many} ') + {_quoted(names)}"


def _setters(pod: str, names: str) -> str:
    """``pod``, ``container(s) ...`` or ``pod and container(s) ...``."""
    return (f"({pod} ? (size({names}) > 0 ? 'pod and ' : 'pod') : '') + "
            f"(size({names}) > 0 ? {_who(names)} : '')")


def _not_in(value: str, allowed) -> str:
    return f"!({value} in {_lit(allowed)})"


class _Check:
    """One policy's CEL: its variables, its validation expression and its message."""

    def __init__(self, check_id: str, variables: list[tuple[str, str]], expression: str, detail: str,
                 static: str):
        self.id, self.variables, self.expression = check_id, variables, expression
        self.message_expression = f"'{check_id}: ' + {detail}"
        self.message = f"{check_id}: {static}"


def _profile_bad(sc: str, field: str, allowed) -> str:
    """A security context (an optional CEL value) sets ``field`` (a profile) with a type outside ``allowed``."""
    return f"{sc}.?{field}.hasValue() && {_not_in(f'{sc}.?{field}.?type.orValue({chr(39) * 2})', allowed)}"


def _pod_and_containers(check_id: str, bad_sc, tail: str, static: str) -> _Check:
    """A check of the pod's and every container's security context: ``bad_sc(sc)`` says one is forbidden."""
    return _Check(check_id, [("podBad", bad_sc(_POD_SC)), ("bad", _names("variables.containers", bad_sc(_C_SC)))],
                  "!variables.podBad && size(variables.bad) == 0",
                  f"{_setters('variables.podBad', 'variables.bad')} + ' {tail}'", static)


def _containers(check_id: str, pred: str, tail: str, static: str, *, relax: str = "") -> _Check:
    """A per-container check; ``relax``: a CEL condition under which the pod passes whatever it sets."""
    expression = "size(variables.bad) == 0"
    return _Check(check_id, [("bad", _names("variables.containers", pred))],
                  f"{relax} || {expression}" if relax else expression,
                  f"{_who('variables.bad')} + ' {tail}'", static)


def _selinux_bad(sc: str) -> str:
    opts = f"{sc}.?seLinuxOptions"
    forbidden = " || ".join(f"{opts}.?{f}.orValue('') != ''" for f in SELINUX_FORBIDDEN_FIELDS)
    return (f"{opts}.hasValue() && ({_not_in(f'{opts}.?type.orValue({chr(39) * 2})', sorted(allowed_selinux_types(SET_MINOR)))}"
            f" || {forbidden})")


def _host_handler(c: str) -> str:
    """A probe or lifecycle handler of container ``c`` names a host."""
    paths = [f"{c}.?{p}.?{h}.?host" for p in PROBE_FIELDS for h in HOST_HANDLERS]
    paths += [f"{c}.?lifecycle.?{hook}.?{h}.?host" for hook in LIFECYCLE_HOOKS for h in HOST_HANDLERS]
    return " || ".join(f"{p}.orValue('') != ''" for p in paths)


def _cel_checks() -> dict[str, _Check]:
    seccomp_bad = lambda sc: _profile_bad(sc, "seccompProfile", SECCOMP_ALLOWED_TYPES)  # noqa: E731
    apparmor_bad = lambda sc: _profile_bad(sc, "appArmorProfile", APPARMOR_ALLOWED_TYPES)  # noqa: E731
    host_process = lambda sc: f"{sc}.?windowsOptions.?hostProcess.orValue(false) == true"  # noqa: E731
    caps = f"{_C_SC}.?capabilities"
    proc_mount = f"{_C_SC}.?procMount.hasValue() && {_not_in(f'{_C_SC}.?procMount.orValue({chr(39) * 2})', PROC_MOUNT_ALLOWED)}"
    host_ns = " + ".join(f"(variables.spec.?{f}.orValue(false) == true ? ['{f}=true'] : [])" for f in HOST_NAMESPACE_FIELDS)
    volumes = "variables.spec.?volumes.orValue([])"
    annotation_ok = (f"variables.annotations[k] in {_lit(APPARMOR_ALLOWED_ANNOTATIONS)} || "
                     f"variables.annotations[k].startsWith('{LOCALHOST_ANNOTATION_PREFIX}')")
    out = [
        _Check("appArmorProfile",
               [("podBad", apparmor_bad(_POD_SC)), ("bad", _names("variables.containers", apparmor_bad(_C_SC))),
                ("badAnnotations", f"variables.annotations.filter(k, k.startsWith('{APPARMOR_ANNOTATION_PREFIX}') "
                                   f"&& !({annotation_ok}))")],
               "!variables.podBad && size(variables.bad) == 0 && size(variables.badAnnotations) == 0",
               f"(variables.podBad || size(variables.bad) > 0 ? {_setters('variables.podBad', 'variables.bad')} + "
               f"' must not set a forbidden AppArmor profile type' : '') + (size(variables.badAnnotations) > 0 ? "
               f"(variables.podBad || size(variables.bad) > 0 ? '; ' : '') + 'forbidden annotations ' + "
               f"{_quoted('variables.badAnnotations')} : '')",
               "forbidden AppArmor profile (appArmorProfile.type or annotation)"),
        _containers("capabilities_baseline", f"{caps}.?add.orValue([]).exists(a, {_not_in('a', sorted(BASELINE_CAPABILITIES))})",
                    "must not add capabilities beyond the baseline set in securityContext.capabilities.add",
                    "non-default capabilities in securityContext.capabilities.add"),
        _Check("hostNamespaces", [("bad", host_ns)], "size(variables.bad) == 0",
               "'pod must not set ' + variables.bad.join(', ')", "host namespaces (hostNetwork, hostPID, hostIPC)"),
        _Check("hostPathVolumes", [("bad", _names(volumes, "has(v.hostPath)", "v"))], "size(variables.bad) == 0",
               f"{_who('variables.bad', 'volume', 'volumes')} + ' must not use hostPath'", "hostPath volumes"),
        _containers("hostPorts", "c.?ports.orValue([]).exists(p, p.?hostPort.orValue(0) != 0)",
                    "must not set ports[*].hostPort", "hostPort"),
        _containers("hostProbesAndHostLifecycle", _host_handler("c"),
                    "must not set a host in probes or lifecycle handlers", "probe or lifecycle host"),
        _containers("privileged", f"{_C_SC}.?privileged.orValue(false) == true",
                    "must not set securityContext.privileged=true", "privileged containers"),
        _containers("procMount", proc_mount, "must not set securityContext.procMount other than Default",
                    "procMount", relax="variables.userNamespace"),
        _pod_and_containers("seLinuxOptions", _selinux_bad, "must not set forbidden securityContext.seLinuxOptions",
                            "forbidden seLinuxOptions (type, user, role)"),
        _pod_and_containers("seccompProfile_baseline", seccomp_bad,
                            "must not set securityContext.seccompProfile.type to Unconfined",
                            "seccompProfile (Unconfined)"),
        _Check("sysctls", [("bad", f"{_POD_SC}.?sysctls.orValue([]).filter(s, "
                                   f"{_not_in('s.?name.orValue(' + chr(39) * 2 + ')', sorted(allowed_sysctls(SET_MINOR)))})"
                                   f".map(s, s.?name.orValue(''))")],
               "size(variables.bad) == 0", "'forbidden sysctls ' + variables.bad.join(', ')", "forbidden sysctls"),
        _pod_and_containers("windowsHostProcess", host_process,
                            "must not set securityContext.windowsOptions.hostProcess=true", "hostProcess"),
        _containers("allowPrivilegeEscalation", f"{_C_SC}.?allowPrivilegeEscalation.orValue(true) != false",
                    "must set securityContext.allowPrivilegeEscalation=false", "allowPrivilegeEscalation != false",
                    relax="variables.windows"),
        _Check("capabilities_restricted",
               [("missingDrop", _names("variables.containers",
                                       f"!{caps}.?drop.orValue([]).exists(d, d == '{RESTRICTED_DROP_CAPABILITY}')")),
                ("badAdd", _names("variables.containers",
                                  f"{caps}.?add.orValue([]).exists(a, {_not_in('a', sorted(RESTRICTED_ADD_CAPABILITIES))})"))],
               "variables.windows || (size(variables.missingDrop) == 0 && size(variables.badAdd) == 0)",
               f"(size(variables.missingDrop) > 0 ? {_who('variables.missingDrop')} + ' must set "
               f"securityContext.capabilities.drop=[\"{RESTRICTED_DROP_CAPABILITY}\"]' : '') + "
               f"(size(variables.missingDrop) > 0 && size(variables.badAdd) > 0 ? '; ' : '') + "
               f"(size(variables.badAdd) > 0 ? {_who('variables.badAdd')} + ' must not add capabilities other than "
               f"{', '.join(sorted(RESTRICTED_ADD_CAPABILITIES))}' : '')",
               "unrestricted capabilities"),
        _containers("procMount_restricted", proc_mount, "must not set securityContext.procMount other than Default",
                    "procMount"),
        _Check("restrictedVolumes",
               [("bad", _names(volumes, f"!{_lit(ALLOWED_VOLUME_TYPES)}.exists(k, k in v) && "
                                        f"{_lit(RESTRICTED_VOLUME_TYPES)}.exists(k, k in v)", "v"))],
               "size(variables.bad) == 0",
               f"{_who('variables.bad', 'volume', 'volumes')} + ' must not use a restricted volume type'",
               "restricted volume types"),
        _Check("runAsNonRoot",
               [("podFalse", f"{_POD_SC}.?runAsNonRoot.orValue(true) == false"),
                ("bad", _names("variables.containers",
                               f"{_C_SC}.?runAsNonRoot.orValue({_POD_SC}.?runAsNonRoot.orValue(false)) != true"))],
               "variables.userNamespace || (!variables.podFalse && size(variables.bad) == 0)",
               f"(variables.podFalse ? 'pod must not set securityContext.runAsNonRoot=false' : '') + "
               f"(variables.podFalse && size(variables.bad) > 0 ? '; ' : '') + (size(variables.bad) > 0 ? "
               f"'pod or ' + {_who('variables.bad')} + ' must set securityContext.runAsNonRoot=true' : '')",
               "runAsNonRoot != true"),
        _Check("runAsUser",
               [("podBad", f"{_POD_SC}.?runAsUser.orValue(1) == 0"),
                ("bad", _names("variables.containers", f"{_C_SC}.?runAsUser.orValue(1) == 0"))],
               "variables.userNamespace || (!variables.podBad && size(variables.bad) == 0)",
               f"{_setters('variables.podBad', 'variables.bad')} + ' must not set runAsUser=0'", "runAsUser=0"),
        _Check("seccompProfile_restricted",
               [("podBad", seccomp_bad(_POD_SC)), ("bad", _names("variables.containers", seccomp_bad(_C_SC))),
                ("podOK", f"{_POD_SC}.?seccompProfile.?type.orValue('') in {_lit(SECCOMP_ALLOWED_TYPES)}"),
                ("unset", _names("variables.containers", f"!{_C_SC}.?seccompProfile.hasValue()"))],
               "variables.windows || (!variables.podBad && size(variables.bad) == 0 && "
               "(variables.podOK || size(variables.unset) == 0))",
               f"(variables.podBad || size(variables.bad) > 0 ? {_setters('variables.podBad', 'variables.bad')} + "
               f"' must not set securityContext.seccompProfile.type to Unconfined' : 'pod or ' + {_who('variables.unset')} "
               f"+ ' must set securityContext.seccompProfile.type to {' or '.join(SECCOMP_ALLOWED_TYPES)}')",
               "seccompProfile (must be RuntimeDefault or Localhost)"),
    ]
    return {c.id: c for c in out}


# -- the objects ---------------------------------------------------------------------------------------------

_POD_RULE = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
             "resources": ["pods", "pods/ephemeralcontainers"]}


def _workload_rules() -> list[dict]:
    by_group: dict[tuple[str, str], list[str]] = {}
    for k in KINDS.values():
        if k.is_workload:
            by_group.setdefault((k.group, k.version), []).append(k.plural)
    return [{"apiGroups": [g], "apiVersions": [v], "operations": ["CREATE", "UPDATE"], "resources": plurals}
            for (g, v), plurals in by_group.items()]


def _labels(check_id: str) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": PART_OF, "pss-harness.io/check": slug(check_id)}


def _used_variables(c: _Check) -> list[tuple[str, str]]:
    """The common variables ``c`` refers to (directly or through another variable), then its own."""
    texts = [e for _, e in c.variables] + [c.expression, c.message_expression]
    used: list[tuple[str, str]] = []
    for name, expression in reversed(_VARIABLES):  # a variable may only refer to the ones before it
        if any(re.search(rf"\bvariables\.{name}\b", t) for t in texts):
            used.insert(0, (name, expression))
            texts.append(expression)
    return used + c.variables


def policy(check_id: str) -> dict:
    """The ValidatingAdmissionPolicy of ``check_id``."""
    c = _cel_checks()[check_id]
    check = CHECKS[check_id]
    levels = ", ".join(str(lv) for lv in bound_levels(check_id))
    return {
        "apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name(check_id), "labels": _labels(check_id),
                     "annotations": {"pss-harness.io/check-id": check_id,
                                     "pss-harness.io/level": str(check.level),
                                     "pss-harness.io/bound-at": levels,
                                     "pss-harness.io/policy-version": f"v1.{SET_MINOR}"}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [_POD_RULE, *_workload_rules()]},
            "matchConditions": [dict(m) for m in _MATCH_CONDITIONS],
            "variables": [{"name": n, "expression": e} for n, e in _used_variables(c)],
            "validations": [{"expression": c.expression, "messageExpression": c.message_expression,
                             "message": c.message, "reason": "Forbidden"}],
        },
    }


def policies() -> list[dict]:
    return [policy(c) for c in CHECKS]


class BindingShape:
    """One of the four bindings of a policy: which mode's label selects it, what it matches, its actions."""

    def __init__(self, suffix: str, mode: Mode, actions: tuple[str, ...], pods: bool, workloads: bool,
                 follows_enforce: bool = False):
        self.suffix, self.mode, self.actions, self.pods, self.workloads = suffix, mode, actions, pods, workloads
        self.follows_enforce = follows_enforce  #: only where the namespace has no warn label (warn follows enforce)

    def rules(self) -> list[dict]:
        return ([_POD_RULE] if self.pods else []) + (_workload_rules() if self.workloads else [])


BINDING_SHAPES = (
    BindingShape("enforce", Mode.ENFORCE, ("Deny", "Audit"), pods=True, workloads=False),
    BindingShape("enforce-workloads", Mode.ENFORCE, ("Warn",), pods=False, workloads=True, follows_enforce=True),
    BindingShape("warn", Mode.WARN, ("Warn",), pods=True, workloads=True),
    BindingShape("audit", Mode.AUDIT, ("Audit",), pods=True, workloads=True),
)


def binding_name(check_id: str, shape: BindingShape) -> str:
    return f"{policy_name(check_id)}-{shape.suffix}"


def bindings(check_id: str) -> list[dict]:
    """The four bindings of ``check_id``'s policy: enforce (Pods), enforce (workloads), warn and audit."""
    levels = [str(lv) for lv in bound_levels(check_id)]
    return [{
        "apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": binding_name(check_id, shape), "labels": _labels(check_id)},
        "spec": {
            "policyName": policy_name(check_id),
            "validationActions": list(shape.actions),
            "matchResources": {
                "namespaceSelector": {"matchExpressions": [
                    {"key": level_label(shape.mode), "operator": "In", "values": levels},
                    # PodSecurity's warn level defaults to its enforce level only where warn is not labelled
                    *([{"key": level_label(Mode.WARN), "operator": "DoesNotExist"}] if shape.follows_enforce else [])]},
                "resourceRules": shape.rules(),
            },
        },
    } for shape in BINDING_SHAPES]


def documents() -> dict[str, list[dict]]:
    """The files of ``policies/vap/``: ``{file name: [policy, its bindings]}``, in registry order."""
    return {file_name(c): [policy(c), *bindings(c)] for c in CHECKS}
