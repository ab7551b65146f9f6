"""Shrunk disagreements become regression scenarios: ``scenarios/regressions/<id>.yaml``.

``write_regression`` turns the final (shrunk) case of a disagreement into a scenario file whose
expected checks are what the server reports for that pod at baseline and restricted and every
policy minor it knows (the server is the arbiter, not the evaluator): ``sweep`` (the driver's, the
only part that talks to the cluster) gives those answers, ``derive_checks`` the smallest declared
checks, version ranges and kinds that reproduce them. The file is read back with the corpus loader,
every answer it cannot express is noted, and a corpus ``CATALOG.md`` beside it is regenerated.

May import: ``yaml``, ``harness.core``, ``harness.corpus`` (loader, catalog), ``harness.fuzz.findings``
and ``harness.fuzz.strategies``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import yaml

from harness.core.checks import CHECKS, effective_check
from harness.core.expectations import checks_at
from harness.core.kinds import WORKLOAD_KINDS
from harness.core.model import Level, VersionRange
from harness.core.scenario import DeclaredCheck
from harness.corpus.catalog import render_catalog
from harness.corpus.scenarios import ANNOTATION, load_corpus, load_scenario
from harness.fuzz.findings import Finding
from harness.fuzz.strategies import FuzzCase

__all__ = ["DEFAULT_REGRESSIONS", "Sweep", "derive_checks", "dump", "range_text", "write_regression"]

DEFAULT_REGRESSIONS = Path("scenarios") / "regressions"  # relative: a fuzz run writes into the checkout it runs in
PSS_URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"

#: ``sweep(pod, update, kind) -> {(Pod|workload, level, minor): checks the server reports, None: no answer}``
Sweep = Callable[[dict, "list | None", str], "dict[tuple[str, Level, int], frozenset[str] | None]"]


#: target -> (what the regression is for, who disagreed, the two texts' names) in the scenario's text
_WORDING = {
    "evaluator": ("the offline evaluator", "the evaluator's prediction and the API server's answer", "Predicted",
                  "Observed"),
    "vap": ("the PSS-in-CEL ValidatingAdmissionPolicy set (policies/vap/)",
            "PodSecurity's answer and the ValidatingAdmissionPolicy set's", "PodSecurity", "The set"),
}


def write_regression(case: FuzzCase, findings: list[Finding], *, sweep: Sweep, server_version: str, newest: int,
                     directory: Path, target: str = "evaluator") -> tuple[Path, list[str]]:
    """Write the shrunk ``case`` as a scenario under ``directory`` whose checks are what the server reports;
    return its path and notes (what the scenario could not express, the catalog regenerated, ...).
    ``target``: which fuzz target found it (``evaluator`` or ``vap``; only the scenario's wording differs)."""
    subject, differed, first, second = _WORDING[target]
    update = list(case.ephemeral) if findings[0].kind == "Pod/ephemeralcontainers" else None
    pod = copy.deepcopy(case.ephemeral_base if update else case.pod)
    kind = next((f.kind for f in findings if f.kind in WORKLOAD_KINDS), "Deployment")
    observed = sweep(pod, update, kind)
    pod_ok = any(v is not None for (k, _, _), v in observed.items() if k == "Pod")
    workloads_ok = update is None and any(v is not None for (k, _, _), v in observed.items() if k == "workload")
    notes = []
    if not pod_ok:
        notes.append("the Pod was refused by validation or got no answer at every version during the sweep")
    declared = derive_checks(observed, newest, workloads_ok)
    digest = hashlib.sha256(json.dumps([pod, update], sort_keys=True).encode()).hexdigest()[:10]
    sid = f"fuzz-{digest}"
    f0 = findings[0]
    level = min((CHECKS[c["id"] if isinstance(c, dict) else c].level for c in declared),
                key=lambda lv: lv.rank, default=None)
    data: dict[str, Any] = {
        "title": f"Found by differential fuzzing: {f0.problem} ({f0.kind} at {f0.policy})",
        "gain": (f"Nothing by itself: this pod is a regression case for {subject}, found by "
                 f"differential fuzzing (harness.fuzz), where {differed} "
                 "differed. The checks below are what the server reports (the server is the arbiter)."),
        "level": level.value if level else "none",
        "checks": declared,
        "severity": "low" if level else "info",
    }
    if level:
        data["attack"] = ["T1610"]
    data["nsa"] = "Kubernetes Pod security: Pod security enforcement"
    if update is not None:
        data["kinds"] = ["Pod"]
        data["update"] = {"ephemeralContainers": update}
    elif not workloads_ok:
        data["kinds"] = ["Pod"]
    mutated = [repr(m) for m in (*case.mutations, *case.ephemeral_mutations)]
    data["description"] = (
        f"Seen at {f0.policy} on kube-apiserver {server_version} "
        f"({f0.kind}, HTTP {f0.status}). {first}: {f0.predicted or '(admitted)'} {second}: "
        f"{f0.observed or '(admitted)'}. Mutations of the hardened base pod: {', '.join(mutated) or 'none'}. "
        f"Expected checks per version were read from the server at baseline and restricted, "
        f"v1.0 to v1.{newest}.")
    data["references"] = [PSS_URL]
    manifest = copy.deepcopy(pod)
    manifest["metadata"]["name"] = sid
    manifest["metadata"].setdefault("annotations", {})[ANNOTATION] = dump(data)
    manifest["metadata"]["annotations"] = {ANNOTATION: manifest["metadata"]["annotations"].pop(ANNOTATION),
                                           **manifest["metadata"]["annotations"]}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{sid}.yaml"
    path.write_text(dump(manifest))
    scenario = load_scenario(path)
    mismatch = []
    for (kind, lv, minor), got in sorted(observed.items(), key=lambda kv: (kv[0][0], kv[0][1].rank, kv[0][2])):
        if got is None or (kind == "workload" and not workloads_ok):
            continue
        want = checks_at(scenario, "Pod" if kind == "Pod" else "Deployment", lv, minor)
        if want != got:
            mismatch.append(f"{kind} {lv.value}:v1.{minor}: server {sorted(got)}, scenario data {sorted(want)}")
    if mismatch:
        notes.append("the scenario data cannot express every answer of the server: " + "; ".join(mismatch[:5]))
    corpus = directory.resolve().parent
    if (corpus / "CATALOG.md").is_file():  # written into a corpus: keep its generated catalog current
        try:
            (corpus / "CATALOG.md").write_text(render_catalog(load_corpus([corpus]), root=corpus))
            notes.append(f"{corpus / 'CATALOG.md'} regenerated; commit it with the scenario")
        except Exception as exc:  # e.g. another file of the corpus is broken
            notes.append(f"could not regenerate {corpus / 'CATALOG.md'}: {exc}")
    return path, notes


def derive_checks(observed: dict, newest: int, workloads: bool) -> list:
    """Declared checks (scenario format) reproducing the server's answers: a check is declared over the
    minors where the server reports it at its own level, per kind when Pods and workloads differ; entries
    another one implies (a baseline check maps to its restricted override) are left out."""

    def minors(kind: str, check: str) -> list[int]:
        level = CHECKS[check].level
        return [m for m in range(newest + 1) if check in (observed.get((kind, level, m)) or ())]

    ids = sorted({c for v in observed.values() if v for c in v}, key=list(CHECKS).index)
    entries = []
    for cid in ids:
        pod_m = minors("Pod", cid)
        work_m = minors("workload", cid) if workloads else pod_m
        use = pod_m or work_m
        if not use:
            continue
        entry: dict[str, Any] = {"id": cid}
        rng = range_text(use, newest)
        if rng is None:
            rng = range_text(list(range(min(use), newest + 1)), newest)
        if rng and rng != "all":
            entry["versions"] = rng
        if workloads and pod_m != work_m:
            if not work_m:
                entry["kinds"] = ["Pod"]
            elif not pod_m:
                entry["kinds"] = list(WORKLOAD_KINDS)
        entries.append(entry)

    def reproduces(chosen: list[dict]) -> bool:
        declared = [DeclaredCheck(e["id"], VersionRange.parse(e.get("versions", "all")), tuple(e.get("kinds", ())))
                    for e in chosen]
        for (kind, level, minor), got in observed.items():
            if got is None or (kind == "workload" and not workloads):
                continue
            k = "Pod" if kind == "Pod" else "Deployment"
            want = {effective_check(d.id, level, minor) for d in declared if d.applies(minor, k)} - {None}
            if want != got:
                return False
        return True

    if reproduces(entries):
        for e in reversed(list(entries)):  # restricted entries first: a baseline one may imply them
            rest = [x for x in entries if x is not e]
            if reproduces(rest):
                entries = rest
    return [e if len(e) > 1 else e["id"] for e in entries]


def range_text(minors: list[int], newest: int) -> str | None:
    """``all``/``>=v1.a``/``<v1.b``/``>=v1.a <v1.b`` for a contiguous run of minors; ``None`` if not contiguous."""
    if not minors:
        return None
    lo, hi = min(minors), max(minors)
    if minors != list(range(lo, hi + 1)):
        return None
    parts = ([f">=v1.{lo}"] if lo > 0 else []) + ([f"<v1.{hi + 1}"] if hi < newest else [])
    return " ".join(parts) or "all"


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data):
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_BlockDumper.add_representer(str, _str_presenter)


def dump(obj: Any) -> str:
    """YAML as a scenario file writes it: keys in order, multi-line strings as blocks."""
    return yaml.dump(obj, Dumper=_BlockDumper, sort_keys=False, width=110, allow_unicode=True)
