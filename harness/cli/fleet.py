"""``pss-harness fleet``: the attack corpus against several clusters, one process each, one row each.

    pss-harness fleet --kubeconfig F --contexts a,b,c [--parallel K] [--reports DIR] [-- PYTEST-ARGS]
    pss-harness fleet --kubeconfig F --all-contexts --audit-log a=/var/log/a-audit.log -- -n 2 -m level_restricted
    pss-harness fleet --kubeconfig F --all-contexts --sweep --namespace-policy desired.yaml

Each context gets its own ``python -m pytest`` process (the command ``pss-harness run`` builds),
with its own ``--kubeconfig``/``--context``, its own run id and its own reports directory
``DIR/<context>/`` (evidence, ``history.sqlite``, JUnit, Allure, pytest's cache, ``pytest.log``),
so nothing is shared between clusters: no client configuration, no connection pool, no cache
(the lesson of kubescape #3438: a loop over contexts in one process "silently kept talking to the
first cluster"). ``--parallel K`` runs K of them at a time (default 1).

Every context is a row of ``DIR/fleet.json`` with a verdict (``harness.core.fleet``): ``passed``,
``gap``, ``deviation``, ``not-enforced``, ``off-policy`` (the sweep), or, when the cluster could
not be checked, ``unreachable``, ``refused``, ``incomplete`` or ``error``, each with its cause. An unreachable
cluster never reads as passed. The plugin tells how its session ended through
``$PSS_HARNESS_STATUS_FILE`` (``harness.plugin.status``); each bundle is verified after its run
and its ``SHA256SUMS`` digest recorded, which ``pss-harness report fleet`` checks again.

``--sweep`` also runs the namespace sweep (``pss-harness namespaces``, in a process of its own
with its own ``--kubeconfig``/``--context``) against each cluster, before its corpus run, over
every namespace but the harness's own (``!pss-harness.io/run-id``), writing
``DIR/<context>/namespaces.json`` and ``namespaces.log``; ``--namespace-policy FILE`` (implies
``--sweep``) judges it against a desired-state policy; ``--sweep-only`` runs no corpus. The
sweep's verdict (``harness.core.fleet.sweep_outcome``) is folded into the row: the worse of the
two (``fold``), and the exit status counts both.

Progress goes to stderr (one line per cluster started and finished); the table, or with
``--format json`` the summary document (``harness/schemas/fleet.schema.json``), to stdout.
Exit status: 0 every cluster passed; 1 some cluster has a finding (gap, deviation, not-enforced,
off-policy); 4 some cluster (its run or its sweep) could not be checked; 5 both; 2 usage; 130 interrupted (the runs are stopped and
clean up after themselves, and the rows say so).

May import the core, ``harness.corpus`` (the policy file), ``harness.reports``, the run's
``pytest_command`` and ``harness.cluster`` (the kubeconfig check, the harness's namespace label);
pytest and the sweep run in child processes only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from harness.core import fleet as verdicts
from harness.core.errors import UsageError
from harness.core.polling import PollTimeout, poll

__all__ = ["FLEET", "SCHEMA", "add_parser", "context_dirs", "run_fleet"]

SCHEMA = "pss-harness/fleet/v1"
FLEET = "fleet.json"
STATUS, LOG = "status.json", "pytest.log"
SWEEP, SWEEP_LOG, SWEEP_STATUS = "namespaces.json", "namespaces.log", "namespaces-status.json"
#: options the fleet sets per cluster; given in PYTEST-ARGS they would point every run elsewhere
_OWNED = ("--kubeconfig", "--context", "--psa-run-id", "--junitxml", "--junit-xml", "--alluredir")
#: the environment that would point a child at another cluster or audit log than its own
_TARGET_ENV = ("PSS_HARNESS_KUBECONFIG", "PSS_HARNESS_CONTEXT", "PSS_HARNESS_AUDIT_LOG", "KUBECONFIG")
_STOP_GRACE = 60.0  #: seconds a stopped run gets to delete its namespaces and seal its bundle


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fleet", help="run the attack corpus against several kubeconfig contexts, one process each",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
        usage="pss-harness fleet --kubeconfig F (--contexts A,B,... | --all-contexts) [--parallel K] "
              "[--reports DIR] [--sweep [--namespace-policy FILE] | --sweep-only] [-- PYTEST-ARGS]")
    p.add_argument("--kubeconfig", metavar="FILE", required=True, help="the kubeconfig holding every context")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--contexts", metavar="A,B,...", help="comma-separated contexts to check")
    which.add_argument("--all-contexts", action="store_true", help="every context of the kubeconfig")
    p.add_argument("--parallel", metavar="K", type=int, default=1, help="clusters checked at a time (default 1)")
    p.add_argument("--reports", metavar="DIR", default="reports/fleet",
                   help="fleet directory: DIR/fleet.json and one reports directory per context, DIR/<context>/ "
                        "(default reports/fleet; running again into it adds to each cluster's history)")
    p.add_argument("--audit-log", metavar="CONTEXT=SOURCE", action="append", default=[],
                   help="a context's audit log (FILE or '!COMMAND', as --audit-log of a run); repeatable. Without "
                        "one, that cluster's audit-mode items are skipped")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=3600.0,
                   help="stop a cluster's run after this long and mark it 'error' (default 3600)")
    p.add_argument("--sweep", action="store_true",
                   help="also probe each cluster's own namespaces (pss-harness namespaces, a process per cluster): "
                        "which of them would admit a breakout pod; DIR/<context>/namespaces.json")
    p.add_argument("--namespace-policy", metavar="FILE",
                   help="judge each sweep against this desired-state NamespacePolicy file (implies --sweep): a "
                        "namespace off the policy makes the cluster 'off-policy'")
    p.add_argument("--sweep-only", action="store_true", help="the namespace sweep only, no corpus run")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=_fleet, passthrough=True)


# -- the kubeconfig ----------------------------------------------------------------------------

def _kubeconfig(path: str) -> dict:
    import yaml

    try:
        data = yaml.safe_load(Path(path).expanduser().read_text())
    except FileNotFoundError:
        raise UsageError(f"--kubeconfig {path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"--kubeconfig {path}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts"), list):
        raise UsageError(f"--kubeconfig {path}: not a kubeconfig with a 'contexts' list "
                         "(as `kubectl config view --raw` prints)")
    return data


def _servers(data: dict) -> dict[str, str]:
    """context -> its cluster's server URL (to keep addresses out of every cause the fleet prints)."""
    clusters = {c.get("name"): (c.get("cluster") or {}).get("server", "") for c in data.get("clusters") or []
                if isinstance(c, dict)}
    return {c["name"]: clusters.get((c.get("context") or {}).get("cluster"), "")
            for c in data["contexts"] if isinstance(c, dict) and "name" in c}


