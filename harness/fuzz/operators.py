"""The mutation operators: each makes one change to a pod and declares the checks and policy versions it trips.

``OPERATORS`` (28 of them) maps a name to an ``Operator``: the argument pool, where it applies
(the pod, or a container list), the OSes whose pods accept the changed field, whether it is valid
on an ephemeral container, how it changes the pod, and ``trips(arg)``: the ``(check id, version
range)`` pairs it trips on a hardened Linux pod, e.g. ``add_capability("SYS_ADMIN")`` trips
``capabilities_baseline`` at every version and ``sysctl("net.ipv4.tcp_rmem")`` trips ``sysctls``
before v1.32. The allowed values behind those declarations (capabilities, sysctls per minor,
volume types, SELinux types, seccomp/AppArmor values, ...) are read from ``harness.policy.tables``,
so a new minor's sysctls reach the operators without an edit here; the argument pools add values
the tables forbid (and awkward texts: quotes, commas, parentheses). ``tests/unit/test_fuzz.py``
holds the evaluator to every declaration. A ``Mutation`` is one drawn operator, argument and
target; ``operators_for`` lists those valid for an OS.

May import: ``harness.core``, ``harness.policy.tables``, ``harness.fuzz.pods`` (no Hypothesis: the
strategies that draw mutations are in ``harness.fuzz.strategies``).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Iterable

from harness.core.checks import CHECKS
from harness.core.errors import UsageError
from harness.core.model import VersionRange
from harness.fuzz.pods import (VOLUME_SOURCES, all_containers, apparmor_key, apparmor_profile, handler, peek, pod_sc,
                               profile_annotation_matches, sc, seccomp_key, seccomp_profile)
from harness.policy.tables import (ALLOWED_VOLUME_TYPES, APPARMOR_ALLOWED_TYPES, BASELINE_CAPABILITIES, HOST_HANDLERS,
                                   HOST_NAMESPACE_FIELDS, LIFECYCLE_HOOKS, PROBE_FIELDS, PROC_MOUNT_ALLOWED,
                                   RESTRICTED_ADD_CAPABILITIES, RESTRICTED_DROP_CAPABILITY, RESTRICTED_VOLUME_TYPES,
                                   SECCOMP_ALLOWED_TYPES, SECCOMP_CONTAINER_ANNOTATION_PREFIX, SELINUX_FORBIDDEN_FIELDS,
                                   SELINUX_TYPES_ADDED, SYSCTLS_ADDED, allowed_since, apparmor_annotation_allowed,
                                   seccomp_annotation_allowed)

__all__ = ["OPERATORS", "Mutation", "Operator", "operators_for"]

#: sysctl names no policy version allows (and malformed ones), besides every name the tables allow
FORBIDDEN_SYSCTLS = ("kernel.msgmax", "net.core.somaxconn", "kernel.sem", "net.ipv4.ip_forward", "vm.swappiness",
                     "net/ipv4/tcp_rmem", "kernel.shm_rmid_forced.x", "net.ipv4.conf.eth0/1.rp_filter")
_HOSTS = ("127.0.0.1", "::1", "bad.host", "169.254.169.254", "localhost", "10.0.0.1", "", "a.b, c (d)", 'x"y')
_VOLUME_NAMES = ("data", "a", "z", "cache", "m", "v")


@dataclasses.dataclass(frozen=True)
class Operator:
    """A family of one-change mutations: what it changes and what it trips."""

    name: str                            #: e.g. ``add_capability``
    family: str                          #: the check it is about (for ``--families`` and statistics)
    args: tuple                          #: the argument pool (drawn with ``sampled_from``; the first is simplest)
    places: tuple[str, ...]              #: ``pod``, or container lists: ``containers``, ``initContainers``
    apply: Callable[[dict, dict | None, Any], None]  #: ``(pod, container or None, arg)``, in place
    trips: Callable[[Any], tuple[tuple[str, str], ...]]  #: ``arg -> ((check id, version range), ...)``
    oses: tuple[str, ...] = ("linux",)   #: OSes the changed field is valid for (``linux``, ``windows``)
    ephemeral: bool = True               #: valid on an ephemeral container (container operators only)


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One drawn mutation: an operator with its argument and target."""

    op: str       #: ``Operator.name``
    arg: Any      #: one of the operator's ``args``
    place: str    #: ``pod``, ``containers``, ``initContainers``, ``ephemeralContainers`` or ``all`` (every
                  #: init and regular container: plural forms and message ordering)
    index: int    #: which container of the list (modulo its length)

    @property
    def operator(self) -> Operator:
        return OPERATORS[self.op]

    def trips(self) -> tuple[tuple[str, VersionRange], ...]:
        """``(check id, versions)`` this mutation trips on a hardened Linux pod."""
        return tuple((c, VersionRange.parse(r)) for c, r in self.operator.trips(self.arg))

    def boundaries(self) -> set[int]:
        return {b for _, rng in self.trips() for b in rng.boundaries()}

    def apply(self, pod: dict) -> None:
        spec = pod["spec"]
        target = None
        if self.place == "all":
            for c in all_containers(spec):
                self.operator.apply(pod, c, self.arg)
            return
        if self.place != "pod":
            items = spec.get(self.place) or []
            if not items:
                items = spec["containers"]
            target = items[self.index % len(items)]
        self.operator.apply(pod, target, self.arg)

    def __repr__(self) -> str:
        where = self.place if self.place in ("pod", "all") else f"{self.place}[{self.index}]"
        return f"{self.op}({self.arg!r})@{where}"


