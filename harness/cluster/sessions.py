"""A ``Runtime`` outside pytest, for the ``assess`` and ``diff`` commands.

``open_runtime`` connects to an existing cluster (kubeconfig/context), or in a pod to its own
cluster as the pod's ServiceAccount (``harness.cluster.incluster``: the precedence), or starts an
embedded control plane; it runs the preflight, and on exit deletes its namespaces and stops what
it started (also on Ctrl-C and SIGTERM). ``describe_target`` names where it went.

May import the core, ``harness.embedded`` and the rest of ``harness.cluster``.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from harness.cluster.audit import AuditSource
from harness.cluster.incluster import detect
from harness.cluster.runtime import Runtime
from harness.core.settings import standalone

__all__ = ["open_runtime"]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def open_runtime(kubeconfig: str | None = None, context: str | None = None, k8s_version: str | None = None,
                 audit_log: str | None = None, progress: Callable[[str], None] = _say) -> Iterator[Runtime]:
    """A ready ``Runtime`` against the given cluster, in-cluster, or against a fresh embedded control plane.

    An explicit ``k8s_version`` asks for the embedded plane of that version, even in a pod.
    """
    in_cluster = detect() if kubeconfig is None and k8s_version is None else None
    with contextlib.ExitStack() as stack:
        if kubeconfig is None and in_cluster is None:
            from harness.embedded import announced_embedded_plane

            embedded = stack.enter_context(announced_embedded_plane(k8s_version, progress))
            kubeconfig, audit_log = str(embedded.kubeconfig), str(embedded.audit_log)
        cfg = standalone(kubeconfig=kubeconfig, context=context, k8s_version=k8s_version,
                         in_cluster=in_cluster.to_dict() if in_cluster else None)
        runtime = Runtime(cfg, kubeconfig, context, audit=AuditSource(audit_log) if audit_log else None,
                          in_cluster=in_cluster)
        try:
            runtime.preflight()
            yield runtime
        finally:
            runtime.cleanup()

