"""Where a scenario exercises each Pod Security check: an offline reading of its manifest.

``findings(scenario, minor)`` lists, for every check, each field the check inspects that the
scenario's pod sets (or, for checks that require a value, leaves unset), where it sits (pod,
regular, init, sidecar or ephemeral container, annotations) and whether the check forbids that
value at policy minor ``minor``. ``violations`` turns that into the check ids a server would
report for a level and minor.

This feeds the catalog's coverage table and the corpus completeness tests. It mirrors what the
upstream checks in ``k8s.io/pod-security-admission/policy`` inspect, as described in
``/work/shared/docs/pss-reference.md``; it is *not* the oracle. The API server is, and
``pss-harness truth`` (``harness.cli.truth``) keeps the corpus data in agreement with it, while
``tests/unit/test_corpus.py`` keeps this reading in agreement with the corpus data. Nothing
here does I/O. The allowed values (capabilities, sysctls per minor, volume types, SELinux,
seccomp and AppArmor values, ...) are those of ``harness.policy.tables``, the one place they are
written; what this module adds is *where* each check looks.

May import: ``harness.core`` and ``harness.policy.tables``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

from harness.core.checks import active_checks
from harness.core.model import Level
from harness.policy.tables import (ALLOWED_VOLUME_TYPES, APPARMOR_ALLOWED_TYPES, APPARMOR_ANNOTATION_PREFIX,
                                   BASELINE_CAPABILITIES, HOST_HANDLERS, HOST_NAMESPACE_FIELDS, LIFECYCLE_HOOKS,
                                   PROBE_FIELDS, PROC_MOUNT_ALLOWED, RESTRICTED_ADD_CAPABILITIES,
                                   RESTRICTED_DROP_CAPABILITY, SECCOMP_ALLOWED_TYPES,
                                   SECCOMP_CONTAINER_ANNOTATION_PREFIX, SECCOMP_POD_ANNOTATION,
                                   SELINUX_FORBIDDEN_FIELDS, allowed_selinux_types, allowed_sysctls,
                                   apparmor_annotation_allowed, seccomp_annotation_allowed)

__all__ = ["CONTAINER_PLACES", "PLACES", "Finding", "findings", "pod_view", "violations"]

#: where a finding sits; ``sidecars`` are init containers with ``restartPolicy: Always``
CONTAINER_PLACES = ("containers", "initContainers", "sidecars", "ephemeralContainers")
PLACES = ("pod", "annotations", *CONTAINER_PLACES)

_VOLUME_META = frozenset({"name"})


@dataclasses.dataclass(frozen=True)
class Finding:
    """One field a check inspects, as the scenario sets it."""

    check: str             #: check id
    place: str             #: one of ``PLACES``
    field: str             #: path of the field, relative to the container for container places
    value: str             #: the value as written (``unset`` for a required field left out)
    forbidden: bool        #: the check forbids this value at the minor asked for
    container: str = ""    #: container name for container places


def pod_view(scenario: Any) -> tuple[dict, dict]:
    """``(metadata, spec)`` of the pod the server finally evaluates: a Pod manifest, or a scenario
    with its update path (ephemeral containers) applied."""
    if isinstance(scenario, dict):
        pod, update = scenario, None
    else:  # read-only use: no copy
        pod, update = scenario.manifest, scenario.update
    spec = dict(pod.get("spec") or {})
    if update:
        spec["ephemeralContainers"] = list(spec.get("ephemeralContainers") or []) + list(update["ephemeralContainers"])
    return pod.get("metadata") or {}, spec


def _containers(spec: dict) -> Iterator[tuple[str, dict]]:
    """Containers in the order the upstream visitor walks them: init, regular, ephemeral."""
    for c in spec.get("initContainers") or []:
        yield ("sidecars" if c.get("restartPolicy") == "Always" else "initContainers"), c
    for c in spec.get("containers") or []:
        yield "containers", c
    for c in spec.get("ephemeralContainers") or []:
        yield "ephemeralContainers", c


def _sc(obj: dict) -> dict:
    return obj.get("securityContext") or {}


def _windows(spec: dict) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


def _user_ns(spec: dict) -> bool:
    return spec.get("hostUsers") is False


def _text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _volume_type(volume: dict) -> str:
    sources = [k for k in volume if k not in _VOLUME_META]
    return sources[0] if sources else "emptyDir"


def findings(scenario: Any, minor: int, kind: str = "Pod") -> list[Finding]:
    """Every field any check inspects that the scenario's pod exercises, judged at ``minor``.

    ``kind`` matters for one API side effect: for Pods with ``hostNetwork: true`` the API server
    defaults each container port's ``hostPort`` to its ``containerPort``; pod templates are not
    defaulted.
    """
    meta, spec = pod_view(scenario)
    out: list[Finding] = []
    add = out.append
    psc = _sc(spec)
    annotations = meta.get("annotations") or {}
    windows, userns = _windows(spec), _user_ns(spec)
    containers = list(_containers(spec))

    # -- pod-level fields ------------------------------------------------------------------
    for ns in HOST_NAMESPACE_FIELDS:
        if ns in spec:
            add(Finding("hostNamespaces", "pod", f"spec.{ns}", _text(spec[ns]), spec[ns] is True))
    for v in spec.get("volumes") or []:
        vtype = _volume_type(v)
        add(Finding("hostPathVolumes", "pod", f"spec.volumes[{v.get('name')}]", vtype, vtype == "hostPath"))
        add(Finding("restrictedVolumes", "pod", f"spec.volumes[{v.get('name')}]", vtype, vtype not in ALLOWED_VOLUME_TYPES))
    sysctls = allowed_sysctls(minor)
    for s in psc.get("sysctls") or []:
        add(Finding("sysctls", "pod", "spec.securityContext.sysctls", s.get("name", ""),
                    s.get("name") not in sysctls))
    _security_context_findings(add, "pod", "", psc, "spec.securityContext.", minor)
    if "runAsNonRoot" in psc:
        add(Finding("runAsNonRoot", "pod", "spec.securityContext.runAsNonRoot", _text(psc["runAsNonRoot"]),
                    psc["runAsNonRoot"] is False and not (minor >= 35 and userns)))
    if "runAsUser" in psc:
        add(Finding("runAsUser", "pod", "spec.securityContext.runAsUser", _text(psc["runAsUser"]),
                    psc["runAsUser"] == 0 and not (minor >= 35 and userns)))
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None:
        add(Finding("seccompProfile_restricted", "pod", "spec.securityContext.seccompProfile.type", pod_seccomp,
                    pod_seccomp not in SECCOMP_ALLOWED_TYPES and not (minor >= 25 and windows)))

    # -- annotations -----------------------------------------------------------------------
    names = {c.get("name") for _, c in containers}
    for key, value in annotations.items():
        value = "" if value is None else str(value)
        if key.startswith(APPARMOR_ANNOTATION_PREFIX):
            add(Finding("appArmorProfile", "annotations", f"metadata.annotations[{key}]", value,
                        not apparmor_annotation_allowed(value)))
        is_seccomp = key == SECCOMP_POD_ANNOTATION or (
            key.startswith(SECCOMP_CONTAINER_ANNOTATION_PREFIX)
            and key[len(SECCOMP_CONTAINER_ANNOTATION_PREFIX):] in names)
        if is_seccomp:
            add(Finding("seccompProfile_baseline", "annotations", f"metadata.annotations[{key}]", value,
                        not seccomp_annotation_allowed(value) and minor < 19))

    # -- containers ------------------------------------------------------------------------
    pod_non_root = psc.get("runAsNonRoot") is True
    pod_seccomp_ok = pod_seccomp in SECCOMP_ALLOWED_TYPES
    default_host_ports = kind == "Pod" and spec.get("hostNetwork") is True
    for place, c in containers:
        name = c.get("name", "")
        sc = _sc(c)

        def f(check: str, field: str, value: Any, forbidden: bool) -> None:
            add(Finding(check, place, field, _text(value), forbidden, name))

        if "privileged" in sc:
            f("privileged", "securityContext.privileged", sc["privileged"], sc["privileged"] is True)
        for port in c.get("ports") or []:
            host_port = port.get("hostPort")
            if host_port is None and default_host_ports and place in ("containers", "initContainers", "sidecars"):
                f("hostPorts", "ports[].hostPort", f"{port.get('containerPort')} (defaulted: hostNetwork)", True)
            else:
                f("hostPorts", "ports[].hostPort", host_port, host_port not in (None, 0))
        for probe in PROBE_FIELDS:
            for handler in HOST_HANDLERS:
                if handler in (c.get(probe) or {}):
                    host = c[probe][handler].get("host") or ""
                    f("hostProbesAndHostLifecycle", f"{probe}.{handler}.host", host or "unset", bool(host))
        for hook in LIFECYCLE_HOOKS:
            for handler in HOST_HANDLERS:
                if handler in ((c.get("lifecycle") or {}).get(hook) or {}):
                    host = c["lifecycle"][hook][handler].get("host") or ""
                    f("hostProbesAndHostLifecycle", f"lifecycle.{hook}.{handler}.host", host or "unset", bool(host))
        caps = sc.get("capabilities") or {}
        for cap in caps.get("add") or []:
            f("capabilities_baseline", "securityContext.capabilities.add", cap, cap not in BASELINE_CAPABILITIES)
            f("capabilities_restricted", "securityContext.capabilities.add", cap,
              cap not in RESTRICTED_ADD_CAPABILITIES and not (minor >= 25 and windows))
        drop = caps.get("drop")
        f("capabilities_restricted", "securityContext.capabilities.drop", ",".join(drop) if drop else None,
          RESTRICTED_DROP_CAPABILITY not in (drop or []) and not (minor >= 25 and windows))
        if "procMount" in sc:
            bad = sc["procMount"] is not None and sc["procMount"] not in PROC_MOUNT_ALLOWED
            f("procMount", "securityContext.procMount", sc["procMount"], bad and not (minor >= 35 and userns))
            f("procMount_restricted", "securityContext.procMount", sc["procMount"], bad)
        _security_context_findings(add, place, name, sc, "securityContext.", minor)
        ape = sc.get("allowPrivilegeEscalation")
        f("allowPrivilegeEscalation", "securityContext.allowPrivilegeEscalation", ape,
          ape is not False and not (minor >= 25 and windows))
        non_root = sc.get("runAsNonRoot")
        relaxed = minor >= 35 and userns
        f("runAsNonRoot", "securityContext.runAsNonRoot", non_root if non_root is not None else None,
          not relaxed and (non_root is False or (non_root is None and not pod_non_root)))
        if "runAsUser" in sc:
            f("runAsUser", "securityContext.runAsUser", sc["runAsUser"], sc["runAsUser"] == 0 and not relaxed)
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        exempt = minor >= 25 and windows
        f("seccompProfile_restricted", "securityContext.seccompProfile.type", seccomp,
          not exempt and ((seccomp is not None and seccomp not in SECCOMP_ALLOWED_TYPES) or (seccomp is None and not pod_seccomp_ok)))
    return out


def _security_context_findings(add, place: str, name: str, sc: dict, prefix: str, minor: int) -> None:
    """Fields inspected the same way at pod and container level: AppArmor, SELinux, seccomp, hostProcess."""
    apparmor = (sc.get("appArmorProfile") or {}).get("type")
    if apparmor is not None:
        add(Finding("appArmorProfile", place, prefix + "appArmorProfile.type", apparmor,
            apparmor not in APPARMOR_ALLOWED_TYPES, name))
    selinux = sc.get("seLinuxOptions") or {}
    if "type" in selinux:
        allowed = allowed_selinux_types(minor)
        add(Finding("seLinuxOptions", place, prefix + "seLinuxOptions.type", selinux["type"] or "",
                    (selinux["type"] or "") not in allowed, name))
    for sub in SELINUX_FORBIDDEN_FIELDS:
        if sub in selinux:
            add(Finding("seLinuxOptions", place, prefix + f"seLinuxOptions.{sub}", selinux[sub] or "",
                        bool(selinux[sub]), name))
    if "level" in selinux:  # not inspected; recorded as an allowed value
        add(Finding("seLinuxOptions", place, prefix + "seLinuxOptions.level", selinux["level"], False, name))
    seccomp = (sc.get("seccompProfile") or {}).get("type")
    if seccomp is not None:
        add(Finding("seccompProfile_baseline", place, prefix + "seccompProfile.type", seccomp,
                    minor >= 19 and seccomp not in SECCOMP_ALLOWED_TYPES, name))
    host_process = (sc.get("windowsOptions") or {}).get("hostProcess")
    if host_process is not None:
        add(Finding("windowsHostProcess", place, prefix + "windowsOptions.hostProcess", _text(host_process),
                    host_process is True, name))


def violations(scenario: Any, kind: str, level: Level, minor: int) -> frozenset[str]:
    """Check ids this reading says the server reports for the scenario as ``kind`` at ``level``/``minor``."""
    bad = {f.check for f in findings(scenario, minor, kind) if f.forbidden}
    return frozenset(c.id for c in active_checks(level, minor) if c.id in bad)