# -- how operators change a pod: (pod, container or None for the pod, arg), in place ---------------------------


def _set(key: str, value: Any) -> Callable[[dict, dict | None, Any], None]:
    def apply(pod: dict, c: dict | None, arg: Any) -> None:
        ctx = sc(c) if c is not None else pod_sc(pod)
        v = value if value is not ... else arg
        if v is None:
            ctx.pop(key, None)
        else:
            ctx[key] = copy.deepcopy(v)
    return apply


def _apply_privileged(pod, c, arg):
    ctx = sc(c)
    ctx["privileged"] = arg
    if arg and ctx.get("allowPrivilegeEscalation") is False:
        del ctx["allowPrivilegeEscalation"]  # validation: privileged and allowPrivilegeEscalation=false conflict


def _apply_add_capability(pod, c, arg):
    ctx = sc(c)
    caps = ctx.setdefault("capabilities", {})
    if arg not in caps.setdefault("add", []):
        caps["add"].append(arg)
    if arg == "CAP_SYS_ADMIN" and ctx.get("allowPrivilegeEscalation") is False:
        del ctx["allowPrivilegeEscalation"]  # validation: CAP_SYS_ADMIN and allowPrivilegeEscalation=false conflict


def _apply_drop(pod, c, arg):
    ctx = sc(c)
    if arg is None:
        ctx.pop("capabilities", None)
    else:
        ctx.setdefault("capabilities", {})["drop"] = list(arg)


def _apply_proc_mount(pod, c, arg):
    sc(c)["procMount"] = arg
    if arg == "Unmasked":
        pod["spec"]["hostUsers"] = False  # validation: Unmasked needs a user namespace


def _apply_host_users(pod, c, arg):
    pod["spec"]["hostUsers"] = arg


def _apply_seccomp(pod, c, arg):
    _set("seccompProfile", seccomp_profile(arg))(pod, c, arg)


def _apply_apparmor(pod, c, arg):
    _set("appArmorProfile", apparmor_profile(arg))(pod, c, arg)


def _apply_sysctl(pod, c, arg):
    sysctls = pod_sc(pod).setdefault("sysctls", [])
    if all(s.get("name") != arg for s in sysctls):
        sysctls.append({"name": arg, "value": "1"})


def _apply_host_namespace(pod, c, arg):
    pod["spec"][arg] = True


def _apply_volume(pod, c, arg):
    volumes = pod["spec"].setdefault("volumes", [])
    taken = {v.get("name") for v in volumes}
    name = next((n for n in _VOLUME_NAMES if n not in taken), f"v{len(volumes)}")
    while name in taken:
        name += "x"
    volumes.append({"name": name, **({arg: copy.deepcopy(VOLUME_SOURCES[arg])} if arg else {})})


def _apply_host_port(pod, c, arg):
    container_port, host_port = arg
    c.setdefault("ports", []).append({"containerPort": container_port, "hostPort": host_port})


def _make_sidecar(pod: dict, c: dict) -> None:
    if c in (pod["spec"].get("initContainers") or ()):
        c["restartPolicy"] = "Always"  # probes and lifecycle hooks need a restartable init container


def _apply_probe(pod, c, arg):
    probe, kind, host = arg
    _make_sidecar(pod, c)
    c[probe] = handler(kind, host)


