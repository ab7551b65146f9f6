"""The sweep's own logic (harness.cluster.sweep, harness.cli.namespaces) against a fake API server object.

The fake answers like kube-apiserver's PodSecurity (messages from the offline evaluator) so the
orchestration can be tested: the dry-run guard, retries of transient answers and of label
disagreement (informer lag), missing names, the document and its schema, exit statuses. What the
real server answers is tested in tests/integration/test_namespaces_sweep.py.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from harness.cli.namespaces import exit_status, table
from harness.cluster.sweep import UnsafeRequest, _Sender, document, sweep
from harness.core.answers import Response
from harness.core.model import Level, PolicyVersion
from harness.core.resources import schema_path
from harness.policy import evaluate_object

PSA = "pod-security.kubernetes.io/"


class FakeServer:
    """Namespaces with labels; PodSecurity with defaults (privileged) and exempt namespaces; a scripted lag."""

    host = "https://fake"

    def __init__(self, namespaces: dict[str, dict], exempt=(), stale: dict | None = None, no_sa: dict | None = None):
        self.namespaces = namespaces
        self.exempt = set(exempt)
        self.stale = dict(stale or {})   # name -> (labels the admission still sees, how many answers)
        self.no_sa = dict(no_sa or {})   # name -> how many answers still lack the ServiceAccount
        self.log = []

    def _policy(self, name: str, mode: str) -> tuple[str, str]:
        labels = self.namespaces[name]
        if name in self.stale and self.stale[name][1] > 0:
            labels = self.stale[name][0]
            self.stale[name] = (labels, self.stale[name][1] - 1)
        level = labels.get(PSA + mode)
        if mode == "warn" and level is None and labels.get(PSA + "enforce") in ("baseline", "restricted"):
            return self._policy(name, "enforce")
        return level or "privileged", labels.get(PSA + mode + "-version", "latest")

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        query = dict(query or {})
        self.log.append((method, path, query))
        parts = path.strip("/").split("/")
        if path == "/version":
            return Response(method, path, query, 200, {"gitVersion": "v1.37.2", "minor": "37"})
        if path.endswith("selfsubjectreviews"):
            return Response(method, path, query, 201, {"status": {"userInfo": {"username": "me", "groups": []}}})
        if path == "/api/v1/namespaces" and method == "GET":
            names = sorted(self.namespaces)
            if "fieldSelector" in query:
                names = [n for n in names if query["fieldSelector"] == f"metadata.name={n}"]
            items = [{"metadata": {"name": n, "labels": dict(self.namespaces[n])}} for n in names]
            return Response(method, path, query, 200, {"items": items, "metadata": {}})
        if method == "PUT" and parts[:3] == ["api", "v1", "namespaces"]:
            labels = body["metadata"]["labels"]
            if labels.get(PSA + "enforce") not in (None, "privileged", "baseline", "restricted"):
                return Response(method, path, query, 422, {"kind": "Status", "reason": "Invalid",
                                                           "message": f"metadata.labels[{PSA}enforce]: Invalid"})
            w = [f'namespace "{parts[3]}" is exempt from Pod Security, and the policy (x) will be ignored'] \
                if parts[3] in self.exempt else []
            return Response(method, path, query, 200, body, w)
        if method == "POST" and path.endswith("/pods"):
            ns = parts[3]
            if self.no_sa.get(ns, 0) > 0:
                self.no_sa[ns] -= 1
                return Response(method, path, query, 403, {"kind": "Status", "reason": "Forbidden", "message":
                    f'pods "x" is forbidden: error looking up service account {ns}/default: not found'})
            if ns in self.exempt:
                return Response(method, path, query, 201, body)
            level, version = self._policy(ns, "enforce")
            ev = evaluate_object(body, Level(level), PolicyVersion.parse(version), newest_minor=37)
            if not ev.allowed:
                msg = 'pods "x" is forbidden: ' + ev.message("violates").replace(":v1.37\"", ":latest\"") \
                    if version == "latest" else 'pods "x" is forbidden: ' + ev.message("violates")
                return Response(method, path, query, 403, {"kind": "Status", "reason": "Forbidden", "message": msg})
            wl, wv = self._policy(ns, "warn")
            wev = evaluate_object(body, Level(wl), PolicyVersion.parse(wv), newest_minor=37)
            w = [] if wev.allowed else [wev.message("would violate").replace(":v1.37\"", f":{wv}\"")]
            return Response(method, path, query, 201, body, w)
        return Response(method, path, query, 403, {"kind": "Status", "reason": "Forbidden", "message": "no"})

    def close(self):
        pass


def test_the_sender_refuses_any_write_that_is_not_a_dry_run():
    s = _Sender(FakeServer({}))
    with pytest.raises(UnsafeRequest, match="without dryRun=All"):
        s.send("POST", "/api/v1/namespaces/a/pods", {}, {})
    with pytest.raises(UnsafeRequest):
        s.send("DELETE", "/api/v1/namespaces/a", None, {"dryRun": "Some"})
    assert s.send("GET", "/version").ok and s.log == [{"method": "GET", "path": "/version", "dryRun": False,
                                                        "status": 200}]


def test_a_sweep_reads_every_posture_and_sends_only_reads_and_dry_runs():
    fake = FakeServer({"a": {}, "b": {PSA + "enforce": "baseline"}, "c": {PSA + "enforce": "restricted"},
                       "d": {PSA + "warn": "restricted"}, "x": {PSA + "enforce": "restricted"}}, exempt=["x"])
    result = sweep(fake, settle=0.5)
    got = {p.namespace: (p.enforce.text, p.warn.text, p.exempt) for p in result.postures}
    assert got == {"a": ("privileged", "privileged", ()), "b": ("baseline:latest", "unknown", ()),
                   "c": ("restricted:latest", "unknown", ()), "d": ("privileged", "restricted:latest", ()),
                   "x": ("none", "none", ("namespace",))}
    assert all(m == "GET" or q.get("dryRun") == "All" for m, _, q in fake.log)
    assert result.facts.plugin == "loaded" and result.facts.runner_exempt is False
    assert result.facts.runtime_classes_listed is False  # the fake refuses the RuntimeClass list
    doc = document(result)
    jsonschema.validate(doc, json.loads(schema_path("namespaces").read_text()))
    assert doc["requests"]["other"] == 0 and exit_status(doc) == 0
    assert "RuntimeClasses: not listable" in table(doc)


def test_transient_answers_are_retried_within_the_bound():
    fake = FakeServer({"new": {PSA + "enforce": "baseline"}}, no_sa={"new": 2})
    (p,) = sweep(fake, settle=2.0).postures
    assert p.enforce.text == "baseline:latest" and p.probe == "ok"
    fake = FakeServer({"new": {PSA + "enforce": "baseline"}}, no_sa={"new": 1000})
    (p,) = sweep(fake, settle=0.3).postures
    assert p.probe == "unprobeable" and "no default ServiceAccount" in p.probe_reason


def test_a_lagging_informer_is_retried_before_calling_drift():
    labels = {PSA + "enforce": "restricted"}
    fake = FakeServer({"lag": labels, "ok": {PSA + "enforce": "baseline"}},
                      stale={"lag": ({PSA + "enforce": "baseline"}, 2)})
    result = sweep(fake, settle=3.0)
    p = {x.namespace: x for x in result.postures}["lag"]
    assert p.enforce.text == "restricted:latest" and p.labels_agree is True
    assert len([a for a in p.evidence if a.probe == "breakout"]) >= 2  # the superseded answers are kept
    # persistent disagreement is reported after the bound, never silently resolved
    fake = FakeServer({"lag": labels}, stale={"lag": ({PSA + "enforce": "baseline"}, 10**6)})
    (p,) = sweep(fake, settle=0.3).postures
    assert p.enforce.text == "baseline:latest" and p.labels_agree is False


def test_named_namespaces_that_do_not_exist_are_errors_not_passes():
    fake = FakeServer({"a": {}})
    result = sweep(fake, names=["a", "ghost"], settle=0.1)
    ghost = [p for p in result.postures if p.namespace == "ghost"][0]
    assert ghost.probe == "error" and ghost.enforce.state == "unknown"
    assert exit_status(document(result)) == 4


def test_bad_concurrency_is_a_usage_error():
    from harness.core.errors import UsageError

    with pytest.raises(UsageError):
        sweep(FakeServer({}), concurrency=0)
