"""Evidence written by hooks, never by tests: one record per item, merged into a bundle at the end.

Each process (controller or xdist worker) appends its items' records to
``<reports>/evidence/<run-id>/records/<worker>.jsonl`` from ``pytest_runtest_makereport``, and
labels the item for Allure (``allure_labels``). At the end of the session the controller merges
the records with the run's metadata and status into the bundle (``bundle``), streaming them from
the record files rather than holding the run (``harness.reports.store``): ``results.json``,
``history.json``, ``index.html`` and ``SHA256SUMS``; it adds the run to the history store
``<reports>/history.sqlite``, removes the per-process record files and points ``<reports>/latest``
at the run.

Every run has its own output (``<reports>`` is ``options.reports_dir``: ``--psa-reports``, else
``./reports``), so runs on one checkout never overwrite each other::

    <reports>/evidence/<run-id>/           the sealed bundle
    <reports>/runs/<run-id>/junit.xml      unless --junitxml was given
    <reports>/runs/<run-id>/allure-results/  unless --alluredir was given
    <reports>/runs/<run-id>/evidence  ->  ../../evidence/<run-id>
    <reports>/latest  ->  runs/<run-id>    the last run that sealed a bundle (replaced at its end)
    <reports>/history.sqlite               every run (SQLite serialises concurrent writers)

Records hold what was sent and what the server said, passed through ``redact``: never a URL,
token, key or kubeconfig content. The run's own credentials and server address are registered
as known secrets in every process before its first record is written. A record is built by
``harness.reports.record.item_record`` (the typed record: every field, in one order); the run
metadata is a ``record.RunMeta``.

Imports: pytest, ``harness`` (its version), ``harness.reports`` (record, bundle, history, redact, store) and
``harness.plugin`` (allure, options); it reaches the cluster only through the runtime it is handed.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import os
import platform
import shutil
import socket
from pathlib import Path

import pytest

import harness
from harness.plugin import allure as allure_labels
from harness.reports import bundle
from harness.reports import history
from harness.reports.record import RunMeta, corpus_digest, item_record, result_counts, results_document, run_status
from harness.reports.redact import default_redactor, secrets_from_client
from harness.reports.store import RecordStore

__all__ = ["close_records", "default_outputs", "evidence_dir", "finish_run", "finished_run", "has_run", "history_path",
           "record_item", "reports_root", "run_dir", "start_run"]

_META = pytest.StashKey[RunMeta]()
_SECRETS_LOADED = pytest.StashKey[bool]()
_RECORDS = pytest.StashKey[object]()
_FINISHED = pytest.StashKey[dict]()
#: CI variables worth recording as the runner's identity (values are redacted like everything else)
_CI_VARS = ("CI", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_SHA", "CI_PROJECT_PATH", "CI_PIPELINE_ID",
            "CI_COMMIT_SHA", "BUILD_TAG", "BUILD_NUMBER")


def _now() -> str:
    return _iso(datetime.datetime.now(datetime.timezone.utc).timestamp())


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="milliseconds")


def reports_root(config: pytest.Config) -> Path:
    """The run's report directory (``--psa-reports``, else ``./reports``), absolute."""
    from harness.plugin.options import reports_dir

    return reports_dir(config)


def evidence_dir(config: pytest.Config, run_id: str) -> Path:
    return reports_root(config) / "evidence" / run_id


def run_dir(config: pytest.Config, run_id: str) -> Path:
    """``<reports>/runs/<run-id>``: the run's JUnit XML and Allure results, unless given elsewhere."""
    return reports_root(config) / "runs" / run_id


def history_path(config: pytest.Config) -> Path:
    """The run history store: ``<psa_reports>/history.sqlite``."""
    return reports_root(config) / "history.sqlite"


