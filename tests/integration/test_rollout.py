"""`pss-harness rollout` against a real kube-apiserver: the label-change dry-run, its warnings, and the plan.

One embedded control plane for the module, with a PodSecurity configuration that exempts the
namespace ``rollout-exempt`` and the RuntimeClass ``rollout-sandbox``. Pods created here are real
objects in etcd; they stay Pending (no scheduler, no kubelet) and carry a scheduling gate, so that
they would never run on a real cluster either. The server reads pods from an informer: every test
polls the label-change dry-run until the server has seen the pods it created, never sleeps.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from harness.cluster.client import Cluster, resource_path
from harness.cluster.rollout import NEVER_SCHEDULE_GATE, gate, list_objects, wait_for_pods
from harness.core.resources import schema_path
from harness.core.rollout import LevelVersion, parse_namespace_warnings
from harness.embedded import EmbeddedCluster, Exemptions

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
E = "pod-security.kubernetes.io/"
EXEMPT_NS, EXEMPT_RC, PLAIN_RC = "rollout-exempt", "rollout-sandbox", "rollout-plain"
SCHEMA = json.loads(schema_path("rollout").read_text())
R4 = "allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
HARDENED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture(scope="module")
def plane():
    with EmbeddedCluster(exemptions=Exemptions(namespaces=(EXEMPT_NS,), runtime_classes=(EXEMPT_RC,))) as cluster:
        admin = Cluster(cluster.kubeconfig)
        for rc in (EXEMPT_RC, PLAIN_RC):
            admin.checked("POST", "/apis/node.k8s.io/v1/runtimeclasses", {
                "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": rc}, "handler": "runc"})
        yield cluster


@pytest.fixture(scope="module")
def admin(plane) -> Cluster:
    return Cluster(plane.kubeconfig)


# -- helpers ----------------------------------------------------------------------------------

def pod(name: str, sc: dict | None = None, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"schedulingGates": [{"name": NEVER_SCHEDULE_GATE}],
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "securityContext": sc or {}}],
                     **spec}}


def deployment(name: str, replicas: int, sc: dict | None = None, **spec) -> dict:
    p = pod(name, sc, **spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": p["spec"]}}}


def namespace(admin: Cluster, name: str, labels: dict | None = None) -> str:
    admin.checked("POST", resource_path("Namespace", None),
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
    admin.wait_for("serviceaccounts", name, "default")
    return name


def create(admin: Cluster, ns: str, *objects: dict) -> None:
    for obj in objects:
        resp = admin.submit(gate(obj), ns, dry_run=False)
        assert resp.status == 201, (obj["metadata"]["name"], resp.status, resp.message)


def dry_run_label(admin: Cluster, ns: str, labels: dict, **query):
    return admin.request("PATCH", resource_path("Namespace", None, ns), {"metadata": {"labels": labels}},
                         {"dryRun": "All", **query}, content_type="application/merge-patch+json")


def server_sees(admin: Cluster, ns: str, violating: int, level: str = "restricted", timeout: float = 30.0) -> list[str]:
    """Poll the enforce label dry-run until the server's pod informer has ``violating`` violating pods."""
    deadline = time.monotonic() + timeout
    while True:
        resp = dry_run_label(admin, ns, {E + "enforce": level})
        answer = parse_namespace_warnings(resp.warnings, ns, LevelVersion.parse(level), 37)
        if answer.violating == violating or (answer.truncated and answer.total == violating):
            return resp.warnings
        assert time.monotonic() < deadline, f"the server saw {answer.violating} violating pods in {ns}, not {violating}"
        time.sleep(0.05)


def rollout(plane, *args: str, stdin=subprocess.DEVNULL, fmt: str = "json") -> tuple[int, dict | str, str]:
    cmd = [sys.executable, "-m", "harness", "rollout", *args, "--kubeconfig", str(plane.kubeconfig)]
    if fmt:
        cmd += ["--format", fmt]
    proc = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, "COLUMNS": "120"})
    if fmt == "json" and proc.stdout.strip():
        doc = json.loads(proc.stdout)
        jsonschema.Draft202012Validator(SCHEMA).validate(doc)
        return proc.returncode, doc, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def only(doc: dict) -> dict:
    [ns] = doc["namespaces"]
    return ns


def labels_of(admin: Cluster, ns: str) -> dict:
    return admin.get("Namespace", None, ns).body["metadata"].get("labels", {})


