"""Prometheus metrics: every family re-parsed by prometheus_client's text AND OpenMetrics parsers (the check
``promtool check metrics`` makes: HELP, TYPE, names, labels), values checked; textfile; Pushgateway push to a
local HTTP server; the PrometheusRule and the dashboard name only exported series."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from harness.core.drift import DriftEvent
from harness.core.errors import UsageError
from harness.core.namespace_rules import Finding
from harness.core.posture import ClusterFacts, ModePosture, Posture
from harness.reports import metrics
from harness.reports.metrics import SERIES, WatchMetrics, corpus_registry, exposition, namespaces_registry

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def posture(name: str, enforce: ModePosture, warn: ModePosture | None = None) -> Posture:
    u = ModePosture("unknown", evidence="no audit source")
    return Posture(name, {}, enforce, warn or u, u, ())


POSTURES = [posture("team-a", ModePosture("proven", "restricted", "latest", "label")),
            posture("team-b", ModePosture("proven", "baseline", "latest", "label"),
                    ModePosture("proven", "restricted", "latest", "label")),
            posture("kube-system", ModePosture("none", source="default"), ModePosture("none"))]
FINDING = Finding("weaker-than-required", "team-b", "tenants", "enforce is baseline", "enforce")


def namespaces_doc() -> dict:
    return {"namespaces": [p.to_dict(evidence=False) for p in POSTURES], "findings": [FINDING.to_dict()],
            "results": [{"namespace": "team-a", "rule": "tenants", "passed": True, "findings": []},
                        {"namespace": "team-b", "rule": "tenants", "passed": False, "findings": [FINDING.id]}],
            "cluster": {"plugin": {"state": "loaded"}}, "summary": {"elapsed_s": 1.25}}


def corpus_results() -> dict:
    def rec(n, check, level, mode, kind, result):
        return {"nodeid": f"n{n}", "controls": [check], "policy": {"level": level, "mode": mode}, "kind": kind,
                "result": result}
    return {"run": {"run_id": "r1", "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:02:30+00:00"},
            "results": [rec(1, "privileged", "baseline", "enforce", "Pod", "passed"),
                        rec(2, "privileged", "baseline", "enforce", "Deployment", "passed"),
                        rec(3, "privileged", "baseline", "enforce", "Pod", "failed"),
                        rec(4, "hostPathVolumes", "restricted", "warn", "Pod", "skipped")]}


def watch_metrics() -> WatchMetrics:
    facts = ClusterFacts(plugin="loaded", runner="me", runner_exempt=False)
    ev = DriftEvent("e1", "weaker-than-required", "namespaces/team-b", "high", "m", "team-b", "tenants", "enforce", "",
                    1000.0, 999.2, "audit")
    state = {"postures": {p.namespace: p for p in POSTURES}, "findings": {"team-b": [FINDING]},
             "matches": {"team-a": True, "team-b": False, "kube-system": None}, "facts": facts, "probe_up": True,
             "last_success": 1234.5, "open": [ev], "server_version": "v1.37.2"}
    m = WatchMetrics(lambda: state)
    closed = DriftEvent("e0", "webhook-fail-open", "validatingwebhookconfigurations/g", "high", "m", None, "", "", "h",
                        900.0, 899.99, "audit", remediated_at=960.0)
    m.opened(closed)
    m.closed(closed)
    m.opened(ev)
    m.probe_error("unreachable")
    m.swept("full", 0.3)
    m.relisted("namespaces", "initial")
    m.relisted("validatingwebhookconfigurations", "gone")
    m.reconnected("namespaces")
    m.restarted()
    return m


def registries():
    return {"namespaces": namespaces_registry(namespaces_doc(), 1700000000.0),
            "corpus": corpus_registry(corpus_results(), 1700000000.0),
            "watch": watch_metrics().registry}


def family_name(name: str) -> str:
    kind = SERIES[name][0]
    return name[:-len("_total")] if kind == "counter" else name


@pytest.mark.parametrize("which", ["namespaces", "corpus", "watch"])
def test_every_family_parses_with_both_parsers_and_has_help_type_and_declared_labels(which):
    registry = registries()[which]
    text = exposition(registry)
    # the classic text format: HELP and TYPE on every family (kubescape #2196 would fail here)
    helps = re.findall(r"^# HELP (\S+) ", text, re.M)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert helps and sorted(helps) == sorted(types), (helps, types)
    declared = {family_name(n): (n, kind, labels) for n, (kind, labels, _h) in SERIES.items()}
    families = list(parse_text(text))
    assert families
    for fam in families:
        assert fam.name in declared, f"{fam.name} is exported but not declared in SERIES"
        series, kind, labels = declared[fam.name]
        assert fam.type == kind and fam.documentation == SERIES[series][2]
        assert NAME.match(fam.name) and fam.name.startswith("pss_harness_")
        for s in fam.samples:
            extra = {"le"} if kind == "histogram" else set()
            assert set(s.labels) - extra == set(labels), (fam.name, s.labels)
    om = exposition(registry, openmetrics=True)
    assert om.rstrip().endswith("# EOF")
    om_families = {f.name: f for f in parse_openmetrics(om)}
    assert {f.name for f in families} <= set(om_families)
    for fam in families:
        assert om_families[fam.name].type == fam.type


def samples(registry) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in parse_text(exposition(registry)) for s in f.samples}


def test_the_namespaces_series_carry_the_posture_the_match_and_the_findings():
    s = samples(registries()["namespaces"])
    assert s[("pss_harness_namespace_effective_level", (("mode", "enforce"), ("namespace", "team-a")))] == 2
    assert s[("pss_harness_namespace_effective_level", (("mode", "enforce"), ("namespace", "team-b")))] == 1
    assert s[("pss_harness_namespace_effective_level", (("mode", "warn"), ("namespace", "team-b")))] == 2
    assert s[("pss_harness_namespace_effective_level", (("mode", "enforce"), ("namespace", "kube-system")))] == 0
    assert ("pss_harness_namespace_effective_level", (("mode", "audit"), ("namespace", "team-a"))) not in s
    assert s[("pss_harness_namespace_posture_proven", (("mode", "audit"), ("namespace", "team-a")))] == 0
    assert s[("pss_harness_namespace_desired_match", (("namespace", "team-a"),))] == 1
    assert s[("pss_harness_namespace_desired_match", (("namespace", "team-b"),))] == 0
    assert ("pss_harness_namespace_desired_match", (("namespace", "kube-system"),)) not in s
    assert s[("pss_harness_namespace_findings", (("finding", "weaker-than-required"), ("namespace", "team-b")))] == 1
    assert s[("pss_harness_podsecurity_plugin_enabled", ())] == 1
    assert s[("pss_harness_last_success_timestamp_seconds", ())] == 1700000000.0
    assert s[("pss_harness_sweep_duration_seconds", ())] == 1.25


def test_the_corpus_series_count_outcomes_per_check_level_mode_and_kind():
    s = samples(registries()["corpus"])
    key = lambda kind, result: ("pss_harness_control_items", (("check", "privileged"), ("kind", kind),  # noqa: E731
                                                              ("level", "baseline"), ("mode", "enforce"),
                                                              ("result", result)))
    assert s[key("Pod", "passed")] == 1 and s[key("Pod", "failed")] == 1 and s[key("Deployment", "passed")] == 1
    assert s[("pss_harness_control_failing", (("check", "privileged"), ("level", "baseline"), ("mode", "enforce")))] == 1
    assert s[("pss_harness_control_failing", (("check", "hostPathVolumes"), ("level", "restricted"),
                                              ("mode", "warn")))] == 0
    assert s[("pss_harness_run_items", (("result", "failed"),))] == 1
    assert s[("pss_harness_run_items", (("result", "skipped"),))] == 1
    assert s[("pss_harness_run_duration_seconds", ())] == 150.0


def test_the_watch_series_count_events_and_observe_latencies():
    s = samples(registries()["watch"])
    assert s[("pss_harness_drift_events_total", (("finding", "weaker-than-required"),))] == 1
    assert s[("pss_harness_drift_remediations_total", (("finding", "webhook-fail-open"),))] == 1
    assert s[("pss_harness_drift_detection_latency_seconds_count", (("finding", "weaker-than-required"),))] == 1
    assert s[("pss_harness_drift_detection_latency_seconds_bucket", (("finding", "weaker-than-required"),
                                                                     ("le", "1.0")))] == 1
    assert s[("pss_harness_drift_detection_latency_seconds_bucket", (("finding", "weaker-than-required"),
                                                                     ("le", "0.5")))] == 0
    assert s[("pss_harness_drift_time_to_remediate_seconds_sum", (("finding", "webhook-fail-open"),))] == 60.0
    assert s[("pss_harness_drift_open", (("finding", "weaker-than-required"),))] == 1
    assert s[("pss_harness_drift_oldest_open_timestamp_seconds", (("finding", "weaker-than-required"),))] == 1000.0
    assert s[("pss_harness_probe_errors_total", (("class", "unreachable"),))] == 1
    assert s[("pss_harness_probe_errors_total", (("class", "throttled"),))] == 0   # every class is present from 0
    assert s[("pss_harness_probe_up", ())] == 1
    assert s[("pss_harness_sweeps_total", (("scope", "full"),))] == 1
    assert s[("pss_harness_watch_relists_total", (("reason", "gone"), ("resource", "validatingwebhookconfigurations")))] == 1
    assert s[("pss_harness_watch_reconnects_total", (("resource", "namespaces"),))] == 1
    assert s[("pss_harness_apiserver_restarts_total", ())] == 1
    assert s[("pss_harness_namespace_effective_level", (("mode", "enforce"), ("namespace", "team-a")))] == 2


def test_series_names_follow_the_conventions():
    for name, (kind, labels, help_) in SERIES.items():
        assert NAME.match(name) and name.startswith("pss_harness_") and help_
        assert name.endswith("_total") == (kind == "counter"), name
        assert kind in ("gauge", "counter", "histogram")
        if "timestamp" in name or "duration" in name or "latency" in name:
            assert name.endswith("_seconds"), name


def test_the_textfile_is_written_and_parses(tmp_path):
    out = tmp_path / "pss.prom"
    metrics.write_textfile(registries()["namespaces"], str(out))
    assert {f.name for f in parse_text(out.read_text())} >= {"pss_harness_namespace_effective_level"}
    with pytest.raises(UsageError, match="--metrics-file"):
        metrics.write_textfile(registries()["namespaces"], str(tmp_path / "missing" / "dir" / "x.prom"))


class _Gateway(BaseHTTPRequestHandler):
    def _take(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.command, self.path, self.headers.get("Content-Type"), body.decode()))
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST = _take  # noqa: N815

    def log_message(self, *args):
        pass


def test_push_puts_the_exposition_to_the_pushgateway_job_path():
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    server.requests = []
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        metrics.push(registries()["corpus"], f"http://127.0.0.1:{server.server_port}", "pss-harness-corpus",
                     {"cluster": "staging"})
    finally:
        server.shutdown()
    [(method, path, ctype, body)] = server.requests
    assert method == "PUT" and path == "/metrics/job/pss-harness-corpus/cluster/staging"
    assert ctype.startswith("text/plain")
    assert {f.name for f in parse_text(body)} >= {"pss_harness_control_items", "pss_harness_run_items"}


def test_push_to_a_bad_or_dead_gateway_is_one_clear_error():
    with pytest.raises(UsageError, match="--pushgateway"):
        metrics.push(registries()["corpus"], "ftp://x", "j")
    dead = HTTPServer(("127.0.0.1", 0), _Gateway)
    port = dead.server_port
    dead.server_close()
    with pytest.raises(UsageError, match="the push failed"):
        metrics.push(registries()["corpus"], f"http://127.0.0.1:{port}", "j", timeout=2)


def exported_names() -> set[str]:
    out = set()
    for name, (kind, _l, _h) in SERIES.items():
        out.add(name)
        if kind == "histogram":
            out |= {name + "_bucket", name + "_sum", name + "_count"}
    return out


def test_the_prometheus_rule_and_the_dashboard_name_only_exported_series():
    rule = yaml.safe_load((REPO / "deploy" / "prometheus-rule.yaml").read_text())
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert {a["alert"] for a in alerts} >= {"PodSecurityDriftOpen", "PodSecurityValidationStale",
                                            "PodSecurityAdmissionDisabled"}
    exprs = [a["expr"] for a in alerts]
    dash = json.loads((REPO / "deploy" / "grafana-dashboard.json").read_text())
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    named = {n for e in exprs for n in re.findall(r"\bpss_harness_[a-z_]+", e)}
    assert named and named <= exported_names(), named - exported_names()
    for needed in ("pss_harness_drift_oldest_open_timestamp_seconds", "pss_harness_last_success_timestamp_seconds",
                   "pss_harness_podsecurity_plugin_enabled"):
        assert needed in named
