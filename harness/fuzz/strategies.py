"""Hypothesis strategies for valid pods, the fixups that keep them valid, and the cases the driver sends.

* ``base_pods(os_name)`` builds a pod that restricted admits for its OS (Linux, Windows or unset),
  with several containers, init containers and restartable sidecars and *allowed* values of every
  checked field (volumes, sysctls, capabilities, seccomp and AppArmor types, SELinux types, probes
  without a host, ...), drawn from ``harness.policy.tables``. ``hardened_pod`` is the minimal one.
* ``mutations`` draws one of ``harness.fuzz.operators.OPERATORS`` with its argument and target.
* ``fixup`` keeps a mutated pod valid for the API server (the rules of its validation, e.g. no
  ``net.*`` sysctls with ``hostNetwork``, ``Unmasked`` only with ``hostUsers: false``,
  all-or-nothing HostProcess, no Linux-only fields on Windows pods), so that PodSecurity, not
  validation, answers.
* ``fuzz_cases`` puts a ``FuzzCase`` together: a base pod, its mutations, the policies to send it at
  (drawn from ``SPREAD``, any minor, and each mutation's boundary and the version before it), and
  optionally a workload kind and an ephemeral container for the update path.

May import: ``hypothesis``, ``harness.core``, ``harness.policy.tables``, ``harness.fuzz.pods`` and
``harness.fuzz.operators``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Iterable

from hypothesis import strategies as st

from harness.core.checks import newest_minor
from harness.core.model import Level, PolicyVersion
from harness.fuzz.operators import OPERATORS, Mutation, operators_for
from harness.fuzz.pods import (POD_NAME, VOLUME_SOURCES, all_containers, apparmor_key, apparmor_profile, container,
                               handler, peek, profile_annotation_matches, sc, seccomp_profile)
from harness.policy.tables import (ALLOWED_VOLUME_TYPES, APPARMOR_ALLOWED_TYPES, APPARMOR_ANNOTATION_PREFIX,
                                   HOST_HANDLERS, LIFECYCLE_HOOKS, PROBE_FIELDS, PROC_MOUNT_ALLOWED,
                                   RESTRICTED_ADD_CAPABILITIES, RESTRICTED_DROP_CAPABILITY, SECCOMP_ALLOWED_TYPES,
                                   SECCOMP_CONTAINER_ANNOTATION_PREFIX, SECCOMP_POD_ANNOTATION,
                                   allowed_selinux_types, allowed_sysctls)

__all__ = [
    "SPREAD",
    "WINDOWS_FORBIDDEN_POD_SC",
    "WINDOWS_FORBIDDEN_SC",
    "FuzzCase",
    "base_pods",
    "fixup",
    "fuzz_cases",
    "hardened_pod",
    "mutations",
]

NEWEST = newest_minor()
#: the policy versions every case draws from (plus any minor, plus each mutation's boundaries)
SPREAD = ("latest", "v1.0", "v1.18", "v1.19", "v1.22", "v1.24", "v1.25", "v1.30", "v1.31", "v1.34", "v1.35",
          "v1.36", "v1.37")
B, R = Level.BASELINE, Level.RESTRICTED
_NAMES = ("app", "web", "side", "init", "a", "b", "z", "m")
#: SELinux types every policy version allows, besides unset
_SELINUX_TYPES = tuple(sorted(allowed_selinux_types(0) - {""}))
_IPC_SYSCTL = re.compile(r"^(kernel[./](shm|msg|sem)|fs[./]mqueue[./])")
_NET_SYSCTL = re.compile(r"^net[./]")


def _label(minor: int) -> str:
    return str(PolicyVersion(minor))


def _hardened_sc() -> dict:
    """A container securityContext restricted asks for of every container (seccomp and runAsNonRoot aside)."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": [RESTRICTED_DROP_CAPABILITY]}}


# -- mutations -----------------------------------------------------------------------------------------------


