"""Evidence written by hooks, never by tests: one record per item, merged into ``results.json``.

Each process (controller or xdist worker) appends its items' records to
``<reports>/evidence/<run-id>/records/<worker>.jsonl``; at the end of the session the controller
merges them, with the run's metadata, into ``<reports>/evidence/<run-id>/results.json``. Records
hold what was sent and what the server said; never a URL, token, key or kubeconfig content.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
from pathlib import Path

import pytest

import harness

__all__ = ["evidence_dir", "finish_run", "record_item", "start_run"]

_META = pytest.StashKey[dict]()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def evidence_dir(config: pytest.Config, run_id: str) -> Path:
    root = Path(config.getini("psa_reports"))
    if not root.is_absolute():
        root = Path(config.rootpath) / root
    return root / "evidence" / run_id


def _worker(config: pytest.Config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


def cluster_fingerprint(runtime) -> str:
    """SHA-256 of the kube-system namespace UID: stable per cluster, reveals no address or secret."""
    resp = runtime.cluster.request("GET", "/api/v1/namespaces/kube-system")
    uid = resp.body.get("metadata", {}).get("uid", "") if resp.ok and isinstance(resp.body, dict) else ""
    return hashlib.sha256(f"pss-harness:{uid}".encode()).hexdigest()[:32] if uid else "unknown"


def start_run(config: pytest.Config, cfg, state) -> None:
    """Record the run's metadata (controller side, after the preflight)."""
    pf = state.preflight
    options = {k: (v if not isinstance(v, (tuple, list)) else [str(x) for x in v])
               for k, v in dataclasses.asdict(cfg).items() if k not in ("sources",)}
    options = {k: (str(v) if not isinstance(v, (str, int, bool, list, dict, type(None))) else v)
               for k, v in options.items()}
    if options.get("kubeconfig"):
        options["kubeconfig"] = "(given)"
    config.stash[_META] = {
        "run_id": cfg.run_id,
        "started": _now(),
        "harness_version": harness.__version__,
        "target": "embedded" if cfg.embedded else "external",
        "server_version": pf.server_version,
        "cluster_fingerprint": cluster_fingerprint(state.runtime),
        "identity": {"username": pf.identity, "groups": pf.groups},
        "embedded_k8s_version": state.embedded.version if state.embedded else None,
        "options": options,
    }


def record_item(item, report) -> None:
    """Append one item's evidence record (called from ``pytest_runtest_makereport``)."""
    from harness.config import get_config

    cfg = get_config(item.config)
    run_id = getattr(item.config, "workerinput", {}).get("psa_run_id", cfg.run_id)
    s, exp, ex, verdict = item.scenario, item.expectation, item.execution, item.verdict
    obs = ex.observation if ex else None
    record = {
        "nodeid": item.nodeid,
        "scenario": s.id,
        "title": s.title,
        "file": str(s.path),
        "kind": item.kind,
        "policy": {"level": item.policy.level.value, "mode": item.policy.mode.value,
                   "version": str(item.policy.version)},
        "severity": s.severity,
        "declared_checks": s.check_ids(),
        "attack": list(s.attack), "ms_matrix": list(s.ms_matrix), "cis": list(s.cis), "nsa": s.nsa,
        "result": "skipped" if report.skipped else ("passed" if report.passed else "failed"),
        "skip_reason": report.longrepr[2] if report.skipped and isinstance(report.longrepr, tuple) else None,
        "expected": None if exp is None else {"outcome": exp.outcome.value, "checks": sorted(exp.checks),
                                              "audit_checks": sorted(exp.audit_checks), "reason": exp.reason},
        "observed": obs.to_dict() if obs else None,
        "problems": list(verdict.problems) if verdict else ([] if report.passed or report.skipped
                                                            else [str(report.longrepr)[-2000:]]),
        "namespace": ex.namespace if ex else None,
        "request": ex.request if ex else None,
        "manifest": ex.manifest if ex else None,
        "started": datetime.datetime.fromtimestamp(ex.started, datetime.timezone.utc).isoformat(
            timespec="milliseconds") if ex else None,
        "duration": round(ex.duration, 4) if ex else round(report.duration, 4),
        "controller": ex.controller if ex else None,
    }
    item.user_properties += [("scenario", s.id), ("kind", item.kind), ("policy", item.policy.label),
                             ("expected", record["expected"]["outcome"] if exp else ""),
                             ("observed", obs.outcome.value if obs else ""),
                             ("checks", ",".join(sorted(obs.checks)) if obs else "")]
    path = evidence_dir(item.config, run_id) / "records" / f"{_worker(item.config)}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    item.psa_record = record


def finish_run(config: pytest.Config, state, exitstatus) -> Path | None:
    """Merge every process's records into ``results.json`` (controller side)."""
    meta = config.stash.get(_META, None)
    if meta is None:
        return None
    directory = evidence_dir(config, meta["run_id"])
    records = []
    for part in sorted((directory / "records").glob("*.jsonl")):
        records += [json.loads(line) for line in part.read_text().splitlines() if line.strip()]
    records.sort(key=lambda r: r["nodeid"])
    counts: dict[str, int] = {}
    for r in records:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    from harness.scenarios import corpus_digest, load_scenario

    files = sorted({r["file"] for r in records})
    meta = dict(meta, finished=_now(), exit_status=int(exitstatus), counts=counts, items=len(records),
                corpus_sha256=corpus_digest([load_scenario(Path(f)) for f in files]) if files else None)
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / "results.json"
    out.write_text(json.dumps({"run": meta, "results": records}, indent=1, sort_keys=True) + "\n")
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr:
        tr.write_line(f"pss-harness: evidence for {len(records)} item(s) in {out}")
    return out
