"""The pytest plugin (registered as ``harness.plugin``): hooks only, the wiring of the layers below.

May import everything but the CLI. Its modules: ``options`` (the one config object from CLI, env
and ini), ``collect`` (scenario files as items), ``session`` (per-process state: target, runtime,
preflight), ``evidence`` (records written by hooks, never by tests; each run's own output
directory), ``allure`` (labels and attachments), ``runstatus`` (passed, failed or incomplete, stated
in every report and the exit status), ``summary`` (what the terminal says at the end), ``status`` (how the session ended, for
``pss-harness fleet``) and
``namespaces`` (the namespace sweep as items, ``--psa-namespaces``). Nothing here decides a verdict;
that is ``harness.core``.

Target: ``--kubeconfig``/``--context`` (or ``PSS_HARNESS_KUBECONFIG``) names an existing cluster;
otherwise, in a pod, the pod's ServiceAccount (in-cluster, ``harness.cluster.incluster``); otherwise
an embedded control plane is started once, in the controlling process, and shared with
pytest-xdist workers. The preflight (version, identity, RBAC, enforcement canary) runs once
before any item; a failure stops the session with the reason and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cluster.incluster import InCluster
from harness.core.errors import HarnessError
from harness.core.settings import HarnessConfig
from harness.plugin import allure as allure_labels
from harness.plugin import evidence, gcpolicy, junit_spool, status
from harness.plugin.collect import ScenarioFile, ScenarioItem, is_scenario_file, is_scenario_nodeid
from harness.plugin.options import add_options, get_config, reports_dir
from harness.plugin.runstatus import RunTracker, tracker_of
from harness.plugin.summary import summary_lines
from harness.plugin.session import (STATE, RunState, install_sigterm, is_worker, prepare, restore_sigterm, runtime_for,
                                    shutdown)
from harness.plugin.session import current_runtime as session_runtime

__all__ = ["runtime_for"]

#: the namespace sweep's pytest mode (--psa-namespaces) lives in its own module
pytest_plugins = ["harness.plugin.namespaces"]

def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def _dist_by_file(config: pytest.Config) -> None:
    """``-n N`` without ``--dist`` distributes by file (``loadfile``), not item by item.

    The items of one scenario file are sent together and share their namespaces' readiness;
    spread over workers (xdist's own default, ``load``) they are not. An explicit ``--dist``
    (command line, ``addopts`` or ``PYTEST_ADDOPTS``) wins.
    """
    if getattr(config.option, "dist", "no") != "load" or getattr(config.option, "distload", False):
        return
    given = [*config.invocation_params.args, *config.getini("addopts"), *os.environ.get("PYTEST_ADDOPTS", "").split()]
    if not any(str(a) == "--dist" or str(a).startswith("--dist=") for a in given):
        config.option.dist = "loadfile"


@pytest.hookimpl(tryfirst=True)  # before junitxml and allure-pytest read their output options
def pytest_configure(config: pytest.Config) -> None:
    for line in [
        "integration: starts or uses a real control plane (kube-apiserver + etcd)",
        "attack: a scenario the cluster must refuse at some level",
        "control: a control scenario every level must admit",
    ]:
        config.addinivalue_line("markers", line)
    config.stash[STATE] = RunState()
    _dist_by_file(config)
    install_sigterm(config)
    try:
        cfg = get_config(config)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    evidence.default_outputs(config, cfg.run_id)
    RunTracker.install(config)
    if not is_worker(config):  # the process that reports: a worker's reports must reach the controller whole
        config.pluginmanager.register(_SlimPassedReports(config), "pss-harness-slim-reports")
        junit_spool.install(config)
    for directory in cfg.scenario_dirs:  # the user's own corpus, collected with the paths given
        if directory not in config.args:
            config.args.append(directory)


def pytest_unconfigure(config: pytest.Config) -> None:
    restore_sigterm(config)


def _scenario_roots(config: pytest.Config) -> tuple[Path, ...]:
    roots = config.stash.get(_ROOTS, None)
    if roots is None:
        from harness.core.resources import corpus_dir

        dirs = [corpus_dir(), *get_config(config).scenario_dirs]
        roots = config.stash[_ROOTS] = tuple(Path(d).resolve() for d in dirs)
    return roots


_ROOTS = pytest.StashKey[tuple]()


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    from harness.plugin.namespaces import policy_path

    resolved = file_path.resolve()
    if resolved == policy_path(parent.config):  # the namespace sweep's policy file is its own kind of item
        return None
    if is_scenario_file(resolved, _scenario_roots(parent.config)):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _args_have_scenarios(config: pytest.Config) -> bool:
    from harness.plugin.namespaces import policy_path

    roots, policy = _scenario_roots(config), policy_path(config)
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path.is_file() and path != policy and is_scenario_file(path, roots):
            return True
        if path.is_dir() and any(p != policy and is_scenario_file(p, roots) for p in path.rglob("*.y*ml")):
            return True
    return False


def _distributed(config: pytest.Config) -> bool:
    """pytest-xdist's controller: it never collects, and starts the workers right after sessionstart."""
    return config.pluginmanager.has_plugin("dsession")


_MAX_FREE_NAMES = 12


def _markexpr_may_select_scenarios(config: pytest.Config) -> bool:
    """False only if ``-m`` rejects every item carrying the ``integration`` marker, as every scenario item does.

    The expression's other names are free (an item may or may not carry them): it may select
    scenario items if some assignment of them, with ``integration`` true, makes it true.
    """
    markexpr = config.option.markexpr
    if not markexpr:
        return True
    try:
        from _pytest.mark.expression import Expression

        expr = Expression.compile(markexpr)
    except Exception:  # an unknown pytest internal or a bad expression (pytest reports that itself)
        return True

    class Free(Exception):
        pass

    def satisfiable(assigned: dict) -> bool:
        pending = []

        def matcher(name: str, /, **kwargs) -> bool:
            key = (name, tuple(sorted(kwargs.items())))
            if key not in assigned:
                pending.append(key)
                raise Free
            return assigned[key]

        try:
            return expr.evaluate(matcher)
        except Free:
            if len(assigned) > _MAX_FREE_NAMES:
                return True
            key = pending[0]
            return satisfiable({**assigned, key: True}) or satisfiable({**assigned, key: False})

    return satisfiable({("integration", ()): True})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, in the controller: start the target and run the preflight before any worker starts.

    The controller does not collect, so it starts the target unless ``-m`` excludes every
    scenario item (``-m "not integration"``). Without xdist the start waits for the collection.
    """
    config = session.config
    allure_labels.install_writer(config)  # every process: allure-pytest registered its file logger in configure
    if is_worker(config) or config.option.collectonly or not _distributed(config):
        return
    if _args_have_scenarios(config) and _markexpr_may_select_scenarios(config):
        prepare(config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """``--psa-shard I/N`` (or an Indexed Job's index): keep the items of shard I, deselect the others.

    Every process filters alike (the hash of the node id, ``harness.core.shard``), so the
    pytest-xdist workers agree on the collection. The deselected items are reported as such.
    """
    shard = get_config(config).shard
    if shard is None:
        return
    kept, dropped = [], []
    for item in items:
        (kept if shard.owns(item.nodeid) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    config.stash[_SHARD_DROPPED] = sum(isinstance(i, ScenarioItem) for i in dropped)


_SHARD_DROPPED = pytest.StashKey[int]()


def _empty_shard(config: pytest.Config, items: list) -> bool:
    """This shard holds no scenario item although the run does: its (empty) bundle still says it ran.

    Under pytest-xdist the controller does not collect: its workers tell it (``workeroutput``).
    """
    if config.stash.get(_SHARD_EMPTY_WORKERS, False):
        return True
    return bool(config.stash.get(_SHARD_DROPPED, 0)) and not any(isinstance(i, ScenarioItem) for i in items)


_SHARD_EMPTY_WORKERS = pytest.StashKey[bool]()


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook, in the controller
def pytest_testnodedown(node, error) -> None:
    if getattr(node, "workeroutput", {}).get("psa_shard_empty"):
        node.config.stash[_SHARD_EMPTY_WORKERS] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist: start the target and run the preflight once the selection holds a scenario item.

    Every process: a large collection is frozen out of the garbage collector's scans (``gcpolicy``).
    An empty shard prepares too, so that every shard of a run leaves a bundle for ``report merge``.
    """
    config = session.config
    if not config.option.collectonly:
        gcpolicy.after_collection(sum(isinstance(item, ScenarioItem) for item in session.items))
    if is_worker(config) or config.option.collectonly or _distributed(config):
        return
    if session.testsfailed and not config.option.continue_on_collection_errors:
        return  # pytest stops on the collection errors; no cluster needed to report them
    if any(isinstance(item, ScenarioItem) for item in session.items) or _empty_shard(config, session.items):
        prepare(config)


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # pytest-xdist's hook: absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile``/``loadscope`` (the harness's default under ``-n``) without xdist's quadratic bookkeeping."""
    from harness.plugin import scheduling

    return scheduling.make(config.getvalue("dist"), config, log)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent with -p no:xdist
def pytest_configure_node(node) -> None:
    state = node.config.stash[STATE]
    if state.target:
        node.workerinput["psa_target"] = dict(state.target)
    node.workerinput["psa_run_id"] = get_config(node.config).run_id
    node.workerinput["psa_reports"] = str(reports_dir(node.config))


def pytest_report_header(config: pytest.Config) -> list[str]:
    cfg: HarnessConfig = get_config(config)
    where = f"kubeconfig {cfg.kubeconfig} ({cfg.sources.get('kubeconfig')})" if cfg.kubeconfig else \
        InCluster.from_dict(cfg.in_cluster).describe() if cfg.in_cluster else "embedded control plane (no --kubeconfig)"
    versions = ",".join(map(str, cfg.versions)) if cfg.versions else "auto (latest + declared boundaries)"
    engine = getattr(cfg, "engine", "podsecurity")
    held = "" if engine == "podsecurity" else \
        f"; engine vap ({'your set: ' + cfg.vap_binding_selector if cfg.vap_binding_selector else 'policies/vap/'})"
    return [f"pss-harness: target {where}; run {cfg.run_id}; "
            f"{'LIVE objects' if cfg.live else 'server-side dry-run'}{held}",
            f"pss-harness: levels {','.join(map(str, cfg.levels))}; modes {','.join(map(str, cfg.modes))}; "
            f"versions {versions}; kinds {len(cfg.kinds)}"
            + (f"; shard {cfg.shard} ({cfg.sources.get('shard')})" if cfg.shard else "")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    yield
    if isinstance(item, ScenarioItem):  # its reports and record are out: a long run does not keep 17k records
        item.release()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if isinstance(item, ScenarioItem) and report.when == "call":
        evidence.record_item(item, report, session_runtime(item.config))


_ITEM_REPORTS = gcpolicy.ReportCounter()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report) -> None:
    """Scenario items' reports, which the terminal reporter keeps to the end: equal strings held once (a report
    from an xdist worker arrives with its own copy of every keyword and property), and frozen out of GC scans."""
    if not is_scenario_nodeid(report.nodeid):
        return
    if getattr(report, "node", None) is not None:  # unserialised by the xdist controller: its own strings
        gcpolicy.share_strings(report)
    if getattr(report, "pss_harness", None) is not None:  # the call report: one per item
        _ITEM_REPORTS()


class _SlimPassedReports:
    """Passed scenario items' reports slimmed once every other plugin saw them (``gcpolicy.slim_passed``)."""

    def __init__(self, config: pytest.Config):
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report) -> None:
        if is_scenario_nodeid(report.nodeid):
            terminal = self.config.pluginmanager.get_plugin("terminalreporter")
            gcpolicy.slim_passed(report, getattr(terminal, "stats", None))


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None:
        return
    if is_worker(config):
        config.workeroutput["psa_shard_empty"] = _empty_shard(config, session.items)
    elif exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _empty_shard(config, session.items):
        session.exitstatus = exitstatus = pytest.ExitCode.OK  # an empty shard did all it had to
    evidence.close_records(config)
    results = None
    if not is_worker(config) and state.runtime is not None:
        tracker = tracker_of(config)
        # session.exitstatus: the run tracker (tryfirst) may have raised it for an incomplete run
        results = evidence.finish_run(config, state, session.exitstatus, tracker.status if tracker else None)
    shutdown(config)
    if not is_worker(config):
        status.write(config, exitstatus, get_config(config).run_id, results.parent if results else None)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """What the run proved, in a few lines (one under ``-q``, none under ``-qq``); the evidence's path last."""
    finished = evidence.finished_run(config)
    if finished is None:
        return
    lines = summary_lines(finished, verbosity=config.get_verbosity(), cwd=Path(config.invocation_params.dir))
    if not lines:
        return
    if config.get_verbosity() >= 0:
        terminalreporter.write_sep("-", "pss-harness")
    colour = {"failed": {"red": True}, "incomplete": {"yellow": True}, "passed": {"green": True}}
    for n, line in enumerate(lines):
        terminalreporter.write_line(line, **(colour.get(finished["results"]["run"].get("status"), {}) if n == 0 else {}))


@pytest.fixture(scope="session")
def psa_runtime(request):
    """The session's ``Runtime`` (cluster connection, namespaces, preflight), for custom tests."""
    return runtime_for(request.config)
