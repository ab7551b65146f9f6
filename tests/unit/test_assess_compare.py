"""`assess` keeps PodSecurity apart from everything else (#11.15): the harness's own logic, with a fake cluster.

What a real server answers is in tests/integration/test_assess_live.py; here the server is a
table of canned answers, so the comparison, the submitted changes, the exit statuses and the
table can be checked exactly.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from pathlib import Path

import pytest

from harness.cli import assess as cli_assess
from harness.cli import main
from harness.core.answers import Response
from harness.core.table import ELLIPSIS, fit_table, truncate
from harness.core.verdict import observe
from harness.corpus.submittable import PriorityClassInfo, prepare
from harness.policy import evaluate_object

EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "cluster-export" / "team-a.json"
PAUSE = "registry.k8s.io/pause:3.10"


def _pod(name: str, spec: dict | None = None, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": spec or {"containers": [{"name": "c", "image": PAUSE}]}}


# -- prepare: what makes an exported object unsubmittable, removed and recorded -------------------

def by_name(export: dict) -> dict:
    return {(i["kind"], i["metadata"]["name"].rsplit("-", 2)[0] if i["metadata"]["name"].startswith("web-")
             and i["kind"] == "Pod" else i["metadata"]["name"]): i for i in export["items"]}


@pytest.fixture(scope="module")
def export() -> dict:
    return json.loads(EXPORT.read_text())


def test_the_export_fixture_is_what_a_server_returns(export):
    items = by_name(export)
    pod = items[("Pod", "web")]
    assert {"resourceVersion", "uid", "creationTimestamp", "managedFields", "ownerReferences"} <= set(pod["metadata"])
    assert pod["spec"]["serviceAccountName"] == "web-sa" and pod["spec"]["priority"] == 1000 and "status" in pod
    assert items[("Pod", "debug-target")]["spec"]["ephemeralContainers"]
    assert "deletionTimestamp" in items[("Pod", "terminating")]["metadata"]


def test_an_exported_pod_loses_its_service_account_and_a_missing_priority_class(export):
    pod = by_name(export)[("Pod", "web")]
    original = copy.deepcopy(pod)
    sent, changes = prepare(pod, lambda name: PriorityClassInfo(False))
    assert pod == original  # the input is not changed
    assert [(c.path, c.value) for c in changes] == [
        ("spec.serviceAccountName", "web-sa"), ("spec.serviceAccount", "web-sa"),
        ("spec.priorityClassName", "team-a-high"), ("spec.priority", "1000"), ("spec.preemptionPolicy", "Never")]
    assert all(c.change == "removed" and c.reason for c in changes)
    assert "PodSecurity does not read it" in changes[0].reason and "no PriorityClass 'team-a-high'" in changes[2].reason
    for field in ("serviceAccountName", "serviceAccount", "priorityClassName", "priority", "preemptionPolicy"):
        assert field not in sent["spec"]
    # everything else is sent as the server returned it: a dry-run create accepts it
    assert {k: v for k, v in sent["spec"].items()} == {k: v for k, v in pod["spec"].items() if k not in
                                                        ("serviceAccountName", "serviceAccount", "priorityClassName",
                                                         "priority", "preemptionPolicy")}
    assert sent["metadata"] == pod["metadata"] and sent["status"] == pod["status"]


def test_a_priority_class_the_target_has_keeps_the_pod_unless_its_values_differ(export):
    pod = by_name(export)[("Pod", "web")]
    _, same = prepare(pod, lambda name: PriorityClassInfo(True, 1000, "Never"))
    assert [c.path for c in same] == ["spec.serviceAccountName", "spec.serviceAccount"]
    _, other = prepare(pod, lambda name: PriorityClassInfo(True, 5, "Never"))
    assert [c.path for c in other][2:] == ["spec.priority"] and "computes 5" in other[2].reason
    _, unknown = prepare(pod, lambda name: PriorityClassInfo(None))  # e.g. no permission to read it: left alone
    assert [c.path for c in unknown] == ["spec.serviceAccountName", "spec.serviceAccount"]
    agent = by_name(export)[("Pod", "node-agent")]  # a built-in class, the value it computes: nothing to do
    assert prepare(agent, lambda name: PriorityClassInfo(True, 2000001000))[1] == []


def test_ephemeral_containers_and_a_jobs_generated_selector_are_removed(export):
    items = by_name(export)
    debug = items[("Pod", "debug-target")]
    sent, changes = prepare(debug)
    assert [(c.path, c.value) for c in changes] == [("spec.ephemeralContainers", "debugger")]
    assert "ephemeralContainers" not in sent["spec"]
    job = items[("Job", "migrate")]
    sent, changes = prepare(job)
    assert [c.path for c in changes] == ["spec.selector", "spec.template.metadata.labels.controller-uid",
                                         "spec.template.metadata.labels.batch.kubernetes.io/controller-uid"]
    assert "selector" not in sent["spec"]
    assert not {"controller-uid", "batch.kubernetes.io/controller-uid"} & set(sent["spec"]["template"]["metadata"]["labels"])
    assert "batch.kubernetes.io/controller-uid" in job["spec"]["template"]["metadata"]["labels"]  # input untouched
    manual = copy.deepcopy(job)
    manual["spec"]["manualSelector"] = True
    assert prepare(manual)[1] == []


def test_objects_that_need_nothing_are_sent_as_they_are(export):
    items = by_name(export)
    for key in (("Deployment", "web"), ("ReplicaSet", "web-7d665f66d6"), ("Pod", "etcd-node-1"), ("Pod", "terminating")):
        obj = items.get(key) or next(v for k, v in items.items() if k[0] == key[0] and k[1].startswith(key[1][:3]))
        sent, changes = prepare(obj, lambda name: PriorityClassInfo(True, 2000001000))
        assert changes == [] and sent is obj, key
    assert prepare(_pod("p", {"serviceAccountName": "default", "containers": []}))[1] == []


# -- compare: only a PodSecurity verdict is compared -------------------------------------------------

def obs(outcome: str, status: int, checks=(), message="") -> dict:
    return {"outcome": outcome, "status": status, "checks": list(checks), "message": message, "warnings": []}


DENIED = {"verdict": "denied", "checks": ["privileged"], "reasons": ["privileged (...)"]}
ALLOWED = {"verdict": "allowed", "checks": [], "reasons": []}


@pytest.mark.parametrize("kind,predicted,observed,agree", [
    ("Pod", DENIED, obs("denied", 403, ["privileged"]), True),
    ("Pod", DENIED, obs("admitted", 201), False),
    ("Pod", DENIED, obs("denied", 403, ["hostPorts"]), False),
    ("Deployment", DENIED, obs("warned", 201, ["privileged"]), True),
    ("Deployment", DENIED, obs("admitted", 201), False),
    ("Pod", ALLOWED, obs("admitted", 201), True),
    ("Pod", ALLOWED, obs("warned", 201, ["privileged"]), False),
])
def test_a_podsecurity_verdict_is_compared(kind, predicted, observed, agree):
    assert cli_assess.compare(kind, predicted, observed, {}) == (agree, None, "")


@pytest.mark.parametrize("observed,short,text", [
    (obs("invalid", 404, message="404 page not found"), "404 not served", "does not serve extensions/v1beta1 Deployment"),
    (obs("invalid", 422, message='Pod "p" is invalid'), "422 invalid", "refused the object as invalid (HTTP 422)"),
    (obs("denied-other", 403, message="error looking up service account"), "403 other admission",
     "refused by something other than PodSecurity"),
    (obs("error", 0, message="ConnectionResetError"), "no answer", "the request failed (no answer)"),
    (obs("error", 500, message="etcdserver: timeout"), "500 error", "the request failed (HTTP 500)"),
])
def test_any_other_answer_is_not_compared(observed, short, text):
    agree, reason, shown = cli_assess.compare("Deployment", DENIED, observed, {"apiVersion": "extensions/v1beta1",
                                                                               "kind": "Deployment"})
    assert agree is None and text in reason and observed["message"] in reason and shown == short


# -- the whole command against a fake cluster ----------------------------------------------------------

class FakeCluster:
    """Answers like kube-apiserver for the few cases the tests use; no network."""

    def __init__(self):
        self.sent: list[dict] = []
        self.priority_classes = {"system-node-critical": {"value": 2000001000}}

    def request(self, method, path, body=None, query=None):
        name = path.rsplit("/", 1)[-1]
        if "/priorityclasses/" in path:
            if name in self.priority_classes:
                return Response(method, path, {}, 200, self.priority_classes[name])
            return Response(method, path, {}, 404, {"kind": "Status", "reason": "NotFound", "message": "not found"})
        raise AssertionError(path)

    def server_version(self):
        return {"gitVersion": "v1.37.2", "minor": "37"}

    def answer(self, obj: dict, policy) -> Response:
        self.sent.append(obj)
        status = lambda code, reason, message: Response("POST", "/x", {}, code, {"kind": "Status", "reason": reason,
                                                                                   "message": message})
        if obj["apiVersion"] == "extensions/v1beta1":
            return Response("POST", "/x", {}, 404, "404 page not found")
        spec = obj.get("spec", {})
        if obj["kind"] == "Pod" and spec.get("serviceAccountName", "default") != "default":
            return status(403, "Forbidden", f'pods "{obj["metadata"]["name"]}" is forbidden: error looking up service '
                                            f'account ns/{spec["serviceAccountName"]}: serviceaccount not found')
        if obj["kind"] == "Pod" and not spec.get("containers"):
            return status(422, "Invalid", f'Pod "{obj["metadata"]["name"]}" is invalid: spec.containers: Required value')
        if obj["metadata"].get("annotations", {}).get("test/exempt"):  # an exemption the evaluator cannot know
            return Response("POST", "/x", {}, 201, obj)
        ev = evaluate_object(obj, policy.level, policy.version)
        if ev.allowed:
            return Response("POST", "/x", {}, 201, obj)
        if obj["kind"] == "Pod":
            return status(403, "Forbidden", f'pods "{obj["metadata"]["name"]}" is forbidden: {ev.message()}')
        return Response("POST", "/x", {}, 201, obj, [ev.message("would violate")])


class FakeRuntime:
    def __init__(self, cluster: FakeCluster):
        self.cluster, self.server_minor = cluster, 37

    def execute_many(self, work):
        class Execution:
            def __init__(self, observation):
                self.observation = observation
        return [Execution(observe(self.cluster.answer(w.manifest, w.policy), 37)) for w in work]


@pytest.fixture
def fake(monkeypatch):
    cluster = FakeCluster()

    @contextlib.contextmanager
    def open_runtime(kubeconfig=None, context=None, k8s_version=None, **_):
        yield FakeRuntime(cluster)

    monkeypatch.setattr("harness.cluster.sessions.open_runtime", open_runtime)
    return cluster


def live(capsys, tmp_path, objects: list[dict], *args) -> tuple[int, dict, str]:
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    status = main(["assess", str(f), "--level", "baseline", "--kubeconfig", "unused", "--format", "json", *args])
    doc = json.loads(capsys.readouterr().out)
    main(["assess", str(f), "--level", "baseline", "--kubeconfig", "unused", *args])
    return status, doc, capsys.readouterr().out


PRIVILEGED = {"containers": [{"name": "c", "image": PAUSE, "securityContext": {"privileged": True}}]}
REMOVED_API = {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "old-web", "namespace": "prod"},
               "spec": {"template": {"spec": {"containers": [{"name": "c", "image": PAUSE}]}}}}


def test_input_and_other_admission_errors_are_not_disagreements(fake, capsys, tmp_path, schema_check):
    """The regression: a removed API, a 422 and another admission's 403 were counted as disagreements (exit 4)."""
    objects = [REMOVED_API, _pod("empty", {"containers": []}, namespace="prod"),
               _pod("priv", PRIVILEGED, namespace="kube-system"), _pod("plain", namespace="prod")]
    status, doc, text = live(capsys, tmp_path, objects)
    schema_check(doc, "assess")
    results = {r["name"]: r for r in doc["results"]}
    assert doc["summary"]["disagreements"] == 0 and doc["summary"]["not_compared"] == 2
    old = results["old-web"]
    assert old["observed"]["outcome"] == "invalid" and old["observed"]["status"] == 404
    assert old["agree"] is None and "does not serve extensions/v1beta1 Deployment" in old["not_compared"]
    assert results["empty"]["agree"] is None and "HTTP 422" in results["empty"]["not_compared"]
    assert results["priv"]["agree"] is True and results["priv"]["not_compared"] is None
    assert results["priv"]["namespace"] == "kube-system"
    assert results["plain"]["agree"] is True
    assert status == cli_assess.EXIT_NOT_COMPARED == 6
    assert "NOT COMPARED" in text.splitlines()[1]  # its own column
    assert re.search(r"^NOT COMPARED \S*in\.json#0 prod/old-web \(Deployment\): invalid$", text, re.M)
    assert "2 not compared" in text and "DISAGREE" not in text


