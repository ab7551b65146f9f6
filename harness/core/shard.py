"""Deterministic sharding: which items of a run belong to shard I of N, and whether shards cover a run.

Pure (``hashlib`` only). An item belongs to shard ``I/N`` when the SHA-256 of its pytest node id
(relative to the rootdir, ``scenarios/.../x.yaml::x[Pod-baseline-enforce-latest]``), read as a
big-endian integer from its first 8 bytes, is ``I`` modulo ``N``. Python's ``hash()`` is salted
per process, so it would give another partition on every run; SHA-256 gives the same one on every
machine, every run and every process of a run (pytest-xdist's workers each collect and filter
alike). Every item is in exactly one shard for any ``N``.

    >>> Shard.parse("1/4", "--psa-shard")
    Shard(index=1, count=4)
    >>> sorted({Shard(i, 3).owns("scenarios/a.yaml::a[Pod]") for i in range(3)})
    [False, True]

Inside a Kubernetes Indexed Job (``completionMode: Indexed``) the Job controller puts
``JOB_COMPLETION_INDEX`` into each pod's container environment (a field reference to the pod's
``batch.kubernetes.io/job-completion-index``: the annotation in the docs, the label of that name
in v1.37's controller; ``tests/integration/test_shards_live.py``). The Job's ``completions`` is
in no pod field, so the Job's template passes it as ``PSS_HARNESS_SHARDS`` (``from_environment``).

``coverage`` says whether the shards of a merge are one partition: the same ``N``, no index
twice, and which indexes are missing.

Imports: the standard library (``hashlib``) and ``harness.core.errors``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Iterable, Mapping

from harness.core.errors import UsageError

__all__ = ["INDEX_ENV", "SHARDS_ENV", "Coverage", "Shard", "coverage", "from_environment", "shard_of"]

INDEX_ENV = "JOB_COMPLETION_INDEX"   #: set by the Job controller in every pod of an Indexed Job
SHARDS_ENV = "PSS_HARNESS_SHARDS"    #: the shard count: the Job's spec.completions, passed by the Job itself

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(nodeid: str, count: int) -> int:
    """The shard (0 .. count-1) that owns the item ``nodeid``."""
    digest = hashlib.sha256(nodeid.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclasses.dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based, as a Job's completion index)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise UsageError(f"shard {self.index}/{self.count}: the index must be 0 to {max(self.count - 1, 0)} "
                             "and the count at least 1 (e.g. --psa-shard 0/4 ... 3/4)")

    @classmethod
    def parse(cls, text: object, where: str) -> "Shard":
        """``"I/N"`` -> ``Shard(I, N)``; anything else is a ``UsageError`` naming ``where``."""
        m = _SPEC.match(str(text))
        if not m:
            raise UsageError(f"{where} {text!r}: give the shard as INDEX/COUNT, e.g. 0/4 (indexes 0 to COUNT-1)")
        try:
            return cls(int(m.group(1)), int(m.group(2)))
        except UsageError as exc:
            raise UsageError(f"{where} {text!r}: {exc}") from None

    def owns(self, nodeid: str) -> bool:
        return shard_of(nodeid, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def from_environment(env: Mapping[str, str]) -> tuple[Shard | None, str | None]:
    """The shard of an Indexed Job's pod: ``(Shard, source)`` from ``JOB_COMPLETION_INDEX`` and ``PSS_HARNESS_SHARDS``.

    ``(None, None)`` outside a Job. A completion index without a count is refused: running the
    whole corpus in every pod would do the work N times and give shards that overlap.
    """
    index, count = env.get(INDEX_ENV, "").strip(), env.get(SHARDS_ENV, "").strip()
    if not index and not count:
        return None, None
    if not index:
        raise UsageError(f"${SHARDS_ENV}={count} is set but ${INDEX_ENV} is not: outside an Indexed Job give the "
                         "shard as --psa-shard INDEX/COUNT")
    if not count:
        raise UsageError(f"${INDEX_ENV}={index}: this runs as a pod of an Indexed Job, but the number of shards is "
                         f"unknown (the Job's completions are not in the pod's environment). Set ${SHARDS_ENV} to the "
                         f"Job's spec.completions in its pod template, or pass --psa-shard {index}/N "
                         "(--psa-shard 0/1 runs everything)")
    return Shard.parse(f"{index}/{count}", f"${INDEX_ENV}/${SHARDS_ENV}"), f"${INDEX_ENV}"


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How a set of shards covers a run: ``count``, the indexes present, the missing ones."""

    count: int
    present: tuple[int, ...]
    missing: tuple[int, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def coverage(shards: Iterable[tuple[str, Mapping | None]]) -> Coverage | None:
    """Check ``(name, run.shard)`` pairs of a merge; ``None`` if none of them is a shard (a plain merge).

    Refuses (``UsageError`` naming the bundles) a mix of sharded and unsharded bundles, shards of
    different counts, and an index given twice.
    """
    shards = list(shards)
    sharded = [(name, s) for name, s in shards if s]
    if not sharded:
        return None
    if len(sharded) != len(shards):
        plain = [name for name, s in shards if not s]
        raise UsageError(f"{', '.join(plain)} {'is' if len(plain) == 1 else 'are'} not a shard (no run.shard) but "
                         f"the other bundles are: merge the shards of one sharded run only")
    counts = sorted({int(s["count"]) for _, s in sharded})
    if len(counts) > 1:
        listing = ", ".join(f"{name} ({s['index']}/{s['count']})" for name, s in sharded)
        raise UsageError(f"the shards split the run differently ({listing}): merge shards of one --psa-shard I/N run")
    seen: dict[int, str] = {}
    for name, s in sharded:
        index = int(s["index"])
        if index in seen:
            raise UsageError(f"shard {index}/{counts[0]} is given twice ({seen[index]} and {name}): the shards overlap")
        seen[index] = name
    return Coverage(counts[0], tuple(sorted(seen)), tuple(i for i in range(counts[0]) if i not in seen))
