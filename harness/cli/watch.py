"""``pss-harness watch``: continuous control validation — drift of the cluster's Pod Security posture and admission
configuration, detected within seconds, with measured MTTD/MTTR and Prometheus metrics.

    pss-harness watch [--policy desired.yaml] [--interval 5m] [--metrics-port 9108] [--metrics-addr ADDR]
                      [--kubeconfig FILE [--context C]] [--audit-log FILE]
                      [--events FILE] [--history DB] [--duration SECONDS]

It sweeps every namespace (``pss-harness namespaces``), then watches namespaces, admission policies,
bindings, webhook configurations and the apiserver identity Leases, and re-probes what each change
concerns; every ``--interval`` it sweeps everything again. Each drift — a finding against the
desired state (``--policy``; without it, the posture of the first sweep, and ``enforce`` at least
baseline by label for namespaces created later) or an admission object deleted or made to fail
open — is one event: printed, appended to ``--events`` as a JSON line, and recorded in the
history store (``pss-harness report history`` prints MTTD/MTTR per finding). When the server
cannot be probed, it says so and opens or closes nothing; it never exits on a transient error.

``--metrics-port`` serves Prometheus metrics on ``/metrics`` (README: "Watch mode"). It runs until
SIGTERM/Ctrl-C, or for ``--duration`` seconds. Without ``--kubeconfig`` it watches an embedded
control plane (for a try-out). Exit status: 0 stopped; 2 bad input; 3 cluster error at startup.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading

from harness.core.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str, flag: str) -> float:
    """``30s``, ``5m``, ``1h``, ``7d``, ``250ms`` or plain seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise UsageError(f"{flag} {text!r}: write a duration such as 30s, 5m, 1h or 7d")
    value = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[m.group(2)]
    if value <= 0:
        raise UsageError(f"{flag} {text!r}: must be more than zero")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="watch the cluster: drift of Pod Security posture and admission configuration, "
                                     "MTTD/MTTR, Prometheus metrics",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", metavar="FILE", help="desired-state policy file (YAML, as for pss-harness namespaces)")
    p.add_argument("--interval", default="5m", metavar="DURATION", help="full sweep every DURATION (default 5m)")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on PORT (/metrics)")
    p.add_argument("--metrics-addr", default="0.0.0.0", metavar="ADDR", help="address to serve metrics on "
                                                                              "(default 0.0.0.0)")
    p.add_argument("--kubeconfig", metavar="FILE", help="watch this cluster (default: an embedded control plane)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context")
    p.add_argument("--audit-log", metavar="FILE", help="the cluster's JSON-lines audit log: audit mode, and change "
                                                       "times from the audit events' stageTimestamp")
    p.add_argument("--k8s-version", metavar="V", help="version of the embedded control plane")
    p.add_argument("--events", metavar="FILE", help="append every drift and probe-state event to FILE (JSON lines)")
    p.add_argument("--history", default="reports/history.sqlite", metavar="DB",
                   help="history store the drift events are recorded in (default reports/history.sqlite; '' for none)")
    p.add_argument("--duration", metavar="DURATION", help="stop after DURATION (default: run until SIGTERM/Ctrl-C)")
    p.add_argument("--concurrency", type=int, default=8, metavar="N", help="probe requests in flight (default 8)")
    p.add_argument("--settle", type=float, default=5.0, metavar="SECONDS",
                   help="how long a probe retries transient answers and label/behaviour disagreements (default 5)")
    p.set_defaults(handler=_watch)


