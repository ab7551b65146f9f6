"""The Helm chart and the kustomize base on a real API server: rendered, compared, dry-run, installed, run.

* Helm (``helm template``, ``helm lint``) and kustomize (``kustomize build``) are built from their
  Go modules and cached (``_tools.py``); both render the same objects, with the default values and
  with the optional parts (watch mode, an Indexed Job of shards), and their RBAC is rbac/'s.
* Every rendered object passes a server-side dry-run, and the pod-bearing ones raise no warning in
  the chart's namespace, which is labelled warn=restricted (a deliberately weakened copy does).
* Installed for real, a Job made from each CronJob (as ``kubectl create job --from=cronjob/...``)
  gets its Pod from the job controller in the enforce=restricted namespace, with no FailedCreate
  event (a privileged Job in the same namespace gets one); the Indexed variant gets one Pod per
  shard. The Pods stay Pending: there is no kubelet.
* With a token minted for each of the chart's ServiceAccounts (TokenRequest) and the plane's CA in
  a stand-in for /var/run/secrets/kubernetes.io/serviceaccount, the CronJobs' own container
  arguments and environment run the corpus (the slice ``-m check_privileged``: 374 items) and the
  namespace sweep through the client's in-cluster loader, under exactly the chart's RBAC: every item
  passes, the evidence says ``in-cluster`` and names the ServiceAccount, and the sweep's requests
  are reads and dry runs only.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.cluster.audit import read_events
from harness.cluster.client import Cluster
from harness.cluster.incluster import detect
from harness.core.polling import poll
from harness.embedded.plane import AUDIT_EVERYTHING

from _planes import plane_fixtures
from _tools import ensure_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "pss-harness"
KUSTOMIZE = REPO / "deploy" / "kustomize"
NS = "pss-harness"
IMAGE_WORKDIR = "/var/lib/pss-harness"  # the Dockerfile's WORKDIR: a container without workingDir starts there
RUNNER, SWEEPER = (f"system:serviceaccount:{NS}:pss-harness-{who}" for who in ("runner", "sweep"))
# REST collections of the kinds the chart renders: kind -> (plural, namespaced)
PLURALS = {"Namespace": ("namespaces", False), "ServiceAccount": ("serviceaccounts", True),
           "ClusterRole": ("clusterroles", False), "ClusterRoleBinding": ("clusterrolebindings", False),
           "ValidatingAdmissionPolicy": ("validatingadmissionpolicies", False),
           "ValidatingAdmissionPolicyBinding": ("validatingadmissionpolicybindings", False),
           "ConfigMap": ("configmaps", True), "PersistentVolumeClaim": ("persistentvolumeclaims", True),
           "CronJob": ("cronjobs", True), "Job": ("jobs", True), "Deployment": ("deployments", True),
           "Service": ("services", True)}


def collection(obj: dict) -> str:
    plural, namespaced = PLURALS[obj["kind"]]
    api = obj["apiVersion"]
    prefix = f"/api/{api}" if "/" not in api else f"/apis/{api}"
    ns = obj["metadata"].get("namespace")
    return f"{prefix}/namespaces/{ns}/{plural}" if namespaced else f"{prefix}/{plural}"


def key(obj: dict) -> tuple:
    m = obj["metadata"]
    return obj["apiVersion"], obj["kind"], m.get("namespace"), m["name"]


def objects(text: str) -> dict[tuple, dict]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    out = {key(d): d for d in docs}
    assert len(out) == len(docs), "two rendered objects share a name"
    return out


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_tool("helm")


@pytest.fixture(scope="module")
def kustomize() -> Path:
    return ensure_tool("kustomize")


plane, admin = plane_fixtures(audit_policy=AUDIT_EVERYTHING)


@pytest.fixture(scope="module")
def kube_version(plane) -> str:
    return plane.version.lstrip("v")


def helm_template(helm: Path, kube_version: str, *values: str) -> dict[tuple, dict]:
    args = [str(helm), "template", "pss-harness", str(CHART), "--kube-version", kube_version]
    for v in values:
        args += ["--set", v]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return objects(proc.stdout)


def kustomize_build(kustomize: Path, tmp_path: Path, components: tuple[str, ...] = ()) -> dict[tuple, dict]:
    target = KUSTOMIZE / "base"
    if components:  # an overlay in a temporary directory (kustomize wants relative paths)
        overlay = tmp_path / "overlay"
        overlay.mkdir()
        rel = lambda p: os.path.relpath(p, overlay)  # noqa: E731
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [rel(KUSTOMIZE / "base")],
            "components": [rel(KUSTOMIZE / "components" / c) for c in components]}))
        target = overlay
    proc = subprocess.run([str(kustomize), "build", str(target)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return objects(proc.stdout)


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k] == b[k], f"{k} differs:\n{yaml.safe_dump(a[k])}\n---\n{yaml.safe_dump(b[k])}"


# -- rendering ---------------------------------------------------------------------------------

def test_helm_and_kustomize_render_the_same_objects(helm, kustomize, kube_version, tmp_path):
    t0 = time.monotonic()
    chart = helm_template(helm, kube_version)
    base = kustomize_build(kustomize, tmp_path)
    assert_same(chart, base)
    assert {k[1] for k in chart} == {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                     "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ConfigMap",
                                     "PersistentVolumeClaim", "CronJob"}
    full = helm_template(helm, kube_version, "watch.enabled=true", "corpus.shards=4")
    assert_same(full, kustomize_build(kustomize, tmp_path, ("watch", "sharded")))
    assert {k[1] for k in set(full) - set(chart)} == {"Deployment", "Service"}
    print(f"rendered 4 times in {time.monotonic() - t0:.1f}s")


def test_the_rendered_rbac_is_rbacs_own(helm, kube_version):
    rendered = helm_template(helm, kube_version)
    for name in yaml.safe_load((REPO / "rbac" / "kustomization.yaml").read_text())["resources"]:
        for doc in yaml.safe_load_all((REPO / "rbac" / name).read_text()):
            assert rendered[key(doc)] == doc
    # another namespace: the guard follows it (it names the sweep identity)
    other = helm_template(helm, kube_version, "namespace=audit-tools")
    vap = next(o for o in other.values() if o["kind"] == "ValidatingAdmissionPolicy")
    assert "'system:serviceaccount:audit-tools:pss-harness-sweep'" in vap["spec"]["matchConditions"][0]["expression"]
    assert {o["metadata"].get("namespace") for o in other.values()} == {None, "audit-tools"}


def test_helm_lint(helm, kube_version):
    proc = subprocess.run([str(helm), "lint", str(CHART), "--strict", "--kube-version", kube_version],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "0 chart(s) failed" in proc.stdout, proc.stdout + proc.stderr


# -- the API server's answer -------------------------------------------------------------------

VALUE_SETS = [(), ("watch.enabled=true", "corpus.shards=3", "pushgateway=http://pushgateway.monitoring.svc:9091",
                   "evidence.persistence.enabled=false", "corpus.kinds=Pod\\,Deployment",
                   "sweep.namespaces={default,pss-harness}", "corpus.timeZone=Europe/Berlin",
                   "imagePullSecrets[0].name=regcred")]


def dry_run(admin: Cluster, obj: dict):
    return admin.request("POST", collection(obj), obj, query={"dryRun": "All", "fieldValidation": "Strict"})


@pytest.fixture(scope="module")
def namespace(admin, helm, kube_version):
    """The chart's Namespace, created for real (a dry run of it first)."""
    ns = next(o for o in helm_template(helm, kube_version).values() if o["kind"] == "Namespace")
    resp = dry_run(admin, ns)
    assert resp.status == 201 and not resp.warnings, (resp.status, resp.message, resp.warnings)
    admin.checked("POST", collection(ns), ns)
    return ns


