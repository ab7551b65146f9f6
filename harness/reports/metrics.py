"""Prometheus metrics (``prometheus-client``): an endpoint for ``pss-harness watch``, a textfile and a Pushgateway
push for the batch jobs (the corpus run and ``pss-harness namespaces``).

Every series is named here (``SERIES``: name -> type, labels, help), with units in the names and
the Prometheus conventions (``_total`` counters, ``_seconds``, ``_timestamp_seconds``):

    pss_harness_build_info{version}                                   gauge 1
    pss_harness_namespace_effective_level{namespace,mode}             gauge 0 privileged (or none), 1 baseline,
                                                                      2 restricted; only proven modes
    pss_harness_namespace_posture_proven{namespace,mode}              gauge 1 proven, 0 unknown
    pss_harness_namespace_desired_match{namespace}                    gauge 1 meets its rules, 0 findings
    pss_harness_namespace_findings{namespace,finding}                 gauge findings now
    pss_harness_podsecurity_plugin_enabled                            gauge 1/0 (absent: unknown)
    pss_harness_control_items{check,level,mode,kind,result}           gauge corpus items per outcome
    pss_harness_control_failing{check,level,mode}                     gauge 1 when an item of the control failed
    pss_harness_run_items{result}                                     gauge items of the corpus run
    pss_harness_run_duration_seconds / pss_harness_sweep_duration_seconds   gauge (batch) / histogram (watch)
    pss_harness_drift_events_total{finding}                           counter drift events opened
    pss_harness_drift_remediations_total{finding}                     counter drift events remediated
    pss_harness_drift_open{finding}                                   gauge open drift events
    pss_harness_drift_oldest_open_timestamp_seconds{finding}          gauge detection time of the oldest open one
    pss_harness_drift_detection_latency_seconds{finding}              histogram change -> detection (MTTD)
    pss_harness_drift_time_to_remediate_seconds{finding}              histogram detection -> remediation (MTTR)
    pss_harness_probe_errors_total{class}                             counter probes that proved nothing
    pss_harness_probe_up                                              gauge 1 the cluster can be probed
    pss_harness_last_success_timestamp_seconds                        gauge the last completed sweep / run
    pss_harness_sweeps_total{scope}                                   counter full / targeted re-probes
    pss_harness_watch_relists_total{resource,reason}                  counter initial / gone (410)
    pss_harness_watch_reconnects_total{resource}                      counter after a broken watch
    pss_harness_apiserver_restarts_total                              counter new apiserver identity Leases

Imports: ``prometheus_client``, the standard library, ``harness.core`` and ``harness.reports.record``.
"""

from __future__ import annotations

import threading
import urllib.parse
from typing import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest, push_to_gateway, start_http_server, write_to_textfile
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

import harness
from harness.core.drift import parse_time
from harness.core.errors import UsageError
from harness.reports.record import control_summary, controls_of

__all__ = ["SERIES", "WatchMetrics", "corpus_registry", "exposition", "namespaces_registry", "push",
           "serve", "write_textfile"]

P = "pss_harness_"
_LEVEL = {"privileged": 0, "baseline": 1, "restricted": 2}
#: seconds; from sub-second watch detection to an hour's periodic sweep
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
REMEDIATE_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600, 24 * 3600, 7 * 24 * 3600)

