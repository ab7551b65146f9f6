"""Per-process run state of the plugin: the target, the ``Runtime`` and the preflight.

May import the core, the cluster layer, ``embedded`` and the plugin's evidence writer; it holds
what the hooks and the scenario items share, so neither imports the other.
"""

from __future__ import annotations

import signal
import threading

import pytest

from harness.core.errors import HarnessError
from harness.plugin import evidence, status
from harness.plugin.options import get_config

__all__ = ["STATE", "RunState", "current_runtime", "install_sigterm", "is_worker", "restore_sigterm", "prepare", "runtime_for", "shutdown", "state_of",
           "in_cluster_of"]

STATE = pytest.StashKey["RunState"]()


class RunState:
    """Per-process run state: the embedded cluster (controller only), the runtime, the preflight."""

    def __init__(self) -> None:
        self.embedded = None
        self.runtime = None
        self.preflight = None
        self.target: dict | None = None  # kubeconfig, context, audit_log, in_cluster, server_minor
        self.old_sigterm = None


def state_of(config: pytest.Config) -> "RunState":
    return config.stash[STATE]


def current_runtime(config: pytest.Config):
    """This process's ``Runtime`` if it exists (None before the first item ran)."""
    return config.stash[STATE].runtime


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _start_target(config: pytest.Config) -> dict:
    """Resolve the target: the kubeconfig, else in-cluster (in a pod), else a started embedded control plane."""
    state, cfg = config.stash[STATE], get_config(config)
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
                        "audit_log": str(state.embedded.audit_log)}
    else:
        state.target = {"kubeconfig": cfg.kubeconfig, "context": cfg.context, "audit_log": cfg.audit_log,
                        "in_cluster": cfg.in_cluster}
    return state.target


def in_cluster_of(target: dict):
    """The target's ``InCluster`` (None for a kubeconfig, the embedded plane's included)."""
    from harness.cluster.incluster import InCluster

    return InCluster.from_dict(target["in_cluster"]) if target.get("in_cluster") else None


def _make_runtime(config: pytest.Config, target: dict, worker: str, server_minor: int | None = None):
    from harness.cluster.audit import AuditSource
    from harness.cluster.runtime import Runtime

    cfg = get_config(config)
    audit = AuditSource(target["audit_log"]) if target.get("audit_log") else None
    # under pytest-xdist the controller and its workers share one namespace per policy; the
    # controller deletes them at the end (``shutdown``)
    shared = is_worker(config) or bool(getattr(config.option, "numprocesses", None))
    return Runtime(cfg, target["kubeconfig"], target["context"], audit=audit, worker=worker,
                   server_minor=server_minor, shared_namespaces=shared, in_cluster=in_cluster_of(target))


def prepare(config: pytest.Config) -> None:
    state = config.stash[STATE]
    tr = config.pluginmanager.get_plugin("terminalreporter")
    try:
        target = _start_target(config)
        state.runtime = _make_runtime(config, target, "main")
        state.preflight = state.runtime.preflight(progress=(lambda m: tr.write_line(f"pss-harness: {m}")) if tr
                                                  else (lambda m: None))
        swept = state.runtime.sweep_orphans()
    except HarnessError as exc:
        status.failed(config, exc, state.runtime)
        shutdown(config)
        pytest.exit(f"pss-harness: {exc}", returncode=3)
    target["server_minor"] = state.preflight.server_minor
    if tr:
        pf = state.preflight
        by = "PodSecurity" if state.runtime.engine.name == "podsecurity" else \
            state.runtime.engine.describe()["title"]
        tr.write_line(f"pss-harness: server {pf.server_version}, identity {pf.identity}; RBAC ok; "
                      f"canary denied by {by}" + (f"; swept {len(swept)} orphan {'object' if any(' ' in n for n in swept) else 'namespace'}(s)"
                         if swept else ""))
    evidence.start_run(config, get_config(config), state)


def runtime_for(config: pytest.Config):
    """This process's ``Runtime``, created on first use (workers: from the controller's target)."""
    state = config.stash[STATE]
    if state.runtime is not None:
        return state.runtime
    if is_worker(config):
        target = config.workerinput.get("psa_target")
        if not target:
            raise HarnessError("this worker got no cluster target from the controller")
        state.runtime = _make_runtime(config, target, config.workerinput["workerid"], target.get("server_minor"))
    else:
        prepare(config)
    return state.runtime


def _sigterm(signum, frame) -> None:
    raise KeyboardInterrupt("SIGTERM")


def install_sigterm(config: pytest.Config) -> None:
    """Treat SIGTERM (``timeout``, CI cancellation, a Job's deadline) like Ctrl-C: clean up and seal.

    Only when nobody else handles it, and only from the main thread (where signals are delivered).
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        config.stash[STATE].old_sigterm = signal.signal(signal.SIGTERM, _sigterm)


def restore_sigterm(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state.old_sigterm is not None:
        signal.signal(signal.SIGTERM, state.old_sigterm)
        state.old_sigterm = None


def shutdown(config: pytest.Config) -> None:
    """Delete the namespaces of this process (the controller: of every process of the run), stop the plane.

    Workers clean up their own; a worker killed before it could (xdist tears workers down on an
    interruption) leaves namespaces labelled with the run id, which the controller deletes here.
    """
    state = config.stash[STATE]
    if state.runtime is not None:
        state.runtime.cleanup()
        if not is_worker(config) and not get_config(config).keep_namespaces:
            _delete_run_namespaces(state.runtime)
    if state.embedded is not None:
        state.embedded.stop()
        state.embedded = None


def _delete_run_namespaces(runtime) -> None:
    from harness.cluster.namespaces import OWNER, OWNER_LABEL, RUN_LABEL

    try:
        leftovers = runtime.cluster.list_namespaces(f"{OWNER_LABEL}={OWNER},{RUN_LABEL}={runtime.cfg.run_id}")
    except HarnessError:
        return  # the cluster is gone: the next run's sweep deletes them (README: "what the next run sweeps")
    for ns in leftovers:
        if ns.get("status", {}).get("phase") != "Terminating":
            runtime.cluster.delete_namespace(ns["metadata"]["name"])