@pytest.mark.parametrize("values", VALUE_SETS, ids=["defaults", "every-option"])
def test_every_object_passes_a_server_side_dry_run_without_a_warning(admin, helm, kube_version, namespace, values):
    rendered = helm_template(helm, kube_version, *values)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    answered = {}
    for k, obj in rendered.items():
        if obj["kind"] == "Namespace":
            continue
        resp = dry_run(admin, obj)
        answered[k[1]] = answered.get(k[1], 0) + 1
        assert resp.status == 201, (k, resp.status, resp.message)
        assert resp.warnings == [], (k, resp.warnings)  # no PodSecurity warning under warn=restricted
    if values:
        assert answered["Deployment"] == answered["Service"] == 1
        cronjob = rendered[("batch/v1", "CronJob", NS, "pss-harness-corpus")]
        job = cronjob["spec"]["jobTemplate"]["spec"]
        assert (job["completionMode"], job["completions"], job["parallelism"]) == ("Indexed", 3, 3)
        args = job["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--psa-pushgateway") + 1] == "http://pushgateway.monitoring.svc:9091"
        assert args[args.index("--psa-kinds") + 1] == "Pod,Deployment"


def test_the_warning_check_can_fail_a_weakened_pod_is_warned(admin, helm, kube_version, namespace):
    rendered = helm_template(helm, kube_version)
    cronjob = copy.deepcopy(rendered[("batch/v1", "CronJob", NS, "pss-harness-corpus")])
    del cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]
    resp = dry_run(admin, cronjob)
    assert resp.status == 201 and any('would violate PodSecurity "restricted:latest"' in w and "capabilities" in w
                                      for w in resp.warnings), resp.warnings