def test_a_pod_from_a_cluster_is_compared_on_its_podsecurity_verdict(fake, capsys, tmp_path, schema_check):
    """`kubectl get pods -o yaml` input: the ServiceAccount reference is removed, recorded, and shown."""
    exported = _pod("web-1", {"serviceAccountName": "web-sa", "priorityClassName": "gone", "priority": 7,
                              **PRIVILEGED}, namespace="team-a", resourceVersion="42", uid="u")
    status, doc, text = live(capsys, tmp_path, [exported])
    schema_check(doc, "assess")
    r = doc["results"][0]
    assert [c["path"] for c in r["submitted_changes"]] == ["spec.serviceAccountName", "spec.priorityClassName",
                                                          "spec.priority"]
    assert fake.sent[0]["metadata"]["resourceVersion"] == "42" and "serviceAccountName" not in fake.sent[0]["spec"]
    assert r["observed"]["outcome"] == "denied" and r["agree"] is True and r["predicted_submitted"] is None
    assert doc["summary"]["changed_before_submission"] == 1 and status == 1
    assert "in.json#0 team-a/web-1 (Pod): removed spec.serviceAccountName=web-sa, spec.priorityClassName=gone, " \
           "spec.priority=7" in text
    assert "PodSecurity does not read it" in text


def test_removed_ephemeral_containers_are_compared_with_the_pod_as_submitted(fake, capsys, tmp_path, schema_check):
    pod = _pod("debug-target", {"containers": [{"name": "c", "image": PAUSE}],
                                "ephemeralContainers": [{"name": "dbg", "image": PAUSE,
                                                         "securityContext": {"privileged": True}}]})
    status, doc, text = live(capsys, tmp_path, [pod])
    schema_check(doc, "assess")
    r = doc["results"][0]
    assert r["predicted"]["verdict"] == "denied" and r["predicted"]["checks"] == ["privileged"]  # as given
    assert r["predicted_submitted"] == {"verdict": "allowed", "checks": [], "reasons": []}
    assert r["observed"]["outcome"] == "admitted" and r["agree"] is True
    assert "predicted as submitted: allowed (no checks)" in text


