"""The built-in PodSecurity admission plugin as the engine under test (the default): nothing to install.

Readiness is ``harness.cluster.namespaces.await_policy`` and the canary ``harness.cluster.preflight.canary``,
both judged by PodSecurity's exact answers. May import the core and the rest of ``harness.cluster``.
"""

from __future__ import annotations

from typing import Callable

from harness.cluster.audit import AuditSource
from harness.cluster.namespaces import await_policy
from harness.cluster.preflight import canary
from harness.cluster.seam import ClusterAPI
from harness.core.engines import PodSecurityEngine
from harness.core.expectations import Policy
from harness.core.settings import HarnessConfig

__all__ = ["PodSecurityDriver"]


class PodSecurityDriver:
    """``--psa-engine podsecurity``."""

    def __init__(self, cfg: HarnessConfig | None = None):
        self.engine = PodSecurityEngine()

    def permissions(self) -> list[tuple[str, str, str, str]]:
        return []

    def install(self, cluster: ClusterAPI, *, audit: AuditSource | None, server_minor: int,
                progress: Callable[[str], None] = lambda m: None) -> None:
        return None

    def uninstall(self, cluster: ClusterAPI) -> None:
        return None

    def sweep_orphans(self, cluster: ClusterAPI, *, cutoff: float) -> list[str]:
        return []

    def await_policy(self, cluster: ClusterAPI, policy: Policy, name: str, *, audit: AuditSource | None,
                     server_minor: int) -> None:
        await_policy(cluster, policy, name, audit=audit, server_minor=server_minor)

    def canary(self, cluster: ClusterAPI, namespace: str, *, audit: AuditSource | None, server_minor: int) -> None:
        canary(cluster, namespace, audit=audit, server_minor=server_minor)
