"""``--psa-engine vap`` and the PSS-in-CEL ValidatingAdmissionPolicy set against the real embedded kube-apiserver.

* the server's VAP answers as the classifier reads them: a denial without ``reason`` is HTTP 422
  ``Invalid`` (403 with ``reason: Forbidden``) and names only the first denying policy, while the
  ``validation_failure`` audit annotation lists every failing validation as a JSON list of
  ``{message, policy, binding, expressionIndex, validationActions}``;
* the set judges Pod updates as PodSecurity does (``isSignificantPodUpdate``): a label change to a
  privileged pod is admitted, an image change or an added ephemeral container is judged;
* the shipped set passes a slice of the corpus installed by the harness for the run (the whole
  corpus is a manual run: ``pytest scenarios -n 2 --psa-engine vap``, 11,396 items), and is removed after;
* the VAP fuzzer target agrees with PodSecurity on a bounded run (``PSS_FUZZ_SEED`` overrides the seed);
* a deliberately weakened copy of one policy (``privileged`` that looks at ``containers`` only) is
  caught by both: the fuzzer shrinks it to an init container and writes a regression scenario with
  PodSecurity's checks, and the corpus run of the user's set (``--vap-binding-selector``) fails
  exactly the init, sidecar and ephemeral container scenarios.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from harness import fuzz
from harness.cluster.audit import AuditSource
from harness.cluster.engines.vap import VapDriver, apply_objects, delete_objects
from harness.cluster.sessions import open_runtime
from harness.core.expectations import Policy
from harness.core.messages import VAP_VALIDATION_FAILURE
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.core.polling import poll
from harness.core.settings import standalone
from harness.corpus.scenarios import load_scenario
from harness.corpus.vapset import load_set

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("PSS_FUZZ_SEED", "20260714"))
EXAMPLES = 300
IMAGE = "registry.k8s.io/pause:3.10"
PRIVILEGED = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "priv"},
              "spec": {"containers": [{"name": "c", "image": IMAGE, "securityContext": {"privileged": True}}]}}
_API = "/apis/admissionregistration.k8s.io/v1"


def weakened(label_prefix: str | None = None, prefix: str = "pss-") -> list[dict]:
    """The shipped set with ``privileged`` blind to init and ephemeral containers (and, optionally, other labels
    and names: a set of the user's own)."""
    objects = copy.deepcopy(load_set())
    for o in objects:
        if o["kind"] == "ValidatingAdmissionPolicy" and o["metadata"]["name"] == "pss-privileged":
            for v in o["spec"]["variables"]:
                if v["name"] == "containers":
                    v["expression"] = "variables.spec.?containers.orValue([])"
        if prefix != "pss-":
            o["metadata"]["name"] = prefix + o["metadata"]["name"][4:]
            if o["kind"] == "ValidatingAdmissionPolicyBinding":
                o["spec"]["policyName"] = prefix + o["spec"]["policyName"][4:]
        if label_prefix and o["kind"] == "ValidatingAdmissionPolicyBinding":
            for expr in o["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]:
                expr["key"] = expr["key"].replace("vap.pss-harness.io/", label_prefix)
    return objects


@pytest.fixture(scope="module")
def runtime(embedded):
    with open_runtime(str(embedded.kubeconfig), audit_log=str(embedded.audit_log), progress=lambda m: None) as rt:
        yield rt


def _namespace(admin, labels: dict) -> str:
    name = f"vap-test-{uuid.uuid4().hex[:8]}"
    admin.create_namespace(name, labels)
    admin.wait_for("serviceaccounts", name, "default")
    return name


# -- what the server answers ----------------------------------------------------------------------------------

def test_the_servers_vap_answers_are_what_the_classifier_reads(embedded, admin):
    ns = _namespace(admin, {"vap-facts": "on"})
    policies = []
    for name, reason in (("facts-a", None), ("facts-b", "Forbidden")):
        validation = {"expression": "false", "message": f"{'privileged' if reason else 'runAsUser'}: no"}
        if reason:
            validation["reason"] = reason
        policies += [
            {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
             "metadata": {"name": name}, "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": [
                 {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]},
                 "validations": [validation]}},
            {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
             "metadata": {"name": f"{name}-b"}, "spec": {"policyName": name, "validationActions": ["Deny", "Audit"],
                                                          "matchResources": {"namespaceSelector": {
                                                              "matchLabels": {"vap-facts": "on"}}}}}]
    audit = AuditSource(embedded.audit_log)
    try:
        apply_objects(admin, policies)
        denied = poll(lambda: admin.submit(PRIVILEGED, ns), until=lambda r: r.status in (403, 422), timeout=30,
                      what="the facts policies")
        both = poll(lambda: admin.submit(PRIVILEGED, ns), until=lambda r: (audit.find(r.audit_id, 2) or {}).get(
            "annotations", {}).get(VAP_VALIDATION_FAILURE, "").count('"policy"') == 2, timeout=30,
            what="both policies in effect")
        for resp in (denied, both):
            first = resp.message.split("ValidatingAdmissionPolicy '")[1].split("'")[0]
            assert resp.message.startswith(f"pods \"priv\" is forbidden: ValidatingAdmissionPolicy '{first}' with "
                                           f"binding '{first}-b' denied request: ")
            assert (resp.status, resp.reason) == ((422, "Invalid") if first == "facts-a" else (403, "Forbidden"))
            assert resp.message.count("ValidatingAdmissionPolicy '") == 1  # only the first denying policy
        # the audit annotation of the last request names both, in this exact JSON form
        resp = admin.submit(PRIVILEGED, ns)
        event = audit.find(resp.audit_id, timeout=5)
        entries = json.loads(event["annotations"][VAP_VALIDATION_FAILURE])
        assert sorted(e["policy"] for e in entries) == ["facts-a", "facts-b"]
        assert all(list(e) == ["message", "policy", "binding", "expressionIndex", "validationActions"] for e in entries)
        assert {e["validationActions"] == ["Deny", "Audit"] and e["expressionIndex"] == 0 for e in entries} == {True}
        engine = VapDriver(standalone(engine="vap", vap_binding_selector="vap-facts={level}")).engine
        policy = Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)
        obs = engine.observe(resp, 37, policy)
        assert obs.outcome is Outcome.DENIED and obs.violation.partial
        engine.attach_audit(obs, event, 37, policy)
        assert obs.checks == {"privileged", "runAsUser"} and not obs.violation.partial
    finally:
        delete_objects(admin, policies)
        admin.delete_namespace(ns)