def _apply_lifecycle(pod, c, arg):
    hook, kind, host = arg
    _make_sidecar(pod, c)
    c.setdefault("lifecycle", {})[hook] = handler(kind, host)


def _apply_host_process(pod, c, arg):
    ctx = sc(c) if c is not None else pod_sc(pod)
    ctx.setdefault("windowsOptions", {})["hostProcess"] = True
    # fixup makes it valid: every container HostProcess, hostNetwork: true


def _apply_annotation(key_for: Callable[[dict | None], str]):
    def apply(pod, c, arg):
        pod["metadata"].setdefault("annotations", {})[key_for(c)] = arg
    return apply


def _apply_seccomp_annotation(pod, c, arg):
    """Set a seccomp annotation; a field it contradicts is moved out of the way (validation requires the pod
    annotation to match the pod field and a container annotation to match that container's field)."""
    pod["metadata"].setdefault("annotations", {})[seccomp_key(c)] = arg
    holder = c if c is not None else pod["spec"]
    field = peek(holder).get("seccompProfile")
    if field is not None and not profile_annotation_matches(arg, field):
        del holder["securityContext"]["seccompProfile"]
        if c is None:  # keep the pod restricted-compliant: its containers get the profile instead
            for ctr in all_containers(pod["spec"]):
                sc(ctr).setdefault("seccompProfile", copy.deepcopy(field))


def _apply_empty(pod, c, arg):
    if arg == "securityContext":
        c["securityContext"] = {}
    else:
        sc(c)[arg] = {}


def _apply_strip_hardening(pod, c, arg):
    psc = pod_sc(pod)
    for key in ("runAsNonRoot", "seccompProfile"):
        psc.pop(key, None)
    for ctr in all_containers(pod["spec"]):
        ctx = sc(ctr)
        for key in ("allowPrivilegeEscalation", "capabilities", "runAsNonRoot", "seccompProfile"):
            ctx.pop(key, None)


# -- what they trip: arg -> ((check id, version range), ...) ----------------------------------------------------


def _t(*pairs: tuple[str, str]) -> Callable[[Any], tuple[tuple[str, str], ...]]:
    return lambda arg: tuple(pairs)


def _caps_trips(cap):
    if cap in RESTRICTED_ADD_CAPABILITIES and cap in BASELINE_CAPABILITIES:
        return ()
    if cap in BASELINE_CAPABILITIES:
        return (("capabilities_restricted", ">=v1.22"),)
    out = (("capabilities_baseline", "all"),)
    if cap == "CAP_SYS_ADMIN":
        out += (("allowPrivilegeEscalation", ">=v1.8"),)
    return out


def _until(check: str, since: int | None) -> tuple[tuple[str, str], ...]:
    """A value a growing table allows from ``since`` trips ``check`` before it (always, if never allowed)."""
    if since == 0:
        return ()
    return ((check, "all" if since is None else f"<v1.{since}"),)


def _selinux_trips(opts):
    if any(opts.get(f) for f in SELINUX_FORBIDDEN_FIELDS):
        return (("seLinuxOptions", "all"),)
    return _until("seLinuxOptions", allowed_since(SELINUX_TYPES_ADDED, opts.get("type", "")))


def _sysctl_trips(name):
    return _until("sysctls", allowed_since(SYSCTLS_ADDED, name))


def _host_trips(arg):
    return (("hostProbesAndHostLifecycle", ">=v1.34"),) if arg[2] else ()


_SELINUX_ARGS = ({"type": "container_t"}, {"type": "spc_t"}, {"type": "container_engine_t"},
                 {"type": "container_init_t", "level": "s0:c1,c2"}, {"type": "container_kvm_t"},
                 {"user": "system_u"}, {"role": "system_r"}, {"type": "unconfined_t", "role": "sysadm_r"},
                 {"level": "s0"}, {"type": "Container_t"}, {"type": 'x, y (z)"q'})
#: every sysctl the tables allow (by the minor that allows it), then names no minor allows
_SYSCTL_ARGS = (*(n for since in sorted(SYSCTLS_ADDED) for n in sorted(SYSCTLS_ADDED[since])), *FORBIDDEN_SYSCTLS)
_C = ("containers", "initContainers")