def default_outputs(config: pytest.Config, run_id: str) -> None:
    """JUnit XML and Allure results under ``<reports>/runs/<run-id>/`` unless the user named them.

    Runs from ``pytest_configure`` before the junitxml and allure-pytest plugins read their
    options, in every process (an xdist worker computes the same directory: it has the
    controller's run id and report directory). Not inside another session in the same process
    (pytester): allure-commons is process-global, and the outer run's Allure results would get
    the inner run's tests. A reused ``--psa-run-id`` starts with an empty Allure directory.
    """
    directory = run_dir(config, run_id)
    worker = hasattr(config, "workerinput")
    if hasattr(config.option, "xmlpath") and not config.option.xmlpath and not worker:
        config.option.xmlpath = str(directory / "junit.xml")
    if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir \
            and not allure_labels.in_use():
        config.option.allure_report_dir = str(directory / "allure-results")
        if not worker and not config.option.collectonly:
            shutil.rmtree(directory / "allure-results", ignore_errors=True)


def _worker(config: pytest.Config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


def cluster_fingerprint(runtime) -> str:
    """SHA-256 of the kube-system namespace UID: stable per cluster, reveals no address or secret."""
    resp = runtime.cluster.request("GET", "/api/v1/namespaces/kube-system")
    uid = resp.body.get("metadata", {}).get("uid", "") if resp.ok and isinstance(resp.body, dict) else ""
    return hashlib.sha256(f"pss-harness:{uid}".encode()).hexdigest()[:32] if uid else "unknown"


def embedded_fingerprint(version: str) -> str:
    """The fingerprint of the embedded control plane: one per Kubernetes version.

    Each run starts a fresh instance from the same binaries and admission configuration, so its
    kube-system UID is new every time; runs on it are compared with each other per version.
    """
    return hashlib.sha256(f"pss-harness:embedded:{version}".encode()).hexdigest()[:32]


def _register_secrets(config: pytest.Config, runtime) -> None:
    """Teach this process's redactor the run's credentials and server address (once)."""
    if config.stash.get(_SECRETS_LOADED, False) or runtime is None:
        return
    try:
        default_redactor().add(secrets_from_client(runtime.cluster.api.configuration))
    except AttributeError:
        pass
    config.stash[_SECRETS_LOADED] = True


@functools.lru_cache(maxsize=None)
def _file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _shown_path(config: pytest.Config, path: Path) -> str:
    """A scenario path relative to the rootdir (absolute paths say where someone's checkout lives)."""
    return _relative(str(path), str(config.rootpath))


@functools.lru_cache(maxsize=4096)
def _relative(path: str, root: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path


def _runner() -> dict:
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    info = {"host": socket.gethostname(), "python": platform.python_version(), "platform": platform.platform(),
            "pytest": pytest.__version__, "kubernetes-client": version("kubernetes"),
            "allure-pytest": version("allure-pytest"), "pytest-xdist": version("pytest-xdist")}
    info.update({f"env:{k}": os.environ[k] for k in _CI_VARS if os.environ.get(k)})
    return {k: v for k, v in info.items() if v}


def start_run(config: pytest.Config, cfg, state) -> None:
    """Record the run's metadata (controller side, after the preflight)."""
    _register_secrets(config, state.runtime)
    pf = state.preflight
    options = {k: (v if not isinstance(v, (tuple, list)) else [str(x) for x in v])
               for k, v in dataclasses.asdict(cfg).items() if k not in ("sources",)}
    options = {k: (str(v) if not isinstance(v, (str, int, bool, list, dict, type(None))) else v)
               for k, v in options.items()}
    if options.get("kubeconfig"):
        options["kubeconfig"] = "(given)"
    if options.get("sign_key"):
        options["sign_key"] = "(given)"
    options["xdist_workers"] = getattr(config.option, "numprocesses", None)
    instance = cluster_fingerprint(state.runtime)
    meta: RunMeta = {
        "run_id": cfg.run_id,
        "started": _now(),
        "harness_version": harness.__version__,
        "target": cfg.target_kind,
        "server_version": pf.server_version,
        "cluster_fingerprint": embedded_fingerprint(state.embedded.version) if state.embedded else instance,
        "cluster_instance": instance,
        "identity": {"username": pf.identity, "groups": pf.groups},
        "runner": _runner(),
        "embedded_k8s_version": state.embedded.version if state.embedded else None,
        "options": options,
        "engine": state.runtime.engine.describe(),
    }
    if cfg.shard is not None:  # harness.core.shard; report merge checks the shards cover the run
        meta["shard"] = {"index": cfg.shard.index, "count": cfg.shard.count,
                         "source": cfg.sources.get("shard", "command line")}
    config.stash[_META] = default_redactor().scrub(meta)
    _junit_suite_properties(config, config.stash[_META])


def _junit_suite_properties(config: pytest.Config, meta: dict) -> None:
    """Run metadata as ``<testsuite><properties>`` in ``--junitxml`` (compatible with every junit_family)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest internals moved
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for key in ("run_id", "server_version", "cluster_fingerprint", "target", "harness_version"):
        if meta.get(key):
            xml.add_global_property(f"pss-harness.{key}", meta[key])
    xml.add_global_property("pss-harness.identity", (meta.get("identity") or {}).get("username", ""))
    engine = meta.get("engine") or {}
    if engine:
        xml.add_global_property("pss-harness.engine", engine["name"])
        xml.add_global_property("pss-harness.engine_title", engine["title"])


def record_item(item, report, runtime) -> None:
    """Append one item's evidence record (called from ``pytest_runtest_makereport``, call phase)."""
    from harness.plugin.options import get_config

    cfg = get_config(item.config)
    run_id = getattr(item.config, "workerinput", {}).get("psa_run_id", cfg.run_id)
    s, exp, ex, verdict = item.scenario, item.expectation, item.execution, item.verdict
    if ex is not None and not item.config.stash.get(_SECRETS_LOADED, False):
        _register_secrets(item.config, runtime)
    obs = ex.observation if ex else None
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    record = item_record(
        nodeid=item.nodeid,
        name=item.name,
        scenario=s.id,
        title=s.title,
        gain=s.gain,
        level=s.level.value if s.level else None,
        file=_shown_path(item.config, s.path),
        scenario_sha256=_file_sha256(str(s.path)),
        references=list(s.references),
        kind=item.kind,
        policy={"level": item.policy.level.value, "mode": item.policy.mode.value,
                "version": str(item.policy.version)},
        severity=s.severity,
        declared_checks=s.check_ids(),
        attack=list(s.attack), ms_matrix=list(s.ms_matrix), cis=list(s.cis), nsa=s.nsa,
        result="skipped" if report.skipped else ("passed" if report.passed else "failed"),
        skip_reason=report.longrepr[2] if report.skipped and isinstance(report.longrepr, tuple) else None,
        expected=None if exp is None else {"outcome": exp.outcome.value, "checks": sorted(exp.checks),
                                           "audit_checks": sorted(exp.audit_checks), "reason": exp.reason},
        observed=obs.to_dict() if obs else None,
        problems=list(verdict.problems) if verdict else ([] if report.passed or report.skipped
                                                         else [str(report.longrepr)[-2000:]]),
        namespace=ex.namespace if ex else None,
        request=ex.request if ex else None,
        manifest=ex.manifest if ex else None,
        started=_iso(ex.started) if ex else _iso(now - report.duration),
        finished=_iso(ex.started + ex.duration) if ex else _iso(now),
        duration=round(ex.duration, 4) if ex else round(report.duration, 4),
        controller=ex.controller if ex else None,
        worker=_worker(item.config),
    )
    record, line = default_redactor().dumps(record)
    if isinstance(report.longrepr, str):  # the failure text JUnit, Allure and the terminal show
        report.longrepr = default_redactor().text(report.longrepr)
    item.user_properties += [
        ("scenario", s.id), ("kind", item.kind), ("policy", item.policy.label),
        ("level", item.policy.level.value), ("mode", item.policy.mode.value), ("version", str(item.policy.version)),
        ("severity", s.severity), ("controls", ",".join(record["controls"])),
        ("expected", record["expected"]["outcome"] if exp else ""),
        ("expected_checks", ",".join(record["expected"]["checks"]) if exp else ""),
        ("observed", obs.outcome.value if obs else ""),
        ("checks", ",".join(sorted(obs.checks)) if obs else ""),
        ("http_status", obs.status if obs else ""),
        ("attack", ",".join(s.attack)), ("cis", ",".join(s.cis)),
        ("audit_id", obs.audit_id if obs else ""),
        ("engine", getattr(cfg, "engine", "podsecurity")),
    ]
    allure_labels.annotate(item, record)
    _records_file(item.config, run_id).write(line + "\n")
    item.psa_record = record
    # travels with the report to the controller (xdist serialises a report's attributes): the run's status
    report.pss_harness = {"scenario": s.id, "mode": item.policy.mode.value, "result": record["result"],
                          "skip_reason": record["skip_reason"]}


def _records_file(config: pytest.Config, run_id: str):
    """This process's open ``records/<worker>.jsonl`` (closed, so flushed, by ``close_records``)."""
    fh = config.stash.get(_RECORDS, None)
    if fh is None:
        path = evidence_dir(config, run_id) / "records" / f"{_worker(config)}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = config.stash[_RECORDS] = path.open("a", encoding="utf-8")
    return fh


def close_records(config: pytest.Config) -> None:
    """Close this process's record file (every process, before the controller merges them)."""
    fh = config.stash.get(_RECORDS, None)
    if fh is not None:
        fh.close()
        del config.stash[_RECORDS]


def has_run(config: pytest.Config) -> bool:
    """Whether this process started a run that ``finish_run`` will seal (the preflight passed)."""
    return config.stash.get(_META, None) is not None


def finish_run(config: pytest.Config, state, exitstatus, status: dict | None = None) -> Path | None:
    """Merge every process's records into the bundle and the history store (controller side).

    Every process has closed its record file (``close_records``, from ``pytest_sessionfinish``).
    ``status`` is the run's status (``runstatus``: ``record.run_status``'s fields); without one it
    is derived from the records alone. What the terminal summary needs is kept for ``finished_run``.
    """
    meta = config.stash.get(_META, None)
    if meta is None:
        return None
    directory = evidence_dir(config, meta["run_id"])
    # every record is read once and kept slim; results.json and the report's details stream the full
    # ones from the record files (a run is never held in memory whole: harness.reports.store)
    store = RecordStore.scan(sorted((directory / "records").glob("*.jsonl")))
    records = store.records
    scenarios = {r["scenario"]: r["scenario_sha256"] for r in records if r.get("scenario_sha256")}
    counts = result_counts(records)
    if status is None:
        status = run_status(counts=counts)
    meta = {**meta, "finished": _now(), "exit_status": int(exitstatus), "counts": counts,
            "items": len(records), "scenarios": scenarios,
            "corpus_sha256": corpus_digest(scenarios) if scenarios else None,
            "status": status["status"], "incomplete_reasons": list(status["incomplete_reasons"]),
            "collection_errors": default_redactor().scrub(list(status["collection_errors"]))}
    results = results_document(meta, records)
    problems = []
    snapshot = None
    db = history_path(config)
    try:
        history.record_run(db, results)
        snapshot = history.snapshot(db, meta["run_id"], history.history_key(meta))
    except Exception as exc:  # the evidence matters more than its history: report and go on
        problems.append(f"could not update the history store {db}: {exc}")
    with store:
        bundle.write_bundle(directory, results, snapshot, store=store)
    shutil.rmtree(directory / "records", ignore_errors=True)
    bundle.write_sums(directory)  # the record files are gone: sums over the final content
    signed = _sign(config, directory, meta, problems)
    digest = bundle.sums_digest(directory)
    if snapshot is not None:
        try:
            history.set_bundle_digest(db, meta["run_id"], digest)
        except Exception:
            pass
    _metrics(config, results)
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        allure_labels.write_environment(alluredir, meta)
    problems += _point_latest(config, meta["run_id"], directory)
    config.stash[_FINISHED] = {"results": results, "history": snapshot, "directory": directory, "digest": digest,
                               "problems": problems, "signed": signed}
    return directory / bundle.RESULTS


def finished_run(config: pytest.Config) -> dict | None:
    """What ``finish_run`` sealed: ``results``, ``history`` (snapshot), ``directory``, ``digest``, ``problems``."""
    return config.stash.get(_FINISHED, None)


def _point_latest(config: pytest.Config, run_id: str, evidence: Path) -> list[str]:
    """``<reports>/runs/<run-id>/evidence`` -> the bundle, then ``<reports>/latest`` -> ``runs/<run-id>``.

    Each link is made under a temporary name and renamed over the old one, so a reader never
    sees it missing, and of two runs ending at once the last rename wins. Where the filesystem
    has no symbolic links, says so (the run's files are all there under their own names).
    """
    root, directory = reports_root(config), run_dir(config, run_id)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _replace_link(directory / "evidence", Path(os.path.relpath(evidence, directory)))
        _replace_link(root / "latest", Path(os.path.relpath(directory, root)))
    except OSError as exc:
        return [f"could not point {root / 'latest'} at this run ({exc}); its files are under {directory}"]
    return []


def _replace_link(link: Path, target: Path) -> None:
    if link.exists() and not link.is_symlink():
        raise OSError(f"{link} exists and is not a symbolic link")
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp, target_is_directory=True)
    os.replace(tmp, link)


def _metrics(config: pytest.Config, results: dict) -> None:
    """Write/push the run's Prometheus metrics if ``--psa-metrics-file``/``--psa-pushgateway`` was given."""
    from harness.core.errors import HarnessError
    from harness.plugin.options import get_config

    cfg = get_config(config)
    if not cfg.metrics_file and not cfg.pushgateway:
        return
    from harness.reports import metrics

    tr = config.pluginmanager.get_plugin("terminalreporter")
    registry = metrics.corpus_registry(results, datetime.datetime.now(datetime.timezone.utc).timestamp())
    try:
        if cfg.metrics_file:
            metrics.write_textfile(registry, cfg.metrics_file)
        if cfg.pushgateway:
            metrics.push(registry, cfg.pushgateway, "pss-harness-corpus")
    except HarnessError as exc:  # the evidence is written; the metrics are a copy of it
        if tr:
            tr.write_line(f"pss-harness: metrics not written: {exc}", red=True)
        return
    if tr:
        tr.write_line("pss-harness: metrics " + " and ".join(
            ([f"in {cfg.metrics_file}"] if cfg.metrics_file else []) +
            ([f"pushed to {cfg.pushgateway}"] if cfg.pushgateway else [])))


def _sign(config: pytest.Config, directory: Path, meta: dict, problems: list[str]) -> str | None:
    """Sign the sealed bundle if ``--psa-sign-key`` was given; the line saying so, or None (a failure: in ``problems``)."""
    from harness.core.errors import HarnessError
    from harness.plugin.options import get_config
    from harness.reports import signing

    path = get_config(config).sign_key
    if not path:
        return None
    try:
        key = signing.load_private_key(path, "--psa-sign-key")
        signing.sign_bundle(directory, key, meta)
    except HarnessError as exc:  # the key was checked at the start; it changed since
        problems.append(f"the bundle is NOT signed: {exc}")
        return None
    return (f"signed with key {signing.keyid(key.public_key())} ({signing.ENVELOPE}; "
            f"check with pss-harness report verify {directory} --key PUB)")