@st.composite
def mutations(draw, os_name: str | None = None, families: Iterable[str] | None = None, *,
              ephemeral: bool = False) -> Mutation:
    """One mutation valid for a pod of ``os_name`` (``ephemeral``: for an ephemeral container)."""
    ops = operators_for(os_name, families, ephemeral=ephemeral)
    op = draw(st.sampled_from(ops))
    arg = draw(st.sampled_from(op.args))
    if ephemeral:
        return Mutation(op.name, arg, "ephemeralContainers", 0)
    place = draw(st.sampled_from(op.places + (("all",) if "containers" in op.places else ())))
    index = draw(st.integers(0, 3))  # drawn for every place, so that shrinking prefers containers[0] to "all"
    if place in ("pod", "all"):
        index = 0
    return Mutation(op.name, arg, place, index)


# -- base pods ------------------------------------------------------------------------------------------------


def hardened_pod(containers: int = 1, sidecars: int = 0, inits: int = 0, os_name: str | None = None) -> dict:
    """The minimal restricted-compliant pod (``controls/bases/hardened-pod`` style), for tests and docs."""
    names = iter(_NAMES)
    windows = os_name == "windows"

    def c(**fields) -> dict:
        ctx = {} if windows else _hardened_sc()
        return container(next(names), **({"securityContext": ctx} if ctx else {}), **fields)

    spec: dict = {"securityContext": {"runAsNonRoot": True} if windows else
                  {"runAsNonRoot": True, "seccompProfile": seccomp_profile("RuntimeDefault")}}
    if os_name:
        spec["os"] = {"name": os_name}
    spec["containers"] = [c() for _ in range(containers)]
    init = [c(restartPolicy="Always") for _ in range(sidecars)] + [c() for _ in range(inits)]
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD_NAME}, "spec": spec}


_OS_CHOICES = (None, "linux", None, "windows", None, "linux")
#: the warn path: mostly Deployments, sometimes another kind with a pod template
_WORKLOAD_CHOICES = (None, "Deployment", None, "Deployment", "CronJob", "StatefulSet", "Job", "DaemonSet", "ReplicaSet",
                     "ReplicationController", "PodTemplate", "Deployment")


@st.composite
def _probe_fields(draw, allow: bool) -> dict:
    """Probes and lifecycle hooks without a host (allowed values of hostProbesAndHostLifecycle)."""
    if not allow or not draw(st.booleans()):
        return {}
    out: dict = {}
    for probe in PROBE_FIELDS:
        if draw(st.booleans()):
            kind = draw(st.sampled_from((*HOST_HANDLERS, "grpc")))
            out[probe] = {"grpc": {"port": 8080}} if kind == "grpc" else handler(kind, "")
    if draw(st.booleans()):
        hook = draw(st.sampled_from(LIFECYCLE_HOOKS))
        kind = draw(st.sampled_from((*HOST_HANDLERS, "sleep")))
        out["lifecycle"] = {hook: {"sleep": {"seconds": 1}} if kind == "sleep" else handler(kind, "")}
    return out


@st.composite
def _linux_container(draw, name: str, ranr: bool, seccomp: str | None, probes: bool, init: bool) -> dict:
    ctx: dict = _hardened_sc()
    if draw(st.booleans()):
        ctx["capabilities"]["add"] = sorted(RESTRICTED_ADD_CAPABILITIES)
    if ranr:
        ctx["runAsNonRoot"] = True
    if seccomp:
        ctx["seccompProfile"] = seccomp_profile(seccomp)
    if draw(st.booleans()):  # allowed values of the other checked fields
        extra = draw(st.sets(st.sampled_from(("runAsUser", "readOnlyRootFilesystem", "privileged", "procMount",
                                              "appArmorProfile", "seLinuxOptions", "runAsGroup")), max_size=4))
        if "runAsUser" in extra:
            ctx["runAsUser"] = draw(st.sampled_from((65534, 1000, 1)))
        if "readOnlyRootFilesystem" in extra:
            ctx["readOnlyRootFilesystem"] = True
        if "privileged" in extra:
            ctx["privileged"] = False
        if "procMount" in extra:
            ctx["procMount"] = PROC_MOUNT_ALLOWED[0]
        if "appArmorProfile" in extra:
            ctx["appArmorProfile"] = apparmor_profile(draw(st.sampled_from(APPARMOR_ALLOWED_TYPES)))
        if "seLinuxOptions" in extra:
            ctx["seLinuxOptions"] = {"type": draw(st.sampled_from(_SELINUX_TYPES)), "level": "s0:c1,c2"}
        if "runAsGroup" in extra:
            ctx["runAsGroup"] = 3000
    c = container(name, securityContext=ctx)
    c.update(draw(_ports(init)))
    c.update(draw(_probe_fields(probes)))
    return c


