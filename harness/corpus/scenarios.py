"""Load and validate scenario files.

A scenario file is one plain Kubernetes Pod manifest (``kubectl apply`` accepts it as-is) whose
``metadata.annotations["pss-harness.io/scenario"]`` holds the scenario's data as a YAML
mapping. The loader checks that data strictly (unknown fields, bad levels, versions and check
ids, duplicate ids are errors naming the file and line) and strips the annotation before
anything is submitted. ``scenarios/README.md`` documents the fields.
"""

from __future__ import annotations

import copy
import difflib
import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from harness.core.checks import CHECKS
from harness.core.errors import ScenarioError, UsageError
from harness.core.kinds import KIND_NAMES
from harness.core.scenario import DeclaredCheck, Scenario
from harness.core.model import Level, VersionRange
from harness.corpus.yaml_lines import LineLoader

__all__ = [
    "ANNOTATION",
    "DeclaredCheck",
    "Scenario",
    "corpus_digest",
    "load_corpus",
    "load_scenario",
    "mentions_harness",
]

ANNOTATION = "pss-harness.io/scenario"
SEVERITIES = ("critical", "high", "medium", "low", "info")
_ATTACK_RE = re.compile(r"^T\d{4}(\.\d{3})?$")
_MS_RE = re.compile(r"^MS-TA\d{4}$")
_CIS_RE = re.compile(r"^5\.\d+\.\d+$")  # section 5 (Policies): 5.2.x pod security, 5.7.x general (seccomp 5.7.2)
_ID_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # name: (type, required)
    "title": (str, True),
    "gain": (str, True),
    "level": (str, True),
    "checks": (list, True),
    "severity": (str, True),
    "versions": (str, False),
    "attack": (list, False),
    "ms-matrix": (list, False),
    "cis": (list, False),
    "nsa": (str, False),
    "kinds": (list, False),
    "invalid": (str, False),
    "update": (dict, False),
    "description": (str, False),
    "references": (list, False),
}
_CHECK_FIELDS = {"id", "versions", "kinds"}
_UPDATE_FIELDS = {"ephemeralContainers"}


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__lines__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _load_yaml(text: str, path: Path, first_line: int = 0) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=LineLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = first_line + mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(str(path), f"YAML syntax error: {problem}", line) from None


_NOT_A_SCENARIO = (" (every YAML file under a scenario directory must be a scenario: move other files out, "
                   "or into a directory whose name starts with '_')")


def _near_miss(key: str) -> bool:
    """A key that was meant to be ``ANNOTATION`` (``pss-harness.io/scenarios``, ``pss_harness.io/scenario`` ...)."""
    squashed = re.sub(r"[^a-z]", "", key.lower())
    return "scenario" in squashed and ("harness" in squashed or "pss" in squashed) or \
        difflib.SequenceMatcher(None, key.lower(), ANNOTATION).ratio() >= 0.8


def mentions_harness(text: str) -> bool:
    """Whether a YAML text looks meant for the corpus (it names the harness's annotation prefix)."""
    return "pss-harness" in text or "pss_harness" in text or bool(re.search(r"(?i)pss.?harness\.io/scen", text))


