"""Read users' manifests: files, directories, multi-document YAML, ``List`` objects, stdin.

Used by ``assess`` and ``diff``. Every object comes back with where it was found
(``source`` path or ``-``, document ``index``), so verdicts can point at it. Bad input gets a
``ScenarioError`` naming the file and document, never a traceback.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Iterable, TextIO

import yaml

from harness.core.errors import ScenarioError, UsageError
from harness.core.kinds import KIND_NAMES

__all__ = ["Manifest", "POD_BEARING_KINDS", "read_manifests"]

POD_BEARING_KINDS = KIND_NAMES
_SUFFIXES = (".yaml", ".yml", ".json")


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One Kubernetes object read from a file or stdin."""

    source: str   #: the file path, or ``-`` for stdin
    index: int    #: the document's position in the file (0-based; items of a List count on)
    obj: dict

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "")

    @property
    def pod_bearing(self) -> bool:
        return self.kind in POD_BEARING_KINDS


def _documents(text: str, source: str) -> Iterable[tuple[int, object]]:
    try:
        for i, doc in enumerate(yaml.safe_load_all(text)):
            yield i, doc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ScenarioError(where, f"YAML syntax error: {getattr(exc, 'problem', None) or exc}") from None


def _objects(text: str, source: str) -> list[Manifest]:
    out: list[Manifest] = []
    index = 0
    for doc_no, doc in _documents(text, source):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise ScenarioError(source, f"document {doc_no + 1} is not a Kubernetes object "
                                        "(it needs apiVersion and kind)")
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                if not isinstance(item, dict) or "kind" not in item:
                    raise ScenarioError(source, f"document {doc_no + 1}: a List item is not a Kubernetes object")
                out.append(Manifest(source, index, item))
                index += 1
        else:
            out.append(Manifest(source, index, doc))
            index += 1
    return out


def read_manifests(paths: Iterable[str], stdin: TextIO | None = None) -> list[Manifest]:
    """Every object under ``paths`` (``-`` reads stdin); directories are walked for YAML/JSON files."""
    out: list[Manifest] = []
    for raw in paths:
        if raw == "-":
            out += _objects((stdin or sys.stdin).read(), "-")
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise UsageError(f"{raw}: no such file or directory")
        for f in files:
            try:
                text = f.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise ScenarioError(str(f), f"cannot read: {exc}") from None
            out += _objects(text, str(f))
    return out
