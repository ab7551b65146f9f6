"""The pytest plugin: wiring only (options, collection, target lifecycle, evidence hooks).

Target: ``--kubeconfig``/``--context`` (or ``PSS_HARNESS_KUBECONFIG``) names an existing cluster;
otherwise an embedded control plane is started once, in the controlling process, and shared
with pytest-xdist workers. The preflight (version, identity, RBAC, enforcement canary) runs once
before any item; a failure stops the session with the reason and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import evidence
from harness.collect import ScenarioFile, ScenarioItem, is_scenario_file
from harness.config import HarnessConfig, add_options, get_config
from harness.errors import HarnessError

__all__ = ["runtime_for"]

_STATE = pytest.StashKey["_State"]()


class _State:
    """Per-process run state: the embedded cluster (controller only), the runtime, the preflight."""

    def __init__(self) -> None:
        self.embedded = None
        self.runtime = None
        self.preflight = None
        self.target: dict | None = None  # kubeconfig, context, audit_log, server_minor


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    parser.addini("psa_reports", "directory for evidence and reports", default="reports")


def pytest_configure(config: pytest.Config) -> None:
    for line in [
        "integration: starts or uses a real control plane (kube-apiserver + etcd)",
        "attack: a scenario the cluster must refuse at some level",
        "control: a control scenario every level must admit",
    ]:
        config.addinivalue_line("markers", line)
    config.stash[_STATE] = _State()
    try:
        cfg = get_config(config)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    for directory in cfg.scenario_dirs:  # the user's own corpus, collected with the paths given
        if directory not in config.args:
            config.args.append(directory)


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _args_have_scenarios(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(arg.split("::")[0])
        if path.is_file() and is_scenario_file(path):
            return True
        if path.is_dir() and any(is_scenario_file(p) for p in path.rglob("*.y*ml")):
            return True
    return False


def _start_target(config: pytest.Config) -> dict:
    """Resolve the target, starting the embedded control plane when no kubeconfig is given."""
    state, cfg = config.stash[_STATE], get_config(config)
    if state.target is not None:
        return state.target
    if cfg.embedded:
        from harness.embedded import EmbeddedCluster

        tr = config.pluginmanager.get_plugin("terminalreporter")
        say = (lambda m: tr.write_line(f"pss-harness: {m}")) if tr else (lambda m: None)
        say("starting the embedded control plane (no --kubeconfig given)")
        state.embedded = EmbeddedCluster(cfg.k8s_version, progress=say).start()
        say(f"Kubernetes {state.embedded.version} ready in {state.embedded.started_seconds:.1f}s")
        state.target = {"kubeconfig": str(state.embedded.kubeconfig), "context": None,
                        "audit_log": str(state.embedded.audit_log.path)}
    else:
        state.target = {"kubeconfig": cfg.kubeconfig, "context": cfg.context, "audit_log": cfg.audit_log}
    return state.target


def _make_runtime(config: pytest.Config, target: dict, worker: str, server_minor: int | None = None):
    from harness.runner import AuditSource, Runtime

    cfg = get_config(config)
    audit = AuditSource(target["audit_log"]) if target.get("audit_log") else None
    return Runtime(cfg, target["kubeconfig"], target["context"], audit=audit, worker=worker,
                   server_minor=server_minor)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """In the controlling process: start the target and run the preflight before any worker starts."""
    config = session.config
    if _is_worker(config) or config.option.collectonly or not _args_have_scenarios(config):
        return
    _prepare(config)


def _prepare(config: pytest.Config) -> None:
    state = config.stash[_STATE]
    try:
        target = _start_target(config)
        state.runtime = _make_runtime(config, target, "main")
        state.preflight = state.runtime.preflight()
        swept = state.runtime.sweep_orphans()
    except HarnessError as exc:
        _shutdown(config)
        pytest.exit(f"pss-harness: {exc}", returncode=3)
    target["server_minor"] = state.preflight.server_minor
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr:
        pf = state.preflight
        tr.write_line(f"pss-harness: server {pf.server_version}, identity {pf.identity}; RBAC ok; "
                      f"canary denied by PodSecurity" + (f"; swept {len(swept)} orphan namespace(s)" if swept else ""))
    evidence.start_run(config, get_config(config), state)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent with -p no:xdist
def pytest_configure_node(node) -> None:
    state = node.config.stash[_STATE]
    if state.target:
        node.workerinput["psa_target"] = dict(state.target)
    node.workerinput["psa_run_id"] = get_config(node.config).run_id


def runtime_for(config: pytest.Config):
    """This process's ``Runtime``, created on first use (workers: from the controller's target)."""
    state = config.stash[_STATE]
    if state.runtime is not None:
        return state.runtime
    if _is_worker(config):
        target = config.workerinput.get("psa_target")
        if not target:
            raise HarnessError("this worker got no cluster target from the controller")
        state.runtime = _make_runtime(config, target, config.workerinput["workerid"], target.get("server_minor"))
    else:
        _prepare(config)
    return state.runtime


def pytest_report_header(config: pytest.Config) -> list[str]:
    cfg: HarnessConfig = get_config(config)
    where = f"kubeconfig {cfg.kubeconfig} ({cfg.sources.get('kubeconfig')})" if cfg.kubeconfig else \
        "embedded control plane (no --kubeconfig)"
    versions = ",".join(map(str, cfg.versions)) if cfg.versions else "auto (latest + declared boundaries)"
    return [f"pss-harness: target {where}; run {cfg.run_id}; "
            f"{'LIVE objects' if cfg.live else 'server-side dry-run'}",
            f"pss-harness: levels {','.join(map(str, cfg.levels))}; modes {','.join(map(str, cfg.modes))}; "
            f"versions {versions}; kinds {len(cfg.kinds)}"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if isinstance(item, ScenarioItem) and report.when == "call":
        evidence.record_item(item, report)


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    evidence.close_records(config)
    if not _is_worker(config) and state.runtime is not None:
        evidence.finish_run(config, state, exitstatus)
    _shutdown(config)


def _shutdown(config: pytest.Config) -> None:
    state = config.stash[_STATE]
    if state.runtime is not None:
        state.runtime.cleanup()
    if state.embedded is not None:
        state.embedded.stop()
        state.embedded = None


@pytest.fixture(scope="session")
def psa_runtime(request):
    """The session's ``Runtime`` (cluster connection, namespaces, preflight), for custom tests."""
    return runtime_for(request.config)
