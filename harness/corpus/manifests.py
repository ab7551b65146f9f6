"""Read users' manifests: files, directories, multi-document YAML, ``List`` objects, stdin.

Used by ``assess`` and ``diff``; may import the core and PyYAML. Every object comes back with
where it was found (``source`` path or ``-``, document ``index``, first ``line``), so verdicts can
point at it. Parsing is what kubectl accepts: libyaml's loader (``CSafeLoader``), YAML 1.1's ``=``
value scalar read as the string ``"="`` (CRD enums in kube-prometheus use it), and a bound on
alias expansion (a kilobyte "billion laughs" document would otherwise grow to gigabytes).

A directory of real manifests holds other files too (Helm templates, kustomize configs, CI
files): a document that is not a Kubernetes object, or a file that is not YAML, is *skipped*
and named in ``ManifestList.problems`` with the reason; ``strict=True`` refuses the input
instead, naming every bad file (not just the first). Input with no object at all is an error.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Iterable, TextIO

import yaml

from harness.core.errors import EmptyInput, ScenarioError, UsageError
from harness.core.kinds import KIND_NAMES

__all__ = ["MAX_EXPANDED_NODES", "Manifest", "ManifestList", "POD_BEARING_KINDS", "Problem", "read_manifests"]

POD_BEARING_KINDS = KIND_NAMES
_SUFFIXES = (".yaml", ".yml", ".json")
#: YAML nodes one document may expand to through aliases (a 50 MB manifest file has ~3 million)
MAX_EXPANDED_NODES = 5_000_000


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One Kubernetes object read from a file or stdin."""

    source: str   #: the file path, or ``-`` for stdin
    index: int    #: the object's position in the file (0-based; items of a List count on)
    obj: dict
    line: int = 0  #: 1-based line where its document starts (0: unknown)

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def namespace(self) -> str:
        meta = self.obj.get("metadata")
        return str(meta.get("namespace") or "") if isinstance(meta, dict) else ""

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "")

    @property
    def pod_bearing(self) -> bool:
        return self.kind in POD_BEARING_KINDS


@dataclasses.dataclass(frozen=True)
class Problem:
    """A file or document that was not read as a Kubernetes object, and why."""

    source: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}" if self.line else f"{self.source}: {self.reason}"


class ManifestList(list):
    """The objects read (a ``list`` of ``Manifest``), with ``problems``: what was skipped and why."""

    def __init__(self, items: Iterable[Manifest] = (), problems: Iterable[Problem] = ()):
        super().__init__(items)
        self.problems: list[Problem] = list(problems)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present: ~8x faster
    """The safe loader plus YAML 1.1's ``=`` value scalar (as the string ``"="``)."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes the document expands to when every alias is copied out (memoised: linear in the YAML)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        kids = [v for pair in node.value for v in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if children_done:
            sizes[id(node)] = min(limit + 1, 1 + sum(sizes.get(id(k), 0) for k in kids))
        else:
            stack.append((node, True))
            stack += [(k, False) for k in kids if id(k) not in sizes]
    return sizes[id(root)]


def _documents(text: str, source: str) -> Iterable[tuple[int, int, object]]:
    """``(document number, first line, value)`` per document; raises ``ScenarioError`` on bad YAML."""
    loader = _Loader(text)
    try:
        number = 0
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1
            if _expanded_size(node, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
                raise ScenarioError(source, f"document {number + 1} expands through YAML aliases to more than "
                                            f"{MAX_EXPANDED_NODES:,} nodes (an alias bomb?); refusing to read it",
                                    line)
            yield number, line, loader.construct_document(node)
            number += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = " (a Helm template? render it first: helm template ... | pss-harness assess -)" if "{{" in text else ""
        raise ScenarioError(source, f"not valid YAML: {problem}{hint}", mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()


def _not_an_object(doc: object) -> str | None:
    """Why ``doc`` is not a Kubernetes object (None: it is one)."""
    if not isinstance(doc, dict):
        return f"not a Kubernetes object (a YAML {type(doc).__name__}, not a mapping)"
    if not isinstance(doc.get("apiVersion"), str) or not isinstance(doc.get("kind"), str) or not doc["kind"]:
        return "not a Kubernetes object (apiVersion and kind must be strings)"
    if "metadata" in doc and not isinstance(doc["metadata"], (dict, type(None))):
        return f"{doc['kind']}: metadata must be a mapping, not a {type(doc['metadata']).__name__}"
    return None


def _objects(text: str, source: str, out: ManifestList) -> None:
    index = 0
    try:
        for doc_no, line, doc in _documents(text, source):
            if doc is None:
                continue
            why = _not_an_object(doc)
            if why:
                out.problems.append(Problem(source, line, f"document {doc_no + 1}: {why}"))
                continue
            if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
                for n, item in enumerate(doc["items"]):
                    why = _not_an_object(item)
                    if why:
                        out.problems.append(Problem(source, line, f"document {doc_no + 1}, item {n + 1}: {why}"))
                        continue
                    out.append(Manifest(source, index, item, line))
                    index += 1
            else:
                out.append(Manifest(source, index, doc, line))
                index += 1
    except ScenarioError as exc:
        out.problems.append(Problem(source, exc.line, exc.problem))


def read_manifests(paths: Iterable[str], stdin: TextIO | None = None, *, strict: bool = False) -> ManifestList:
    """Every object under ``paths`` (``-`` reads stdin); directories are walked for YAML/JSON files.

    Documents that are not Kubernetes objects and files that are not YAML are skipped and listed
    in ``problems``; with ``strict`` they raise one ``ScenarioError`` naming all of them. No
    object at all raises ``EmptyInput`` (an empty ``helm template`` must not pass a CI gate).
    """
    out = ManifestList()
    paths = list(paths)
    for raw in paths:
        if raw == "-":
            _objects((stdin or sys.stdin).read(), "-", out)
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
                out.problems.append(Problem(str(f), None, f"cannot read: {exc}"))
                continue
            _objects(text, str(f), out)
    if strict and out.problems:
        listing = "\n  ".join(str(p) for p in out.problems)
        raise ScenarioError(out.problems[0].source, f"{len(out.problems)} problem(s) in the input (--strict):\n  "
                                                    f"{listing}")
    if not out:
        said = f"; skipped: {'; '.join(str(p) for p in out.problems)}" if out.problems else ""
        raise EmptyInput(f"no Kubernetes object in {', '.join(paths) or 'the input'}{said}")
    return out