def test_assess_sarif_of_the_rendering_against_the_server_has_no_finding(plane, helm, kube_version, tmp_path):
    proc = subprocess.run([str(helm), "template", "pss-harness", str(CHART), "--kube-version", kube_version,
                           "--set", "watch.enabled=true"], capture_output=True, text=True, timeout=120)
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(proc.stdout)
    run = subprocess.run([sys.executable, "-m", "harness", "assess", str(rendered), "--level", "restricted",
                          "--kubeconfig", str(plane.kubeconfig), "--format", "sarif"],
                         capture_output=True, text=True, timeout=300, env=clean_env())
    assert run.returncode == 0, run.stderr
    log = json.loads(run.stdout)
    assert log["version"] == "2.1.0" and log["runs"][0]["results"] == []
    summary = log["runs"][0]["properties"]["summary"]
    assert summary["evaluated"] == 3 and summary["disagreements"] == 0 and summary["not_compared"] == 0


# -- installed for real --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def installed(admin, helm, kube_version, namespace):
    """Every object of the default rendering created for real (the Namespace exists already)."""
    rendered = helm_template(helm, kube_version)
    for k, obj in rendered.items():
        if obj["kind"] != "Namespace":
            admin.checked("POST", collection(obj), obj, what=f"create {k}")
    return rendered


def job_from(cronjob: dict, name: str) -> dict:
    """What ``kubectl create job NAME --from=cronjob/...`` sends."""
    template = cronjob["spec"]["jobTemplate"]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": cronjob["metadata"]["namespace"],
                         "labels": dict(template.get("metadata", {}).get("labels", {})),
                         "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "controller": True,
                                              "name": cronjob["metadata"]["name"], "uid": cronjob["metadata"]["uid"]}]},
            "spec": copy.deepcopy(template["spec"])}


def pods_of(admin: Cluster, job: str) -> list[dict]:
    return admin.checked("GET", f"/api/v1/namespaces/{NS}/pods", query={"labelSelector": f"job-name={job}"}).body["items"]


def failed_creates(admin: Cluster, job: str) -> list[str]:
    events = admin.checked("GET", f"/api/v1/namespaces/{NS}/events").body["items"]
    return [e.get("message", "") for e in events
            if e.get("reason") == "FailedCreate" and e["involvedObject"].get("name") == job]


