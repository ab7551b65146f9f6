"""Differential fuzzing: the offline evaluator (``harness.policy``) against a real kube-apiserver.

Hypothesis generates *valid* pods (so that PodSecurity, not API validation, answers), the
evaluator predicts what PodSecurity says about each at several levels and policy versions, and
the pod is sent by server-side dry-run into namespaces labelled
``pod-security.kubernetes.io/enforce=<level>`` + ``enforce-version=<v>``. The server is the
arbiter: a 403 message must equal ``pods "<name>" is forbidden: `` + the predicted
``violates PodSecurity ...`` text verbatim, the checks parsed from it must equal the predicted
checks, and the pod is admitted exactly when the evaluator allows it. Some pods are also sent
as a Deployment or another workload kind (the ``would violate`` warning must equal the prediction
for the template) and
some get an ephemeral container through the ``pods/ephemeralcontainers`` update path.

The pieces:

* **strategies** (pure): ``base_pods`` builds a pod that is restricted-compliant for its OS
  (Linux, Windows or unset), with several containers, init containers and restartable sidecars
  and *allowed* values of every checked field (allowed volumes, sysctls, capabilities, seccomp
  and AppArmor types, SELinux types, probes without a host, ...). ``mutations`` draws
  **mutation operators** (``OPERATORS``): each makes one change and knows the check(s) and
  policy versions it trips on a hardened Linux pod, e.g. ``add_capability("SYS_ADMIN")`` trips
  ``capabilities_baseline`` at every version and ``sysctl("net.ipv4.tcp_rmem")`` trips
  ``sysctls`` before v1.32. Those versions steer which policy versions a case is sent at (the
  boundary and the version before it), and ``tests/unit/test_fuzz.py`` holds the evaluator to
  them. ``fixup`` keeps combinations valid (API validation rules, e.g. no ``net.*`` sysctls
  with ``hostNetwork``, ``Unmasked`` only with ``hostUsers: false``, all-or-nothing HostProcess,
  no Linux-only fields on Windows pods). ``fuzz_cases`` puts a case together.
* **the driver** (``Fuzzer``): talks to the cluster only through ``Runtime.execute_many`` (one
  batch of concurrent requests per case), compares, counts 422s (not disagreements) and, on a
  disagreement, raises ``Disagreement`` with the predicted and observed texts. Hypothesis
  then shrinks the case; on the final replay of the shrunk case the driver writes a regression
  scenario (``scenarios/regressions/<id>.yaml``) whose expected checks are what the server
  reports for that pod at every level and policy version (the server is the arbiter).
* **commands**: ``run(runtime, examples=...)`` for tests; ``python -m harness.fuzz --examples 5000
  [--k8s-version 1.34] [--seed N]`` for nightly runs (progress, summary, exit 1 on any
  disagreement).
"""

from __future__ import annotations

import argparse
import collections
import copy
import dataclasses
import hashlib
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from hypothesis import strategies as st

from harness.core.checks import CHECKS, newest_minor
from harness.core.expectations import Policy
from harness.core.model import Level, Mode, Outcome, PolicyVersion, VersionRange
from harness.policy import admitted_pod, evaluate_object, evaluate_pod
from harness.core.kinds import WORKLOAD_KINDS, as_kind
from harness.corpus.scenarios import ANNOTATION

__all__ = [
    "IMAGE",
    "OPERATORS",
    "SPREAD",
    "Disagreement",
    "FuzzCase",
    "FuzzReport",
    "Fuzzer",
    "Mutation",
    "Operator",
    "base_pods",
    "fixup",
    "fuzz_cases",
    "hardened_pod",
    "main",
    "mutations",
    "run",
]

IMAGE = "registry.k8s.io/pause:3.10"
POD_NAME = "fuzz"
NEWEST = newest_minor()
DEFAULT_REGRESSIONS = Path("scenarios") / "regressions"  # relative: a fuzz run writes into the checkout it runs in
#: the policy versions every case draws from (plus any minor, plus each mutation's boundaries)
SPREAD = ("latest", "v1.0", "v1.18", "v1.19", "v1.22", "v1.24", "v1.25", "v1.30", "v1.31", "v1.34", "v1.35",
          "v1.36", "v1.37")
B, R = Level.BASELINE, Level.RESTRICTED
PSS_URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"

# -- independent facts the mutation operators are written from (pss-reference.md, not harness.policy) ---------

_BASELINE_CAPS = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                            "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
#: sysctl -> the first policy minor that allows it
_SYSCTL_SINCE = {
    "kernel.shm_rmid_forced": 0, "net.ipv4.ip_local_port_range": 0, "net.ipv4.tcp_syncookies": 0,
    "net.ipv4.ping_group_range": 0, "net.ipv4.ip_unprivileged_port_start": 0,
    "net.ipv4.ip_local_reserved_ports": 27,
    "net.ipv4.tcp_keepalive_time": 29, "net.ipv4.tcp_fin_timeout": 29, "net.ipv4.tcp_keepalive_intvl": 29,
    "net.ipv4.tcp_keepalive_probes": 29,
    "net.ipv4.tcp_rmem": 32, "net.ipv4.tcp_wmem": 32,
    "net.ipv4.tcp_slow_start_after_idle": 37, "net.ipv4.tcp_notsent_lowat": 37,
}
_FORBIDDEN_SYSCTLS = ("kernel.msgmax", "net.core.somaxconn", "kernel.sem", "net.ipv4.ip_forward", "vm.swappiness",
                      "net/ipv4/tcp_rmem", "kernel.shm_rmid_forced.x", "net.ipv4.conf.eth0/1.rp_filter")
_SELINUX_TYPES_V1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
_RESTRICTED_VOLUMES = {
    "hostPath": {"path": "/var/run"},
    "nfs": {"server": "nfs.example.com", "path": "/export"},
    "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0},
    "rbd": {"monitors": ["10.0.0.1:6789"], "image": "img"},
    "cephfs": {"monitors": ["10.0.0.1:6789"]},
    "glusterfs": {"endpoints": "ep", "path": "vol"},
    "fc": {"targetWWNs": ["500a0982991b8dc5"], "lun": 0},
    "flexVolume": {"driver": "example.com/x"},
    "azureDisk": {"diskName": "d", "diskURI": "https://example.com/d"},
    "azureFile": {"secretName": "s", "shareName": "share"},
    "gcePersistentDisk": {"pdName": "pd"},
    "awsElasticBlockStore": {"volumeID": "vol-1"},
    "cinder": {"volumeID": "v"},
    "vsphereVolume": {"volumePath": "[ds] vol"},
    "portworxVolume": {"volumeID": "v"},
    "scaleIO": {"gateway": "https://gw.example.com", "system": "s", "secretRef": {"name": "s"}, "volumeName": "v"},
    "storageos": {"volumeName": "v"},
    "quobyte": {"registry": "reg.example.com:7861", "volume": "v"},
    "flocker": {"datasetName": "d"},
    "photonPersistentDisk": {"pdID": "p"},
    "gitRepo": {"repository": "https://example.com/r.git"},
}
_ALLOWED_VOLUMES = {
    "configMap": {"name": "cm"},
    "secret": {"secretName": "s"},
    "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
    "emptyDir": {},
    "projected": {"sources": [{"configMap": {"name": "cm"}}]},
    "persistentVolumeClaim": {"claimName": "pvc"},
    "csi": {"driver": "csi.example.com"},
    "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}}},
    "image": {"reference": IMAGE},
    "": None,  # no source at all: defaulted to emptyDir
}
_HOSTS = ("127.0.0.1", "::1", "bad.host", "169.254.169.254", "localhost", "10.0.0.1", "", "a.b, c (d)", 'x"y')
_NAMES = ("app", "web", "side", "init", "a", "b", "z", "m")
_VOLUME_NAMES = ("data", "a", "z", "cache", "m", "v")
_IPC_SYSCTL = re.compile(r"^(kernel[./](shm|msg|sem)|fs[./]mqueue[./])")


# -- mutation operators --------------------------------------------------------------------------------------


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
            for c in _all_containers(spec):
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


def _sc(c: dict) -> dict:
    sc = c.get("securityContext")
    if not isinstance(sc, dict):
        sc = c["securityContext"] = {}
    return sc