def load_scenario(path: Path) -> Scenario:
    """Load one scenario file; raise ``ScenarioError`` naming the file, line and problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), f"cannot read: {exc}") from None
    docs = [d for d in _load_yaml(text, path) if d is not None]
    if len(docs) != 1:
        raise ScenarioError(str(path), f"a scenario file holds exactly one manifest, found {len(docs)} documents")
    doc = docs[0]
    if not isinstance(doc, dict) or doc.get("apiVersion") != "v1" or doc.get("kind") != "Pod":
        raise ScenarioError(str(path), "the manifest must be a v1 Pod (apiVersion: v1, kind: Pod)" + _NOT_A_SCENARIO, 1)
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise ScenarioError(str(path), "metadata.name is required", 1)
    name = meta["name"]
    if not _ID_RE.match(name) or len(name) > 63:
        raise ScenarioError(str(path), f"metadata.name {name!r} must be a DNS label (lower-case, digits, '-')",
                            meta["__lines__"]["name"])
    if name != path.stem:
        raise ScenarioError(str(path), f"metadata.name {name!r} must equal the file name {path.stem!r}",
                            meta["__lines__"]["name"])
    if "namespace" in meta:
        raise ScenarioError(str(path), "metadata.namespace must not be set: the harness chooses namespaces",
                            meta["__lines__"]["namespace"])
    annotations = meta.get("annotations") or {}
    if ANNOTATION not in annotations:
        near = [k for k in annotations if k != "__lines__" and _near_miss(str(k))]
        if near:
            raise ScenarioError(str(path), f"annotation key {near[0]!r} is not {ANNOTATION!r}: a typo? "
                                           "(the file is not a scenario until it is spelt exactly)",
                                annotations["__lines__"].get(near[0]))
        raise ScenarioError(str(path), f"metadata.annotations[{ANNOTATION!r}] is missing: it holds the scenario data"
                                       + _NOT_A_SCENARIO,
                            meta["__lines__"].get("name"))
    raw = annotations[ANNOTATION]
    if not isinstance(raw, str):
        raise ScenarioError(str(path), f"annotation {ANNOTATION!r} must be a YAML block string ('|')",
                            annotations["__lines__"][ANNOTATION])
    first = annotations["__lines__"][ANNOTATION]  # the key's line; a '|' block starts on the next line
    data_docs = _load_yaml(raw, path, first)
    data = data_docs[0] if len(data_docs) == 1 else None
    if not isinstance(data, dict):
        raise ScenarioError(str(path), f"annotation {ANNOTATION!r} must hold a YAML mapping", first)
    manifest = _strip_lines(doc)
    del manifest["metadata"]["annotations"][ANNOTATION]
    if not manifest["metadata"]["annotations"]:
        del manifest["metadata"]["annotations"]
    return _parse_data(name, path, data, first, manifest)


def _parse_data(name: str, path: Path, data: dict, first: int, manifest: dict) -> Scenario:
    lines = data.get("__lines__", {})

    def fail(problem: str, key: str | None = None) -> ScenarioError:
        return ScenarioError(str(path), problem, first + lines[key] if key in lines else first)

    for key in data:
        if key != "__lines__" and key not in _FIELDS:
            raise fail(f"unknown scenario field {key!r} (known: {', '.join(_FIELDS)})", key)
    for key, (typ, required) in _FIELDS.items():
        if key not in data:
            if required:
                raise fail(f"scenario field {key!r} is required")
            continue
        if not isinstance(data[key], typ) or (typ is str and not data[key].strip() and key != "invalid"):
            raise fail(f"scenario field {key!r} must be a non-empty {typ.__name__}", key)

    def strings(key: str, pattern: re.Pattern | None = None, what: str = "") -> tuple[str, ...]:
        values = data.get(key, [])
        for v in values:
            if not isinstance(v, (str, int, float)) or (pattern and not pattern.match(str(v))):
                raise fail(f"{key}: {v!r} is not {what or 'a string'}", key)
        return tuple(str(v) for v in values)

    def version_range(text: Any, key: str) -> VersionRange:
        try:
            return VersionRange.parse(str(text))
        except UsageError as exc:
            raise fail(f"{key}: {exc}", key) from None

    level_text = data["level"]
    if level_text == "none":
        level = None
    elif level_text in ("baseline", "restricted"):
        level = Level(level_text)
    else:
        raise fail(f"level {level_text!r}: must be baseline, restricted, or none for a control case", "level")

    checks = []
    for entry in data["checks"]:
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, dict) or "id" not in entry:
            raise fail(f"checks: {entry!r} must be a check id or a mapping with 'id'", "checks")
        unknown = set(entry) - _CHECK_FIELDS - {"__lines__"}
        if unknown:
            raise fail(f"checks: unknown field(s) {sorted(unknown)} (known: id, versions, kinds)", "checks")
        if entry["id"] not in CHECKS:
            raise fail(f"checks: unknown check id {entry['id']!r} (known: {', '.join(sorted(CHECKS))})", "checks")
        kinds = tuple(entry.get("kinds", ()))
        bad = [k for k in kinds if k not in KIND_NAMES]
        if bad:
            raise fail(f"checks: {entry['id']}: unknown kind(s) {bad} (known: {', '.join(KIND_NAMES)})", "checks")
        checks.append(DeclaredCheck(entry["id"], version_range(entry.get("versions", "all"), "checks"), kinds))
    if len({c.id for c in checks}) != len(checks):
        raise fail("checks: a check id is listed twice", "checks")

    declared_levels = {CHECKS[c.id].level for c in checks}
    lowest = min(declared_levels, key=lambda lv: lv.rank) if declared_levels else None
    if lowest != level:
        want = lowest.value if lowest else "none"
        raise fail(f"level {level_text!r} disagrees with the checks listed: their lowest level is {want}", "level")

    severity = data["severity"]
    if severity not in SEVERITIES:
        raise fail(f"severity {severity!r}: must be one of {', '.join(SEVERITIES)}", "severity")
    kinds = strings("kinds") or KIND_NAMES
    bad = [k for k in kinds if k not in KIND_NAMES]
    if bad:
        raise fail(f"kinds: unknown kind(s) {bad} (known: {', '.join(KIND_NAMES)})", "kinds")
    update = data.get("update")
    if update is not None:
        update = _strip_lines(update)
        if set(update) - _UPDATE_FIELDS or not isinstance(update.get("ephemeralContainers"), list):
            raise fail("update: must be {ephemeralContainers: [container, ...]}", "update")
        if kinds != ("Pod",):
            raise fail("update: the update path exists for Pods only; set kinds: [Pod]", "kinds" if "kinds" in data else "update")

    return Scenario(
        id=name,
        path=path,
        title=data["title"].strip(),
        gain=data["gain"].strip(),
        level=level,
        checks=tuple(checks),
        severity=severity,
        versions=version_range(data.get("versions", "all"), "versions"),
        attack=strings("attack", _ATTACK_RE, "an ATT&CK technique id like T1611"),
        ms_matrix=strings("ms-matrix", _MS_RE, "a Microsoft threat-matrix id like MS-TA9013"),
        cis=strings("cis", _CIS_RE, "a CIS section-5 id like 5.2.2 or 5.7.2"),
        nsa=data.get("nsa", "").strip(),
        kinds=kinds,
        invalid=data.get("invalid", "").strip(),
        update=update,
        description=data.get("description", "").strip(),
        references=strings("references"),
        manifest=manifest,
    )


def _scenario_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.yaml") if not any(part.startswith((".", "_")) for part in p.relative_to(directory).parts))


def _name_line(path: Path) -> int | None:
    """The line of ``metadata.name`` in an already validated scenario file."""
    try:
        return _load_yaml(path.read_text(), path)[0]["metadata"]["__lines__"]["name"]
    except (ScenarioError, OSError, LookupError, TypeError):
        return None


def load_corpus(directories: Iterable[Path]) -> list[Scenario]:
    """Load every ``*.yaml`` under the directories (skipping ``_``/``.``-prefixed paths); ids must be unique."""
    scenarios: list[Scenario] = []
    seen: dict[str, Path] = {}
    for directory in directories:
        directory = Path(directory)
        if not directory.is_dir():
            raise UsageError(f"scenario directory {directory} does not exist")
        for path in _scenario_files(directory):
            s = load_scenario(path)
            if s.id in seen:
                raise ScenarioError(str(path), f"duplicate scenario id {s.id!r} (also in {seen[s.id]})",
                                    _name_line(path))
            seen[s.id] = path
            scenarios.append(s)
    return scenarios


def corpus_digest(scenarios: Iterable[Scenario]) -> str:
    """SHA-256 over the scenario files' bytes, in id order (for evidence metadata)."""
    h = hashlib.sha256()
    for s in sorted(scenarios, key=lambda s: s.id):
        h.update(s.id.encode() + b"\0" + s.path.read_bytes() + b"\0")
    return h.hexdigest()
