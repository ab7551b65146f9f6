"""The embedded control plane: upstream kube-apiserver, kube-controller-manager and etcd, built and run locally."""

from harness.embedded.builder import DEFAULT_K8S_VERSION, Binaries, binaries_for, build, resolve_version
from harness.embedded.plane import AuditLog, EmbeddedCluster, Exemptions, Identity, PodSecurityDefaults

__all__ = [
    "DEFAULT_K8S_VERSION",
    "AuditLog",
    "Binaries",
    "EmbeddedCluster",
    "Exemptions",
    "Identity",
    "PodSecurityDefaults",
    "binaries_for",
    "build",
    "resolve_version",
]