def context_dirs(contexts: list[str]) -> dict[str, str]:
    """A directory name per context: the name itself where it is safe, else a slug plus a digest."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for ctx in contexts:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ctx).strip("-.") or "context"
        if slug != ctx or slug.lower() in taken or slug in (FLEET,):
            slug = f"{slug[:40]}-{hashlib.sha256(ctx.encode()).hexdigest()[:8]}"
        taken.add(slug.lower())
        out[ctx] = slug
    return out


def _audit_logs(given: list[str], contexts: list[str]) -> dict[str, str]:
    out = {}
    for spec in given:
        ctx, sep, source = spec.partition("=")
        if not sep or not source:
            raise UsageError(f"--audit-log {spec!r}: give it as CONTEXT=FILE or CONTEXT='!COMMAND'")
        if ctx not in contexts:
            raise UsageError(f"--audit-log {spec!r}: context {ctx!r} is not one of the fleet's ({', '.join(contexts)})")
        out[ctx] = source
    return out


# -- one cluster -------------------------------------------------------------------------------

class _Stopped(Exception):
    pass


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _scrub(text: str, server: str) -> str:
    from harness.reports.redact import default_redactor

    if server:
        text = text.replace(server, "<server>")
        host = re.sub(r"^[a-z]+://", "", server).rstrip("/")
        if len(host) >= 6:
            text = text.replace(host, "<server>")
    return default_redactor().text(text)


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    keep = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(keep)


def _cause_from_log(log: Path) -> str:
    """The line that says why a run ended: pytest's own error, or the plugin's ``pss-harness: ...``."""
    text = _tail(log, 40)
    for line in reversed(text.splitlines()):
        m = re.search(r"(?:ERROR|error): (.+)$", line) or re.search(r"(pss-harness: .+)$", line)
        if m:
            return m.group(1).strip(" !")
    return text.splitlines()[-1] if text else "no output"


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to the fleet directory (so it can be moved as a whole), else absolute."""
    path, base = path.resolve(), base.resolve()
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)