#: name -> (type, labels, help): every series this module can export
SERIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    P + "build_info": ("gauge", ("version",), "pss-harness version (always 1)"),
    P + "namespace_effective_level": ("gauge", ("namespace", "mode"),
                                      "Effective Pod Security level proven by probes: 0 privileged (or none: exempt, "
                                      "no PodSecurity), 1 baseline, 2 restricted; absent when not proven"),
    P + "namespace_posture_proven": ("gauge", ("namespace", "mode"), "1 if the mode's effective level was proven, "
                                                                     "0 if unknown"),
    P + "namespace_desired_match": ("gauge", ("namespace",), "1 if the namespace meets every rule of the desired "
                                                             "state that selects it, 0 if it has findings"),
    P + "namespace_findings": ("gauge", ("namespace", "finding"), "Findings of the namespace against the desired state"),
    P + "podsecurity_plugin_enabled": ("gauge", (), "1 if the PodSecurity admission plugin runs, 0 if it does not "
                                                    "(absent: unknown)"),
    P + "control_items": ("gauge", ("check", "level", "mode", "kind", "result"),
                          "Corpus items of the last run per control (check x level x mode), kind and result"),
    P + "control_failing": ("gauge", ("check", "level", "mode"), "1 if an item of the control failed in the last run"),
    P + "run_items": ("gauge", ("result",), "Items of the last corpus run per result"),
    P + "run_duration_seconds": ("gauge", (), "Duration of the last corpus run"),
    P + "sweep_duration_seconds": ("gauge", (), "Duration of the last namespace sweep"),
    P + "drift_events_total": ("counter", ("finding",), "Drift events opened, by finding"),
    P + "drift_remediations_total": ("counter", ("finding",), "Drift events remediated, by finding"),
    P + "drift_open": ("gauge", ("finding",), "Drift events open now, by finding"),
    P + "drift_oldest_open_timestamp_seconds": ("gauge", ("finding",),
                                                "Detection time of the oldest open drift event, by finding"),
    P + "drift_detection_latency_seconds": ("histogram", ("finding",),
                                            "Seconds from a change to the detection of the drift it caused"),
    P + "drift_time_to_remediate_seconds": ("histogram", ("finding",),
                                            "Seconds from the detection of a drift to its remediation"),
    P + "probe_errors_total": ("counter", ("class",), "Probes or watches that proved nothing, by class "
                                                      "(unreachable, unavailable, throttled, forbidden, server-error, "
                                                      "error)"),
    P + "probe_up": ("gauge", (), "1 if the cluster could be probed at the last attempt, 0 if not (cannot probe)"),
    P + "last_success_timestamp_seconds": ("gauge", (), "When the last sweep or corpus run completed"),
    P + "sweeps_total": ("counter", ("scope",), "Sweeps run by the watch: full or targeted"),
    P + "watch_sweep_duration_seconds": ("histogram", ("scope",), "Duration of the watch's sweeps"),
    P + "watch_relists_total": ("counter", ("resource",  "reason"), "Lists of a watched resource: initial, or gone "
                                                                    "(410: the watch's resourceVersion was too old)"),
    P + "watch_reconnects_total": ("counter", ("resource",), "Watches re-established after the connection broke"),
    P + "apiserver_restarts_total": ("counter", (), "kube-apiserver restarts seen (a new holderIdentity on an "
                                                    "apiserver identity Lease)"),
}


def _help(name: str) -> str:
    return SERIES[name][2]


def _gauge(name: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, _help(name), labels=list(SERIES[name][1]))


# -- posture (batch and watch) -------------------------------------------------------------------------

def posture_families(postures: Iterable[Mapping], findings: Iterable[Mapping], matches: Mapping[str, bool | None],
                     plugin: str | None) -> list[GaugeMetricFamily]:
    """The posture series from ``Posture.to_dict()`` entries and ``Finding.to_dict()`` entries."""
    level, proven, match, found = (_gauge(P + n) for n in ("namespace_effective_level", "namespace_posture_proven",
                                                           "namespace_desired_match", "namespace_findings"))
    for p in postures:
        ns = p["namespace"]
        for mode in ("enforce", "warn", "audit"):
            m = p[mode]
            known = m["state"] in ("proven", "none")
            proven.add_metric([ns, mode], 1 if known else 0)
            if known:
                level.add_metric([ns, mode], 0 if m["state"] == "none" else _LEVEL.get(m["level"] or "", 0))
        if matches.get(ns) is not None:
            match.add_metric([ns], 1 if matches[ns] else 0)
    counts: dict[tuple[str, str], int] = {}
    for f in findings:
        counts[(f["namespace"], f["id"])] = counts.get((f["namespace"], f["id"]), 0) + 1
    for (ns, fid), n in sorted(counts.items()):
        found.add_metric([ns, fid], n)
    out = [level, proven, match, found]
    if plugin in ("loaded", "disabled"):
        g = _gauge(P + "podsecurity_plugin_enabled")
        g.add_metric([], 1 if plugin == "loaded" else 0)
        out.append(g)
    return out