def test_a_real_disagreement_still_exits_4_and_reads_as_text(fake, capsys, tmp_path, schema_check):
    exempt = _pod("sandboxed", PRIVILEGED, annotations={"test/exempt": "yes"})
    status, doc, text = live(capsys, tmp_path, [exempt, REMOVED_API])
    schema_check(doc, "assess")
    assert status == cli_assess.EXIT_DISAGREE == 4  # before a not-compared object
    assert doc["summary"]["disagreements"] == 1 and doc["summary"]["not_compared"] == 1
    block = text[text.index("DISAGREE"):].replace(str(tmp_path) + "/", "").splitlines()
    assert block[:4] == [
        "DISAGREE in.json#0 sandboxed (Pod)",
        "    predicted: denied (privileged)",
        '               privileged (container "c" must not set securityContext.privileged=true)',
        "    observed:  admitted (no checks), HTTP 201"]
    assert "{'verdict'" not in text and "['privileged']" not in text  # no Python reprs


def test_exit_statuses_in_order():
    base = {"disagreements": 0, "not_compared": 0, "denied": 0, "warned": 0}
    assert cli_assess.exit_status(base, "denied") == 0
    assert cli_assess.exit_status({**base, "denied": 1}, "denied") == 1
    assert cli_assess.exit_status({**base, "denied": 1}, "never") == 0
    assert cli_assess.exit_status({**base, "warned": 1}, "warned") == 1
    assert cli_assess.exit_status({**base, "denied": 1, "not_compared": 1}, "denied") == 6
    assert cli_assess.exit_status({**base, "denied": 1, "not_compared": 1, "disagreements": 1}, "never") == 4