_OPERATOR_LIST = [
    Operator("privileged", "privileged", (True, False), _C, _apply_privileged,
             lambda a: (("privileged", "all"), ("allowPrivilegeEscalation", ">=v1.8")) if a else ()),
    Operator("add_capability", "capabilities_baseline",
             ("SYS_ADMIN", "NET_RAW", "NET_ADMIN", "CHOWN", "NET_BIND_SERVICE", "ALL", "CAP_SYS_ADMIN", "sys_admin",
              "SYS_PTRACE", "BPF", "KILL", "SETUID", "AUDIT_WRITE", "cap_chown", "SYS_MODULE",
              "NET_RAW, SYS_ADMIN (x)", 'A"B', ""),
             _C, _apply_add_capability, _caps_trips),
    Operator("drop_capabilities", "capabilities_restricted",
             (None, ("NET_RAW",), ("all",), (), ("CAP_ALL",), ("NET_RAW", "ALL")), _C, _apply_drop,
             lambda a: () if a is not None and RESTRICTED_DROP_CAPABILITY in a else
             (("capabilities_restricted", ">=v1.22"),)),
    Operator("allow_privilege_escalation", "allowPrivilegeEscalation", (True, None), _C,
             _set("allowPrivilegeEscalation", ...), _t(("allowPrivilegeEscalation", ">=v1.8"))),
    Operator("proc_mount", "procMount", ("Unmasked", "Default"), _C, _apply_proc_mount,
             lambda a: () if a in PROC_MOUNT_ALLOWED else (("procMount", "<v1.35"), ("procMount_restricted", ">=v1.35"))),
    Operator("host_users", "procMount", (False, True), ("pod",), _apply_host_users, _t()),
    Operator("selinux", "seLinuxOptions", _SELINUX_ARGS, ("pod", *_C), _set("seLinuxOptions", ...), _selinux_trips),
    Operator("seccomp", "seccompProfile_baseline", ("Unconfined", "Localhost", "RuntimeDefault"),
             ("pod", *_C), _apply_seccomp,
             lambda a: () if a in SECCOMP_ALLOWED_TYPES else (("seccompProfile_baseline", ">=v1.19"),)),
    Operator("remove_pod_seccomp", "seccompProfile_restricted", (None,), ("pod",), _apply_seccomp,
             _t(("seccompProfile_restricted", ">=v1.19"))),
    Operator("apparmor", "appArmorProfile", ("Unconfined", "RuntimeDefault", "Localhost"), ("pod", *_C),
             _apply_apparmor, lambda a: () if a in APPARMOR_ALLOWED_TYPES else (("appArmorProfile", "all"),)),
    Operator("run_as_non_root", "runAsNonRoot", (False, True), ("pod", *_C), _set("runAsNonRoot", ...),
             lambda a: (("runAsNonRoot", "all"),) if a is False else (), oses=("linux", "windows")),
    Operator("remove_pod_run_as_non_root", "runAsNonRoot", (None,), ("pod",), _set("runAsNonRoot", None),
             _t(("runAsNonRoot", "all")), oses=("linux", "windows")),
    Operator("run_as_user", "runAsUser", (0, 1000), ("pod", *_C), _set("runAsUser", ...),
             lambda a: (("runAsUser", ">=v1.23"),) if a == 0 else ()),
    Operator("sysctl", "sysctls", _SYSCTL_ARGS, ("pod",), _apply_sysctl, _sysctl_trips),
    Operator("host_namespace", "hostNamespaces", HOST_NAMESPACE_FIELDS, ("pod",),
             _apply_host_namespace, _t(("hostNamespaces", "all"))),
    Operator("host_network", "hostNamespaces", ("hostNetwork",), ("pod",), _apply_host_namespace,
             _t(("hostNamespaces", "all")), oses=("windows",)),
    Operator("host_path_volume", "hostPathVolumes", ("hostPath",), ("pod",), _apply_volume,
             _t(("hostPathVolumes", "all")), oses=("linux", "windows")),
    Operator("restricted_volume", "restrictedVolumes", tuple(k for k in RESTRICTED_VOLUME_TYPES if k != "hostPath"),
             ("pod",), _apply_volume, _t(("restrictedVolumes", "all")), oses=("linux", "windows")),
    Operator("allowed_volume", "restrictedVolumes", (*ALLOWED_VOLUME_TYPES, ""), ("pod",), _apply_volume, _t(),
             oses=("linux", "windows")),
    Operator("host_port", "hostPorts", ((80, 80), (8080, 18080), (443, 443), (53, 5353), (9090, 0), (9, 9), (10, 10),
                                        (100, 65535)), _C,
             _apply_host_port, lambda a: (("hostPorts", "all"),) if a[1] else (), oses=("linux", "windows"),
             ephemeral=False),
    Operator("probe_host", "hostProbesAndHostLifecycle",
             tuple((p, k, h) for h in _HOSTS for p in PROBE_FIELDS for k in HOST_HANDLERS),
             _C, _apply_probe, _host_trips, oses=("linux", "windows"), ephemeral=False),
    Operator("lifecycle_host", "hostProbesAndHostLifecycle",
             tuple((p, k, h) for h in _HOSTS for p in LIFECYCLE_HOOKS for k in HOST_HANDLERS),
             _C, _apply_lifecycle, _host_trips, oses=("linux", "windows"), ephemeral=False),
    Operator("host_process", "windowsHostProcess", (True,), ("pod", *_C), _apply_host_process,
             _t(("windowsHostProcess", "all"), ("hostNamespaces", "all")), oses=("windows",), ephemeral=False),
    Operator("apparmor_annotation", "appArmorProfile", ("unconfined", "runtime/default", "localhost/custom", ""),
             _C, _apply_annotation(apparmor_key),
             lambda a: () if apparmor_annotation_allowed(a) else (("appArmorProfile", "all"),),
             oses=("linux", "windows"), ephemeral=False),
    Operator("seccomp_annotation", "seccompProfile_baseline",
             ("unconfined", "runtime/default", "docker/default", "localhost/profiles/audit.json"), ("pod", *_C),
             _apply_seccomp_annotation,
             lambda a: () if seccomp_annotation_allowed(a) else (("seccompProfile_baseline", "<v1.19"),),
             oses=("linux", "windows"), ephemeral=False),
    Operator("seccomp_annotation_other_container", "seccompProfile_baseline", ("unconfined", "runtime/default"),
             ("pod",), _apply_annotation(lambda c: f"{SECCOMP_CONTAINER_ANNOTATION_PREFIX}ghost"), _t(),
             oses=("linux", "windows")),
    Operator("empty_object", "capabilities_restricted",
             ("capabilities", "seLinuxOptions", "windowsOptions", "securityContext"), _C, _apply_empty,
             lambda a: {"capabilities": (("capabilities_restricted", ">=v1.22"),),
                        "securityContext": (("allowPrivilegeEscalation", ">=v1.8"),
                                            ("capabilities_restricted", ">=v1.22"))}.get(a, ())),
    Operator("strip_hardening", "runAsNonRoot", (True,), ("pod",), _apply_strip_hardening,
             _t(("allowPrivilegeEscalation", ">=v1.8"), ("capabilities_restricted", ">=v1.22"),
                ("runAsNonRoot", "all"), ("seccompProfile_restricted", ">=v1.19"))),
]
OPERATORS: dict[str, Operator] = {op.name: op for op in _OPERATOR_LIST}


