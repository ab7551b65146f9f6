"""``pss-harness watch`` against a real embedded control plane: each drift is detected within seconds, restored
drift closes with an MTTR, outages give "cannot probe" (never drift), 410 Gone relists, metrics parse.

One plane (every request audited, so change times come from the audit events' ``stageTimestamp``;
no watch cache for ValidatingWebhookConfigurations, so a compacted resourceVersion answers 410)
and one watch loop (in a thread, stopped at the end) are shared by the tests, which run in order:
each causes a drift, polls the JSON lines for the event with a deadline, restores, polls for the
remediation. Detection latencies are collected and printed at the end (``-s``).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.cli.watch import Outputs
from harness.cluster.client import Cluster
from harness.cluster.watch import Watcher, WatchLoop
from harness.core.drift import parse_time
from harness.core.namespace_rules import DesiredState
from harness.core.polling import PollTimeout, poll
from harness.corpus.namespace_policy import load_namespace_policy
from harness.embedded import EmbeddedCluster, Exemptions
from harness.embedded.plane import AUDIT_EVERYTHING
from harness.reports.history import drift_events
from harness.reports.metrics import WatchMetrics, exposition, serve

from _planes import namespace_policy, plane_fixtures

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PSA = "pod-security.kubernetes.io/"
API_VISIBLE_BOUND = 5.0          #: seconds from a change to its event, for what a watch sees (issue #14)
POLICY = namespace_policy("""\
  - name: tenants
    namespaces: ["team-*"]
    minimum: {enforce: restricted}
    version: latest
    defaults: forbidden
""")
TEAMS = ("team-relax", "team-remove", "team-pin", "team-exempt")
WEBHOOK = {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "pss-test-guard"},
    "webhooks": [{
        "name": "guard.pss-harness.test", "failurePolicy": "Fail", "sideEffects": "None",
        "admissionReviewVersions": ["v1"], "timeoutSeconds": 1,
        "clientConfig": {"url": "https://127.0.0.1:1/never"},        # nothing listens there
        "namespaceSelector": {"matchLabels": {"pss-test/never": "true"}},   # and it selects no namespace
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
    }],
}
LATENCIES: dict[str, list[float]] = {}


def restricted() -> dict[str, str]:
    return {PSA + "enforce": "restricted"}


class Watch:
    """The running loop, its outputs and helpers to await what it writes."""

    def __init__(self, plane: EmbeddedCluster, admin: Cluster, tmp: Path):
        self.plane, self.admin = plane, admin
        self.events_file = tmp / "events.jsonl"
        self.history = tmp / "history.sqlite"
        policy = tmp / "policy.yaml"
        policy.write_text(POLICY)
        self.desired: DesiredState = load_namespace_policy(str(policy))
        self.cluster = Cluster(plane.kubeconfig)
        self.loop: WatchLoop | None = None
        self.metrics = WatchMetrics(lambda: self.loop.snapshot())
        self.outputs = Outputs(self.metrics, str(self.events_file), str(self.history), out=open("/dev/null", "w"))
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def start(self, **kw) -> None:
        self.loop = WatchLoop(self.cluster, desired=self.desired, interval=600, audit_log=str(self.plane.audit_log),
                              listener=self.outputs, settle=3.0, backoff=(0.2, 2.0),
                              **kw)

        def run() -> None:
            try:
                self.loop.run(self.stop)
            except BaseException as exc:  # the test fails on it below
                self.errors.append(exc)

        self.thread = threading.Thread(target=run, name="watch-loop", daemon=True)
        self.thread.start()
        poll(lambda: self.loop.ready.is_set() or self.errors, timeout=60, interval=0.05, what="the watch to start")
        assert not self.errors, self.errors

    def records(self) -> list[dict]:
        if not self.events_file.exists():
            return []
        return [json.loads(line) for line in self.events_file.read_text().splitlines() if line.strip()]

    def await_record(self, timeout: float = 30.0, after: int = 0, **match) -> dict:
        """The first record (from index ``after`` on) with the given fields, polled for ``timeout`` seconds."""
        def find():
            assert not self.errors, self.errors
            assert self.thread.is_alive(), "the watch loop exited"
            for r in self.records()[after:]:
                if all(r.get(k) == v for k, v in match.items()):
                    return r
            return None
        try:
            return poll(find, timeout=timeout, interval=0.05, what=f"a watch event {match}")
        except PollTimeout:
            raise AssertionError(f"no event {match} within {timeout}s; events: "
                                 f"{[(r.get('event'), r.get('transition'), r.get('finding'), r.get('subject')) for r in self.records()]}")

    def scrape(self) -> dict[str, list]:
        """name -> [(labels, value)] from the exposition, parsed with prometheus_client's own parser."""
        out: dict[str, list] = {}
        for fam in text_string_to_metric_families(exposition(self.metrics.registry)):
            for s in fam.samples:
                out.setdefault(s.name, []).append((s.labels, s.value))
        return out