def _row(ctx: str, where: str, directory: Path, rc: int | None, timed_out: bool, stopped: bool,
         duration: float, run_id: str, server: str) -> dict:
    """The fleet row of one finished (or stopped) run."""
    from harness.reports import bundle

    status = None
    try:
        status = json.loads((directory / STATUS).read_text())
    except (OSError, ValueError):
        pass
    row = {"context": ctx, "directory": where, "run_id": run_id, "verdict": "error", "cause": None,
           "exit_status": rc, "duration": round(duration, 2), "log": f"{where}/{LOG}", "bundle": None,
           "bundle_sha256": None, "server_version": None, "cluster_fingerprint": None, "items": 0, "counts": {},
           "failures": {c: 0 for c in verdicts.FAILURE_CLASSES}, "sweep": None}
    evidence = Path(status["evidence"]) if status and status.get("evidence") else None
    if evidence is not None and (evidence / bundle.RESULTS).is_file():
        check = bundle.verify(evidence)
        results = bundle.load_results(evidence)
        run = results["run"]
        complete = rc in (0, 1) and not timed_out and not stopped
        verdict, failures = verdicts.verdict_of_records(results["results"], complete=complete)
        row.update(verdict=verdict, failures=failures, items=len(results["results"]), counts=run.get("counts") or {},
                   server_version=run.get("server_version"), cluster_fingerprint=run.get("cluster_fingerprint"),
                   bundle=_relative(evidence, directory.parent), bundle_sha256=bundle.sums_digest(evidence) if check.ok else None)
        if not check.ok:
            row.update(verdict="error", cause=f"its evidence bundle fails verification: {'; '.join(check.lines())}")
        elif verdict == "gap":
            row["cause"] = f"{failures['weaker']} item(s) got less than the standard requires (admitted or not warned)"
        elif verdict == "deviation":
            row["cause"] = (f"{failures['stricter'] + failures['different']} item(s) differ from the standard "
                            "(stricter, or other checks), none weaker")
        elif verdict == "incomplete":
            row["cause"] = ("stopped" if stopped else f"timed out after {duration:.0f}s" if timed_out else
                            f"{failures['error']} item(s) got no answer" if failures["error"] else
                            "no item was judged (all skipped)" if rc in (0, 1) else
                            f"the run ended with exit status {rc}: {_cause_from_log(directory / LOG)}")
    elif status and status.get("error"):
        row.update(verdict=verdicts.verdict_of_error(status["error"].get("type")), cause=status["error"]["message"])
    elif timed_out or stopped:
        row.update(verdict="error", cause="stopped before it finished" if stopped else
                   f"timed out after {duration:.0f}s (stopped)")
    else:
        row["cause"] = f"the run ended with exit status {rc} and no evidence: {_cause_from_log(directory / LOG)}"
    if row["cause"]:
        row["cause"] = _scrub(row["cause"], server)
    row["corpus_verdict"] = row["verdict"]
    return row


