"""The embedded control plane: upstream kube-apiserver, kube-controller-manager and etcd, built and run locally.

``builder`` builds the binaries from the Go module (cached per version), ``pki`` writes the
certificates, ``plane`` runs one ``EmbeddedCluster``, ``supervisor`` keeps named clusters for
``pss-harness cluster up/down/status``. May import the core and the standard library (plus
PyYAML and cryptography); never ``harness.cluster`` or anything above it.
"""

from harness.embedded.builder import DEFAULT_K8S_VERSION, Binaries, binaries_for, build, resolve_version
from harness.embedded.plane import (
    EmbeddedCluster,
    Exemptions,
    Identity,
    PodSecurityDefaults,
    announced_embedded_plane,
)

__all__ = [
    "DEFAULT_K8S_VERSION",
    "Binaries",
    "EmbeddedCluster",
    "Exemptions",
    "Identity",
    "PodSecurityDefaults",
    "announced_embedded_plane",
    "binaries_for",
    "build",
    "resolve_version",
]
