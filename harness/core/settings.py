"""The resolved settings of one run: a frozen ``HarnessConfig``. Pure: no pytest, no I/O.

The pytest plugin fills it from CLI options, environment and ini (``harness.plugin.options``);
the commands fill it from their arguments (``standalone``). Every layer below the plugin takes
a ``HarnessConfig``, never a pytest object.
"""

from __future__ import annotations

import dataclasses
import uuid

from harness.core.kinds import KIND_NAMES
from harness.core.model import Level, Mode, PolicyVersion
from harness.core.shard import Shard

__all__ = ["HarnessConfig", "standalone"]

@dataclasses.dataclass(frozen=True)
class HarnessConfig:
    """Resolved settings of one run."""

    kubeconfig: str | None           #: None: in-cluster (``in_cluster``) or start the embedded control plane
    context: str | None
    k8s_version: str | None
    levels: tuple[Level, ...]
    modes: tuple[Mode, ...]
    versions: tuple[PolicyVersion, ...] | None  #: None: auto (latest + declared boundaries)
    kinds: tuple[str, ...]
    scenario_dirs: tuple[str, ...]   #: extra directories collected besides the command-line paths
    live: bool
    keep_namespaces: bool
    namespace_map: dict[str, str]
    audit_log: str | None
    sign_key: str | None             #: Ed25519 private key (PEM) FILE the bundle is signed with; None: unsigned
    run_id: str
    sweep_after_minutes: int
    sources: dict[str, str]          #: where each non-default value came from
    shard: Shard | None = None       #: run only the items of this shard (--psa-shard I/N, or an Indexed Job's index)
    in_cluster: dict | None = None   #: no kubeconfig, running in a pod: ``harness.cluster.incluster.InCluster`` fields
    metrics_file: str | None = None  #: Prometheus textfile written at the end of the run
    pushgateway: str | None = None   #: Pushgateway URL the run's metrics are pushed to at the end
    engine: str = "podsecurity"      #: the admission engine under test (--psa-engine; harness.core.engines)
    vap_binding_selector: str | None = None  #: --vap-binding-selector: the user's VAP set's labels; None: the project's

    @property
    def embedded(self) -> bool:
        return self.kubeconfig is None and self.in_cluster is None

    @property
    def target_kind(self) -> str:
        """``embedded``, ``in-cluster`` or ``external`` (a kubeconfig): the evidence's ``run.target``."""
        return "external" if self.kubeconfig else "in-cluster" if self.in_cluster else "embedded"


def standalone(**overrides) -> HarnessConfig:
    """A ``HarnessConfig`` with the defaults of a pytest run, for use outside pytest."""
    values = dict(kubeconfig=None, context=None, k8s_version=None, levels=tuple(Level), modes=tuple(Mode),
                  versions=None, kinds=KIND_NAMES, scenario_dirs=(), live=False, keep_namespaces=False,
                  namespace_map={}, audit_log=None, sign_key=None, run_id=uuid.uuid4().hex[:8], sweep_after_minutes=60, sources={})
    values.update(overrides)
    return HarnessConfig(**values)