def _peek(obj: dict) -> dict:
    """``obj``'s securityContext for reading (a throwaway ``{}`` when it has none: nothing is added)."""
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _psc(pod: dict) -> dict:
    return _sc(pod["spec"])


def _all_containers(spec: dict, ephemeral: bool = False) -> list[dict]:
    keys = ("initContainers", "containers", "ephemeralContainers") if ephemeral else ("initContainers", "containers")
    return [c for k in keys for c in spec.get(k) or ()]


def _set(key: str, value: Any) -> Callable[[dict, dict | None, Any], None]:
    def apply(pod: dict, c: dict | None, arg: Any) -> None:
        sc = _sc(c) if c is not None else _psc(pod)
        v = value if value is not ... else arg
        if v is None:
            sc.pop(key, None)
        else:
            sc[key] = copy.deepcopy(v)
    return apply


def _apply_privileged(pod, c, arg):
    sc = _sc(c)
    sc["privileged"] = arg
    if arg and sc.get("allowPrivilegeEscalation") is False:
        del sc["allowPrivilegeEscalation"]  # validation: privileged and allowPrivilegeEscalation=false conflict


def _apply_add_capability(pod, c, arg):
    sc = _sc(c)
    caps = sc.setdefault("capabilities", {})
    if arg not in caps.setdefault("add", []):
        caps["add"].append(arg)
    if arg == "CAP_SYS_ADMIN" and sc.get("allowPrivilegeEscalation") is False:
        del sc["allowPrivilegeEscalation"]  # validation: CAP_SYS_ADMIN and allowPrivilegeEscalation=false conflict


def _apply_drop(pod, c, arg):
    sc = _sc(c)
    if arg is None:
        sc.pop("capabilities", None)
    else:
        sc.setdefault("capabilities", {})["drop"] = list(arg)


def _apply_proc_mount(pod, c, arg):
    _sc(c)["procMount"] = arg
    if arg == "Unmasked":
        pod["spec"]["hostUsers"] = False  # validation: Unmasked needs a user namespace


def _apply_host_users(pod, c, arg):
    pod["spec"]["hostUsers"] = arg


def _seccomp(type_: str | None) -> dict | None:
    if type_ is None:
        return None
    if type_ == "Localhost":
        return {"type": "Localhost", "localhostProfile": "profiles/audit.json"}
    return {"type": type_}


def _apparmor(type_: str | None) -> dict | None:
    if type_ is None:
        return None
    if type_ == "Localhost":
        return {"type": "Localhost", "localhostProfile": "k8s-apparmor-example"}
    return {"type": type_}


def _apply_seccomp(pod, c, arg):
    _set("seccompProfile", _seccomp(arg))(pod, c, arg)


def _apply_apparmor(pod, c, arg):
    _set("appArmorProfile", _apparmor(arg))(pod, c, arg)


def _apply_sysctl(pod, c, arg):
    sysctls = _psc(pod).setdefault("sysctls", [])
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
    source = _RESTRICTED_VOLUMES.get(arg, _ALLOWED_VOLUMES.get(arg))
    volumes.append({"name": name, **({arg: copy.deepcopy(source)} if arg else {})})


def _apply_host_port(pod, c, arg):
    container_port, host_port = arg
    c.setdefault("ports", []).append({"containerPort": container_port, "hostPort": host_port})


def _make_sidecar(pod: dict, c: dict) -> None:
    if c in (pod["spec"].get("initContainers") or ()):
        c["restartPolicy"] = "Always"  # probes and lifecycle hooks need a restartable init container


def _handler(kind: str, host: str) -> dict:
    if kind == "httpGet":
        h = {"path": "/healthz", "port": 8080}
    else:
        h = {"port": 8080}
    if host:
        h["host"] = host
    return {kind: h}


def _apply_probe(pod, c, arg):
    probe, kind, host = arg
    _make_sidecar(pod, c)
    c[probe] = _handler(kind, host)


def _apply_lifecycle(pod, c, arg):
    hook, kind, host = arg
    _make_sidecar(pod, c)
    c.setdefault("lifecycle", {})[hook] = _handler(kind, host)


def _apply_host_process(pod, c, arg):
    sc = _sc(c) if c is not None else _psc(pod)
    sc.setdefault("windowsOptions", {})["hostProcess"] = True
    # fixup makes it valid: every container HostProcess, hostNetwork: true


def _apply_annotation(prefix_for: Callable[[dict | None], str]):
    def apply(pod, c, arg):
        pod["metadata"].setdefault("annotations", {})[prefix_for(c)] = arg
    return apply


def _apply_seccomp_annotation(pod, c, arg):
    """Set a seccomp annotation; a field it contradicts is moved out of the way (validation requires the pod
    annotation to match the pod field and a container annotation to match that container's field)."""
    pod["metadata"].setdefault("annotations", {})[_seccomp_key(c)] = arg
    holder = c if c is not None else pod["spec"]
    field = _peek(holder).get("seccompProfile")
    if field is not None and not _profile_annotation_matches(arg, field):
        del holder["securityContext"]["seccompProfile"]
        if c is None:  # keep the pod restricted-compliant: its containers get the profile instead
            for ctr in _all_containers(pod["spec"]):
                _sc(ctr).setdefault("seccompProfile", copy.deepcopy(field))


def _apparmor_key(c: dict | None) -> str:
    return f"container.apparmor.security.beta.kubernetes.io/{c['name']}"


def _seccomp_key(c: dict | None) -> str:
    return "seccomp.security.alpha.kubernetes.io/pod" if c is None else \
        f"container.seccomp.security.alpha.kubernetes.io/{c['name']}"


def _apply_empty(pod, c, arg):
    if arg == "securityContext":
        c["securityContext"] = {}
    else:
        _sc(c)[arg] = {}


def _apply_strip_hardening(pod, c, arg):
    psc = _psc(pod)
    for key in ("runAsNonRoot", "seccompProfile"):
        psc.pop(key, None)
    for ctr in _all_containers(pod["spec"]):
        sc = _sc(ctr)
        for key in ("allowPrivilegeEscalation", "capabilities", "runAsNonRoot", "seccompProfile"):
            sc.pop(key, None)


# trips helpers

def _t(*pairs: tuple[str, str]) -> Callable[[Any], tuple[tuple[str, str], ...]]:
    return lambda arg: tuple(pairs)


def _caps_trips(cap):
    if cap == "NET_BIND_SERVICE":
        return ()
    if cap in _BASELINE_CAPS:
        return (("capabilities_restricted", ">=v1.22"),)
    out = (("capabilities_baseline", "all"),)
    if cap == "CAP_SYS_ADMIN":
        out += (("allowPrivilegeEscalation", ">=v1.8"),)
    return out


def _selinux_trips(opts):
    if opts.get("user") or opts.get("role"):
        return (("seLinuxOptions", "all"),)
    t = opts.get("type", "")
    if t == "container_engine_t":
        return (("seLinuxOptions", "<v1.31"),)
    return () if t in _SELINUX_TYPES_V1_0 else (("seLinuxOptions", "all"),)


def _sysctl_trips(name):
    since = _SYSCTL_SINCE.get(name)
    if since == 0:
        return ()
    return (("sysctls", "all" if since is None else f"<v1.{since}"),)


def _host_trips(arg):
    return (("hostProbesAndHostLifecycle", ">=v1.34"),) if arg[2] else ()


