"""The Pod Security Standards' value tables, defined once: the values each check allows or forbids. Pure.

Facts carried over from ``k8s.io/pod-security-admission/policy`` (and
``/work/shared/docs/pss-reference.md``). The check modules of this package, the corpus coverage
reading (``harness.corpus.coverage``) and the differential fuzzer's mutation operators
(``harness.fuzz.operators``) all read these tables; none of them writes a value list of its own.

Tables that grow with Kubernetes minors are keyed by the policy minor that *adds* values
(``SYSCTLS_ADDED``, ``SELINUX_TYPES_ADDED``); ``allowed_sysctls(minor)`` and friends give the
cumulative set in force at a minor. The sysctls and seLinuxOptions check modules register one
variant per key of their table, so a new minor's values are one table entry here plus the
variant's minimum in the registry (``harness.core.checks``), which ``harness.policy._registry``
holds the variants to when ``harness.policy`` is imported (it raises naming both when they differ).

May import: the standard library only (and nothing of ``harness``): it is data.
"""

from __future__ import annotations

__all__ = [
    "ALLOWED_VOLUME_TYPES",
    "APPARMOR_ALLOWED_ANNOTATIONS",
    "APPARMOR_ALLOWED_TYPES",
    "APPARMOR_ANNOTATION_PREFIX",
    "BASELINE_CAPABILITIES",
    "HOST_HANDLERS",
    "HOST_NAMESPACE_FIELDS",
    "LIFECYCLE_HOOKS",
    "LOCALHOST_ANNOTATION_PREFIX",
    "PROBE_FIELDS",
    "PROC_MOUNT_ALLOWED",
    "RESTRICTED_ADD_CAPABILITIES",
    "RESTRICTED_DROP_CAPABILITY",
    "RESTRICTED_VOLUME_TYPES",
    "SECCOMP_ALLOWED_ANNOTATIONS",
    "SECCOMP_ALLOWED_TYPES",
    "SECCOMP_CONTAINER_ANNOTATION_PREFIX",
    "SECCOMP_POD_ANNOTATION",
    "SELINUX_FORBIDDEN_FIELDS",
    "SELINUX_TYPES_ADDED",
    "SYSCTLS_ADDED",
    "allowed_at",
    "allowed_selinux_types",
    "allowed_since",
    "allowed_sysctls",
    "apparmor_annotation_allowed",
    "seccomp_annotation_allowed",
]

# -- capabilities --------------------------------------------------------------------------------------------

#: capabilities_baseline (v1.0+): what ``capabilities.add`` may hold (exact and case-sensitive: ``ALL`` and
#: ``CAP_``-prefixed names are forbidden)
BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
#: capabilities_restricted (v1.22+): the only capability that may be added back ...
RESTRICTED_ADD_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
#: ... and what ``capabilities.drop`` must include
RESTRICTED_DROP_CAPABILITY = "ALL"

# -- sysctls -------------------------------------------------------------------------------------------------

#: sysctls: policy minor -> the names that minor adds to the allowed ("safe") set (cumulative)
SYSCTLS_ADDED: dict[int, frozenset[str]] = {
    0: frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                  "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}),
    27: frozenset({"net.ipv4.ip_local_reserved_ports"}),
    29: frozenset({"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                   "net.ipv4.tcp_keepalive_probes"}),
    32: frozenset({"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}),
    37: frozenset({"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}),
}

# -- SELinux -------------------------------------------------------------------------------------------------

#: seLinuxOptions.type: policy minor -> the types that minor adds (``""`` means unset)
SELINUX_TYPES_ADDED: dict[int, frozenset[str]] = {
    0: frozenset({"", "container_t", "container_init_t", "container_kvm_t"}),
    31: frozenset({"container_engine_t"}),
}
#: seLinuxOptions fields that must be unset or empty (``level`` is not checked)
SELINUX_FORBIDDEN_FIELDS = ("user", "role")

# -- volumes -------------------------------------------------------------------------------------------------

#: restrictedVolumes (v1.0+): the volume sources a restricted pod may use (``image``: Kubernetes 1.33+, in the
#: v1.0 variant); a volume with no source is defaulted to ``emptyDir`` and passes
ALLOWED_VOLUME_TYPES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                        "projected", "secret", "image")
#: the sources restrictedVolumes reports, in upstream's order of precedence (relevant only to a volume naming
#: several sources, which validation rejects); ``hostPath`` is also what hostPathVolumes (baseline) forbids
RESTRICTED_VOLUME_TYPES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
                           "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
                           "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
                           "scaleIO", "storageos")

# -- seccomp and AppArmor ------------------------------------------------------------------------------------

#: seccompProfile.type values allowed (baseline forbids any other explicit type; restricted requires one of them)
SECCOMP_ALLOWED_TYPES = ("RuntimeDefault", "Localhost")
#: seccompProfile_baseline v1.0 reads these annotations (v1.19+ ignores them)
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
#: seccomp annotation values allowed, besides ``localhost/<profile>``
SECCOMP_ALLOWED_ANNOTATIONS = ("runtime/default", "docker/default")
#: appArmorProfile.type values allowed (unset is allowed too)
APPARMOR_ALLOWED_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
#: AppArmor annotation values allowed, besides ``localhost/<profile>``
APPARMOR_ALLOWED_ANNOTATIONS = ("", "runtime/default")
LOCALHOST_ANNOTATION_PREFIX = "localhost/"

# -- other fields --------------------------------------------------------------------------------------------

#: procMount values allowed (unset is allowed too)
PROC_MOUNT_ALLOWED = ("Default",)
#: hostNamespaces: the pod fields that must not be true, in the order the detail lists them
HOST_NAMESPACE_FIELDS = ("hostNetwork", "hostPID", "hostIPC")
#: hostProbesAndHostLifecycle (v1.34+): the probes and lifecycle hooks inspected, and the handlers with a ``host``
PROBE_FIELDS = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")
HOST_HANDLERS = ("httpGet", "tcpSocket")


def allowed_at(added: dict[int, frozenset[str]], minor: int) -> frozenset[str]:
    """The values a growing table (``minor -> values it adds``) allows at policy ``minor``."""
    return frozenset().union(*(names for since, names in added.items() if since <= minor))


def allowed_sysctls(minor: int) -> frozenset[str]:
    """The sysctl names the ``sysctls`` check allows at policy ``minor``."""
    return allowed_at(SYSCTLS_ADDED, minor)


def allowed_selinux_types(minor: int) -> frozenset[str]:
    """The ``seLinuxOptions.type`` values the ``seLinuxOptions`` check allows at policy ``minor``."""
    return allowed_at(SELINUX_TYPES_ADDED, minor)


def allowed_since(added: dict[int, frozenset[str]], value: str) -> int | None:
    """The first policy minor at which ``value`` is allowed by a growing table; ``None``: never."""
    return next((since for since, names in sorted(added.items()) if value in names), None)


def seccomp_annotation_allowed(value: str) -> bool:
    """A seccomp annotation value seccompProfile_baseline v1.0 allows."""
    return value in SECCOMP_ALLOWED_ANNOTATIONS or value.startswith(LOCALHOST_ANNOTATION_PREFIX)


def apparmor_annotation_allowed(value: str) -> bool:
    """An AppArmor annotation value appArmorProfile allows."""
    return value in APPARMOR_ALLOWED_ANNOTATIONS or value.startswith(LOCALHOST_ANNOTATION_PREFIX)
