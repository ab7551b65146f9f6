"""Named, long-lived embedded clusters for ``pss-harness cluster up/down/status``.

``up`` runs an ``EmbeddedCluster`` in the foreground until Ctrl-C or SIGTERM; ``--detach`` starts
that same foreground process in its own session and returns once it reports ready. Each named
cluster keeps ``state.json`` (PIDs, server, kubeconfig) under ``<cache>/clusters/<name>/``; ``down``
signals the supervising process, which stops its own children and removes the directory.

A plane that fails (a component exits, or it cannot start) is stopped, and its component logs are
kept where its messages name them (``<cache>/clusters/<name>/work/logs/<component>.log``); the rest
of its working directory (etcd data, keys, tokens) is removed. ``state.json`` then says ``failed``
and why, ``status`` lists it, and ``down`` removes it and the logs (a new ``up`` of the name
replaces them).

May import the core and the rest of ``harness.embedded``; never ``harness.cluster`` or above.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import math
import sys
from pathlib import Path

from harness.embedded.builder import cache_root
from harness.embedded.plane import EmbeddedCluster
from harness.core.errors import ControlPlaneError
from harness.core.polling import PollTimeout, poll

__all__ = ["cluster_dir", "down", "failed", "running", "up"]


def cluster_dir(name: str) -> Path:
    return cache_root() / "clusters" / name


def _state(name: str) -> dict | None:
    try:
        return json.loads((cluster_dir(name) / "state.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int, needle: str) -> bool:
    """True if ``pid`` runs and its command line contains ``needle`` (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return needle in cmdline


def running() -> list[dict]:
    """States of the named clusters whose supervisor is alive."""
    return [state for state in _states() if not state.get("failed") and _alive(state["supervisor"], "harness")]


def failed() -> list[dict]:
    """States of the named clusters that failed and whose logs are kept until ``cluster down``."""
    return [state for state in _states() if state.get("failed")]


def _states() -> list[dict]:
    root = cache_root() / "clusters"
    states = [_state(d.parent.name) for d in sorted(root.glob("*/state.json"))] if root.is_dir() else []
    return [s for s in states if s]


def up(name: str, version: str | None, *, detach: bool, out=print) -> int:
    """Start cluster ``name``; block until interrupted unless ``detach``."""
    state = _state(name)
    if state and not state.get("failed") and _alive(state["supervisor"], "harness"):
        raise ControlPlaneError(f"cluster {name!r} is already running (kubeconfig {state['kubeconfig']}); "
                                f"stop it with `pss-harness cluster down --name {name}`")
    directory = cluster_dir(name)
    if state and state.get("failed"):
        out(f"cluster {name!r} had failed ({state['failed']}); replacing it and its kept logs")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    if detach:
        return _detach(name, version, directory, out)
    cluster = EmbeddedCluster(version, workdir=directory / "work")
    state = {"name": name, "supervisor": os.getpid(), "version": cluster.version}
    failure: ControlPlaneError | None = None
    try:
        cluster.start()
        state.update(server=cluster.server, kubeconfig=str(cluster.kubeconfig), pids=cluster.pids,
                     started_seconds=round(cluster.started_seconds or 0, 2))
        _write_state(directory, state)
        out(f"cluster {name!r}: Kubernetes {cluster.version} at {cluster.server}, ready in {state['started_seconds']}s")
        out(f"kubeconfig: {cluster.kubeconfig}")
        out(f"  export KUBECONFIG={cluster.kubeconfig}   # contexts: admin (system:masters), alice, bob")
        out("press Ctrl-C to stop it")
        sys.stdout.flush()
        exited = poll(cluster.exited, timeout=math.inf, interval=1, what=f"cluster {name!r} to exit")
        component, status = next(iter(exited.items()))
        failure = ControlPlaneError(
            f"cluster {name!r}: {component} exited with status {status}; its log is kept at "
            f"{cluster.log_path(component)} until `pss-harness cluster down --name {name}`")
        raise failure
    except KeyboardInterrupt:
        out("stopping")
    except ControlPlaneError as exc:  # a start that failed names its log too: keep them all
        failure = exc
        raise
    finally:
        cluster.stop()
        if failure is None:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            _keep_logs(directory, state, failure)
    return 0


def _write_state(directory: Path, state: dict) -> None:
    tmp = directory / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(directory / "state.json")  # a reader never sees half of it


def _keep_logs(directory: Path, state: dict, failure: ControlPlaneError) -> None:
    """Remove all of a failed plane's directory but its component logs; record the failure in ``state.json``."""
    work = directory / "work"
    for child in work.iterdir() if work.is_dir() else []:
        if child.name != "logs":
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    _write_state(directory, {**state, "failed": str(failure).splitlines()[0], "logs": str(work / "logs")})


def _detach(name: str, version: str | None, directory: Path, out) -> int:
    log = directory.parent / f"{name}.log"
    args = [sys.executable, "-m", "harness", "cluster", "up", "--name", name]
    if version:
        args += ["--k8s-version", version]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)

    def started() -> dict | None:
        state = _state(name)
        if state and state.get("failed"):
            raise ControlPlaneError(f"cluster {name!r} failed to start: {state['failed']} (logs kept in "
                                    f"{state['logs']} until `pss-harness cluster down --name {name}`; "
                                    f"supervisor log {log})")
        if not state and proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise ControlPlaneError(f"cluster {name!r} failed to start (log {log}):\n{tail}")
        return state

    try:  # may include a first build
        state = poll(started, timeout=1800, interval=0.2, what=f"cluster {name!r} to start")
    except PollTimeout:
        proc.terminate()
        raise ControlPlaneError(f"cluster {name!r} was not ready after 30 min; see {log}") from None
    out(f"cluster {name!r}: Kubernetes {state['version']} at {state['server']} "
        f"(supervisor PID {state['supervisor']}, log {log})")
    out(f"kubeconfig: {state['kubeconfig']}")
    out(f"stop it with: pss-harness cluster down --name {name}")
    return 0


def down(name: str, out=print) -> int:
    """Stop cluster ``name`` (its supervisor stops its own children and removes its directory); remove a
    failed cluster's kept logs."""
    state = _state(name)
    if not state:
        out(f"cluster {name!r} is not running")
        return 0
    sup = state["supervisor"]
    if not state.get("failed") and _alive(sup, "harness"):
        os.kill(sup, signal.SIGTERM)
        with contextlib.suppress(PollTimeout):  # then its children are stopped below
            poll(lambda: not _alive(sup, "harness"), timeout=40, interval=0.2, what=f"supervisor {sup} to exit")
    # a supervisor that died hard leaves its children: stop them by PID, checking they are ours
    for component, pid in state.get("pids", {}).items():
        if _alive(pid, component if component != "etcd" else "etcd"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    shutil.rmtree(cluster_dir(name), ignore_errors=True)
    (cluster_dir(name).parent / f"{name}.log").unlink(missing_ok=True)
    if state.get("failed"):
        out(f"cluster {name!r} had failed ({state['failed']}); removed it and its kept logs")
    else:
        out(f"cluster {name!r} stopped")
    return 0