_SELINUX_ARGS = ({"type": "container_t"}, {"type": "spc_t"}, {"type": "container_engine_t"},
                 {"type": "container_init_t", "level": "s0:c1,c2"}, {"type": "container_kvm_t"},
                 {"user": "system_u"}, {"role": "system_r"}, {"type": "unconfined_t", "role": "sysadm_r"},
                 {"level": "s0"}, {"type": "Container_t"}, {"type": 'x, y (z)"q'})
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
             lambda a: () if a is not None and "ALL" in a else (("capabilities_restricted", ">=v1.22"),)),
    Operator("allow_privilege_escalation", "allowPrivilegeEscalation", (True, None), _C,
             _set("allowPrivilegeEscalation", ...), _t(("allowPrivilegeEscalation", ">=v1.8"))),
    Operator("proc_mount", "procMount", ("Unmasked", "Default"), _C, _apply_proc_mount,
             lambda a: (("procMount", "<v1.35"), ("procMount_restricted", ">=v1.35")) if a == "Unmasked" else ()),
    Operator("host_users", "procMount", (False, True), ("pod",), _apply_host_users, _t()),
    Operator("selinux", "seLinuxOptions", _SELINUX_ARGS, ("pod", *_C), _set("seLinuxOptions", ...), _selinux_trips),
    Operator("seccomp", "seccompProfile_baseline", ("Unconfined", "Localhost", "RuntimeDefault"),
             ("pod", *_C), _apply_seccomp,
             lambda a: (("seccompProfile_baseline", ">=v1.19"),) if a == "Unconfined" else ()),
    Operator("remove_pod_seccomp", "seccompProfile_restricted", (None,), ("pod",), _apply_seccomp,
             _t(("seccompProfile_restricted", ">=v1.19"))),
    Operator("apparmor", "appArmorProfile", ("Unconfined", "RuntimeDefault", "Localhost"), ("pod", *_C),
             _apply_apparmor, lambda a: (("appArmorProfile", "all"),) if a == "Unconfined" else ()),
    Operator("run_as_non_root", "runAsNonRoot", (False, True), ("pod", *_C), _set("runAsNonRoot", ...),
             lambda a: (("runAsNonRoot", "all"),) if a is False else (), oses=("linux", "windows")),
    Operator("remove_pod_run_as_non_root", "runAsNonRoot", (None,), ("pod",), _set("runAsNonRoot", None),
             _t(("runAsNonRoot", "all")), oses=("linux", "windows")),
    Operator("run_as_user", "runAsUser", (0, 1000), ("pod", *_C), _set("runAsUser", ...),
             lambda a: (("runAsUser", ">=v1.23"),) if a == 0 else ()),
    Operator("sysctl", "sysctls", (*_SYSCTL_SINCE, *_FORBIDDEN_SYSCTLS), ("pod",), _apply_sysctl, _sysctl_trips),
    Operator("host_namespace", "hostNamespaces", ("hostNetwork", "hostPID", "hostIPC"), ("pod",),
             _apply_host_namespace, _t(("hostNamespaces", "all"))),
    Operator("host_network", "hostNamespaces", ("hostNetwork",), ("pod",), _apply_host_namespace,
             _t(("hostNamespaces", "all")), oses=("windows",)),
    Operator("host_path_volume", "hostPathVolumes", ("hostPath",), ("pod",), _apply_volume,
             _t(("hostPathVolumes", "all")), oses=("linux", "windows")),
    Operator("restricted_volume", "restrictedVolumes", tuple(k for k in _RESTRICTED_VOLUMES if k != "hostPath"),
             ("pod",), _apply_volume, _t(("restrictedVolumes", "all")), oses=("linux", "windows")),
    Operator("allowed_volume", "restrictedVolumes", tuple(_ALLOWED_VOLUMES), ("pod",), _apply_volume, _t(),
             oses=("linux", "windows")),
    Operator("host_port", "hostPorts", ((80, 80), (8080, 18080), (443, 443), (53, 5353), (9090, 0), (9, 9), (10, 10),
                                        (100, 65535)), _C,
             _apply_host_port, lambda a: (("hostPorts", "all"),) if a[1] else (), oses=("linux", "windows"),
             ephemeral=False),
    Operator("probe_host", "hostProbesAndHostLifecycle",
             tuple((p, k, h) for h in _HOSTS for p in ("livenessProbe", "readinessProbe", "startupProbe")
                   for k in ("httpGet", "tcpSocket")),
             _C, _apply_probe, _host_trips, oses=("linux", "windows"), ephemeral=False),
    Operator("lifecycle_host", "hostProbesAndHostLifecycle",
             tuple((p, k, h) for h in _HOSTS for p in ("postStart", "preStop") for k in ("httpGet", "tcpSocket")),
             _C, _apply_lifecycle, _host_trips, oses=("linux", "windows"), ephemeral=False),
    Operator("host_process", "windowsHostProcess", (True,), ("pod", *_C), _apply_host_process,
             _t(("windowsHostProcess", "all"), ("hostNamespaces", "all")), oses=("windows",), ephemeral=False),
    Operator("apparmor_annotation", "appArmorProfile", ("unconfined", "runtime/default", "localhost/custom", ""),
             _C, _apply_annotation(_apparmor_key), lambda a: (("appArmorProfile", "all"),) if a == "unconfined" else (),
             oses=("linux", "windows"), ephemeral=False),
    Operator("seccomp_annotation", "seccompProfile_baseline",
             ("unconfined", "runtime/default", "docker/default", "localhost/profiles/audit.json"), ("pod", *_C),
             _apply_seccomp_annotation,
             lambda a: (("seccompProfile_baseline", "<v1.19"),) if a == "unconfined" else (),
             oses=("linux", "windows"), ephemeral=False),
    Operator("seccomp_annotation_other_container", "seccompProfile_baseline", ("unconfined", "runtime/default"),
             ("pod",), _apply_annotation(lambda c: "container.seccomp.security.alpha.kubernetes.io/ghost"), _t(),
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
assert len(OPERATORS) == len(_OPERATOR_LIST)
for _op in _OPERATOR_LIST:
    for _arg in _op.args:
        for _check, _rng in _op.trips(_arg):
            assert _check in CHECKS, (_op.name, _check)
            VersionRange.parse(_rng)


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


def _container(name: str, **fields) -> dict:
    return {"name": name, "image": IMAGE, **fields}


def hardened_pod(containers: int = 1, sidecars: int = 0, inits: int = 0, os_name: str | None = None) -> dict:
    """The minimal restricted-compliant pod (``controls/bases/hardened-pod`` style), for tests and docs."""
    names = iter(_NAMES)
    windows = os_name == "windows"

    def c(**fields) -> dict:
        sc = {} if windows else {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        return _container(next(names), **({"securityContext": sc} if sc else {}), **fields)

    spec: dict = {"securityContext": {"runAsNonRoot": True} if windows else
                  {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}
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
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if draw(st.booleans()):
            kind = draw(st.sampled_from(("httpGet", "tcpSocket", "grpc")))
            out[probe] = {"grpc": {"port": 8080}} if kind == "grpc" else _handler(kind, "")
    if draw(st.booleans()):
        hook = draw(st.sampled_from(("postStart", "preStop")))
        kind = draw(st.sampled_from(("httpGet", "tcpSocket", "sleep")))
        out["lifecycle"] = {hook: {"sleep": {"seconds": 1}} if kind == "sleep" else _handler(kind, "")}
    return out


@st.composite
def _linux_container(draw, name: str, ranr: bool, seccomp: str | None, probes: bool, init: bool) -> dict:
    sc: dict = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if draw(st.booleans()):
        sc["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    if ranr:
        sc["runAsNonRoot"] = True
    if seccomp:
        sc["seccompProfile"] = _seccomp(seccomp)
    if draw(st.booleans()):  # allowed values of the other checked fields
        extra = draw(st.sets(st.sampled_from(("runAsUser", "readOnlyRootFilesystem", "privileged", "procMount",
                                              "appArmorProfile", "seLinuxOptions", "runAsGroup")), max_size=4))
        if "runAsUser" in extra:
            sc["runAsUser"] = draw(st.sampled_from((65534, 1000, 1)))
        if "readOnlyRootFilesystem" in extra:
            sc["readOnlyRootFilesystem"] = True
        if "privileged" in extra:
            sc["privileged"] = False
        if "procMount" in extra:
            sc["procMount"] = "Default"
        if "appArmorProfile" in extra:
            sc["appArmorProfile"] = _apparmor(draw(st.sampled_from(("RuntimeDefault", "Localhost"))))
        if "seLinuxOptions" in extra:
            sc["seLinuxOptions"] = {"type": draw(st.sampled_from(("container_t", "container_init_t",
                                                                   "container_kvm_t"))), "level": "s0:c1,c2"}
        if "runAsGroup" in extra:
            sc["runAsGroup"] = 3000
    c = _container(name, securityContext=sc)
    c.update(draw(_ports(init)))
    c.update(draw(_probe_fields(probes)))
    return c


@st.composite
def _windows_container(draw, name: str, probes: bool, init: bool) -> dict:
    c = _container(name)
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
        seccomp_type = draw(st.sampled_from(("RuntimeDefault", "Localhost")))
        if ranr_at != "containers":
            psc["runAsNonRoot"] = True
        if seccomp_at != "containers":
            psc["seccompProfile"] = _seccomp(seccomp_type)
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
                psc["seLinuxOptions"] = {"type": draw(st.sampled_from(("container_t", "container_kvm_t", ""))),
                                         "level": "s0:c1,c2"}
            if "appArmorProfile" in extra:
                psc["appArmorProfile"] = _apparmor(draw(st.sampled_from(("RuntimeDefault", "Localhost"))))
            if "sysctls" in extra:
                names_ = draw(st.lists(st.sampled_from(sorted(n for n, s in _SYSCTL_SINCE.items() if s == 0)),
                                       min_size=1, max_size=2, unique=True))
                psc["sysctls"] = [{"name": n, "value": "1"} for n in names_]
    for c, side in zip(init, sidecar):
        if side:
            c["restartPolicy"] = "Always"
    spec["securityContext"] = psc
    if init:
        spec["initContainers"] = init
    spec["containers"] = containers
    volumes = draw(st.lists(st.sampled_from(tuple(_ALLOWED_VOLUMES)), max_size=2))
    if volumes:
        spec["volumes"] = [{"name": f"v{i}", **({k: copy.deepcopy(_ALLOWED_VOLUMES[k])} if k else {})}
                           for i, k in enumerate(volumes)]
    meta: dict = {"name": POD_NAME}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if wide and not windows and draw(st.booleans()):
        _apply_strip_hardening(pod, None, True)  # every restricted check lists every container
    if draw(st.booleans()):
        meta["annotations"] = {"example.com/owner": "fuzz"}
        if not windows and draw(st.booleans()):
            c = containers[0]
            meta["annotations"][_apparmor_key(c)] = "runtime/default"
    return pod


# -- validity ------------------------------------------------------------------------------------------------

_WINDOWS_FORBIDDEN_POD_SC = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "fsGroup", "fsGroupChangePolicy",
                             "sysctls", "runAsUser", "runAsGroup", "supplementalGroups", "supplementalGroupsPolicy",
                             "seLinuxChangePolicy")
_WINDOWS_FORBIDDEN_SC = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "capabilities",
                         "readOnlyRootFilesystem", "privileged", "allowPrivilegeEscalation", "procMount", "runAsUser",
                         "runAsGroup")


def _profile_annotation_matches(value: str, field: dict | None) -> bool:
    if field is None:
        return True
    t = field.get("type")
    if value == "unconfined":
        return t == "Unconfined"
    if value in ("runtime/default", "docker/default"):
        return t == "RuntimeDefault"
    if value.startswith("localhost/"):
        return t == "Localhost" and field.get("localhostProfile") == value[len("localhost/"):]
    return False


def fixup(pod: dict, *, ephemeral: list[dict] | None = None) -> dict:
    """Make a mutated pod valid for the API server (in place; returns it).

    Each rule mirrors a validation error the API server answers with 422; where a mutation
    conflicts with another, the later rule here decides (documented per line).
    """
    spec = pod["spec"]
    meta = pod["metadata"]
    os_name = (spec.get("os") or {}).get("name")
    every = _all_containers(spec) + list(ephemeral or ())
    if os_name == "windows":  # Linux-only fields are forbidden on Windows pods
        psc = _peek(spec)
        for key in _WINDOWS_FORBIDDEN_POD_SC:
            psc.pop(key, None)
        for key in ("hostUsers", "hostPID", "hostIPC", "shareProcessNamespace"):
            spec.pop(key, None)
        for c in every:
            for key in _WINDOWS_FORBIDDEN_SC:
                _peek(c).pop(key, None)
    if os_name == "linux":  # windowsOptions are forbidden on Linux pods
        _peek(spec).pop("windowsOptions", None)
        for c in every:
            _peek(c).pop("windowsOptions", None)
    host_process = (_peek(spec).get("windowsOptions") or {}).get("hostProcess") is True or \
        any((_peek(c).get("windowsOptions") or {}).get("hostProcess") is True for c in _all_containers(spec))
    if host_process:  # a HostProcess pod: every container HostProcess, on the host network
        for c in every:
            wo = _sc(c).setdefault("windowsOptions", {})
            if wo.get("hostProcess") is not True:
                wo["hostProcess"] = True
        spec["hostNetwork"] = True
    else:
        for c in ephemeral or ():
            (_peek(c).get("windowsOptions") or {}).pop("hostProcess", None)
    if spec.get("hostUsers") is False and (host_process or any(spec.get(k) for k in ("hostNetwork", "hostPID",
                                                                                         "hostIPC"))):
        del spec["hostUsers"]  # a user-namespaced pod may not share host namespaces
    for c in every:
        sc = _peek(c)
        if sc.get("procMount") == "Unmasked" and spec.get("hostUsers") is not False:
            sc["procMount"] = "Default"  # Unmasked needs hostUsers: false
        adds = (sc.get("capabilities") or {}).get("add") or ()
        if (sc.get("privileged") is True or "CAP_SYS_ADMIN" in adds) and sc.get("allowPrivilegeEscalation") is False:
            del sc["allowPrivilegeEscalation"]
    psc = _peek(spec)
    if psc.get("sysctls"):
        seen, kept = set(), []
        for s in psc["sysctls"]:
            n = s["name"]
            if n in seen or (spec.get("hostNetwork") and re.match(r"^net[./]", n)) or \
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
    for c in _all_containers(spec):
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
            for key in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
                c.pop(key, None)
    for c in ephemeral or ():
        for key in ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "resources"):
            c.pop(key, None)
    annotations = meta.get("annotations") or {}
    names = {c["name"]: c for c in _all_containers(spec)}
    for key in list(annotations):
        value = str(annotations[key])
        if key.startswith("container.apparmor.security.beta.kubernetes.io/"):
            c = names.get(key.split("/", 1)[1])
            if c is None or not _profile_annotation_matches(value, _peek(c).get("appArmorProfile")) and value:
                del annotations[key]  # unknown container, or the field says otherwise
            elif not value and (_peek(c).get("appArmorProfile") or psc.get("appArmorProfile")) is not None:
                del annotations[key]  # an empty annotation must agree with the (inherited) field: it cannot
        elif key == "seccomp.security.alpha.kubernetes.io/pod":
            if not _profile_annotation_matches(value, psc.get("seccompProfile")):
                del annotations[key]
        elif key.startswith("container.seccomp.security.alpha.kubernetes.io/"):
            c = names.get(key.split("/", 1)[1])
            if c is not None and not _profile_annotation_matches(value, _peek(c).get("seccompProfile")):
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


def _version_label(minor: int) -> str:
    return f"v1.{minor}"


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
        container = _container("debugger", securityContext={"allowPrivilegeEscalation": False,
                                                             "capabilities": {"drop": ["ALL"]}})
        if draw(st.booleans()):
            container.pop("securityContext")
        eph_muts = tuple(draw(st.lists(mutations(os_name, None, ephemeral=True), max_size=2)))
        holder = copy.deepcopy(eph_base)
        holder["spec"]["ephemeralContainers"] = [container]
        for m in eph_muts:
            m.apply(holder)
        container = holder["spec"]["ephemeralContainers"][0]
        if holder["spec"].get("hostUsers") is False and eph_base["spec"].get("hostUsers") is not False:
            _sc(container)["procMount"] = "Default"  # hostUsers cannot change on a running pod
        fixup(eph_base, ephemeral=[container])
        eph = (container,)
    versions = list(draw(st.lists(st.one_of(st.sampled_from(SPREAD), st.integers(0, newest + 1).map(_version_label)),
                                  min_size=1, max_size=2, unique=True)))
    for m in (*muts, *eph_muts):
        for b in sorted(m.boundaries()):
            for v in (_version_label(b - 1), _version_label(b)):
                if v not in versions and len(versions) < 5:
                    versions.append(v)
    policies = tuple((lv, v) for v in versions for lv in (B, R))
    workload = draw(st.sampled_from(_WORKLOAD_CHOICES)) if workloads else None
    workload_at = draw(st.integers(0, len(policies) - 1)) if workload else 0
    eph_at = draw(st.integers(0, len(policies) - 1)) if eph else 0
    return FuzzCase(pod, muts, policies, workload, workload_at, eph_base, eph, eph_muts, eph_at)


# -- comparing -----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Finding:
    """One request on which the evaluator and the server disagree."""

    kind: str            #: ``Pod``, ``Deployment`` or ``Pod/ephemeralcontainers``
    policy: str          #: ``level:version`` as labelled
    status: int          #: HTTP status
    predicted: str       #: the full text the evaluator predicts (``""``: admitted without a PodSecurity text)
    observed: str        #: the server's text (``""``: admitted without one)
    predicted_checks: tuple[str, ...]
    observed_checks: tuple[str, ...]
    problem: str         #: one line: what differs

    def render(self) -> str:
        return (f"  {self.kind} at {self.policy} (HTTP {self.status}): {self.problem}\n"
                f"    predicted: {self.predicted or '(admitted, no PodSecurity text)'}\n"
                f"    observed:  {self.observed or '(admitted, no PodSecurity text)'}\n"
                f"    checks:    predicted {list(self.predicted_checks)}, observed {list(self.observed_checks)}")

    def involved(self) -> set[str]:
        """The checks this finding is about: those only one side names, else those whose text differs."""
        diff = set(self.predicted_checks) ^ set(self.observed_checks)
        if diff:
            return diff
        pred, obs = _items(self.predicted), _items(self.observed)
        return {c for i, c in enumerate(self.predicted_checks) if i >= len(obs) or i >= len(pred) or pred[i] != obs[i]}


def _signature(findings: list[Finding]) -> str:
    """What kind of disagreement a case shows: its first involved check in registry order (distinct
    signatures are shrunk and reported separately by Hypothesis; one bug usually has one)."""
    involved = set().union(*(f.involved() for f in findings))
    first = next((c for c in CHECKS if c in involved), None)
    return first or f"{findings[0].kind}-{re.sub(r'[^a-z]+', '-', findings[0].problem.lower())[:40]}"


def _items(text: str) -> list[str]:
    from harness.core.messages import parse_podsecurity_message

    parsed = parse_podsecurity_message(text) if text else None
    return [f"{i.reason} ({i.detail})" for i in parsed.items] if parsed else []


class Disagreement(AssertionError):
    """The evaluator and the API server disagree on a case (subclassed per signature, so that
    Hypothesis shrinks and reports each kind of disagreement separately)."""

    def __init__(self, message: str, case: FuzzCase | None = None, findings: list[Finding] | None = None,
                 regression: Path | None = None):
        super().__init__(message)
        self.case = case
        self.findings = findings or []
        self.regression = regression


_SIGNATURE_CLASSES: dict[str, type[Disagreement]] = {}
_SIG_LOCK = threading.Lock()


def _disagreement_class(signature: str) -> type[Disagreement]:
    with _SIG_LOCK:
        cls = _SIGNATURE_CLASSES.get(signature)
        if cls is None:
            ident = re.sub(r"\W+", "_", signature)
            cls = type(f"Disagreement_{ident}", (Disagreement,), {"__module__": __name__})
            _SIGNATURE_CLASSES[signature] = cls
        return cls


@dataclasses.dataclass
class FuzzReport:
    """What a run did and found."""

    server_version: str = ""
    examples: int = 0                 #: test-body calls (generation and shrinking)
    requests: int = 0
    compared: int = 0                 #: requests PodSecurity answered and that were compared
    invalid_requests: int = 0         #: 400/422 (API validation) answers: skipped, not disagreements
    invalid_examples: int = 0         #: examples whose Pod was refused by validation
    errors: int = 0                   #: requests that got no usable answer after retries
    workloads: int = 0                #: workload objects compared (their ``would violate`` warning)
    truncated: int = 0                #: of which the server cut the warning to 256 runes (over 4096 in all) ...
    dropped: int = 0                  #: ... or dropped it (the other warnings had filled 4096 runes already)
    ephemeral: int = 0
    denied: int = 0
    admitted: int = 0
    warned: int = 0
    elapsed: float = 0.0
    seed: int | None = None
    disagreements: list[Disagreement] = dataclasses.field(default_factory=list)  #: shrunk, one per signature
    failing_examples: int = 0         #: examples that disagreed (before and while shrinking)
    invalid_reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    invalid_samples: dict = dataclasses.field(default_factory=dict)  #: reason -> the first manifest refused for it
    operators: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    policies: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    aborted: str = ""                 #: why the run stopped early (an exception other than a disagreement)

    @property
    def invalid_fraction(self) -> float:
        return self.invalid_examples / self.examples if self.examples else 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def summary(self) -> str:
        lines = [
            f"differential fuzz against kube-apiserver {self.server_version}"
            f"{f' (seed {self.seed})' if self.seed is not None else ''}:",
            f"  {self.examples} examples, {self.requests} requests in {self.elapsed:.0f}s "
            f"({self.rate:.0f} requests/s, {self.examples / self.elapsed if self.elapsed else 0:.1f} examples/s)",
            f"  compared {self.compared}: {self.denied} denied, {self.admitted} admitted, {self.warned} warned "
            f"(workloads: {self.workloads}, {self.truncated} with truncated and {self.dropped} with dropped warnings; "
            f"ephemeral-container updates: "
            f"{self.ephemeral})",
            f"  refused by API validation (422/400): {self.invalid_requests} requests, {self.invalid_examples} examples "
            f"({100 * self.invalid_fraction:.1f}% of examples); errors: {self.errors}",
            f"  disagreements: {len(self.disagreements)} distinct (after shrinking); "
            f"{self.failing_examples} failing examples in all",
        ]
        if self.invalid_reasons:
            lines.append("  most common validation refusals:")
            lines += [f"    {n:5d}  {reason}" for reason, n in self.invalid_reasons.most_common(8)]
        for d in self.disagreements:
            lines.append("")
            lines.append(str(d))
        if self.aborted:
            lines.append(f"  ABORTED: {self.aborted}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"server_version": self.server_version, "examples": self.examples, "requests": self.requests,
                "compared": self.compared, "invalid_requests": self.invalid_requests,
                "invalid_examples": self.invalid_examples, "invalid_fraction": self.invalid_fraction,
                "errors": self.errors, "workloads": self.workloads, "truncated": self.truncated, "dropped": self.dropped, "ephemeral": self.ephemeral,
                "denied": self.denied, "admitted": self.admitted, "warned": self.warned,
                "elapsed": self.elapsed, "requests_per_second": self.rate, "seed": self.seed,
                "failing_examples": self.failing_examples,
                "disagreements": [{"message": str(d), "regression": str(d.regression) if d.regression else None}
                                  for d in self.disagreements],
                "invalid_reasons": dict(self.invalid_reasons.most_common(20)),
                "invalid_samples": self.invalid_samples,
                "operators": dict(self.operators), "policies": dict(self.policies), "aborted": self.aborted}


def _normalise_invalid(message: str) -> str:
    text = re.sub(r'^\w+ "[^"]*" is invalid: ', "", message)
    text = re.sub(r"\[\d+\]", "[*]", text)
    text = re.sub(r'Invalid value: "[^"]*"', 'Invalid value: "…"', text)
    return text[:160]


_TRUNCATE_TOTAL, _TRUNCATE_EACH = 4096, 256
_MESSAGE_ORDER = {c: i for i, c in enumerate(CHECKS)}


class Fuzzer:
    """The driver: sends cases through a ``Runtime`` and compares each answer with the evaluator."""

    def __init__(self, runtime, *, regressions_dir: Path | None = DEFAULT_REGRESSIONS,
                 progress: Callable[[str], None] | None = None, progress_every: float = 10.0,
                 seed: int | None = None, max_examples: int | None = None):
        self.runtime = runtime
        self.server_minor = runtime.server_minor
        self.newest = min(self.server_minor, NEWEST)
        info = runtime.cluster.server_version()
        self.report = FuzzReport(server_version=info.get("gitVersion", "?"), seed=seed)
        self.regressions_dir = Path(regressions_dir) if regressions_dir else None
        self.progress = progress
        self.progress_every = progress_every
        self.max_examples = max_examples
        self._t0 = time.monotonic()
        self._last_progress = self._t0
        self._written: dict[str, Path] = {}

    # -- one case ---------------------------------------------------------------------------------------------

    def _policy(self, level: Level, version: str) -> Policy:
        return Policy(level, Mode.ENFORCE, PolicyVersion.parse(version))

    def _execute(self, work: list) -> list:
        """``execute_many`` with up to two retries of requests that got no answer (timeouts, 5xx)."""
        from harness.cluster.runtime import Execution

        results = self.runtime.execute_many(work)
        for _ in range(2):
            retry = [i for i, r in enumerate(results)
                     if not isinstance(r, Execution) or r.observation.outcome in (Outcome.ERROR,)]
            if not retry:
                break
            time.sleep(0.2)
            again = self.runtime.execute_many([work[i] for i in retry])
            for i, r in zip(retry, again):
                results[i] = r
        self.report.requests += len(work)
        return results

    def check(self, case: FuzzCase) -> None:
        """Send ``case`` and compare; raise a ``Disagreement`` (subclass) if the server disagrees."""
        from harness.cluster.runtime import Execution, Submission

        rep = self.report
        rep.examples += 1
        for m in (*case.mutations, *case.ephemeral_mutations):
            rep.operators[m.op] += 1
        work: list[tuple[str, Level, str, Any]] = []
        subs = []
        for level, version in case.policies:
            subs.append(Submission(case.pod, self._policy(level, version), POD_NAME))
            work.append(("Pod", level, version, case.pod))
            rep.policies[f"{level.value}:{version}"] += 1
        if case.workload:
            level, version = case.policies[case.workload_at % len(case.policies)]
            obj = as_kind(case.pod, case.workload)
            subs.append(Submission(obj, self._policy(level, version), POD_NAME))
            work.append((case.workload, level, version, obj))
        if case.ephemeral:
            admitting = [(lv, v) for lv, v in case.policies
                         if evaluate_object(case.ephemeral_base, lv, PolicyVersion.parse(v), self.newest).allowed]
            if admitting:  # the running pod is created for real, so the namespace must admit it
                level, version = admitting[case.ephemeral_at % len(admitting)]
                subs.append(Submission(case.ephemeral_base, self._policy(level, version), "fuzz-eph",
                                       update=list(case.ephemeral)))
                work.append(("Pod/ephemeralcontainers", level, version, case))
        results = self._execute(subs)
        findings: list[Finding] = []
        pod_invalid = False
        for (kind, level, version, obj), result in zip(work, results):
            if not isinstance(result, Execution) or result.observation.outcome in (Outcome.ERROR,
                                                                                   Outcome.DENIED_OTHER):
                rep.errors += 1
                continue
            obs = result.observation
            if obs.outcome is Outcome.INVALID:
                rep.invalid_requests += 1
                reason = f"{kind}: {_normalise_invalid(obs.message)}"
                rep.invalid_reasons[reason] += 1
                if reason not in rep.invalid_samples and len(rep.invalid_samples) < 20:
                    rep.invalid_samples[reason] = {"message": obs.message, "manifest": result.manifest}
                pod_invalid |= kind == "Pod"
                continue
            finding = self._compare(kind, level, version, obj, result)
            if finding is not None:
                findings.append(finding)
        if pod_invalid:
            rep.invalid_examples += 1
        self._maybe_progress()
        if findings:
            rep.failing_examples += 1
            self._fail(case, findings)

    def _compare(self, kind: str, level: Level, version: str, obj: Any, result) -> Finding | None:
        rep = self.report
        rep.compared += 1
        obs = result.observation
        pv = PolicyVersion.parse(version)
        policy = f"{level.value}:{version}"
        if kind == "Pod/ephemeralcontainers":
            rep.ephemeral += 1
            sent = result.manifest["pod"]
            meta, spec = admitted_pod(sent.get("metadata") or {}, sent.get("spec") or {})
            spec = {**spec, "ephemeralContainers": copy.deepcopy(list(obj.ephemeral))}
            ev = evaluate_pod(meta, spec, level, pv, self.newest)
            name = sent["metadata"]["name"]
        else:
            ev = evaluate_object(obj, level, pv, self.newest)
            name = obj["metadata"]["name"]
        predicted_ids = tuple(ev.ids)
        observed_ids = tuple(sorted(obs.checks, key=_MESSAGE_ORDER.get))  # the registry lists them in message order
        if kind in WORKLOAD_KINDS:
            rep.workloads += 1
            predicted = ev.message("would violate")
            psa = [w for w in obs.warnings if "PodSecurity" in w]
            observed = psa[0] if psa else ""
            if obs.outcome is Outcome.DENIED:
                observed = obs.message
            rep.warned += bool(observed)
            rep.admitted += not observed
            # kube-apiserver's warning recorder (apiserver pkg/endpoints/filters/warning.go): once the warnings of a
            # response exceed 4096 runes, every warning is cut to 256 runes, and a warning added after the cut ones
            # already fill 4096 runes is dropped. Validation warnings (duplicate ports, deprecated fields) come first.
            others = sum(len(w) for w in obs.warnings if "PodSecurity" not in w)
            truncated = bool(observed) and len(observed) == _TRUNCATE_EACH and observed != predicted
            dropped = not observed and bool(predicted) and others >= _TRUNCATE_TOTAL
            agree = observed == predicted or (truncated and predicted.startswith(observed)) or dropped
            rep.dropped += dropped
            problem = "warning text differs"
            if agree and truncated:  # the parser must see the cut, and map what is left to predicted checks
                rep.truncated += 1
                v = obs.violation
                items = _items(observed)
                cut_reason = {items[-1].split(" (")[0]} if items and v is not None and v.unknown else set()
                cut_ok = set(v.unknown if v else ()) <= cut_reason and all(
                    any(r.reason.startswith(u) and r.reason != u for r in ev.results) for u in cut_reason)
                if v is None or not v.truncated or not set(v.checks) <= set(predicted_ids) or not cut_ok:
                    agree, problem = False, "the message parser misreads a truncated warning"
            if obs.outcome is not Outcome.ADMITTED and obs.outcome is not Outcome.WARNED:
                agree, problem = False, f"a {kind} must be admitted, got {obs.outcome}"
            elif len(psa) > 1:
                agree, problem = False, f"{len(psa)} PodSecurity warnings"
            if agree and observed and observed == predicted and set(obs.checks) != set(predicted_ids):
                agree, problem = False, "the message parser maps the server's warning to other checks"
        else:
            predicted = f'pods "{name}" is forbidden: {ev.message("violates")}' if not ev.allowed else ""
            observed = obs.message if obs.outcome is Outcome.DENIED else ""
            rep.denied += obs.outcome is Outcome.DENIED
            rep.admitted += obs.outcome in (Outcome.ADMITTED, Outcome.WARNED)
            psa_warnings = [w for w in obs.warnings if "PodSecurity" in w]
            if ev.allowed != (obs.outcome is not Outcome.DENIED):
                agree, problem = False, ("the evaluator allows it, the server denies it" if ev.allowed else
                                         "the evaluator denies it, the server admits it")
            elif observed != predicted:
                agree, problem = False, "denial text differs"
            elif psa_warnings:
                agree, problem = False, f"unexpected PodSecurity warning on a Pod: {psa_warnings[0]}"
            elif observed and set(obs.checks) != set(predicted_ids):
                agree, problem = False, "the message parser maps the server's denial to other checks"
            else:
                agree, problem = True, ""
        if "unknown forbidden reason" in (observed or ""):
            agree, problem = False, "the server reported 'unknown forbidden reason'"
        if agree:
            return None
        return Finding(kind, policy, obs.status, predicted, observed, predicted_ids, observed_ids, problem)

    def _fail(self, case: FuzzCase, findings: list[Finding]) -> None:
        from hypothesis.control import current_build_context

        signature = _signature(findings)
        regression = None
        final = False
        try:
            final = current_build_context().is_final
        except Exception:  # not running under Hypothesis
            final = True
        notes = []
        if final and self.regressions_dir is not None:
            try:
                regression, notes = self.write_regression(case, findings)
            except Exception as exc:  # the report must still show the disagreement
                notes = [f"could not write the regression scenario: {type(exc).__name__}: {exc}"]
        text = [f"the evaluator and kube-apiserver {self.report.server_version} disagree on {len(findings)} "
                f"request(s) [{signature}]:"]
        text += [f.render() for f in findings]
        if case.mutations or case.ephemeral_mutations:
            text.append(f"  mutations: {list(case.mutations)}"
                        + (f"; ephemeral container: {list(case.ephemeral_mutations)}" if case.ephemeral else ""))
        text.append("  manifest:")
        text.append(_indent(yaml.safe_dump(case.pod, sort_keys=False), 4))
        if case.ephemeral:
            text.append("  ephemeral containers (added to the pod above minus its mutations, via pods/ephemeralcontainers):")
            text.append(_indent(yaml.safe_dump(list(case.ephemeral), sort_keys=False), 4))
        if regression:
            text.append(f"  regression scenario written: {regression}")
        text += [f"  note: {n}" for n in notes]
        exc = _disagreement_class(signature)("\n".join(text), case, findings, regression)
        if final:
            self.report.disagreements.append(exc)
        raise exc

    def _maybe_progress(self) -> None:
        now = time.monotonic()
        self.report.elapsed = now - self._t0
        if self.progress is None or now - self._last_progress < self.progress_every:
            return
        self._last_progress = now
        rep = self.report
        of = f"/{self.max_examples}" if self.max_examples else ""
        self.progress(f"[{rep.examples}{of} examples] {rep.requests} requests, {rep.rate:.0f} req/s, "
                      f"{rep.examples / rep.elapsed:.1f} ex/s, 422: {100 * rep.invalid_fraction:.1f}% of examples, "
                      f"disagreements: {rep.failing_examples} failing examples, errors: {rep.errors}")

    # -- regression scenarios ---------------------------------------------------------------------------------

    def sweep(self, pod: dict, update: list | None = None,
              kind: str = "Deployment") -> dict[tuple[str, Level, int], frozenset[str] | None]:
        """What the server reports for ``pod`` as a Pod (or through the update path) and as ``kind``,
        at baseline and restricted, at every policy minor it knows: ``(Pod|workload, level, minor) -> checks``
        (``None``: refused by validation or no answer)."""
        from harness.cluster.runtime import Execution, Submission

        keys, subs = [], []
        for level in (B, R):
            for minor in range(0, self.newest + 1):
                policy = self._policy(level, _version_label(minor))
                keys.append(("Pod", level, minor))
                subs.append(Submission(pod, policy, "fuzz-sweep", update=update))
                if update is None:
                    keys.append(("workload", level, minor))
                    subs.append(Submission(as_kind(pod, kind), policy, "fuzz-sweep"))
        out = {}
        for key, result in zip(keys, self._execute(subs)):
            if not isinstance(result, Execution) or result.observation.outcome in (Outcome.INVALID, Outcome.ERROR,
                                                                                   Outcome.DENIED_OTHER):
                out[key] = None
            else:
                out[key] = frozenset(result.observation.checks)
        return out

    def write_regression(self, case: FuzzCase, findings: list[Finding]) -> tuple[Path, list[str]]:
        """Write the shrunk case as a scenario whose checks are what the server reports."""
        from harness.core.expectations import checks_at
        from harness.corpus.scenarios import load_scenario

        update = list(case.ephemeral) if findings[0].kind == "Pod/ephemeralcontainers" else None
        pod = copy.deepcopy(case.ephemeral_base if update else case.pod)
        kind = next((f.kind for f in findings if f.kind in WORKLOAD_KINDS), "Deployment")
        observed = self.sweep(pod, update, kind)
        pod_ok = any(v is not None for (k, _, _), v in observed.items() if k == "Pod")
        workloads_ok = update is None and any(v is not None for (k, _, _), v in observed.items() if k == "workload")
        notes = []
        if not pod_ok:
            notes.append("the Pod was refused by validation or got no answer at every version during the sweep")
        declared = _derive_checks(observed, self.newest, workloads_ok)
        digest = hashlib.sha256(json.dumps([pod, update], sort_keys=True).encode()).hexdigest()[:10]
        sid = f"fuzz-{digest}"
        f0 = findings[0]
        level = min((CHECKS[c["id"] if isinstance(c, dict) else c].level for c in declared),
                    key=lambda lv: lv.rank, default=None)
        data: dict[str, Any] = {
            "title": f"Found by differential fuzzing: {f0.problem} ({f0.kind} at {f0.policy})",
            "gain": ("Nothing by itself: this pod is a regression case for the offline evaluator, found by "
                     "differential fuzzing (harness.fuzz), where the evaluator's prediction and the API server's "
                     "answer differed. The checks below are what the server reports (the server is the arbiter)."),
            "level": level.value if level else "none",
            "checks": declared,
            "severity": "low" if level else "info",
        }
        if level:
            data["attack"] = ["T1610"]
        data["nsa"] = "Kubernetes Pod security: Pod security enforcement"
        if update is not None:
            data["kinds"] = ["Pod"]
            data["update"] = {"ephemeralContainers": update}
        elif not workloads_ok:
            data["kinds"] = ["Pod"]
        mutated = [repr(m) for m in (*case.mutations, *case.ephemeral_mutations)]
        data["description"] = (
            f"Seen at {f0.policy} on kube-apiserver {self.report.server_version} "
            f"({f0.kind}, HTTP {f0.status}). Predicted: {f0.predicted or '(admitted)'} Observed: "
            f"{f0.observed or '(admitted)'}. Mutations of the hardened base pod: {', '.join(mutated) or 'none'}. "
            f"Expected checks per version were read from the server at baseline and restricted, "
            f"v1.0 to v1.{self.newest}.")
        data["references"] = [PSS_URL]
        manifest = copy.deepcopy(pod)
        manifest["metadata"]["name"] = sid
        manifest["metadata"].setdefault("annotations", {})[ANNOTATION] = _dump(data)
        manifest["metadata"]["annotations"] = {ANNOTATION: manifest["metadata"]["annotations"].pop(ANNOTATION),
                                               **manifest["metadata"]["annotations"]}
        self.regressions_dir.mkdir(parents=True, exist_ok=True)
        path = self.regressions_dir / f"{sid}.yaml"
        path.write_text(_dump(manifest))
        scenario = load_scenario(path)
        mismatch = []
        for (kind, lv, minor), got in sorted(observed.items(), key=lambda kv: (kv[0][0], kv[0][1].rank, kv[0][2])):
            if got is None or (kind == "workload" and not workloads_ok):
                continue
            want = checks_at(scenario, "Pod" if kind == "Pod" else "Deployment", lv, minor)
            if want != got:
                mismatch.append(f"{kind} {lv.value}:v1.{minor}: server {sorted(got)}, scenario data {sorted(want)}")
        if mismatch:
            notes.append("the scenario data cannot express every answer of the server: " + "; ".join(mismatch[:5]))
        corpus = self.regressions_dir.resolve().parent
        if (corpus / "CATALOG.md").is_file():  # written into a corpus: keep its generated catalog current
            from harness.corpus.catalog import render_catalog
            from harness.corpus.scenarios import load_corpus

            try:
                (corpus / "CATALOG.md").write_text(render_catalog(load_corpus([corpus]), root=corpus))
                notes.append(f"{corpus / 'CATALOG.md'} regenerated; commit it with the scenario")
            except Exception as exc:  # e.g. another file of the corpus is broken
                notes.append(f"could not regenerate {corpus / 'CATALOG.md'}: {exc}")
        return path, notes

    # -- hypothesis -------------------------------------------------------------------------------------------

    def hypothesis_test(self, strategy, *, max_examples: int, seed: int | None = None,
                        database: str | None = None) -> Callable[[], None]:
        """A ``@given`` function that checks one case per example (Hypothesis shrinks failures)."""
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as hseed
        from hypothesis.database import DirectoryBasedExampleDatabase

        db = DirectoryBasedExampleDatabase(database) if database else None

        @settings(max_examples=max_examples, deadline=None, database=db, derandomize=False,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=True, print_blob=False,
                  phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink), verbosity=Verbosity.quiet)
        @given(case=strategy)
        def differential(case: FuzzCase) -> None:
            self.check(case)

        return hseed(seed)(differential) if seed is not None else differential