def test_the_set_judges_pod_updates_as_podsecurity_does(runtime, admin):
    """A privileged pod created before the namespace was labelled: PodSecurity and the set admit a label change and
    judge an image change and an added ephemeral container."""
    cfg = standalone(engine="vap")
    vap = VapDriver(cfg)
    vap.install(admin, audit=None, server_minor=runtime.server_minor)
    try:
        run = {"pss-harness.io/run-id": cfg.run_id}
        psa_ns = _namespace(admin, {})
        vap_ns = _namespace(admin, run)
        pods = {}
        for ns in (psa_ns, vap_ns):
            gated = copy.deepcopy(PRIVILEGED)
            gated["spec"]["schedulingGates"] = [{"name": "pss-harness.io/never-schedule"}]
            created = admin.submit(gated, ns, dry_run=False)
            assert created.status == 201, created.message
            pods[ns] = created.body
        _label(admin, psa_ns, {"pod-security.kubernetes.io/enforce": "baseline"})
        _label(admin, vap_ns, {**run, "vap.pss-harness.io/enforce": "baseline"})
        probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": PRIVILEGED["spec"]}
        for ns in (psa_ns, vap_ns):
            poll(lambda: admin.submit(probe, ns), until=lambda r: r.status == 403, timeout=30, what=f"{ns} enforcing")

        def update(ns: str, change) -> int:
            pod = admin.request("GET", f"/api/v1/namespaces/{ns}/pods/priv").body
            change(pod)
            sub = "/ephemeralcontainers" if "ephemeralContainers" in pod["spec"] else ""
            return admin.request("PUT", f"/api/v1/namespaces/{ns}/pods/priv{sub}", pod, {"dryRun": "All"}).status

        def relabel(pod):
            pod["metadata"].setdefault("labels", {})["touched"] = "yes"

        def reimage(pod):
            pod["spec"]["containers"][0]["image"] = "registry.k8s.io/pause:3.9"

        def debug(pod):
            pod["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": IMAGE}]

        for change, want in ((relabel, 200), (reimage, 403), (debug, 403)):
            assert update(psa_ns, change) == want, change.__name__
            assert update(vap_ns, change) == want, change.__name__
    finally:
        vap.uninstall(admin)
        for ns in (locals().get("psa_ns"), locals().get("vap_ns")):
            if ns:
                admin.delete_namespace(ns)


