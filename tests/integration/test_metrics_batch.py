"""Metrics of the batch jobs against a real embedded server: the corpus run (``--psa-metrics-file``,
``--psa-pushgateway``) and ``pss-harness namespaces --metrics-file/--pushgateway``. The textfile and the pushed
body are parsed with prometheus_client's parser and checked against the run's own evidence."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.cli import main
from harness.reports.record import control_summary

from _harness_run import run_harness

pytestmark = pytest.mark.integration


class _Gateway(BaseHTTPRequestHandler):
    def do_PUT(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.command, self.path, body.decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_the_corpus_run_writes_and_pushes_its_outcomes_per_control(embedded, tmp_path, gateway):
    prom = tmp_path / "corpus.prom"
    run = run_harness(embedded, tmp_path, "--psa-metrics-file", str(prom),
                      "--psa-pushgateway", f"http://127.0.0.1:{gateway.server_port}", run_id="metricsrun")
    assert "pss-harness: metrics in" in run.log, run.log[-3000:]
    results = json.loads((run.evidence / "results.json").read_text())
    s = samples(prom.read_text())
    for result in ("passed", "failed", "skipped"):
        assert s[("pss_harness_run_items", (("result", result),))] == \
            sum(r["result"] == result for r in results["results"])
    assert s[("pss_harness_run_items", (("result", "failed"),))] > 0   # the corpus's mislabelled scenario
    for (check, level, mode), cell in control_summary(results["results"]).items():
        key = ("pss_harness_control_failing", (("check", check), ("level", level), ("mode", mode)))
        assert s[key] == (1 if cell["status"] == "failed" else 0)
    items = sum(v for (name, _), v in s.items() if name == "pss_harness_control_items")
    assert items == sum(len(r["controls"]) for r in results["results"])
    [(method, path, body)] = gateway.requests
    assert method == "PUT" and path == "/metrics/job/pss-harness-corpus"
    assert samples(body)[("pss_harness_run_items", (("result", "failed"),))] == \
        s[("pss_harness_run_items", (("result", "failed"),))]


def test_the_namespace_sweep_writes_and_pushes_the_posture(embedded, admin, tmp_path, gateway, capsys):
    admin.create_namespace("metrics-restricted", {"pod-security.kubernetes.io/enforce": "restricted"})
    admin.wait_for("serviceaccounts", "metrics-restricted", "default")
    prom = tmp_path / "ns.prom"
    code = main(["namespaces", "metrics-restricted", "--kubeconfig", str(embedded.kubeconfig), "--format", "json",
                 "--metrics-file", str(prom), "--pushgateway", f"127.0.0.1:{gateway.server_port}"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc["summary"]
    s = samples(prom.read_text())
    assert s[("pss_harness_namespace_effective_level", (("mode", "enforce"), ("namespace", "metrics-restricted")))] == 2
    assert s[("pss_harness_podsecurity_plugin_enabled", ())] == 1
    assert s[("pss_harness_sweep_duration_seconds", ())] == doc["summary"]["elapsed_s"]
    [(method, path, body)] = gateway.requests
    assert (method, path) == ("PUT", "/metrics/job/pss-harness-namespaces")
    assert samples(body) == s