# -- the server's answer, parsed and reproduced -----------------------------------------------------

def test_identical_violating_pods_are_one_line_naming_the_first(plane, admin):
    ns = namespace(admin, "ro-grouping")
    create(admin, ns, *(pod(f"priv-{i}", {"privileged": True}) for i in (2, 0, 3, 1)), pod("plain"),
           pod("hostnet", hostNetwork=True), pod("ok", HARDENED))
    warnings = server_sees(admin, ns, 6)
    assert warnings == [
        f'existing pods in namespace "{ns}" violate the new PodSecurity enforce level "restricted:latest"',
        f"hostnet: host namespaces, {R4}",
        f"plain: {R4}",
        f"priv-0 (and 3 other pods): privileged, {R4}",
    ]
    status, doc, _ = rollout(plane, "--to", "restricted", ns)
    plan = only(doc)
    assert plan["server"]["warnings"] == warnings      # the dry-run the tool made answered the same
    assert [(g["pod"], g["count"]) for g in plan["server"]["groups"]] == [("hostnet", 1), ("plain", 1), ("priv-0", 4)]
    assert plan["agree"] is True and plan["disagreements"] == []
    assert sorted(p["name"] for p in plan["pods"] if p["violating"]) == \
        ["hostnet", "plain", "priv-0", "priv-1", "priv-2", "priv-3"]   # every pod by name, not one per group
    assert plan["plan"] == "warn-first" and status == 1
    assert plan["labels_now"] == {E + "audit": "restricted", E + "audit-version": "latest",
                                  E + "warn": "restricted", E + "warn-version": "latest"}
    assert plan["labels_later"] == {E + "enforce": "restricted", E + "enforce-version": "latest"}
    # baseline: one reason each, "and 1 other pod" singular appears once two share one
    create(admin, ns, pod("hostnet-2", hostNetwork=True))
    warnings = server_sees(admin, ns, 6, level="baseline")
    assert warnings[1:] == ["hostnet (and 1 other pod): host namespaces", "priv-0 (and 3 other pods): privileged"]
    status, doc, _ = rollout(plane, "--to", "baseline", ns)
    assert only(doc)["agree"] is True and only(doc)["server"]["warnings"] == warnings


def test_a_deployment_is_one_group_and_its_template_is_dry_run(plane, admin):
    ns = namespace(admin, "ro-deployment")
    create(admin, ns, deployment("web", 5, {"privileged": True}))
    pods = wait_for_pods(admin, ns, 5)
    warnings = server_sees(admin, ns, 5)
    first = min(p["metadata"]["name"] for p in pods)
    assert warnings[1:] == [f"{first} (and 4 other pods): privileged, {R4}"]
    status, doc, _ = rollout(plane, "--to", "restricted", ns)
    plan = only(doc)
    assert {p["owner"] for p in plan["pods"]} == {"Deployment/web"}
    [template] = plan["templates"]      # the ReplicaSet the Deployment controls is not planned twice
    assert (template["kind"], template["name"], template["replicas"], template["running"]) == ("Deployment", "web", 5, 5)
    assert template["observed"]["outcome"] == "denied" and template["agree"] is True
    assert template["observed"]["checks"] == sorted(template["checks"])
    assert [f["object"] for f in plan["fixes"]] == ["Deployment/web"]   # its pods are fixed by fixing it
    assert plan["plan"] == "warn-first" and plan["agree"] is True and status == 1


