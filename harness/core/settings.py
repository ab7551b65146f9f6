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

__all__ = ["HarnessConfig", "standalone"]

@dataclasses.dataclass(frozen=True)
class HarnessConfig:
    """Resolved settings of one run."""

    kubeconfig: str | None           #: None: start the embedded control plane
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
    engine: str = "podsecurity"      #: the admission engine under test (--psa-engine; harness.core.engines)
    vap_binding_selector: str | None = None  #: --vap-binding-selector: the user's VAP set's labels; None: the project's

    @property
    def embedded(self) -> bool:
        return self.kubeconfig is None


def standalone(**overrides) -> HarnessConfig:
    """A ``HarnessConfig`` with the defaults of a pytest run, for use outside pytest."""
    values = dict(kubeconfig=None, context=None, k8s_version=None, levels=tuple(Level), modes=tuple(Mode),
                  versions=None, kinds=KIND_NAMES, scenario_dirs=(), live=False, keep_namespaces=False,
                  namespace_map={}, audit_log=None, sign_key=None, run_id=uuid.uuid4().hex[:8], sweep_after_minutes=60, sources={})
    values.update(overrides)
    return HarnessConfig(**values)
