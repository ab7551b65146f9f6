"""What each upstream check enforces, in words: the Pod Security Standards control it implements.

One entry per check of ``harness.core.checks.CHECKS`` (validated at import): the control's name as
the standard's page lists it, one sentence on what is forbidden or required (as the upstream check
decides it: ``harness.policy`` implements the same), and ``help_uri``: the Pod Security
Standards page at the anchor of the profile that holds the control (``#baseline``/``#restricted``,
the page's headings). Used by ``assess --format sarif`` as rule metadata.

May import ``harness.core.checks`` and ``harness.core.model`` only.
"""

from __future__ import annotations

import dataclasses

from harness.core.checks import CHECKS
from harness.core.model import Level

__all__ = ["CONTROLS", "PSS_URL", "Control", "help_uri"]

PSS_URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"


@dataclasses.dataclass(frozen=True)
class Control:
    """The standard's control behind one check."""

    name: str   #: the control as the Pod Security Standards page names it
    text: str   #: what it forbids or requires


CONTROLS: dict[str, Control] = {
    "appArmorProfile": Control(
        "AppArmor", "Overriding or disabling the default AppArmor profile is forbidden: an appArmorProfile.type "
        "(pod or container) must be RuntimeDefault or Localhost, and a container.apparmor.security.beta.kubernetes.io "
        "annotation must be runtime/default or localhost/*."),
    "capabilities_baseline": Control(
        "Capabilities", "Adding capabilities beyond the default set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, "
        "KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT) in "
        "securityContext.capabilities.add is forbidden."),
    "hostNamespaces": Control(
        "Host Namespaces", "Sharing the host namespaces is forbidden: spec.hostNetwork, spec.hostPID and spec.hostIPC "
        "must be false or unset."),
    "hostPathVolumes": Control("HostPath Volumes", "HostPath volumes (spec.volumes[*].hostPath) are forbidden."),
    "hostPorts": Control("Host Ports", "Host ports are forbidden: ports[*].hostPort must be 0 or unset in every "
                                       "container."),
    "hostProbesAndHostLifecycle": Control(
        "Host Probes / Lifecycle Hooks", "The host field of probes and lifecycle handlers (httpGet.host, "
        "tcpSocket.host) must be unset (policy v1.34+)."),
    "privileged": Control("Privileged Containers", "Privileged containers disable most security mechanisms and are "
                                                   "forbidden: securityContext.privileged must be false or unset."),
    "procMount": Control("/proc Mount Type", "The default /proc masks are required: securityContext.procMount must "
                                             "be unset or Default (from v1.35 any value with hostUsers: false)."),
    "seLinuxOptions": Control(
        "SELinux", "Custom SELinux options are forbidden: seLinuxOptions.type must be empty or a container type "
        "(container_t, container_init_t, container_kvm_t; v1.31+ also container_engine_t); user and role must be "
        "unset."),
    "seccompProfile_baseline": Control("Seccomp", "The seccomp profile must not be set to Unconfined."),
    "sysctls": Control("Sysctls", "Only the safe, namespaced sysctls of the policy version may be set in "
                                  "spec.securityContext.sysctls."),
    "windowsHostProcess": Control("HostProcess", "Windows HostProcess containers (windowsOptions.hostProcess=true) "
                                                 "give privileged access to the host and are forbidden."),
    "allowPrivilegeEscalation": Control(
        "Privilege Escalation", "Privilege escalation (such as via set-user-ID or set-group-ID file mode) is "
        "forbidden: every container must set securityContext.allowPrivilegeEscalation=false."),
    "capabilities_restricted": Control(
        "Capabilities", "Containers must drop ALL capabilities (securityContext.capabilities.drop=[\"ALL\"]) and may "
        "add back only NET_BIND_SERVICE."),
    "procMount_restricted": Control("/proc Mount Type", "The default /proc masks are required: "
                                                        "securityContext.procMount must be unset or Default, whatever "
                                                        "hostUsers says (policy v1.35+)."),
    "restrictedVolumes": Control(
        "Volume Types", "Only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, "
        "projected and secret volumes are allowed."),
    "runAsNonRoot": Control("Running as Non-root", "Containers must run as non-root users: runAsNonRoot=true at pod "
                                                   "level or on every container."),
    "runAsUser": Control("Running as Non-root user", "Containers must not set runAsUser=0 (policy v1.23+)."),
    "seccompProfile_restricted": Control(
        "Seccomp", "A seccomp profile is required: securityContext.seccompProfile.type must be RuntimeDefault or "
        "Localhost at pod level or on every container."),
}


def help_uri(check_id: str) -> str:
    """The Pod Security Standards page at the profile that holds the check's control."""
    level = CHECKS[check_id].level
    return PSS_URL + ("#restricted" if level is Level.RESTRICTED else "#baseline")


def _validate() -> None:
    missing, extra = sorted(set(CHECKS) - set(CONTROLS)), sorted(set(CONTROLS) - set(CHECKS))
    if missing or extra:
        raise RuntimeError(f"harness.core.controls must describe exactly the registry's checks "
                           f"(missing {missing}, unknown {extra})")


_validate()