def test_a_deployment_scaled_to_zero_a_cronjob_and_a_suspended_job_are_seen_only_by_the_templates(plane, admin):
    ns = namespace(admin, "ro-future")
    idle = deployment("idle", 0, {"privileged": True})
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "securityContext": HARDENED,
                                "volumeMounts": [{"name": "root", "mountPath": "/host"}]}]}}}}}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "later"},
           "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "hostPID": True,
                                                           "containers": [{"name": "c", "image": "x",
                                                                           "securityContext": HARDENED}]}}}}
    create(admin, ns, idle, cron, job, pod("ok", HARDENED))
    # what `kubectl label --dry-run=server` shows: nothing, no existing pod violates
    deadline = time.monotonic() + 30
    while (resp := dry_run_label(admin, ns, {E + "enforce": "restricted"})).warnings:
        assert time.monotonic() < deadline
    assert resp.ok and resp.warnings == []
    status, doc, _ = rollout(plane, "--to", "restricted", ns)
    plan = only(doc)
    assert plan["server"]["warnings"] == [] and plan["violations"]["pods"] == 0
    by_ref = {f"{t['kind']}/{t['name']}": t for t in plan["templates"]}
    assert set(by_ref) == {"Deployment/idle", "CronJob/nightly", "Job/later"}
    assert by_ref["Deployment/idle"]["replicas"] == 0 and by_ref["Deployment/idle"]["running"] == 0
    assert by_ref["CronJob/nightly"]["checks"] == ["restrictedVolumes"]
    assert by_ref["Job/later"]["checks"] == ["hostNamespaces"]
    for t in by_ref.values():   # the FailedCreate of the future, by the server itself
        assert t["violating"] and t["observed"]["outcome"] == "denied" and t["agree"] is True, t
    assert plan["plan"] == "warn-first" and "3 templates (3 with no pod running now)" in plan["why"]
    assert status == 1
    # --offline: the same templates, predicted only; no harness namespace, no dry-run
    status, doc, _ = rollout(plane, "--to", "restricted", ns, "--offline")
    plan = only(doc)
    assert doc["offline"] is True and {t["observed"] is None for t in plan["templates"]} == {True}
    assert plan["plan"] == "warn-first" and status == 1


def test_an_exempt_runtime_class_is_skipped_by_the_server_and_probed_by_the_tool(plane, admin):
    ns = namespace(admin, "ro-runtimeclass")
    create(admin, ns, pod("sandboxed", {"privileged": True}, runtimeClassName=EXEMPT_RC),
           pod("z-plain-rc", {"privileged": True}, runtimeClassName=PLAIN_RC),
           deployment("sandboxed-later", 0, {"privileged": True}, runtimeClassName=EXEMPT_RC))
    warnings = server_sees(admin, ns, 1)
    assert warnings[1:] == [f"z-plain-rc: privileged, {R4}"]     # the exempt pod is not named
    status, doc, _ = rollout(plane, "--to", "restricted", ns)
    plan = only(doc)
    assert doc["runtime_classes"] == {EXEMPT_RC: "exempt", PLAIN_RC: "not exempt"}
    pods = {p["name"]: p for p in plan["pods"]}
    assert pods["sandboxed"]["exempt"] and not pods["sandboxed"]["violating"] and pods["sandboxed"]["checks"]
    assert pods["z-plain-rc"]["violating"] and not pods["z-plain-rc"]["exempt"]
    [template] = plan["templates"]
    assert template["exempt"] and template["observed"]["outcome"] == "admitted" and template["agree"] is True
    assert plan["agree"] is True and plan["plan"] == "warn-first" and status == 1
    assert any(EXEMPT_RC in n for n in plan["notes"])
    # offline, unknown exemptions: the evaluator expects the sandboxed pod, the server skips it: exit 4
    status, doc, _ = rollout(plane, "--to", "restricted", ns, "--offline", "--settle", "0.5")
    assert only(doc)["agree"] is False and status == 4
    assert any("sandboxed" in d for d in only(doc)["disagreements"])
    status, doc, _ = rollout(plane, "--to", "restricted", ns, "--offline", "--exempt-runtime-class", EXEMPT_RC)
    assert only(doc)["agree"] is True and status == 1


def test_an_exempt_namespace_is_blocked_by_its_exemption(plane, admin):
    ns = namespace(admin, EXEMPT_NS)
    create(admin, ns, pod("priv", {"privileged": True}))
    resp = dry_run_label(admin, ns, {E + "enforce": "baseline", E + "warn": "restricted", E + "audit": "restricted"})
    # upstream lists the modes enforce, audit, warn whatever the request's order
    assert resp.warnings == [f'namespace "{ns}" is exempt from Pod Security, and the policy '
                             "(enforce=baseline:latest, audit=restricted:latest, warn=restricted:latest) will be ignored"]
    assert dry_run_label(admin, ns, {E + "warn": "restricted"}).warnings == []   # no enforce change: not even that
    status, doc, _ = rollout(plane, "--to", "restricted", ns)
    plan = only(doc)
    assert plan["server"]["warnings"] == [f'namespace "{ns}" is exempt from Pod Security, and the policy '
                                          "(enforce=restricted:latest) will be ignored"]
    assert plan["plan"] == "blocked-by-exemption" and plan["labels_now"] == {} and plan["labels_later"] == {}
    assert plan["agree"] is None and status == 1