@pytest.mark.parametrize("cronjob", ["pss-harness-corpus", "pss-harness-sweep"])
def test_the_job_controller_creates_the_cronjobs_pod_in_the_restricted_namespace(admin, installed, cronjob):
    live = admin.checked("GET", f"/apis/batch/v1/namespaces/{NS}/cronjobs/{cronjob}").body
    name = f"{cronjob}-manual"
    admin.checked("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", job_from(live, name))
    t0 = time.monotonic()
    (pod,) = poll(lambda: pods_of(admin, name), until=bool, timeout=60, interval=0.2,
                  what=f"the job controller to create {name}'s pod")
    print(f"{name}: pod {pod['metadata']['name']} created by the job controller in {time.monotonic() - t0:.1f}s")
    assert pod["status"]["phase"] == "Pending"  # admitted; no kubelet runs it
    assert pod["spec"]["serviceAccountName"] == live["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"]
    assert failed_creates(admin, name) == []


def test_a_privileged_job_in_the_same_namespace_is_refused_on_the_controller_path(admin, installed):
    """The control: the absence of FailedCreate above means something."""
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "privileged-control", "namespace": NS},
           "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "c", "image": "registry.k8s.io/pause:3.10", "securityContext": {"privileged": True}}]}}}}
    resp = admin.request("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", job)
    assert resp.status == 201 and any("would violate PodSecurity" in w for w in resp.warnings)
    messages = poll(lambda: failed_creates(admin, "privileged-control"), until=bool, timeout=60, interval=0.2,
                    what="the job controller's FailedCreate event")
    assert any('violates PodSecurity "restricted:latest"' in m for m in messages), messages
    assert pods_of(admin, "privileged-control") == []


def test_the_indexed_variant_gets_one_pod_per_shard(admin, helm, kube_version, installed):
    sharded = helm_template(helm, kube_version, "corpus.shards=2")[("batch/v1", "CronJob", NS, "pss-harness-corpus")]
    live = admin.checked("GET", f"/apis/batch/v1/namespaces/{NS}/cronjobs/pss-harness-corpus").body
    job = job_from({**sharded, "metadata": live["metadata"]}, "pss-harness-corpus-sharded")
    admin.checked("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", job)
    pods = poll(lambda: pods_of(admin, "pss-harness-corpus-sharded"), until=lambda p: len(p) == 2, timeout=60,
                interval=0.2, what="one pod per shard")
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert indexes == ["0", "1"]
    for p in pods:
        env = {e["name"]: e for e in p["spec"]["containers"][0]["env"]}
        assert env["PSS_HARNESS_SHARDS"]["value"] == "2"
        assert "JOB_COMPLETION_INDEX" in env  # injected by the job controller for Indexed Jobs
    assert failed_creates(admin, "pss-harness-corpus-sharded") == []


# -- running as the chart's ServiceAccounts, in-cluster --------------------------------------------

def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PSS_HARNESS_", "PYTEST_", "KUBERNETES_")) and k != "KUBECONFIG"}
    env["PYTHONPATH"] = str(REPO)
    return env