def test_label_combinations_warn_as_podsecurity_does(runtime, admin):
    """PodSecurity's warn level defaults to its enforce level only where warn is not labelled: a workload in an
    enforce=restricted, warn=baseline namespace is warned at baseline, in an enforce-only one at the enforce level."""
    from harness.core.kinds import as_kind

    cfg = standalone(engine="vap")
    vap = VapDriver(cfg)
    vap.install(admin, audit=None, server_minor=runtime.server_minor)
    made = []
    try:
        pod = copy.deepcopy(PRIVILEGED)
        pod["spec"]["containers"][0]["securityContext"]["runAsUser"] = 0  # restricted only: runAsUser
        deployment = as_kind(pod, "Deployment")
        psa, own = runtime.engine, vap.engine
        for labels in ({"enforce": "restricted", "warn": "baseline"}, {"enforce": "restricted"},
                       {"enforce": "baseline", "warn": "restricted"}):
            psa_ns = _namespace(admin, {f"pod-security.kubernetes.io/{m}": lv for m, lv in labels.items()})
            vap_ns = _namespace(admin, {"pss-harness.io/run-id": cfg.run_id,
                                        **{f"vap.pss-harness.io/{m}": lv for m, lv in labels.items()}})
            made += [psa_ns, vap_ns]
            policy = Policy(Level(labels.get("warn", labels["enforce"])), Mode.WARN, LATEST)

            def checks(engine, ns):
                return engine.observe(admin.submit(deployment, ns), runtime.server_minor, policy).checks

            want = poll(lambda: checks(psa, psa_ns), until=bool, timeout=30, what=f"PodSecurity in {psa_ns}")
            got = poll(lambda: checks(own, vap_ns), until=bool, timeout=30, what=f"the set in {vap_ns}")
            assert got == want, labels
            assert ("runAsUser" in want) == (policy.level is Level.RESTRICTED), (labels, want)
    finally:
        vap.uninstall(admin)
        for ns in made:
            admin.delete_namespace(ns)


def _label(admin, ns: str, labels: dict) -> None:
    body = admin.request("GET", f"/api/v1/namespaces/{ns}").body
    body["metadata"].setdefault("labels", {}).update(labels)
    admin.checked("PUT", f"/api/v1/namespaces/{ns}", body, what=f"labelling {ns}")


# -- the fuzzer's VAP target --------------------------------------------------------------------------------------

def _installed(admin, run_id: str | None = None) -> list[str]:
    """The names of policy-set objects a run installed (``run_id``: that run's; None: any run's)."""
    selector = f"pss-harness.io/run-id={run_id}" if run_id else "app.kubernetes.io/managed-by=pss-harness"
    names = []
    for plural in ("validatingadmissionpolicies", "validatingadmissionpolicybindings"):
        resp = admin.request("GET", f"{_API}/{plural}", query={"labelSelector": selector})
        names += [o["metadata"]["name"] for o in resp.body.get("items", [])]
    return names


def test_bounded_vap_fuzz_agrees_with_podsecurity(runtime, tmp_path):
    report = fuzz.run_vap(runtime, examples=EXAMPLES, seed=SEED, regressions_dir=tmp_path)
    print(report.summary())
    assert not report.aborted and not report.disagreements, report.summary()
    assert report.examples >= EXAMPLES and report.compared >= 2 * EXAMPLES
    assert report.denied and report.admitted and report.warned and report.workloads and report.ephemeral
    assert report.errors == 0 and not list(tmp_path.iterdir())
    assert _installed(runtime.cluster) == []  # the fuzzer's copy of the set is gone


def test_a_weakened_policy_is_caught_by_the_fuzzer_and_shrunk_to_a_regression(runtime, tmp_path):
    report = fuzz.run_vap(runtime, examples=150, seed=SEED, regressions_dir=tmp_path, families=["privileged"],
                          ephemeral=False, objects=weakened())
    assert report.disagreements, report.summary()
    d = report.disagreements[0]
    assert "the ValidatingAdmissionPolicy set and PodSecurity" in str(d)
    assert "PodSecurity denies it, the set admits it" in str(d)
    assert len(d.case.mutations) == 1 and d.case.mutations[0].op == "privileged" and \
        d.case.mutations[0].place == "initContainers"
    s = load_scenario(d.regression)  # PodSecurity's checks: the corpus holds the set to them from now on
    assert "privileged" in s.check_ids() and "ValidatingAdmissionPolicy set" in s.gain
    assert _installed(runtime.cluster) == []