def test_a_warn_only_change_checks_nothing(plane, admin):
    ns = namespace(admin, "ro-warn-only")
    create(admin, ns, pod("priv", {"privileged": True}))
    server_sees(admin, ns, 1)
    for labels in ({E + "warn": "restricted"}, {E + "audit": "restricted", E + "audit-version": "v1.30"},
                   {E + "warn": "restricted", E + "warn-version": "latest", E + "audit": "restricted"}):
        resp = dry_run_label(admin, ns, labels)
        assert resp.ok and resp.warnings == [], labels
        # a real warn/audit label change answers nothing either (what --apply warn makes)
    resp = admin.request("PATCH", resource_path("Namespace", None, ns),
                         {"metadata": {"labels": {E + "warn": "restricted", E + "audit": "restricted"}}},
                         content_type="application/merge-patch+json")
    assert resp.ok and resp.warnings == []
    status, doc, _ = rollout(plane, "--to", "restricted", ns)
    plan = only(doc)
    assert plan["labels_now"] == {}   # warn and audit are at restricted (latest by default) already
    assert plan["plan"] == "warn-first" and plan["agree"] is True


def test_a_relaxation_checks_nothing_but_a_version_change_does(plane, admin):
    ns = namespace(admin, "ro-relax")
    create(admin, ns, pod("priv", {"privileged": True}))
    server_sees(admin, ns, 1)
    resp = admin.request("PATCH", resource_path("Namespace", None, ns),
                         {"metadata": {"labels": {E + "enforce": "restricted"}}},
                         content_type="application/merge-patch+json")
    assert resp.ok and resp.warnings[1:] == [f"priv: privileged, {R4}"]   # a real enforce change warns too
    # same version, less strict: nothing checked
    status, doc, _ = rollout(plane, "--to", "baseline", ns)
    plan = only(doc)
    assert plan["server_check"]["decision"] == "relaxed" and plan["server"]["warnings"] == []
    assert plan["plan"] == "already-at-or-above" and any("relax" in n for n in plan["notes"])
    assert plan["agree"] is None and status == 0
    # a relaxed level with another version is checked (at the new level and version)
    status, doc, _ = rollout(plane, "--to", "baseline", "--version", "v1.30", ns)
    plan = only(doc)
    assert plan["server_check"]["decision"] == "checked"
    assert plan["server"]["warnings"] == [
        f'existing pods in namespace "{ns}" violate the new PodSecurity enforce level "baseline:v1.30"', "priv: privileged"]
    assert plan["agree"] is True and plan["plan"] == "already-at-or-above" and status == 0
    # so is an older version of the same level
    status, doc, _ = rollout(plane, "--to", "restricted", "--version", "1.30", ns)
    plan = only(doc)
    assert plan["server_check"]["decision"] == "checked" and plan["server"]["policy"] == "restricted:v1.30"
    assert plan["plan"] == "already-at-or-above" and plan["agree"] is True and status == 0


# -- --apply warn ---------------------------------------------------------------------------------