def service_account_dir(admin: Cluster, plane, account: str, where: Path) -> Path:
    """A stand-in for the kubelet's projected volume: a TokenRequest token, the cluster CA, the namespace."""
    resp = admin.checked("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/{account}/token",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": {"expirationSeconds": 3600}})
    where.mkdir(parents=True)
    (where / "token").write_text(resp.body["status"]["token"])
    shutil.copy(plane.ca_file, where / "ca.crt")
    (where / "namespace").write_text(NS)
    return where


class Pod:
    """One container of a rendered pod template, run here as a process: its arguments, environment and
    working directory, its volumes as directories (a ConfigMap's data as files), in-cluster env and files."""

    def __init__(self, rendered: dict, cronjob: str, plane, sa_dir: Path, root: Path, container: int = 0):
        spec = rendered[("batch/v1", "CronJob", NS, cronjob)]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        self.container = spec["containers"][container]
        self.paths: dict[str, Path] = {}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for mount in self.container["volumeMounts"]:
            local = root / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            cm = volumes[mount["name"]].get("configMap")
            if cm:
                data = rendered[("v1", "ConfigMap", NS, cm["name"])]["data"]
                for name, text in data.items():
                    (local / name).write_text(text)
            self.paths[mount["mountPath"]] = local
        self.env = {**clean_env(), **{e["name"]: e["value"] for e in self.container.get("env", [])},
                    "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(plane.ports["apiserver"]),
                    "PSS_HARNESS_SERVICEACCOUNT_DIR": str(sa_dir)}
        self.env["HOME"] = str(self.local(self.env["HOME"]))

    def local(self, path: str) -> str:
        for mount, local in sorted(self.paths.items(), key=lambda kv: -len(kv[0])):
            if path == mount or path.startswith(mount + "/"):
                return str(local) + path[len(mount):]
        return path

    def run(self, *extra: str, timeout: float = 900) -> subprocess.CompletedProcess:
        args = [self.local(a) for a in self.container["args"]] + list(extra)
        cwd = self.local(self.container.get("workingDir", IMAGE_WORKDIR))
        return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd,
                              env=self.env, capture_output=True, text=True, timeout=timeout)


def test_the_service_account_files_are_what_the_in_cluster_loader_reads(admin, plane, installed, tmp_path):
    sa = service_account_dir(admin, plane, "pss-harness-runner", tmp_path / "sa")
    found = detect({"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(plane.ports["apiserver"]),
                    "PSS_HARNESS_SERVICEACCOUNT_DIR": str(sa)})
    cluster = Cluster(in_cluster=found)
    try:
        assert cluster.host == plane.server
        assert cluster.whoami()["username"] == RUNNER
    finally:
        cluster.close()