def label(admin: Cluster, name: str, labels: dict[str, str | None]) -> float:
    """Merge-patch namespace labels (None removes one); the wall-clock time just before the request."""
    t = time.time()
    resp = admin.request("PATCH", f"/api/v1/namespaces/{name}", {"metadata": {"labels": labels}},
                         content_type="application/merge-patch+json")
    assert resp.ok, (resp.status, resp.message)
    return t


def compact_etcd(plane: EmbeddedCluster) -> int:
    """Compact etcd to its current revision (what the apiserver does every 5 minutes): older watches answer 410."""
    def post(path: str, body: dict) -> dict:
        req = urllib.request.Request(plane.etcd_url + path, data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    rev = int(post("/v3/kv/range", {"key": "AA=="})["header"]["revision"])
    post("/v3/kv/compaction", {"revision": rev, "physical": True})
    return rev


plane, admin = plane_fixtures(audit_policy=AUDIT_EVERYTHING, extra_apiserver_args=[
    "--watch-cache-sizes=validatingwebhookconfigurations.admissionregistration.k8s.io#0"])


@pytest.fixture(scope="module")
def watch(plane, admin, tmp_path_factory):
    for name in TEAMS:
        admin.create_namespace(name, restricted())
    for name in TEAMS:
        admin.wait_for("serviceaccounts", name, "default")
    guard = list(yaml.safe_load_all((REPO / "rbac" / "pss-harness-sweep.yaml").read_text()))
    for doc in guard[1:]:   # the dry-run guard policy and its binding
        plural = {"ValidatingAdmissionPolicy": "validatingadmissionpolicies",
                  "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings"}[doc["kind"]]
        admin.checked("POST", f"/apis/admissionregistration.k8s.io/v1/{plural}", doc)
    admin.checked("POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", WEBHOOK)
    compact_etcd(plane)
    w = Watch(plane, admin, tmp_path_factory.mktemp("watch"))
    # the webhook watch starts from a compacted resourceVersion: it must answer 410 and the watcher relist
    w.start(resource_versions={"validatingwebhookconfigurations": "1"})
    yield w
    w.stop.set()
    w.thread.join(timeout=30)
    assert not w.thread.is_alive(), "the watch loop did not stop"
    w.outputs.close()
    w.cluster.close()
    if LATENCIES:
        print("\ndetection latency (s, change -> event):")
        for finding, values in sorted(LATENCIES.items()):
            print(f"  {finding}: {', '.join(f'{v:.3f}' for v in values)}")


def drift_and_restore(watch: Watch, finding: str, subject: str, change, restore, bound: float = API_VISIBLE_BOUND):
    """Cause a drift, await its event (within ``bound`` of the change), restore, await the remediation."""
    n = len(watch.records())
    t0 = change()
    opened = watch.await_record(event="drift", transition="opened", finding=finding, subject=subject, after=n)
    detected_after = opened["detected_at"] - t0
    assert detected_after <= bound, f"{finding} on {subject} detected {detected_after:.2f}s after the change"
    assert opened["preexisting"] is False
    assert opened["detection_latency_s"] is not None and opened["detection_latency_s"] <= bound + 0.01
    LATENCIES.setdefault(finding, []).append(round(opened["detection_latency_s"], 3))
    restore()
    closed = watch.await_record(event="drift", transition="remediated", id=opened["id"])
    assert closed["resolution"] in ("restored", "deleted")
    assert closed["time_to_remediate_s"] is not None and closed["time_to_remediate_s"] >= 0
    assert closed["remediated_at"] >= closed["detected_at"]
    return opened, closed


def test_startup_sweep_finds_the_namespaces_compliant_and_relists_the_compacted_watch(watch):
    snap = watch.loop.snapshot()
    for name in TEAMS:
        assert snap["matches"][name] is True, snap["findings"][name]
        assert snap["postures"][name].enforce.text == "restricted:latest"
    assert watch.loop.watchers["validatingwebhookconfigurations"].relists["gone"] >= 1
    assert watch.await_record(event="watch-relist", resource="validatingwebhookconfigurations", reason="gone")
    assert "pss-test-guard" in watch.loop.baseline["validatingwebhookconfigurations"]
    assert not [r for r in watch.records() if r.get("event") == "drift"]


def test_a_relaxed_label_is_detected_and_restoring_it_closes_the_event(watch, admin):
    opened, closed = drift_and_restore(
        watch, "weaker-than-required", "namespaces/team-relax",
        lambda: label(admin, "team-relax", {PSA + "enforce": "baseline"}),
        lambda: label(admin, "team-relax", {PSA + "enforce": "restricted"}))
    assert opened["mode"] == "enforce" and opened["namespace"] == "team-relax"
    assert opened["change_source"] == "audit"
    assert opened["what_changed"]["labels"] == {"before": {PSA + "enforce": "restricted"},
                                                "after": {PSA + "enforce": "baseline"}}
    assert opened["effective"]["enforce"]["text"] == "baseline:latest"
    assert opened["desired"][0]["minimum"] == {"enforce": "restricted"}
    breakout = [p for p in opened["proof"] if p.get("probe") == "breakout"][0]
    audit = [p["audit"] for p in opened["proof"] if "audit" in p][0]
    assert audit["verb"] == "patch" and audit["user"] == "pss-admin" and opened["changed_at"] == parse_time(audit["received"])
    assert breakout["request"]["query"] == {"dryRun": "All"}
    assert 'violates PodSecurity "baseline:latest"' in breakout["answer"]["message"]
    assert closed["remediation"]["effective"]["enforce"]["text"] == "restricted:latest"


def test_a_removed_label_under_no_defaults_is_detected(watch, admin):
    opened, _ = drift_and_restore(
        watch, "weaker-than-required", "namespaces/team-remove",
        lambda: label(admin, "team-remove", {PSA + "enforce": None}),
        lambda: label(admin, "team-remove", {PSA + "enforce": "restricted"}))
    assert opened["effective"]["enforce"]["text"] == "privileged"
    assert opened["effective"]["enforce"]["source"] == "default"


def test_a_version_pinned_back_is_detected(watch, admin):
    opened, _ = drift_and_restore(
        watch, "version-pinned-below", "namespaces/team-pin",
        lambda: label(admin, "team-pin", {PSA + "enforce-version": "v1.24"}),
        lambda: label(admin, "team-pin", {PSA + "enforce-version": None}))
    assert opened["effective"]["enforce"]["text"] == "restricted:v1.24"


def test_a_new_unlabelled_namespace_is_detected_and_deleting_it_closes_the_event(watch, admin):
    def create() -> float:
        t = time.time()
        admin.create_namespace("team-new", {})
        return t

    def delete() -> None:
        admin.delete_namespace("team-new")

    opened, closed = drift_and_restore(watch, "weaker-than-required", "namespaces/team-new", create, delete, bound=10)
    assert closed["resolution"] == "deleted"


def test_a_deleted_vap_binding_is_detected_and_recreating_it_closes_the_event(watch, admin):
    binding = list(yaml.safe_load_all((REPO / "rbac" / "pss-harness-sweep.yaml").read_text()))[2]
    path = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"

    def delete() -> float:
        t = time.time()
        admin.checked("DELETE", f"{path}/{binding['metadata']['name']}")
        return t

    opened, _ = drift_and_restore(watch, "vap-binding-deleted",
                                  f"validatingadmissionpolicybindings/{binding['metadata']['name']}", delete,
                                  lambda: admin.checked("POST", path, binding))
    assert opened["change_source"] == "audit"
    assert opened["what_changed"]["after"] is None
    assert opened["desired"]["validationActions"] == ["Deny"]


def test_a_webhook_switched_to_ignore_is_detected_through_the_relisted_watch(watch, admin):
    path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/pss-test-guard"

    def set_policy(value: str) -> float:
        t = time.time()
        patch = [{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": value}]
        resp = admin.request("PATCH", path, patch, content_type="application/json-patch+json")
        assert resp.ok, resp.message
        return t

    opened, _ = drift_and_restore(watch, "webhook-fail-open", "validatingwebhookconfigurations/pss-test-guard",
                                  lambda: set_policy("Ignore"), lambda: set_policy("Fail"))
    assert opened["detail"] == "guard.pss-harness.test"
    assert opened["what_changed"]["after"]["webhooks"]["guard.pss-harness.test"]["failurePolicy"] == "Ignore"


def test_an_apiserver_restart_with_a_new_exemption_is_detected_after_the_new_lease(watch, plane):
    n_before = len(watch.records())
    holder = dict(watch.loop.holders)
    started = plane.restart_apiserver(exemptions=Exemptions(namespaces=("team-exempt",)))
    restart = watch.await_record(event="apiserver-restart", timeout=60)
    assert restart["holder"] != holder[restart["lease"]]
    opened = watch.await_record(event="drift", transition="opened", finding="exempt-namespace",
                                subject="namespaces/team-exempt", timeout=60)
    assert opened["change_source"] == "apiserver-lease"
    assert opened["changed_at"] >= started - 1.0
    # the bound: the sweep right after the new Lease was seen
    restart_detected = [r for r in watch.records()[n_before:] if r.get("event") == "apiserver-restart"][0]
    lag = opened["detected_at"] - parse_time(restart_detected["detected"])
    assert lag <= 10.0, f"the exemption was detected {lag:.2f}s after the new Lease"
    LATENCIES.setdefault("new Lease seen -> exemption detected", []).append(round(lag, 3))
    LATENCIES.setdefault("exempt-namespace (restart)", []).append(round(opened["detection_latency_s"], 3))
    # no other namespace drifted: the restart changed one exemption only
    others = [r for r in watch.records()[n_before:] if r.get("transition") == "opened" and r["id"] != opened["id"]]
    assert not others, others
    plane.restart_apiserver(exemptions=Exemptions())
    closed = watch.await_record(event="drift", transition="remediated", id=opened["id"], timeout=60)
    assert closed["resolution"] == "restored"


def test_an_outage_gives_cannot_probe_not_drift_and_the_loop_recovers(watch, plane, admin):
    n_before = len(watch.records())
    plane.stop_apiserver()
    t_down = time.monotonic()
    try:
        down = watch.await_record(event="probe-unavailable", timeout=30)
        assert down["class"] == "unreachable"
        poll(lambda: time.monotonic() - t_down >= 20, timeout=25, interval=0.5, what="a 20 s outage")
        assert watch.thread.is_alive()
        assert watch.loop.probe_up is False
    finally:
        plane.start_apiserver()
    watch.await_record(event="probe-recovered", timeout=60)
    during = [r for r in watch.records()[n_before:] if r.get("event") == "drift"]
    assert not during, f"an outage is not drift: {during}"
    poll(lambda: watch.loop.probe_up, timeout=10, interval=0.05, what="probe_up after the outage")
    m = watch.scrape()
    errors = {s[0]["class"]: s[1] for s in m["pss_harness_probe_errors_total"]}
    assert errors["unreachable"] >= 1
    # and it still detects drift afterwards
    drift_and_restore(watch, "weaker-than-required", "namespaces/team-relax",
                      lambda: label(admin, "team-relax", {PSA + "enforce": "privileged"}),
                      lambda: label(admin, "team-relax", {PSA + "enforce": "restricted"}))


def test_the_metrics_endpoint_and_the_history_store_hold_every_event(watch):
    server, _thread = serve(watch.metrics.registry, 0, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        server.shutdown()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("pss_harness_drift_events", "pss_harness_drift_remediations", "pss_harness_drift_detection_latency_seconds",
                 "pss_harness_drift_time_to_remediate_seconds", "pss_harness_probe_up",
                 "pss_harness_last_success_timestamp_seconds", "pss_harness_namespace_effective_level",
                 "pss_harness_watch_relists", "pss_harness_apiserver_restarts"):
        assert name in fams, sorted(fams)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples}
    opened_by: dict[str, int] = {}
    for r in watch.records():
        if r.get("transition") == "opened":
            opened_by[r["finding"]] = opened_by.get(r["finding"], 0) + 1
    assert opened_by["weaker-than-required"] == 4 and opened_by["webhook-fail-open"] == 1
    for finding, n in opened_by.items():
        assert samples[("pss_harness_drift_events_total", (("finding", finding),))] == n
        assert samples[("pss_harness_drift_remediations_total", (("finding", finding),))] == n
    assert samples[("pss_harness_apiserver_restarts_total", ())] >= 2
    assert samples[("pss_harness_watch_relists_total", (("reason", "gone"),
                                                         ("resource", "validatingwebhookconfigurations")))] >= 1
    assert samples[("pss_harness_probe_up", ())] == 1
    assert samples[("pss_harness_namespace_effective_level", (("mode", "enforce"), ("namespace", "team-relax")))] == 2
    assert samples[("pss_harness_drift_detection_latency_seconds_count", (("finding", "weaker-than-required"),))] == 4
    assert ("pss_harness_drift_open", (("finding", "weaker-than-required"),)) not in samples  # all remediated
    events = drift_events(watch.history)
    opened = [r for r in watch.records() if r.get("transition") == "opened"]
    assert {e["id"] for e in events} == {r["id"] for r in opened}
    assert all(e["remediated_at"] is not None for e in events)


def test_a_watcher_relists_on_410_and_survives_a_refused_connection(plane):
    """The Watcher alone: a compacted resourceVersion -> 410 -> relist; the server gone -> DOWN, back -> UP."""
    import queue

    c = Cluster(plane.kubeconfig)
    q: "queue.Queue" = queue.Queue()
    stop = threading.Event()
    compact_etcd(plane)
    w = Watcher(c, "validatingwebhookconfigurations", q, stop, resource_version="2", backoff=(0.1, 0.5),
                timeout_seconds=5)
    w.start()
    try:
        first = poll(lambda: q.get(timeout=5), timeout=15, what="the first event")
        assert first.type == "SYNC" and w.relists == {"initial": 0, "gone": 1}
        assert any(o["metadata"]["name"] == "pss-test-guard" for o in first.items)
    finally:
        stop.set()
        w.close()
        w.join(timeout=10)
        c.close()
    assert not w.is_alive()
