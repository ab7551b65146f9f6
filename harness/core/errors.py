"""The harness's exception tree.

Every error a user can cause or meet carries a message that names the thing at fault
(file, field, flag, cluster) and the fix. Third-party exceptions are translated at the
boundary (``harness.cluster.client``, ``harness.embedded``) and chained with ``raise ... from``.

    HarnessError                      base: caught by the CLI and the pytest plugin, printed without a traceback
    ├── UsageError                    a bad option value (level, version, mode, path)
    │   └── EmptyInput                the input holds no Kubernetes object (an empty `helm template`)
    ├── ScenarioError                 a corpus or manifest file that cannot be used (path, position, problem)
    ├── ClusterError                  the target cluster cannot be used as asked
    │   ├── ClusterUnreachable        connection refused, TLS or DNS failure, timeout
    │   ├── ClusterPermissionError    the runner identity lacks RBAC permissions (lists them and the fix)
    │   └── AdmissionNotInEffect      the canary shows PodSecurity is not enforcing
    └── ControlPlaneError             the embedded control plane could not be built or started
        └── BuildError                the Go build failed (the tail of its output is in the message)
"""

from __future__ import annotations

__all__ = [
    "AdmissionNotInEffect",
    "BuildError",
    "ClusterError",
    "ClusterPermissionError",
    "ClusterUnreachable",
    "ControlPlaneError",
    "EmptyInput",
    "HarnessError",
    "ScenarioError",
    "UsageError",
]


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """An option or argument has a value the harness cannot use."""


class EmptyInput(UsageError):
    """The input held no Kubernetes object at all (commands give it an exit status of its own)."""


class ScenarioError(HarnessError):
    """A scenario or manifest file is malformed; the message starts with ``path[:line]``."""

    def __init__(self, path: str, problem: str, line: int | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class ClusterError(HarnessError):
    """The target cluster cannot be used as asked."""


class ClusterUnreachable(ClusterError):
    """The API server did not answer (connection, TLS, timeout)."""


class ClusterPermissionError(ClusterError):
    """The runner identity is missing RBAC permissions the run needs."""


class AdmissionNotInEffect(ClusterError):
    """A namespace labelled ``enforce=restricted`` admitted a privileged pod."""


class ControlPlaneError(HarnessError):
    """The embedded control plane could not be prepared, started or stopped."""


class BuildError(ControlPlaneError):
    """Building kube-apiserver, kube-controller-manager or etcd from Go modules failed."""