# -- the table fits the terminal ------------------------------------------------------------------------

def test_truncate_and_fit():
    assert truncate("abcdef", 4) == "abc" + ELLIPSIS and truncate("abcdef", 4, keep_end=True) == ELLIPSIS + "def"
    assert truncate("abc", 3) == "abc"
    rows = [["A", "LONG"], ["x" * 30, "y" * 50]]
    fitted = fit_table(rows, 40)
    assert all(len(line) <= 40 for line in fitted.lines) and fitted.lines[0].split() == ["A", "LONG"]
    assert fit_table(rows, 0).lines[1] == "x" * 30 + "  " + "y" * 50  # not a terminal: nothing cut
    tiny = fit_table([["SOURCE", "REASONS"], ["a", "b"]], 10, drop=("REASONS",))
    assert tiny.dropped == ("REASONS",) and tiny.lines[0] == "SOURCE"


@pytest.mark.parametrize("columns", [60, 80, 132])
def test_the_table_fits_the_terminal_and_the_header_never_wraps(capsys, monkeypatch, columns):
    monkeypatch.setattr("harness.cli.assess.terminal_width", lambda: columns)  # as a terminal of that width
    main(["assess", str(EXPORT), "--level", "restricted", "--offline"])
    lines = capsys.readouterr().out.splitlines()
    table = [line for line in lines[1:lines.index(next(line for line in lines if " evaluated, " in line))]
             if not line.startswith("(left out")]
    assert all(len(line) <= columns for line in table), [line for line in table if len(line) > columns]
    header = table[0].split()
    assert header[:3] == ["SOURCE", "NAMESPACE", "KIND"] or header[:2] == ["SOURCE", "KIND"]
    assert any(ELLIPSIS in line for line in table)  # restricted reasons are long
    assert "team-a" in table[1] or "left out" in "\n".join(lines)


def test_without_a_terminal_nothing_is_cut(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")  # pytest-xdist's workers set COLUMNS=80: not a terminal for all that
    main(["assess", str(EXPORT), "--level", "restricted", "--offline"])
    out = capsys.readouterr().out
    assert ELLIPSIS not in out and 'privileged (container "debugger" must not set' in out


@pytest.mark.parametrize("obj", [
    {"kind": "Pod", "spec": "x"}, {"kind": "Pod", "spec": {"ephemeralContainers": "x", "priorityClassName": 3}},
    {"kind": "Job", "spec": {"template": ["x"], "selector": {"matchLabels": ["controller-uid"]}}},
    {"kind": "Job", "spec": {"template": {"metadata": {"labels": "x"}}}}, {"kind": "Deployment"},
])
def test_prepare_never_raises_on_odd_shapes(obj):
    sent, changes = prepare(obj, lambda name: PriorityClassInfo(False))
    assert isinstance(changes, list)