# -- the corpus with --psa-engine vap ----------------------------------------------------------------------------

def _corpus_run(embedded, tmp_path: Path, *extra: str, paths=("scenarios/baseline/privileged",)) -> tuple:
    run_id = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSS_HARNESS_", "PYTEST_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-q", "--kubeconfig", str(embedded.kubeconfig),
         "--audit-log", str(embedded.audit_log), "--psa-engine", "vap", "--psa-run-id", run_id,
         "--psa-reports", str(tmp_path / "reports"), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    results = tmp_path / "reports" / "evidence" / run_id / "results.json"
    return proc, run_id, json.loads(results.read_text()) if results.is_file() else None


def test_the_shipped_set_passes_its_corpus_slice_and_is_removed_after(embedded, admin, tmp_path, schema_check):
    proc, run_id, results = _corpus_run(embedded, tmp_path, "--psa-kinds", "Pod,CronJob,PodTemplate",
                                        paths=("scenarios/baseline/privileged", "scenarios/baseline/hostNamespaces",
                                               "scenarios/restricted", "scenarios/controls"))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "installing the PSS-in-CEL ValidatingAdmissionPolicy set: 19 policies, 76 bindings" in log
    assert "canary denied by ValidatingAdmissionPolicy" in log
    schema_check(results, "results")
    assert results["run"]["engine"] == {"name": "vap", "policy_set": "pss-harness",
                                        "selector": "vap.pss-harness.io/{mode}={level}",
                                        "title": "ValidatingAdmissionPolicy: the pss-harness PSS-in-CEL set (policies/vap/)"}
    records = results["results"]
    assert len(records) > 500 and {r["result"] for r in records} == {"passed"}
    assert {r["policy"]["version"] for r in records} == {"latest"}
    denied = [r["observed"] for r in records if r["observed"]["outcome"] == "denied"]
    assert denied and all(o["denied_by"].startswith("ValidatingAdmissionPolicy 'pss-") for o in denied)
    assert all(not o["violation"].get("partial") for o in denied)  # completed from the audit event
    assert {r["request"]["policy"]["pod-security.kubernetes.io/enforce"] for r in records} == {"privileged"}
    html = (tmp_path / "reports" / "evidence" / run_id / "index.html").read_text()
    assert "ValidatingAdmissionPolicy set (pss-harness) evidence" in html and "Engine under test" in html
    junit = (tmp_path / "reports" / "runs" / run_id / "junit.xml").read_text()
    assert 'name="pss-harness.engine" value="vap"' in junit
    assert _installed(admin, run_id) == []  # the run's copy of the set is gone


def test_a_weakened_policy_of_the_users_own_set_is_caught_by_the_corpus(embedded, admin, tmp_path):
    objects = weakened(label_prefix="weak.example.com/", prefix="weak-")
    try:
        apply_objects(admin, objects)
        proc, run_id, results = _corpus_run(embedded, tmp_path, "--vap-binding-selector", "weak.example.com/{mode}={level}",
                                            "--psa-kinds", "Pod,Deployment")
        log = proc.stdout + proc.stderr
        assert proc.returncode == 1, log[-6000:]
        assert "installing the PSS-in-CEL" not in log  # the user's set: nothing installed
        failed = {r["scenario"] for r in results["results"] if r["result"] == "failed"}
        assert failed == {"privileged-init-container", "privileged-sidecar-container",
                          "privileged-ephemeral-container"}, log[-6000:]
        assert results["run"]["engine"]["policy_set"] == "user"
        init = next(r for r in results["results"] if r["scenario"] == "privileged-init-container"
                    and r["result"] == "failed" and r["kind"] == "Pod" and r["policy"]["mode"] == "enforce")
        assert init["observed"]["outcome"] == "admitted" and init["expected"]["outcome"] == "denied"
        passed = {r["scenario"] for r in results["results"] if r["result"] == "passed"}
        assert {"privileged-container", "vulnerable-pod"} <= passed
    finally:
        delete_objects(admin, objects)