class Outputs:
    """The watch's listener (``harness.cluster.watch.Listener``): prints, appends JSON lines, records history,
    updates metrics."""

    def __init__(self, metrics=None, events: str | None = None, history: str | None = None, out=None):
        self.metrics = metrics
        self.events = open(events, "a", encoding="utf-8") if events else None
        self.history = history or None
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def _line(self, record: dict) -> None:
        if self.events is not None:
            with self._lock:
                self.events.write(json.dumps(record, sort_keys=True, default=str) + "\n")
                self.events.flush()

    def _say(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)

    def transition(self, t, loop) -> None:
        ev = t.event
        d = ev.to_dict()
        if self.metrics is not None:
            (self.metrics.opened if t.kind == "opened" else self.metrics.closed)(ev)
        self._line({"event": "drift", "transition": t.kind, **d})
        if self.history:
            from harness.reports.history import record_drift

            try:
                record_drift(self.history, d)
            except Exception as exc:  # the event is printed and in the JSON lines; say so and go on
                self._say(f"pss-harness: could not record the event in {self.history}: {exc}")
        where = ev.subject + (f" ({ev.mode})" if ev.mode else "") + (f" [{ev.detail}]" if ev.detail else "")
        if t.kind == "opened":
            lat = f"; detected {ev.mttd:.2f}s after the change ({ev.change_source})" if ev.mttd is not None else \
                " (present at start)" if ev.preexisting else ""
            self._say(f"DRIFT {ev.finding} {where}: {ev.message}{lat}")
        else:
            self._say(f"REMEDIATED {ev.finding} {where} ({ev.resolution}) after {ev.mttr:.2f}s")

    def status(self, record: dict) -> None:
        if record.get("event") == "apiserver-restart" and self.metrics is not None:
            self.metrics.restarted()
        self._line(record)
        text = {"probe-unavailable": lambda r: f"CANNOT PROBE ({r['class']}): {r['error']}",
                "probe-recovered": lambda r: "PROBING AGAIN (the API server answers)",
                "apiserver-restart": lambda r: f"APISERVER RESTART (Lease {r['lease']}: {r['holder']})",
                "watch-forbidden": lambda r: f"NOT WATCHED {r['resource']}: {r['error']}"}.get(record.get("event"))
        if text:
            self._say(text(record))

    def probed(self, loop, scope: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.swept(scope, seconds)

    def probe_error(self, cls: str, message: str) -> None:
        if self.metrics is not None:
            self.metrics.probe_error(cls)

    def relisted(self, resource: str, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.relisted(resource, reason)
        if reason == "gone":
            self._line({"event": "watch-relist", "resource": resource, "reason": reason})

    def reconnected(self, resource: str) -> None:
        if self.metrics is not None:
            self.metrics.reconnected(resource)

    def close(self) -> None:
        if self.events is not None:
            self.events.close()


def _watch(args: argparse.Namespace) -> int:
    from harness.cli.namespaces import EXIT_CLUSTER, _target
    from harness.cluster.audit import AuditSource
    from harness.cluster.client import Cluster
    from harness.cluster.watch import WatchLoop
    from harness.core.errors import ClusterError
    from harness.corpus.namespace_policy import load_namespace_policy
    from harness.reports.metrics import WatchMetrics, serve

    if args.context and not args.kubeconfig:
        raise UsageError("--context needs --kubeconfig")
    if args.audit_log and args.audit_log.startswith("!"):
        raise UsageError("--audit-log: watch reads a FILE (it follows the log as it grows), not a !COMMAND")
    interval = parse_duration(args.interval, "--interval")
    duration = parse_duration(args.duration, "--duration") if args.duration else None
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise UsageError(f"--metrics-port {args.metrics_port}: a TCP port (0-65535)")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    desired = load_namespace_policy(args.policy) if args.policy else None
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
    args.names, args.selector = [], None
    say = lambda m: print(f"pss-harness: {m}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        with _target(args) as (kubeconfig, audit_log, description):
            cluster = Cluster(kubeconfig, args.context)
            holder: dict = {}
            metrics = WatchMetrics(lambda: holder["loop"].snapshot())
            outputs = Outputs(metrics, args.events, args.history)
            audit = AuditSource(audit_log) if audit_log else None
            loop = WatchLoop(cluster, desired=desired, interval=interval, audit=audit, audit_log=audit_log,
                             listener=outputs, settle=args.settle, concurrency=args.concurrency, progress=say)
            holder["loop"] = loop
            if args.metrics_port is not None:
                server, _thread = serve(metrics.registry, args.metrics_port, args.metrics_addr)
                say(f"metrics on http://{args.metrics_addr}:{server.server_port}/metrics")
            if duration is not None:
                timer = threading.Timer(duration, stop.set)
                timer.daemon = True
                timer.start()
            say(f"watching {description}; full sweep every {interval:g}s"
                + (f"; policy {args.policy}" if args.policy else "; desired state: the first sweep's posture"))
            try:
                loop.run(stop)
            except KeyboardInterrupt:
                pass
            finally:
                stop.set()
                outputs.close()
                cluster.close()
            s = loop.snapshot()
            say(f"stopped: {loop.sweeps['full']} full and {loop.sweeps['targeted']} targeted sweep(s), "
                f"{len(loop.tracker.closed)} drift event(s) remediated, {len(s['open'])} open")
    except ClusterError as exc:
        print(f"pss-harness: error: {exc}", file=sys.stderr)
        return EXIT_CLUSTER
    return 0