def test_the_corpus_runs_in_cluster_under_exactly_the_charts_rbac(admin, plane, installed, tmp_path):
    sa = service_account_dir(admin, plane, "pss-harness-runner", tmp_path / "sa")
    pod = Pod(installed, "pss-harness-corpus", plane, sa, tmp_path / "volumes")
    assert pod.container["args"][0] == "run" and pod.env["PSS_HARNESS_IN_CLUSTER"] == "1"
    # the init container first: retention on a fresh volume is nothing to do, not an error
    init = Pod(installed, "pss-harness-corpus", plane, sa, tmp_path / "volumes")
    init.container = installed[("batch/v1", "CronJob", NS, "pss-harness-corpus")]["spec"]["jobTemplate"]["spec"][
        "template"]["spec"]["initContainers"][0]
    proc = init.run(timeout=120)
    assert proc.returncode == 0, proc.stderr
    t0 = time.monotonic()
    # the slice; --psa-sweep-after 0: the orphan sweep must leave the chart's namespace alone
    proc = pod.run("-m", "check_privileged", "--psa-run-id", "incluster", "--psa-sweep-after", "0")
    seconds = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert f"target in-cluster (ServiceAccount token in namespace {NS}, {plane.server})" in out
    reports = Path(pod.local("/var/lib/pss-harness/reports"))
    results = json.loads((reports / "evidence" / "incluster" / "results.json").read_text())
    run = results["run"]
    assert run["target"] == "in-cluster" and run["identity"]["username"] == RUNNER
    assert run["counts"] == {"passed": 374}, run["counts"]
    import xml.etree.ElementTree as ET

    suite = ET.parse(reports / "runs" / "incluster" / "junit.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert (int(suite.get("tests")), int(suite.get("failures")), int(suite.get("errors")), int(suite.get("skipped"))) \
        == (374, 0, 0, 0)
    token = (sa / "token").read_text()
    for path in reports.rglob("*"):
        if path.is_file():
            assert token not in path.read_text(errors="replace"), f"the token leaked into {path}"
    ns = admin.checked("GET", f"/api/v1/namespaces/{NS}").body
    assert ns["status"]["phase"] == "Active"
    left = admin.list_namespaces("pss-harness.io/run-id=incluster")  # the run deleted its own (deletion is async)
    assert all(n.get("status", {}).get("phase") == "Terminating" for n in left), [n["metadata"]["name"] for n in left]
    print(f"corpus slice in-cluster: 374 items in {seconds:.1f}s (process wall time, -n 2)")


def sweep_identity_cluster(plane, sa: Path) -> Cluster:
    return Cluster(in_cluster=detect({"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                                      "KUBERNETES_SERVICE_PORT": str(plane.ports["apiserver"]),
                                      "PSS_HARNESS_SERVICEACCOUNT_DIR": str(sa)}))


def test_the_sweep_runs_in_cluster_dry_run_only_under_exactly_the_charts_rbac(admin, plane, installed, tmp_path):
    sa = service_account_dir(admin, plane, "pss-harness-sweep", tmp_path / "sa")
    # the cluster as the chart's default policy wants it: workloads' namespaces at baseline or above
    labelled = admin.request("PATCH", "/api/v1/namespaces/default",
                             {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}},
                             content_type="application/merge-patch+json")
    assert labelled.ok, labelled.message
    admin.checked("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "team-a", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    # the guard is in effect (policies load after a delay): a real write by the sweep identity is refused
    me = sweep_identity_cluster(plane, sa)
    try:
        def real_update():  # the sweep role may update namespaces but not get them: the admin reads
            ns = admin.checked("GET", "/api/v1/namespaces/team-a").body
            ns["metadata"].setdefault("annotations", {})["pss-harness.io/guard-probe"] = str(time.time())
            return me.request("PUT", "/api/v1/namespaces/team-a", ns)
        refused = poll(real_update, until=lambda r: r.status == 403 and "dry-run" in r.message,
                       timeout=60, interval=0.2, what="the dry-run-only guard to refuse a real write")
        assert "the pss-harness sweep identity may only send server-side dry-run requests" in refused.message
        real_pod = me.request("POST", "/api/v1/namespaces/default/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "real"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}})
        assert real_pod.status == 403 and "dry-run" in real_pod.message
    finally:
        me.close()
    pod = Pod(installed, "pss-harness-sweep", plane, sa, tmp_path / "volumes")
    since = plane.audit_log.stat().st_size
    t0 = time.monotonic()
    proc = pod.run(timeout=300)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    doc = json.loads(proc.stdout)
    assert doc["target"].startswith(f"in-cluster (ServiceAccount token in namespace {NS}")
    assert doc["runner"]["username"] == SWEEPER
    assert doc["findings"] == []
    results = {(r["namespace"], r["rule"]): r["passed"] for r in doc["results"]}
    assert results[(NS, "pss-harness")] and results[("default", "workloads")] and results[("team-a", "workloads")]
    assert all(results.values()) and doc["summary"]["results_passed"] == doc["summary"]["results"] == len(results)
    bundle = Path(pod.local("/var/lib/pss-harness/reports/sweep"))
    verify = subprocess.run([sys.executable, "-m", "harness", "report", "verify", str(bundle)], env=clean_env(),
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # every request the sweep made was a read or a dry run (the API server's own record)
    events = [e for e in read_events(plane.audit_log, since) if e.get("user", {}).get("username") == SWEEPER
              and e.get("stage") == "ResponseComplete"]
    assert events
    writes = [e for e in events if e["verb"] not in ("get", "list", "watch")]
    assert writes and all("dryRun=All" in e["requestURI"] for e in writes), \
        [e["requestURI"] for e in writes if "dryRun=All" not in e["requestURI"]]
    print(f"sweep in-cluster: {doc['summary']['namespaces']} namespaces, {len(results)} results in {seconds:.1f}s")