@st.composite
def _windows_container(draw, name: str, probes: bool, init: bool) -> dict:
    c = container(name)
    if draw(st.booleans()):
        c["securityContext"] = {"windowsOptions": {"runAsUserName": "ContainerUser"}}
        if draw(st.booleans()):
            c["securityContext"]["runAsNonRoot"] = True
    c.update(draw(_ports(init)))
    c.update(draw(_probe_fields(probes)))
    return c


@st.composite
def _ports(draw, init: bool) -> dict:
    if not draw(st.booleans()):
        return {}
    ports = draw(st.lists(st.sampled_from((8080, 443, 9090, 53)), min_size=1, max_size=2, unique=True))
    out = [{"containerPort": p} for p in ports]
    if 53 in ports:
        out[ports.index(53)]["protocol"] = "UDP"
    return {"ports": out}


@st.composite
def base_pods(draw, os_name: str | None = None) -> dict:
    """A pod restricted admits at every policy version (at v1.25+ for Windows pods), with 1-3 containers,
    0-2 init containers (plain or restartable sidecars), and allowed values of the checked fields."""
    windows = os_name == "windows"
    n_containers = draw(st.integers(1, 3))
    n_init = draw(st.integers(0, 2))
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=n_containers + n_init, max_size=n_containers + n_init,
                          unique=True))
    wide = draw(st.integers(0, 39)) == 39  # rarely, a wide pod: workload warnings over 4096 runes get truncated
    if wide:
        n_containers = draw(st.integers(12, 25))
        names = [f"c{n_containers + n_init - i:02d}-a-rather-long-container-name-in-a-pod-with-many-containers"
                 for i in range(n_containers + n_init)]
    sidecar = [draw(st.booleans()) for _ in range(n_init)]
    spec: dict = {}
    if os_name:
        spec["os"] = {"name": os_name}
    psc: dict = {}
    if windows:
        psc["runAsNonRoot"] = True
        if draw(st.booleans()):
            psc["windowsOptions"] = {"runAsUserName": "ContainerUser"}
        containers = [draw(_windows_container(n, True, False)) for n in names[:n_containers]]
        init = [draw(_windows_container(n, side, not side)) for n, side in zip(names[n_containers:], sidecar)]
    else:
        ranr_at = draw(st.sampled_from(("pod", "containers", "both")))
        seccomp_at = draw(st.sampled_from(("pod", "containers", "both")))
        seccomp_type = draw(st.sampled_from(SECCOMP_ALLOWED_TYPES))
        if ranr_at != "containers":
            psc["runAsNonRoot"] = True
        if seccomp_at != "containers":
            psc["seccompProfile"] = seccomp_profile(seccomp_type)
        c_ranr = ranr_at != "pod"
        c_seccomp = seccomp_type if seccomp_at != "pod" else None
        containers = [draw(_linux_container(n, c_ranr, c_seccomp, True, False)) for n in names[:n_containers]]
        init = [draw(_linux_container(n, c_ranr, c_seccomp, side, not side))
                for n, side in zip(names[n_containers:], sidecar)]
        if draw(st.booleans()):
            extra = draw(st.sets(st.sampled_from(("runAsUser", "fsGroup", "seLinuxOptions", "appArmorProfile",
                                                  "sysctls", "supplementalGroups")), max_size=4))
            if "runAsUser" in extra:
                psc["runAsUser"] = draw(st.sampled_from((65534, 1000)))
            if "fsGroup" in extra:
                psc["fsGroup"] = 2000
            if "supplementalGroups" in extra:
                psc["supplementalGroups"] = [4000]
            if "seLinuxOptions" in extra:
                psc["seLinuxOptions"] = {"type": draw(st.sampled_from(("", *_SELINUX_TYPES))), "level": "s0:c1,c2"}
            if "appArmorProfile" in extra:
                psc["appArmorProfile"] = apparmor_profile(draw(st.sampled_from(APPARMOR_ALLOWED_TYPES)))
            if "sysctls" in extra:
                names_ = draw(st.lists(st.sampled_from(sorted(allowed_sysctls(0))),
                                       min_size=1, max_size=2, unique=True))
                psc["sysctls"] = [{"name": n, "value": "1"} for n in names_]
    for c, side in zip(init, sidecar):
        if side:
            c["restartPolicy"] = "Always"
    spec["securityContext"] = psc
    if init:
        spec["initContainers"] = init
    spec["containers"] = containers
    volumes = draw(st.lists(st.sampled_from((*ALLOWED_VOLUME_TYPES, "")), max_size=2))
    if volumes:
        spec["volumes"] = [{"name": f"v{i}", **({k: copy.deepcopy(VOLUME_SOURCES[k])} if k else {})}
                           for i, k in enumerate(volumes)]
    meta: dict = {"name": POD_NAME}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if wide and not windows and draw(st.booleans()):
        OPERATORS["strip_hardening"].apply(pod, None, True)  # every restricted check lists every container
    if draw(st.booleans()):
        meta["annotations"] = {"example.com/owner": "fuzz"}
        if not windows and draw(st.booleans()):
            c = containers[0]
            meta["annotations"][apparmor_key(c)] = "runtime/default"
    return pod