def _child_env(status: Path) -> dict[str, str]:
    """The environment of a cluster's child: nothing that points at another cluster; its own status file."""
    env = {k: v for k, v in os.environ.items() if k not in _TARGET_ENV}
    env["PSS_HARNESS_STATUS_FILE"] = str(status.resolve())
    return env


def _child(cmd: list[str], env: dict[str, str], out: Path, err: Path | None, timeout: float, stop: threading.Event,
           what: str) -> tuple[int | None, bool, bool, float]:
    """Run one child in its own process group, stdout to ``out`` and stderr to ``err`` (None: ``out``), until it
    ends, ``timeout`` passes or ``stop`` is set (then stopped): ``(exit status, timed out, stopped, seconds)``."""
    t0 = time.monotonic()
    timed_out = stopped = False
    with contextlib.ExitStack() as files:
        stdout = files.enter_context(open(out, "wb"))
        stderr = subprocess.STDOUT if err is None else files.enter_context(open(err, "wb"))
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)  # its own process group: stopped as one, never by name

        def finished():
            if stop.is_set():
                raise _Stopped
            return proc.poll()

        try:
            rc = poll(finished, until=lambda r: r is not None, timeout=timeout, interval=0.25, what=what)
        except (PollTimeout, _Stopped) as exc:
            timed_out, stopped = isinstance(exc, PollTimeout), isinstance(exc, _Stopped)
            rc = _stop(proc)
    return rc, timed_out, stopped, time.monotonic() - t0


def _run_one(ctx: str, where: str, root: Path, kubeconfig: str, audit_log: str | None, pytest_args: list[str],
             timeout: float, stop: threading.Event, say, server: str) -> dict:
    from harness.cli.run import pytest_command

    directory = root / where
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STATUS).unlink(missing_ok=True)
    run_id = uuid.uuid4().hex[:8]
    extra = ["--kubeconfig", kubeconfig, "--context", ctx, "--psa-run-id", run_id]
    if audit_log:
        extra += ["--audit-log", audit_log]
    cmd = pytest_command([*extra, *pytest_args], Path.cwd(), reports=directory.resolve())
    say(f"{ctx}: started (run {run_id}; log {directory / LOG})")
    rc, timed_out, stopped, duration = _child(cmd, _child_env(directory / STATUS), directory / LOG, None, timeout,
                                              stop, f"the run against context {ctx}")
    return _row(ctx, where, directory, rc, timed_out, stopped, duration, run_id, server)


# -- one cluster's namespace sweep -------------------------------------------------------------