def _build_info() -> GaugeMetricFamily:
    g = _gauge(P + "build_info")
    g.add_metric([harness.__version__], 1)
    return g


class _Families:
    """A collector of fixed or computed families."""

    def __init__(self, make: Callable[[], list]):
        self._make = make

    def collect(self):
        return iter(self._make())

    def describe(self):
        return []


def namespaces_registry(doc: Mapping, finished: float) -> CollectorRegistry:
    """The series of one ``pss-harness namespaces`` document (``harness/schemas/namespaces.schema.json``)."""
    matches: dict[str, bool | None] = {}
    for r in doc.get("results") or []:
        matches[r["namespace"]] = matches.get(r["namespace"], True) and bool(r["passed"])
    fams = posture_families(doc.get("namespaces") or [], doc.get("findings") or [], matches,
                            (doc.get("cluster") or {}).get("plugin", {}).get("state"))
    last = _gauge(P + "last_success_timestamp_seconds")
    last.add_metric([], finished)
    dur = _gauge(P + "sweep_duration_seconds")
    dur.add_metric([], float((doc.get("summary") or {}).get("elapsed_s") or 0.0))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(lambda: [_build_info(), *fams, last, dur]))
    return registry


def corpus_registry(results: Mapping, finished: float) -> CollectorRegistry:
    """The series of one corpus run from its ``results.json`` content (run metadata + records)."""
    records = list(results.get("results") or [])
    items = _gauge(P + "control_items")
    cells: dict[tuple[str, str, str, str, str], int] = {}
    for r in records:
        result = r.get("result") if r.get("result") in ("passed", "failed") else "skipped"
        for check in r.get("controls") or controls_of(r):
            key = (check, r["policy"]["level"], r["policy"]["mode"], r.get("kind") or "", result)
            cells[key] = cells.get(key, 0) + 1
    for key, n in sorted(cells.items()):
        items.add_metric(list(key), n)
    failing = _gauge(P + "control_failing")
    for (check, level, mode), cell in sorted(control_summary(records).items()):
        failing.add_metric([check, level, mode], 1 if cell["status"] == "failed" else 0)
    run_items = _gauge(P + "run_items")
    counts: dict[str, int] = {}
    for r in records:
        counts[r.get("result", "skipped")] = counts.get(r.get("result", "skipped"), 0) + 1
    for result in ("passed", "failed", "skipped"):
        run_items.add_metric([result], counts.get(result, 0))
    last = _gauge(P + "last_success_timestamp_seconds")
    last.add_metric([], finished)
    fams = [_build_info(), items, failing, run_items, last]
    run = results.get("run") or {}
    start, end = parse_time(run.get("started")), parse_time(run.get("finished"))
    if start is not None and end is not None:
        dur = _gauge(P + "run_duration_seconds")
        dur.add_metric([], max(0.0, end - start))
        fams.append(dur)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(lambda: fams))
    return registry


# -- output -------------------------------------------------------------------------------------------

def exposition(registry: CollectorRegistry, openmetrics: bool = False) -> str:
    return (generate_openmetrics if openmetrics else generate_latest)(registry).decode()


def write_textfile(registry: CollectorRegistry, path: str) -> None:
    """Write the node-exporter textfile (atomically: a temporary file renamed into place)."""
    try:
        write_to_textfile(path, registry)
    except OSError as exc:
        raise UsageError(f"--metrics-file {path}: cannot write it: {exc}") from None


def push(registry: CollectorRegistry, url: str, job: str, grouping: Mapping[str, str] | None = None,
         timeout: float = 10.0) -> None:
    """PUT the registry to a Pushgateway at ``url`` (``/metrics/job/<job>[/<label>/<value>...]``)."""
    parsed = urllib.parse.urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"--pushgateway {url!r}: give the Pushgateway's URL, e.g. http://pushgateway:9091")
    try:
        push_to_gateway(url, job=job, registry=registry, grouping_key=dict(grouping or {}), timeout=timeout)
    except OSError as exc:
        raise UsageError(f"--pushgateway {url}: the push failed: {exc}") from None