# -- validity ------------------------------------------------------------------------------------------------

WINDOWS_FORBIDDEN_POD_SC = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "fsGroup", "fsGroupChangePolicy",
                            "sysctls", "runAsUser", "runAsGroup", "supplementalGroups", "supplementalGroupsPolicy",
                            "seLinuxChangePolicy")
WINDOWS_FORBIDDEN_SC = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "capabilities",
                        "readOnlyRootFilesystem", "privileged", "allowPrivilegeEscalation", "procMount", "runAsUser",
                        "runAsGroup")


def fixup(pod: dict, *, ephemeral: list[dict] | None = None) -> dict:
    """Make a mutated pod valid for the API server (in place; returns it).

    Each rule mirrors a validation error the API server answers with 422; where a mutation
    conflicts with another, the later rule here decides (documented per line).
    """
    spec = pod["spec"]
    meta = pod["metadata"]
    os_name = (spec.get("os") or {}).get("name")
    every = all_containers(spec) + list(ephemeral or ())
    if os_name == "windows":  # Linux-only fields are forbidden on Windows pods
        psc = peek(spec)
        for key in WINDOWS_FORBIDDEN_POD_SC:
            psc.pop(key, None)
        for key in ("hostUsers", "hostPID", "hostIPC", "shareProcessNamespace"):
            spec.pop(key, None)
        for c in every:
            for key in WINDOWS_FORBIDDEN_SC:
                peek(c).pop(key, None)
    if os_name == "linux":  # windowsOptions are forbidden on Linux pods
        peek(spec).pop("windowsOptions", None)
        for c in every:
            peek(c).pop("windowsOptions", None)
    host_process = (peek(spec).get("windowsOptions") or {}).get("hostProcess") is True or \
        any((peek(c).get("windowsOptions") or {}).get("hostProcess") is True for c in all_containers(spec))
    if host_process:  # a HostProcess pod: every container HostProcess, on the host network
        for c in every:
            wo = sc(c).setdefault("windowsOptions", {})
            if wo.get("hostProcess") is not True:
                wo["hostProcess"] = True
        spec["hostNetwork"] = True
    else:
        for c in ephemeral or ():
            (peek(c).get("windowsOptions") or {}).pop("hostProcess", None)
    if spec.get("hostUsers") is False and (host_process or any(spec.get(k) for k in ("hostNetwork", "hostPID",
                                                                                         "hostIPC"))):
        del spec["hostUsers"]  # a user-namespaced pod may not share host namespaces
    for c in every:
        ctx = peek(c)
        if ctx.get("procMount") == "Unmasked" and spec.get("hostUsers") is not False:
            ctx["procMount"] = PROC_MOUNT_ALLOWED[0]  # Unmasked needs hostUsers: false
        adds = (ctx.get("capabilities") or {}).get("add") or ()
        if (ctx.get("privileged") is True or "CAP_SYS_ADMIN" in adds) and ctx.get("allowPrivilegeEscalation") is False:
            del ctx["allowPrivilegeEscalation"]
    psc = peek(spec)
    if psc.get("sysctls"):
        seen, kept = set(), []
        for s in psc["sysctls"]:
            n = s["name"]
            if n in seen or (spec.get("hostNetwork") and _NET_SYSCTL.match(n)) or \
                    (spec.get("hostIPC") and _IPC_SYSCTL.match(n)):
                continue
            seen.add(n)
            kept.append(s)
        if kept:
            psc["sysctls"] = kept
        else:
            del psc["sysctls"]
    host_net = spec.get("hostNetwork") is True
    used: set = set()
    for c in all_containers(spec):
        kept = []
        for p in c.get("ports") or ():
            if host_net and p.get("hostPort"):
                p["hostPort"] = p["containerPort"]  # must equal containerPort on the host network
            hp = p.get("hostPort") or (p["containerPort"] if host_net else 0)
            key = (hp, p.get("protocol", "TCP"))
            if hp and key in used:
                continue  # duplicate host port
            used.add(key)
            kept.append(p)
        if kept:
            c["ports"] = kept
        else:
            c.pop("ports", None)
    for c in spec.get("initContainers") or ():
        if c.get("restartPolicy") != "Always":  # plain init containers have no probes or hooks
            for key in (*PROBE_FIELDS, "lifecycle"):
                c.pop(key, None)
    for c in ephemeral or ():
        for key in ("ports", *PROBE_FIELDS, "lifecycle", "resources"):
            c.pop(key, None)
    annotations = meta.get("annotations") or {}
    names = {c["name"]: c for c in all_containers(spec)}
    for key in list(annotations):
        value = str(annotations[key])
        if key.startswith(APPARMOR_ANNOTATION_PREFIX):
            c = names.get(key.split("/", 1)[1])
            if c is None or not profile_annotation_matches(value, peek(c).get("appArmorProfile")) and value:
                del annotations[key]  # unknown container, or the field says otherwise
            elif not value and (peek(c).get("appArmorProfile") or psc.get("appArmorProfile")) is not None:
                del annotations[key]  # an empty annotation must agree with the (inherited) field: it cannot
        elif key == SECCOMP_POD_ANNOTATION:
            if not profile_annotation_matches(value, psc.get("seccompProfile")):
                del annotations[key]
        elif key.startswith(SECCOMP_CONTAINER_ANNOTATION_PREFIX):
            c = names.get(key.split("/", 1)[1])
            if c is not None and not profile_annotation_matches(value, peek(c).get("seccompProfile")):
                del annotations[key]  # (an annotation for a container the pod does not have is valid, and ignored)
    if "annotations" in meta and not meta["annotations"]:
        del meta["annotations"]
    return pod