def _sweep_one(ctx: str, where: str, root: Path, kubeconfig: str, audit_log: str | None, policy: str | None,
               timeout: float, stop: threading.Event, say, server: str) -> tuple[dict, str | None]:
    """Run ``pss-harness namespaces`` against one context in its own process: ``(the row's sweep, server version)``."""
    from harness.cluster.namespaces import RUN_LABEL

    directory = root / where
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / (SWEEP + ".part")
    for name in (SWEEP, SWEEP_STATUS, partial.name):
        (directory / name).unlink(missing_ok=True)  # a failed sweep leaves no document of an earlier one
    cmd = [sys.executable, "-P", "-m", "harness", "namespaces", "--kubeconfig", kubeconfig, "--context", ctx,
           "--selector", f"!{RUN_LABEL}", "--format", "json"]
    cmd += ["--policy", policy] if policy else []
    cmd += ["--audit-log", audit_log] if audit_log else []
    say(f"{ctx}: namespace sweep started (log {directory / SWEEP_LOG})")
    rc, timed_out, stopped, duration = _child(cmd, _child_env(directory / SWEEP_STATUS), partial,
                                              directory / SWEEP_LOG, timeout, stop, f"the sweep of context {ctx}")
    part = {"verdict": "error", "cause": None, "exit_status": rc, "duration": round(duration, 2), "document": None,
            "sha256": None, "log": f"{where}/{SWEEP_LOG}", "policy": policy is not None, "plugin": None,
            "namespaces": 0, "admitting": [], "exempt": [], "unproven": [], "findings": 0, "by_finding": {},
            "offending": []}
    version = None
    status = _json(directory / SWEEP_STATUS)
    if rc in (0, 1, 4) and not timed_out and not stopped:
        doc = _json(partial)
        if isinstance(doc, dict) and isinstance(doc.get("namespaces"), list):
            os.replace(partial, directory / SWEEP)
            part.update(verdicts.sweep_outcome(doc), document=f"{where}/{SWEEP}",
                        sha256=hashlib.sha256((directory / SWEEP).read_bytes()).hexdigest())
            part["cause"] = verdicts.sweep_cause(part)
            version = doc.get("server_version")
        else:
            part["cause"] = f"the sweep wrote no document (exit status {rc}): {_cause_from_log(directory / SWEEP_LOG)}"
    elif status and status.get("error"):
        part.update(verdict=verdicts.verdict_of_error(status["error"].get("type")), cause=status["error"]["message"])
    elif timed_out or stopped:
        part["cause"] = "stopped before it finished" if stopped else f"timed out after {duration:.0f}s (stopped)"
    else:
        part["cause"] = f"the sweep ended with exit status {rc}: {_cause_from_log(directory / SWEEP_LOG)}"
    partial.unlink(missing_ok=True)
    if part["cause"]:
        part["cause"] = _scrub(part["cause"], server)
    return part, version


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _blank_row(ctx: str, where: str, cause: str | None = None) -> dict:
    """A row without a corpus run (``--sweep-only``, or never started)."""
    return {"context": ctx, "directory": where, "run_id": None, "verdict": "error", "corpus_verdict": None,
            "cause": cause, "exit_status": None, "duration": 0.0, "log": None, "bundle": None, "bundle_sha256": None,
            "server_version": None, "cluster_fingerprint": None, "items": 0, "counts": {},
            "failures": {c: 0 for c in verdicts.FAILURE_CLASSES}, "sweep": None}


def _with_sweep(row: dict, part: dict, version: str | None) -> dict:
    """``row`` with its sweep: the verdict the worse of both, the causes of both."""
    row["sweep"] = part
    row["verdict"] = verdicts.fold(row.get("corpus_verdict"), part["verdict"])
    row["duration"] = round(row["duration"] + part["duration"], 2)
    row["server_version"] = row["server_version"] or version
    if part["cause"]:
        row["cause"] = "; ".join(c for c in (row["cause"], f"namespace sweep: {part['cause']}") if c)
    return row