def _derive_checks(observed: dict, newest: int, workloads: bool) -> list:
    """Declared checks (scenario format) reproducing the server's answers: a check is declared over the
    minors where the server reports it at its own level, per kind when Pods and workloads differ; entries
    another one implies (a baseline check maps to its restricted override) are left out."""
    from harness.core.checks import effective_check
    from harness.corpus.scenarios import DeclaredCheck

    def minors(kind: str, check: str) -> list[int]:
        level = CHECKS[check].level
        return [m for m in range(newest + 1) if check in (observed.get((kind, level, m)) or ())]

    ids = sorted({c for v in observed.values() if v for c in v}, key=list(CHECKS).index)
    entries = []
    for cid in ids:
        pod_m = minors("Pod", cid)
        work_m = minors("workload", cid) if workloads else pod_m
        use = pod_m or work_m
        if not use:
            continue
        entry: dict[str, Any] = {"id": cid}
        rng = _range_text(use, newest)
        if rng is None:
            rng = _range_text(list(range(min(use), newest + 1)), newest)
        if rng and rng != "all":
            entry["versions"] = rng
        if workloads and pod_m != work_m:
            if not work_m:
                entry["kinds"] = ["Pod"]
            elif not pod_m:
                entry["kinds"] = list(WORKLOAD_KINDS)
        entries.append(entry)

    def reproduces(chosen: list[dict]) -> bool:
        declared = [DeclaredCheck(e["id"], VersionRange.parse(e.get("versions", "all")), tuple(e.get("kinds", ())))
                    for e in chosen]
        for (kind, level, minor), got in observed.items():
            if got is None or (kind == "workload" and not workloads):
                continue
            k = "Pod" if kind == "Pod" else "Deployment"
            want = {effective_check(d.id, level, minor) for d in declared if d.applies(minor, k)} - {None}
            if want != got:
                return False
        return True

    if reproduces(entries):
        for e in reversed(list(entries)):  # restricted entries first: a baseline one may imply them
            rest = [x for x in entries if x is not e]
            if reproduces(rest):
                entries = rest
    return [e if len(e) > 1 else e["id"] for e in entries]