def _validate(operators: list[Operator]) -> None:
    """Raise ``RuntimeError`` naming every operator that is declared twice or declares an unknown check or an
    unparsable version range (explicit raises, not ``assert``: ``python -O`` would strip those)."""
    problems = []
    names = [op.name for op in operators]
    problems += [f"operator {n!r} is declared twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for op in operators:
        for arg in op.args:
            for check, rng in op.trips(arg):
                if check not in CHECKS:
                    problems.append(f"{op.name}({arg!r}) trips unknown check {check!r}")
                try:
                    VersionRange.parse(rng)
                except UsageError as exc:
                    problems.append(f"{op.name}({arg!r}) trips {check} at an invalid version range: {exc}")
    if problems:
        raise RuntimeError("harness.fuzz.operators: " + "; ".join(problems))


_validate(_OPERATOR_LIST)


def _oses(os_name: str | None) -> set[str]:
    return {"linux", "windows"} if os_name is None else {os_name}


def operators_for(os_name: str | None, families: Iterable[str] | None = None, *,
                  ephemeral: bool = False) -> list[Operator]:
    """The operators valid for a pod of ``os_name`` (``None``: unset), optionally only some families.

    Pods with ``os`` unset accept both Linux and Windows fields (a HostProcess pod may keep
    Linux security-context fields), so they get every operator.
    """
    fams = set(families) if families else None
    out = []
    for op in _OPERATOR_LIST:
        if not (set(op.oses) & _oses(os_name)):
            continue
        if os_name is None and op.oses == ("windows",) and op.name == "host_network":
            continue  # host_namespace covers it
        if fams is not None and op.family not in fams and op.name not in fams:
            continue
        if ephemeral and (op.places == ("pod",) or not op.ephemeral):
            continue
        out.append(op)
    return out