def serve(registry: CollectorRegistry, port: int, addr: str = "0.0.0.0"):
    """Serve ``/metrics`` on ``addr:port`` in a daemon thread; ``(server, thread)``."""
    try:
        return start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        raise UsageError(f"--metrics-port {port}: cannot listen on {addr}:{port}: {exc}") from None


# -- watch mode -----------------------------------------------------------------------------------------

class WatchMetrics:
    """The live series of ``pss-harness watch``: counters and histograms updated as things happen, the
    posture and the open drift read from the loop at scrape time (``state()`` returns ``WatchLoop.snapshot()``)."""

    def __init__(self, state: Callable[[], Mapping] | None = None):
        # no ``*_created`` series: in the text format they are gauge families of their own, named by no
        # convention here (process-wide; this process's metrics are all pss-harness's)
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._lock = threading.Lock()
        self.state = state

        def counter(name: str) -> Counter:
            base = name[:-len("_total")]
            return Counter(base, _help(name), list(SERIES[name][1]), registry=r)

        self.drift = counter(P + "drift_events_total")
        self.remediated = counter(P + "drift_remediations_total")
        self.latency = Histogram(P + "drift_detection_latency_seconds", _help(P + "drift_detection_latency_seconds"),
                                 ["finding"], buckets=LATENCY_BUCKETS, registry=r)
        self.remediate = Histogram(P + "drift_time_to_remediate_seconds", _help(P + "drift_time_to_remediate_seconds"),
                                   ["finding"], buckets=REMEDIATE_BUCKETS, registry=r)
        self.errors = counter(P + "probe_errors_total")
        self.sweeps = counter(P + "sweeps_total")
        self.sweep_seconds = Histogram(P + "watch_sweep_duration_seconds", _help(P + "watch_sweep_duration_seconds"),
                                       ["scope"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120), registry=r)
        self.relists = counter(P + "watch_relists_total")
        self.reconnects = counter(P + "watch_reconnects_total")
        self.restarts = counter(P + "apiserver_restarts_total")
        for cls in ("unreachable", "unavailable", "throttled", "forbidden", "server-error", "error"):
            self.errors.labels(cls)
        for scope in ("full", "targeted"):
            self.sweeps.labels(scope)
        r.register(_Families(self._live))

    def _live(self) -> list:
        fams = [_build_info()]
        s = self.state() if self.state is not None else None
        up = _gauge(P + "probe_up")
        last = _gauge(P + "last_success_timestamp_seconds")
        open_, oldest = _gauge(P + "drift_open"), _gauge(P + "drift_oldest_open_timestamp_seconds")
        if s is not None:
            postures = [p.to_dict(evidence=False) for p in s["postures"].values()]
            findings = [f.to_dict() for fs in s["findings"].values() for f in fs]
            facts = s.get("facts")
            fams += posture_families(postures, findings, s["matches"], getattr(facts, "plugin", None))
            up.add_metric([], 1 if s["probe_up"] else 0)
            if s["last_success"] is not None:
                last.add_metric([], s["last_success"])
            by: dict[str, list] = {}
            for ev in s["open"]:
                by.setdefault(ev.finding, []).append(ev)
            for finding, evs in sorted(by.items()):
                open_.add_metric([finding], len(evs))
                oldest.add_metric([finding], min(e.detected_at for e in evs))
        return fams + [up, last, open_, oldest]

    # listener side
    def opened(self, event) -> None:
        self.drift.labels(event.finding).inc()
        if event.mttd is not None:
            self.latency.labels(event.finding).observe(event.mttd)

    def closed(self, event) -> None:
        self.remediated.labels(event.finding).inc()
        if event.mttr is not None:
            self.remediate.labels(event.finding).observe(event.mttr)

    def probe_error(self, cls: str) -> None:
        self.errors.labels(cls).inc()

    def swept(self, scope: str, seconds: float) -> None:
        self.sweeps.labels(scope).inc()
        self.sweep_seconds.labels(scope).observe(seconds)

    def relisted(self, resource: str, reason: str) -> None:
        self.relists.labels(resource, reason).inc()

    def reconnected(self, resource: str) -> None:
        self.reconnects.labels(resource).inc()

    def restarted(self) -> None:
        self.restarts.inc()