def test_apply_warn_labels_exactly_the_ready_and_warn_first_namespaces(plane, admin):
    sel = {"rollout-apply": "yes"}
    ready = namespace(admin, "ro-apply-ready", sel)
    warn = namespace(admin, "ro-apply-warn", {**sel, E + "warn": "baseline"})
    done = namespace(admin, "ro-apply-done", {**sel, E + "enforce": "restricted"})
    create(admin, ready, pod("ok", HARDENED))
    create(admin, warn, pod("priv", {"privileged": True}))
    server_sees(admin, warn, 1)
    before = {ns: labels_of(admin, ns) for ns in (ready, warn, done)}

    status, out, err = rollout(plane, "--to", "restricted", "--selector", "rollout-apply=yes", "--apply", "warn")
    assert status == 2 and "pass --yes" in err and "Traceback" not in err    # no terminal to confirm on
    assert {ns: labels_of(admin, ns) for ns in before} == before              # nothing changed

    status, doc, err = rollout(plane, "--to", "restricted", "--selector", "rollout-apply=yes", "--apply", "warn", "--yes")
    assert status == 1
    plans = {p["namespace"]: p["plan"] for p in doc["namespaces"]}
    assert plans == {ready: "ready", warn: "warn-first", done: "already-at-or-above"}
    applied = {a["namespace"]: a for a in doc["applied"]}
    assert set(applied) == {ready, warn} and {a["status"] for a in applied.values()} == {"labelled"}
    assert applied[warn]["set"] == {E + "warn": ["baseline", "restricted"], E + "warn-version": [None, "latest"],
                                    E + "audit": [None, "restricted"], E + "audit-version": [None, "latest"]}
    assert all(a["warnings"] == [] for a in applied.values())    # warn/audit changes: the server checks nothing
    after = {ns: labels_of(admin, ns) for ns in before}
    assert after[done] == before[done]
    for ns in (ready, warn):
        changed = {k: v for k, v in after[ns].items() if before[ns].get(k) != v}
        assert changed == {E + "warn": "restricted", E + "warn-version": "latest", E + "audit": "restricted",
                           E + "audit-version": "latest"}
        assert E + "enforce" not in after[ns]                    # never enforce
    [line] = [x for x in err.splitlines() if x.startswith(f"applied: {warn}: ")]
    assert f"{E}warn: baseline -> restricted" in line and f"{E}audit: (unset) -> restricted" in line

    # the next plan: the warn-first namespace still needs its fix; the ready one only needs enforce
    status, doc, _ = rollout(plane, "--to", "restricted", "--selector", "rollout-apply=yes")
    by_ns = {p["namespace"]: p for p in doc["namespaces"]}
    assert by_ns[warn]["plan"] == "warn-first" and by_ns[warn]["labels_now"] == {}
    assert by_ns[ready]["labels_now"] == {E + "enforce": "restricted", E + "enforce-version": "latest"}
    status, text, _ = rollout(plane, "--to", "restricted", "--selector", "rollout-apply=yes", "--apply", "warn",
                              "--yes", fmt="table")
    assert "applied: nothing to label" in text   # the second apply changes nothing


def test_the_table_the_kustomize_patch_and_the_bundle(plane, admin, tmp_path):
    import yaml

    from harness.reports.bundle import verify

    ns = namespace(admin, "ro-table")
    create(admin, ns, pod("priv", {"privileged": True}))
    server_sees(admin, ns, 1)
    status, text, _ = rollout(plane, "--to", "restricted", ns, fmt="table")
    lines = text.splitlines()
    assert lines[1].split() == ["NAMESPACE", "PLAN", "PODS", "TEMPLATES", "TOP", "CHECKS"]
    assert lines[2].split()[:4] == [ns, "warn-first", "1/1", "0/0"]
    assert f"  later: kubectl label --overwrite namespace {ns} {E}enforce=restricted {E}enforce-version=latest" in lines
    assert status == 1
    status, text, _ = rollout(plane, "--to", "restricted", ns, fmt="kustomize")
    phase1, phase2 = (yaml.safe_load(part) for part in text.split("\n---\n"))
    assert yaml.safe_load(phase2["patches"][0]["patch"])["metadata"]["labels"] == \
        {E + "enforce": "restricted", E + "enforce-version": "latest"}
    assert phase1["patches"][0]["target"] == {"kind": "Namespace", "name": ns}
    status, doc, err = rollout(plane, "--to", "restricted", ns, "--bundle", str(tmp_path / "evidence"))
    assert verify(tmp_path / "evidence").ok and "rollout plan added to the evidence bundle" in err
    assert json.loads((tmp_path / "evidence" / "rollout.json").read_text())["namespaces"][0]["plan"] == "warn-first"
    assert f"priv: privileged, {R4}" in (tmp_path / "evidence" / "rollout.html").read_text()


def test_errors_are_one_line(plane, admin):
    status, out, err = rollout(plane, "--to", "restricted", "no-such-namespace")
    assert status == 2 and "namespace 'no-such-namespace' does not exist" in err and "Traceback" not in err
    status, out, err = rollout(plane, "--to", "restricted", "--selector", "nothing=matches")
    assert status == 5 and "no namespace matches nothing=matches" in err


# -- the limits: 3000 pods, the time limit, controller prioritisation -------------------------------------------

