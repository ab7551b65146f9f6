"""Engine drivers: put an admission engine under test into a cluster, scope it to namespaces, take it out again.

The classification of an engine's answers is pure and lives in ``harness.core.engines`` (an
``Engine``); what needs the cluster is here, one ``EngineDriver`` per engine:

    engine            the core ``Engine``: namespace labels, observe/attach_audit, expectations
    permissions()     RBAC a run needs beyond ``preflight.RUNNER_PERMISSIONS`` (asked before the run)
    install(...)      make the engine present and *in effect* before any item (the controller, once)
    uninstall(...)    remove what ``install`` created (the controller, at the end; never the user's objects)
    sweep_orphans()   remove what crashed runs installed, by label, once older than the sweep age
    await_policy()    a namespace's readiness: poll until the engine answers there in its mode
    canary()          the preflight's proof that the engine enforces at all

``driver_for(cfg)`` picks the driver of ``--psa-engine``: ``podsecurity`` (``PodSecurityDriver``:
nothing to install; the built-in plugin's labels, readiness probe and canary) or ``vap``
(``VapDriver``: the project's set, scoped to the run and installed, or the user's set selected by
``--vap-binding-selector``, which is never touched). A Kyverno or Gatekeeper driver would install
its webhook and policies (or check they are there), label namespaces as its policies select, and
probe readiness with the same privileged pod.

May import the core, ``harness.corpus`` (the shipped policy sets), ``harness.policy`` (the offline
evaluator, for readiness probes) and the rest of ``harness.cluster``.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from harness.cluster.audit import AuditSource
from harness.cluster.seam import ClusterAPI
from harness.core.engines import Engine
from harness.core.expectations import Policy
from harness.core.settings import HarnessConfig

__all__ = ["EngineDriver", "driver_for"]


@runtime_checkable
class EngineDriver(Protocol):
    """The cluster side of an engine under test (see the module docstring)."""

    engine: Engine

    def permissions(self) -> list[tuple[str, str, str, str]]: ...

    def install(self, cluster: ClusterAPI, *, audit: AuditSource | None, server_minor: int,
                progress: Callable[[str], None] = lambda m: None) -> None: ...

    def uninstall(self, cluster: ClusterAPI) -> None: ...

    def sweep_orphans(self, cluster: ClusterAPI, *, cutoff: float) -> list[str]: ...

    def await_policy(self, cluster: ClusterAPI, policy: Policy, name: str, *, audit: AuditSource | None,
                     server_minor: int) -> None: ...

    def canary(self, cluster: ClusterAPI, namespace: str, *, audit: AuditSource | None, server_minor: int) -> None: ...


def driver_for(cfg: HarnessConfig) -> EngineDriver:
    """The driver of ``cfg.engine`` (``--psa-engine``)."""
    if cfg.engine == "vap":
        from harness.cluster.engines.vap import VapDriver

        return VapDriver(cfg)
    from harness.cluster.engines.podsecurity import PodSecurityDriver

    return PodSecurityDriver(cfg)