# -- cases ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class FuzzCase:
    """One generated example: a pod, where to send it, and optional extras."""

    pod: dict                                   #: the Pod (valid, fixed up)
    mutations: tuple[Mutation, ...]             #: what was changed on the base pod
    policies: tuple[tuple[Level, str], ...]     #: (level, version label) to send the Pod at
    workload: str | None = None                 #: also send it as this workload kind (warn path)...
    workload_at: int = 0                        #: ... at policies[workload_at]
    ephemeral_base: dict | None = None          #: the pod before mutations, running target of the update path
    ephemeral: tuple[dict, ...] = ()            #: ephemeral containers added to it through pods/ephemeralcontainers
    ephemeral_mutations: tuple[Mutation, ...] = ()
    ephemeral_at: int = 0                       #: which of the policies that admit the base pod to use

    def __repr__(self) -> str:
        extra = f", workload={self.workload}@{self.workload_at}" if self.workload else ""
        if self.ephemeral:
            extra += f", ephemeral={json.dumps(list(self.ephemeral), sort_keys=True)}"
        return (f"FuzzCase(mutations={list(self.mutations)!r}, policies={[f'{lv.value}:{v}' for lv, v in self.policies]}"
                f"{extra}, pod={json.dumps(self.pod, sort_keys=True)})")