@pytest.mark.slow
def test_3001_pods_first_3000_checked_replicas_last(plane, admin, record_property):
    ns = namespace(admin, "ro-big")
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: admin.submit(gate(pod(f"p-{i:04d}", HARDENED)), ns, dry_run=False).status,
                                range(2996)))
    assert set(results) == {201}
    create(admin, ns, deployment("web", 5, {"privileged": True}))
    pods = wait_for_pods(admin, ns, 3001, timeout=120)
    created = time.monotonic() - t0
    record_property("create_3001_pods_seconds", round(created, 1))
    print(f"\n3001 pods created in {created:.1f}s")
    web = sorted(p["metadata"]["name"] for p in pods if p["metadata"]["name"].startswith("web-"))
    assert len(web) == 5
    warnings = server_sees(admin, ns, 3001)
    # 2996 bare pods + one pod per controller come first, the other 4 replicas last: the one left out is
    # always a replica, so exactly 4 of the Deployment's 5 pods are checked (random order would give 5
    # almost always)
    assert warnings[0] == "new PodSecurity enforce level only checked against the first 3000 of 3001 existing pods"
    for _ in range(5):
        answer = parse_namespace_warnings(dry_run_label(admin, ns, {E + "enforce": "restricted"}).warnings, ns,
                                          LevelVersion.parse("restricted"), 37)
        [group] = answer.groups
        assert group.count == 4 and group.pod in web and group.reasons[0] == "privileged", answer
    # the time limit: half the request's remaining deadline when that is below 1 s
    cut = set()
    for timeout in ["10ms", "6ms", "4ms"] * 10:
        resp = dry_run_label(admin, ns, {E + "enforce": "restricted"}, timeout=timeout)
        answer = parse_namespace_warnings(resp.warnings, ns, LevelVersion.parse("restricted"), 37)
        if resp.ok and answer.truncated and answer.checked < 3000:
            cut.add(answer.checked)
            assert answer.total == 3001
        if len(cut) >= 2:
            break
    assert cut, "the server never stopped before 3000 pods with a short request deadline"

    t1 = time.monotonic()
    status, doc, _ = rollout(plane, "--to", "restricted", ns)
    record_property("rollout_3001_pods_seconds", round(time.monotonic() - t1, 1))
    print(f"rollout on 3001 pods: {time.monotonic() - t1:.1f}s (timings {doc['timings']})")
    plan = only(doc)
    assert plan["server"]["checked"] == 3000 and plan["server"]["total"] == 3001
    assert plan["agree"] is True and plan["plan"] == "warn-first" and status == 1
    assert len(plan["pods"]) == 3001 and plan["violations"]["pods"] == 5     # the evaluator names all five
    assert any("checked only 3000 of 3001" in n for n in plan["notes"])

    # the Deployment gone and 5 more compliant pods: nothing violates, but the server could not check them all
    admin.delete("Deployment", ns, "web")
    create(admin, ns, *(pod(f"q-{i}", HARDENED) for i in range(5)))
    deadline = time.monotonic() + 120
    while len([p for p in list_objects(admin, "Pod", ns) if p["metadata"]["name"].startswith("web-")]):
        assert time.monotonic() < deadline, "the garbage collector did not delete the Deployment's pods"
        time.sleep(0.2)
    server_sees(admin, ns, 3001)
    status, doc, _ = rollout(plane, "--to", "restricted", ns)
    plan = only(doc)
    assert plan["plan"] == "incomplete" and "3000 of 3001" in plan["why"] and status == 1
    assert plan["labels_later"] and E + "enforce" not in plan["labels_now"]


# -- the embedded default, seeded -----------------------------------------------------------------

def test_the_seeded_embedded_plane_gets_a_plan_per_namespace():
    proc = subprocess.run([sys.executable, "-m", "harness", "rollout", "--to", "restricted", "--all",
                           "--seed", str(REPO / "examples" / "rollout" / "seed.yaml"), "--format", "json"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    doc = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    plans = {p["namespace"]: p for p in doc["namespaces"]}
    assert doc["cluster"].startswith("embedded (Kubernetes v1.37.2")
    assert {n: p["plan"] for n, p in plans.items() if not n.startswith("kube-") and n != "default"} == {
        "payments": "ready", "shop": "warn-first", "legacy": "warn-first", "platform": "already-at-or-above"}
    assert plans["shop"]["server"]["warnings"] == []          # the server alone would call shop ready
    assert [f["object"] for f in plans["shop"]["fixes"]] == ["CronJob/nightly-report"]
    assert [f["object"] for f in plans["legacy"]["fixes"]] == ["Deployment/batch-worker", "Pod/vulnerable-pod"]
    assert doc["summary"]["disagreements"] == 0 and proc.returncode == 1
    assert {p["name"] for p in plans["payments"]["pods"]} and all(not p["violating"] for p in plans["payments"]["pods"])