def _range_text(minors: list[int], newest: int) -> str | None:
    """``all``/``>=v1.a``/``<v1.b``/``>=v1.a <v1.b`` for a contiguous run of minors; ``None`` if not contiguous."""
    if not minors:
        return None
    lo, hi = min(minors), max(minors)
    if minors != list(range(lo, hi + 1)):
        return None
    parts = ([f">=v1.{lo}"] if lo > 0 else []) + ([f"<v1.{hi + 1}"] if hi < newest else [])
    return " ".join(parts) or "all"


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data):
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_BlockDumper.add_representer(str, _str_presenter)


def _dump(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_BlockDumper, sort_keys=False, width=110, allow_unicode=True)


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line for line in text.rstrip("\n").splitlines())


# -- running -------------------------------------------------------------------------------------------------


def run(runtime, *, examples: int = 300, seed: int | None = None, regressions_dir: Path | None = DEFAULT_REGRESSIONS,
        families: Iterable[str] | None = None, database: str | None = None, workloads: bool = True,
        ephemeral: bool = True, progress: Callable[[str], None] | None = None,
        progress_every: float = 10.0) -> FuzzReport:
    """Fuzz ``examples`` cases through ``runtime`` (an open ``harness.cluster.runtime.Runtime``) and report.

    Disagreements do not raise: each distinct one is shrunk, written as a regression scenario
    under ``regressions_dir`` (``None``: not written) and listed in ``FuzzReport.disagreements``.
    """
    fuzzer = Fuzzer(runtime, regressions_dir=regressions_dir, progress=progress, progress_every=progress_every,
                    seed=seed, max_examples=examples)
    strategy = fuzz_cases(families, workloads=workloads, ephemeral=ephemeral, newest=fuzzer.newest)
    test = fuzzer.hypothesis_test(strategy, max_examples=examples, seed=seed, database=database)
    audit, runtime.audit = runtime.audit, None  # audit-event lookups are not compared here and cost time
    try:
        test()
    except Disagreement:
        pass
    except BaseExceptionGroup as group:
        rest = group.subgroup(lambda e: not isinstance(e, Disagreement))
        if rest is not None:
            fuzzer.report.aborted = f"{type(rest).__name__}: {rest}"
    except KeyboardInterrupt:
        fuzzer.report.aborted = "interrupted"
    except Exception as exc:  # Flaky, a harness error: the run is not trustworthy
        fuzzer.report.aborted = f"{type(exc).__name__}: {exc}"
    finally:
        runtime.audit = audit
        fuzzer.report.elapsed = time.monotonic() - fuzzer._t0
    return fuzzer.report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.fuzz",
        description="Differential fuzzing of the offline PodSecurity evaluator against a real kube-apiserver "
                    "(an embedded control plane unless --kubeconfig is given). Exit 0: no disagreement; 1: at "
                    "least one (each shrunk and written as a regression scenario); 2: the run could not complete.")
    ap.add_argument("--examples", type=int, default=5000, help="examples to generate (default 5000)")
    ap.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random, printed)")
    ap.add_argument("--k8s-version", metavar="V", help="embedded control plane version, e.g. 1.34 (default: the project's)")
    ap.add_argument("--kubeconfig", metavar="FILE", help="use an existing cluster instead of an embedded one")
    ap.add_argument("--context", metavar="NAME")
    ap.add_argument("--regressions", metavar="DIR", default=str(DEFAULT_REGRESSIONS),
                    help="where shrunk disagreements are written as scenarios (default scenarios/regressions); "
                         "'none' to skip")
    ap.add_argument("--database", metavar="DIR", default=None,
                    help="Hypothesis example database: failures found earlier are replayed first (default: none)")
    ap.add_argument("--families", metavar="LIST", default=None,
                    help="comma-separated check ids or operator names to restrict the mutations to")
    ap.add_argument("--concurrency", type=int, default=12, help="concurrent requests per example (default 12)")
    ap.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    ap.add_argument("--no-workloads", action="store_true", help="send Pods only (no Deployments etc.)")
    ap.add_argument("--no-ephemeral", action="store_true")
    args = ap.parse_args(argv)

    import random

    from harness.cluster.sessions import open_runtime

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    regressions = None if args.regressions == "none" else Path(args.regressions)
    families = [f.strip() for f in args.families.split(",")] if args.families else None
    say(f"differential fuzz: {args.examples} examples, seed {seed}")
    try:
        with open_runtime(kubeconfig=args.kubeconfig, context=args.context, k8s_version=args.k8s_version,
                          progress=say) as runtime:
            runtime.concurrency = args.concurrency
            report = run(runtime, examples=args.examples, seed=seed, regressions_dir=regressions, families=families,
                         database=args.database, workloads=not args.no_workloads,
                         ephemeral=not args.no_ephemeral, progress=say)
    except Exception as exc:
        say(f"error: {type(exc).__name__}: {exc}")
        return 2
    print(report.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1))
    if report.disagreements:
        return 1
    if report.aborted or (report.requests and report.errors / report.requests > 0.01):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())


def planted_bug(evaluate, ignore_capability: str = "NET_RAW"):
    """A deliberately wrong evaluator (``ignore_capability`` in capabilities.add goes unnoticed).

    The fuzzer's self-test: a run against it must find, shrink and write out the disagreement.
    """
    from harness.policy import pod_template

    def buggy(obj, level, version, newest_minor=None, **kw):
        obj = copy.deepcopy(obj)
        for c in _all_containers(pod_template(obj)[1]):
            caps = (c.get("securityContext") or {}).get("capabilities") or {}
            if "add" in caps:
                caps["add"] = [a for a in caps["add"] if a != ignore_capability]
        return evaluate(obj, level, version, newest_minor, **kw)
    return buggy
