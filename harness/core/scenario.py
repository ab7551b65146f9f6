"""A scenario as data: the attack (or control) pod and the verdict data the cluster owes it. Pure.

The corpus layer (``harness.corpus.scenarios``) reads and validates the files into these
objects; everything that derives expectations or reports works on them without reading files.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from harness.core.kinds import KIND_NAMES
from harness.core.model import Level, VersionRange

__all__ = ["DeclaredCheck", "Scenario"]


@dataclasses.dataclass(frozen=True)
class DeclaredCheck:
    """A check a scenario trips, optionally only at some versions or for some kinds."""

    id: str
    versions: VersionRange = VersionRange()
    kinds: tuple[str, ...] = ()  #: empty: every kind

    def applies(self, minor: int, kind: str) -> bool:
        return minor in self.versions and (not self.kinds or kind in self.kinds)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One attack (or control) pod with the verdict data the cluster owes it."""

    id: str                          #: ``metadata.name``; equal to the file name's stem
    path: Path
    title: str
    gain: str                        #: what an attacker gains if it is admitted
    level: Level | None              #: lowest level that must deny it; ``None`` for a control case
    checks: tuple[DeclaredCheck, ...]
    severity: str
    versions: VersionRange = VersionRange()  #: where the checks apply (each check may narrow it)
    attack: tuple[str, ...] = ()     #: MITRE ATT&CK technique ids
    ms_matrix: tuple[str, ...] = ()  #: Microsoft threat matrix for Kubernetes ids
    cis: tuple[str, ...] = ()        #: CIS Kubernetes Benchmark section-5 ids, 5.2.x mostly (see scenarios/README.md for the version)
    nsa: str = ""                    #: NSA/CISA Kubernetes Hardening Guide item
    kinds: tuple[str, ...] = KIND_NAMES   #: resource kinds to submit it as
    invalid: str = ""                #: non-empty: API validation must refuse it (422) before admission
    update: dict | None = None       #: update path: added to the running pod (``ephemeralContainers``)
    description: str = ""
    references: tuple[str, ...] = ()
    manifest: dict = dataclasses.field(default_factory=dict, repr=False)  #: the Pod without our annotation

    @property
    def is_control(self) -> bool:
        return self.level is None

    def check_ids(self) -> list[str]:
        return sorted({c.id for c in self.checks})

    def boundaries(self) -> set[int]:
        """Policy minors where the scenario's own version ranges change (its declared boundaries)."""
        out = set(self.versions.boundaries())
        for c in self.checks:
            out |= c.versions.boundaries()
        return {b for b in out if b}

    def pod(self) -> dict:
        """A fresh copy of the manifest to submit."""
        return copy.deepcopy(self.manifest)