@st.composite
def fuzz_cases(draw, families: Iterable[str] | None = None, *, max_mutations: int = 4, workloads: bool = True,
               ephemeral: bool = True, newest: int = NEWEST) -> FuzzCase:
    """A case: a base pod, 0..``max_mutations`` mutations, policy versions (drawn from ``SPREAD``, any minor,
    and each mutation's boundary and the version before it), at baseline and restricted."""
    families = tuple(families) if families else None
    os_name = draw(st.sampled_from(_OS_CHOICES))
    pod = draw(base_pods(os_name))
    base = copy.deepcopy(pod)
    at_least = draw(st.sampled_from((0, 1, 1, 1, 1, 1)))  # mostly mutated; unmutated bases exercise the allowed values
    most = max_mutations if operators_for(os_name, families) else 0  # (--families may leave none for this OS)
    muts = tuple(draw(st.lists(mutations(os_name, families), min_size=min(at_least, most), max_size=most)))
    for m in muts:
        m.apply(pod)
    fixup(pod)
    eph, eph_muts, eph_base = (), (), None
    if ephemeral and os_name != "windows" and draw(st.integers(0, 5)) == 5:
        eph_base = fixup(base)
        debugger = container("debugger", securityContext=_hardened_sc())
        if draw(st.booleans()):
            debugger.pop("securityContext")
        eph_muts = tuple(draw(st.lists(mutations(os_name, None, ephemeral=True), max_size=2)))
        holder = copy.deepcopy(eph_base)
        holder["spec"]["ephemeralContainers"] = [debugger]
        for m in eph_muts:
            m.apply(holder)
        debugger = holder["spec"]["ephemeralContainers"][0]
        if holder["spec"].get("hostUsers") is False and eph_base["spec"].get("hostUsers") is not False:
            sc(debugger)["procMount"] = PROC_MOUNT_ALLOWED[0]  # hostUsers cannot change on a running pod
        fixup(eph_base, ephemeral=[debugger])
        eph = (debugger,)
    versions = list(draw(st.lists(st.one_of(st.sampled_from(SPREAD), st.integers(0, newest + 1).map(_label)),
                                  min_size=1, max_size=2, unique=True)))
    for m in (*muts, *eph_muts):
        for b in sorted(m.boundaries()):
            for v in (_label(b - 1), _label(b)):
                if v not in versions and len(versions) < 5:
                    versions.append(v)
    policies = tuple((lv, v) for v in versions for lv in (B, R))
    workload = draw(st.sampled_from(_WORKLOAD_CHOICES)) if workloads else None
    workload_at = draw(st.integers(0, len(policies) - 1)) if workload else 0
    eph_at = draw(st.integers(0, len(policies) - 1)) if eph else 0
    return FuzzCase(pod, muts, policies, workload, workload_at, eph_base, eph, eph_muts, eph_at)