def _finished_line(row: dict) -> str:
    counts = row["counts"]
    figures = (f"{row['items']} items: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))) if row["items"] else ""
    sweep = row.get("sweep")
    if sweep and sweep["document"]:
        figures += ("; " if figures else "") + _sweep_figures(sweep)
    return (f"{row['context']}: {row['verdict'].upper()} in {row['duration']:.1f}s"
            + (f" ({figures})" if figures else "") + (f"; {row['cause']}" if row["cause"] else ""))


def _sweep_figures(sweep: dict) -> str:
    admitting = sweep["admitting"]
    return (f"{sweep['namespaces']} namespace(s) swept, {len(admitting)} admit the breakout pod"
            + (f" ({verdicts.listing(admitting)})" if admitting else "")
            + (f", exempt: {verdicts.listing(sweep['exempt'])}" if sweep["exempt"] else ""))


def _stop(proc: subprocess.Popen) -> int | None:
    """SIGTERM the run's process group (the plugin cleans up and seals), SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, _STOP_GRACE), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return poll(proc.poll, until=lambda r: r is not None, timeout=grace, interval=0.2,
                        what=f"process group {proc.pid} to exit")
        except PollTimeout:
            continue
    return proc.poll()


# -- the fleet ---------------------------------------------------------------------------------

def run_fleet(kubeconfig: str, contexts: list[str], root: Path, pytest_args: list[str], *, parallel: int = 1,
              audit_logs: dict[str, str] | None = None, timeout: float = 3600.0, servers: dict[str, str] | None = None,
              sweep: bool = False, corpus: bool = True, namespace_policy: str | None = None,
              say=lambda line: None) -> dict:
    """Run the corpus (``corpus``) and the namespace sweep (``sweep``, against ``namespace_policy`` if given) against
    every context and return the summary document (also written to ``root/fleet.json``)."""
    import harness

    root.mkdir(parents=True, exist_ok=True)
    dirs = context_dirs(contexts)
    stop = threading.Event()
    started, t0 = _now(), time.monotonic()
    total = len(contexts)
    done = [0]
    lock = threading.Lock()

    def progress(line: str) -> None:
        with lock:
            say(line)

    config = str(Path(kubeconfig).expanduser().resolve())
    policy = str(Path(namespace_policy).resolve()) if namespace_policy else None

    def one(ctx: str) -> dict:
        audit, server = (audit_logs or {}).get(ctx), (servers or {}).get(ctx, "")
        part = None
        if sweep:  # first: quick, and it sees the cluster's namespaces without the run's own coming and going
            part = _sweep_one(ctx, dirs[ctx], root, config, audit, policy, timeout, stop, progress, server)
        row = (_run_one(ctx, dirs[ctx], root, config, audit, pytest_args, timeout, stop, progress, server) if corpus
               else _blank_row(ctx, dirs[ctx]))
        if part is not None:
            row = _with_sweep(row, *part)
        with lock:
            done[0] += 1
            say(f"[{done[0]}/{total}] {_finished_line(row)}")
        return row

    rows: dict[str, dict] = {}
    interrupted = False
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="fleet")
    futures = {pool.submit(one, ctx): ctx for ctx in contexts}
    try:
        for future in concurrent.futures.as_completed(futures):
            rows[futures[future]] = future.result()
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        for future in futures:
            future.cancel()
        try:
            poll(lambda: all(f.done() for f in futures), timeout=_STOP_GRACE + 30, interval=0.2,
                 what="the fleet's runs to stop")
        except PollTimeout:
            pass  # the rows of runs still stopping say "not run"
        for future, ctx in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                rows[ctx] = future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for ctx in contexts:  # a run never started (interrupted first) is a row too
        rows.setdefault(ctx, _blank_row(ctx, dirs[ctx], "not run: the fleet was interrupted first"))
    ordered = [rows[ctx] for ctx in contexts]
    by_verdict = {v: sum(1 for r in ordered if r["verdict"] == v) for v in verdicts.VERDICTS}
    parts = [verdicts.row_verdicts(r) for r in ordered]
    doc = {
        "schema": SCHEMA,
        "fleet_id": hashlib.sha256(" ".join(str(r["run_id"]) for r in ordered).encode()).hexdigest()[:12],
        "started": started, "finished": _now(), "duration": round(time.monotonic() - t0, 2),
        "harness_version": harness.__version__, "kubeconfig": "(given)", "parallel": max(1, parallel),
        "pytest_args": list(pytest_args), "interrupted": interrupted,
        "corpus": corpus,
        "sweep": {"policy": Path(namespace_policy).name if namespace_policy else None} if sweep else None,
        "clusters": ordered,
        "summary": {"clusters": len(ordered), "verdicts": by_verdict,
                    "findings": sum(any(v in verdicts.FINDINGS for v in p) for p in parts),
                    "unchecked": sum(any(v in verdicts.UNCHECKED for v in p) for p in parts),
                    "exit_status": 130 if interrupted else verdicts.exit_status(v for p in parts for v in p)},
    }
    tmp = root / (FLEET + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, root / FLEET)
    return doc


def _table(doc: dict) -> str:
    swept = doc.get("sweep") is not None
    rows = [("CONTEXT", "VERDICT", "SERVER", "ITEMS", "FAILED", *(("SWEEP", "ADMIT", "EXEMPT") if swept else ()), "TIME",
             "CAUSE")]
    for r in doc["clusters"]:
        s = r.get("sweep") or {}
        sweep = ((s.get("verdict", "-"), f"{len(s['admitting'])}/{s['namespaces']}" if s.get("document") else "-",
                  ",".join(s.get("exempt") or []) or "-") if swept else ())
        rows.append((r["context"], r["verdict"], r["server_version"] or "-", str(r["items"]),
                     str(r["counts"].get("failed", 0)), *sweep, f"{r['duration']:.0f}s", (r["cause"] or "-")[:100]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
    s = doc["summary"]
    counts = ", ".join(f"{n} {v}" for v, n in s["verdicts"].items() if n)
    lines.append(f"{s['clusters']} cluster(s): {counts}; exit status {s['exit_status']}")
    return "\n".join(lines)


def _fleet(args: argparse.Namespace) -> int:
    extra = list(args.passthrough_args)
    if "--" in extra:
        extra.remove("--")
    owned = [a for a in extra if any(a == o or a.startswith(o + "=") for o in _OWNED)]
    if owned:
        raise UsageError(f"fleet sets {', '.join(sorted(set(a.split('=')[0] for a in owned)))} for each cluster itself; "
                         "leave it out of the pytest arguments (--audit-log CONTEXT=SOURCE gives a cluster its audit log)")
    if args.parallel < 1:
        raise UsageError(f"--parallel {args.parallel}: at least 1")
    if args.sweep_only and extra:
        raise UsageError(f"--sweep-only runs no corpus, so there is nothing to give the pytest arguments "
                         f"({' '.join(extra)}) to; leave them out, or use --sweep")
    sweep = args.sweep or args.sweep_only or bool(args.namespace_policy)
    if args.namespace_policy:
        from harness.corpus.namespace_policy import load_namespace_policy

        load_namespace_policy(args.namespace_policy)  # a mistake is one message here, not one per cluster
    from harness.cluster.client import check_kubeconfig

    data = _kubeconfig(args.kubeconfig)
    known = [c["name"] for c in data["contexts"] if isinstance(c, dict) and isinstance(c.get("name"), str)]
    if args.all_contexts:
        contexts = known
    else:
        contexts = [c.strip() for c in args.contexts.split(",") if c.strip()]
        unknown = [c for c in contexts if c not in known]
        if unknown:
            raise UsageError(f"--contexts: {', '.join(map(repr, unknown))} not in {args.kubeconfig} "
                             f"(its contexts: {', '.join(known) or 'none'})")
        if len(set(contexts)) != len(contexts):
            raise UsageError(f"--contexts {args.contexts!r}: a context is named twice")
    if not contexts:
        raise UsageError(f"--kubeconfig {args.kubeconfig}: no context to check")
    for ctx in contexts:
        check_kubeconfig(args.kubeconfig, ctx)
    audit = _audit_logs(args.audit_log, contexts)
    root = Path(args.reports)

    def say(line: str) -> None:
        print(f"pss-harness fleet: {line}", file=sys.stderr, flush=True)

    what = "the namespace sweep" if args.sweep_only else "the corpus and the namespace sweep" if sweep else "the corpus"
    say(f"{len(contexts)} cluster(s), {min(args.parallel, len(contexts))} at a time, {what}; reports in {root}/")
    doc = run_fleet(args.kubeconfig, contexts, root, extra, parallel=args.parallel, audit_logs=audit,
                    timeout=args.timeout, servers=_servers(data), sweep=sweep, corpus=not args.sweep_only,
                    namespace_policy=args.namespace_policy, say=say)
    print(json.dumps(doc, indent=1, sort_keys=True) if args.format == "json" else _table(doc))
    say(f"summary {root / FLEET}; the fleet report: pss-harness report fleet OUT {root}")
    return doc["summary"]["exit_status"]
