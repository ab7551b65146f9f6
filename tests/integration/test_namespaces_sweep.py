"""``pss-harness namespaces`` against real embedded control planes configured with each trap.

Every expected posture below follows from the plane's configuration (AdmissionConfiguration
defaults and exemptions, namespace labels, RuntimeClasses, webhooks, quotas, limit ranges), and
is asserted exactly. Three planes are shared by the tests that need them:

* ``traps`` — defaults enforce=baseline; an exempt (labelled) namespace; an exempt RuntimeClass
  and a plain one; version pins; warn/audit differing from enforce; a ResourceQuota pods=0; a
  validating and a mutating webhook with ``sideEffects: Unknown``; a mutating webhook that changes
  the probe; a LimitRange; 320 more namespaces in four postures;
* ``guarded`` — the runner ``bob`` is an exempt user, ``alice`` runs under the shipped sweep role
  and dry-run guard; every request is audited;
* ``no-plugin`` — PodSecurity disabled.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.cli import main
from harness.cluster.client import Cluster
from harness.core.posture import BREAKOUT_POD
from harness.core.resources import schema_path
from harness.embedded import EmbeddedCluster, Exemptions, PodSecurityDefaults
from harness.embedded.plane import AUDIT_EVERYTHING
from harness.cluster.audit import log_end, read_events

from _planes import namespace_policy
from _rbac import bind
from _webhook import AdmissionWebhook, register

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PSA = "pod-security.kubernetes.io/"
SWEEP_ROLE = REPO / "rbac" / "pss-harness-sweep.yaml"
SHIPPED_IDENTITY = "system:serviceaccount:pss-harness:pss-harness-sweep"
BULK = 320


def labels(**modes: str) -> dict[str, str]:
    """``labels(enforce="baseline", enforce_version="v1.24")`` -> pod-security labels."""
    return {PSA + k.replace("_", "-"): v for k, v in modes.items()}


def create_namespaces(admin: Cluster, spec: dict[str, dict[str, str]]) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: admin.create_namespace(*item), spec.items()))


def await_service_accounts(admin: Cluster, names, timeout: float = 120.0) -> None:
    """Wait until every namespace has its ``default`` ServiceAccount (pods need it, dry run too)."""
    want, deadline = set(names), time.monotonic() + timeout
    while True:
        resp = admin.checked("GET", "/api/v1/serviceaccounts", query={"fieldSelector": "metadata.name=default"})
        have = {i["metadata"]["namespace"] for i in resp.body["items"]}
        if want <= have:
            return
        assert time.monotonic() < deadline, f"no default ServiceAccount in {sorted(want - have)[:5]}"
        time.sleep(0.1)


def await_probe(admin: Cluster, namespace: str, done, timeout: float = 30.0) -> None:
    """Wait until a dry-run breakout probe into ``namespace`` is answered as ``done(resp)`` wants (webhooks load lazily)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = admin.submit(BREAKOUT_POD, namespace)
        if done(resp):
            return
        assert time.monotonic() < deadline, f"{namespace}: {resp.status} {resp.message}"
        time.sleep(0.1)


def run_cli(*argv: str, capsys=None) -> tuple[int, dict | str]:
    """Run ``pss-harness namespaces`` in-process; parse the JSON document when --format json."""
    code = main(["namespaces", *argv])
    out = capsys.readouterr().out
    return code, (json.loads(out) if "json" in argv else out)


def by_namespace(doc: dict) -> dict[str, dict]:
    return {n["namespace"]: n for n in doc["namespaces"]}


def posture(entry: dict) -> tuple:
    return (entry["enforce"]["text"], entry["warn"]["text"], entry["audit"]["text"], entry["source"],
            tuple(entry["exempt"]), entry["probe"]["state"])


def findings(doc: dict) -> dict[tuple[str, str], list[str]]:
    return {(r["namespace"], r["rule"]): sorted(r["findings"]) for r in doc["results"]}


def validate(doc: dict) -> None:
    jsonschema.validate(doc, json.loads(schema_path("namespaces").read_text()))


# -- the traps plane ------------------------------------------------------------------------------

RC = ("runtimeClass:exempt-rc",)
TRAPS = {
    # name: (labels, expected (enforce, warn, audit, source, exempt, probe))
    "plain": ({}, ("baseline:latest", "unknown", "privileged", "default", RC, "ok")),
    "pinned": (labels(enforce="baseline", enforce_version="v1.24"),
               ("baseline:v1.24", "unknown", "privileged", "label", RC, "ok")),
    "restricted": (labels(enforce="restricted"), ("restricted:latest", "unknown", "privileged", "label", RC, "ok")),
    "mixed": (labels(enforce="privileged", warn="restricted", audit="baseline"),
              ("privileged", "restricted:latest", "baseline:latest", "label", RC, "ok")),
    "layered": (labels(enforce="baseline", warn="restricted", warn_version="v1.30", audit="restricted"),
                ("baseline:latest", "restricted:v1.30", "restricted:latest", "label", RC, "ok")),
    "exempt-labelled": (labels(enforce="restricted"), ("none", "none", "none", "label", ("namespace",), "ok")),
    "quota": (labels(enforce="privileged", warn="baseline"),
              ("privileged", "baseline:latest", "privileged", "label", RC, "ok")),
    "quota-silent": (labels(enforce="privileged"), ("privileged", "privileged", "privileged", "label", RC, "ok")),
    "hooked": ({**labels(enforce="privileged", warn="baseline"), "hook": "validating"},
               ("privileged", "baseline:latest", "privileged", "label", RC, "ok")),
    "mhooked": ({"hook": "mutating"}, ("unknown", "unknown", "unknown", "default", RC, "unprobeable")),
    "mutated": ({**labels(enforce="privileged"), "hook": "unprivilege"},
                ("unknown", "unknown", "privileged", "label", RC, "ok")),
    "limited": ({}, ("unknown", "unknown", "unknown", "default", RC, "unprobeable")),
}
SYSTEM = ("default", "kube-node-lease", "kube-public", "kube-system")
BULK_KINDS = [
    ({}, ("baseline:latest", "unknown", "privileged", "default", RC, "ok")),
    (labels(enforce="restricted"), ("restricted:latest", "unknown", "privileged", "label", RC, "ok")),
    (labels(enforce="privileged", warn="restricted"),
     ("privileged", "restricted:latest", "privileged", "label", RC, "ok")),
    (labels(enforce="baseline", enforce_version="v1.30"), ("baseline:v1.30", "unknown", "privileged", "label", RC, "ok")),
]


def bulk_name(i: int) -> str:
    return f"bulk-{i:03d}"


def expected_traps() -> dict[str, tuple]:
    out = {name: want for name, (_, want) in TRAPS.items()}
    out.update({name: ("baseline:latest", "unknown", "privileged", "default", RC, "ok") for name in SYSTEM})
    out.update({bulk_name(i): BULK_KINDS[i % 4][1] for i in range(BULK)})
    return out


POLICY = namespace_policy("""\
  - name: everything
    namespaces: ["*"]
    exclude: ["kube-*", default, "bulk-*"]
    minimum: {enforce: baseline}
    exemptions:
      - {kind: runtimeClass, name: exempt-rc, owner: platform@example.com, reason: sandboxed runtime,
         expires: 2999-12-31}
      - kind: namespace
        name: exempt-labelled
        owner: ops@example.com
        reason: legacy node agents
        expires: 2020-01-31
  - name: labelled-only
    namespaces: [plain, pinned]
    minimum: {enforce: baseline}
    defaults: forbidden
    version: latest
  - name: watched
    namespaces: [layered, mixed]
    minimum: {warn: restricted, audit: restricted}
  - name: system
    namespaces: [kube-system]
    minimum: {enforce: baseline}
  - name: tenants
    selector: {matchLabels: {tier: tenant}}
    minimum: {enforce: baseline}
    version: ">=v1.30"
    exemptions:
      - {kind: runtimeClass, name: exempt-rc, owner: platform@example.com, reason: sandboxed runtime,
         expires: 2999-12-31}
""")

EXPECTED_FINDINGS = {
    ("plain", "everything"): [], ("pinned", "everything"): [], ("restricted", "everything"): [],
    ("mixed", "everything"): ["weaker-than-required"], ("layered", "everything"): [],
    ("exempt-labelled", "everything"): ["exemption-expired"],
    ("quota", "everything"): ["weaker-than-required"], ("quota-silent", "everything"): ["weaker-than-required"],
    ("hooked", "everything"): ["weaker-than-required"], ("mhooked", "everything"): ["unprobeable"],
    ("mutated", "everything"): ["enforce-unknown", "mutated-by-webhook"], ("limited", "everything"): ["unprobeable"],
    ("plain", "labelled-only"): ["exempt-runtime-class", "unlabelled-default-only"],
    ("pinned", "labelled-only"): ["exempt-runtime-class", "version-pinned-below"],
    ("layered", "watched"): ["exempt-runtime-class"],
    ("mixed", "watched"): ["exempt-runtime-class", "weaker-than-required"],
    ("kube-system", "system"): ["exempt-runtime-class"],
    **{(bulk_name(i), "tenants"): [[], [], ["weaker-than-required"], []][i % 4] for i in range(0, BULK, 1)
       if i % 5 == 0},
}


@pytest.fixture(scope="module")
def traps(tmp_path_factory):
    wd = tmp_path_factory.mktemp("traps")
    with EmbeddedCluster(defaults=PodSecurityDefaults(enforce="baseline"),
                         exemptions=Exemptions(namespaces=("exempt-labelled",), runtime_classes=("exempt-rc",)),
                         extra_apiserver_args=["--storage-media-type=application/json"]) as plane:
        admin = Cluster(plane.kubeconfig)
        spec = {name: lab for name, (lab, _) in TRAPS.items()}
        # every fifth bulk namespace is a tenant (a label selector rule); version constraint >= v1.30
        spec.update({bulk_name(i): {**BULK_KINDS[i % 4][0], **({"tier": "tenant"} if i % 5 == 0 else {})}
                     for i in range(BULK)})
        create_namespaces(admin, spec)
        for rc in ("exempt-rc", "plain-rc"):
            admin.checked("POST", "/apis/node.k8s.io/v1/runtimeclasses", {
                "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": rc}, "handler": "runc"})
        for ns in ("quota", "quota-silent"):
            admin.checked("POST", f"/api/v1/namespaces/{ns}/resourcequotas", {
                "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-pods"},
                "spec": {"hard": {"pods": "0"}}})
        admin.checked("POST", "/api/v1/namespaces/limited/limitranges", {
            "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "tiny"},
            "spec": {"limits": [{"type": "Container", "default": {"memory": "32Mi"},
                                 "defaultRequest": {"memory": "32Mi"}},
                                {"type": "Pod", "max": {"memory": "16Mi"}}]}})
        hook = AdmissionWebhook(plane)
        hooks = {
            "validating": register(plane, admin, hook, name="legacy-validator", kind="ValidatingWebhookConfiguration",
                                   path="/allow", namespace_label=("hook", "validating"), side_effects="Unknown"),
            "mutating": register(plane, admin, hook, name="legacy-mutator", kind="MutatingWebhookConfiguration",
                                 path="/allow", namespace_label=("hook", "mutating"), side_effects="Unknown"),
            "unprivilege": register(plane, admin, hook, name="unprivilege", kind="MutatingWebhookConfiguration",
                                    path="/unprivilege", namespace_label=("hook", "unprivilege")),
        }
        await_service_accounts(admin, [*spec, *SYSTEM])
        await_probe(admin, "hooked", lambda r: r.status == 400 and "does not support dry run" in r.message)
        await_probe(admin, "mhooked", lambda r: r.status == 400 and "does not support dry run" in r.message)
        await_probe(admin, "mutated", lambda r: r.ok and r.body["spec"]["containers"][0]["securityContext"]
                    .get("privileged") is False)
        policy = wd / "desired.yaml"
        policy.write_text(POLICY)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "harness", "namespaces", "--kubeconfig", str(plane.kubeconfig),
                               "--audit-log", str(plane.audit_log), "--policy", str(policy), "--format", "json",
                               "--today", "2026-06-01"],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - t0
        assert proc.returncode == 1, proc.stderr[-3000:]
        doc = json.loads(proc.stdout)
        yield {"plane": plane, "admin": admin, "doc": doc, "policy": policy, "hooks": hooks, "wall": wall,
               "stderr": proc.stderr}
        hook.stop()


def test_every_trap_gets_the_posture_its_configuration_implies(traps):
    doc = traps["doc"]
    validate(doc)
    got = {name: posture(entry) for name, entry in by_namespace(doc).items()}
    assert got == expected_traps()
    ns = by_namespace(doc)
    # the version the denial names is the one evaluated (the listed items match only those policy minors)
    assert ns["pinned"]["enforce"]["evaluated"] == {"from": "v1.0", "to": "v1.26"}
    assert ns["pinned"]["enforce"]["version_confirmed"] is True
    assert ns["plain"]["enforce"]["evaluated"] == {"from": "v1.37", "to": "v1.37"}
    assert ns["restricted"]["enforce"]["evaluated"] == {"from": "v1.37", "to": "v1.37"}
    assert ns[bulk_name(3)]["enforce"]["evaluated"] == {"from": "v1.29", "to": "v1.31"}
    # defaults vs labels
    assert ns["plain"]["enforce"]["source"] == "default" and ns["pinned"]["enforce"]["source"] == "label"
    assert ns["layered"]["warn"]["source"] == "label" and ns["plain"]["audit"]["source"] == "default"
    # warn is masked by enforce: never guessed
    assert "masked" in ns["restricted"]["warn"]["evidence"]
    assert "privileged or baseline" in ns["plain"]["warn"]["evidence"]
    # the exempt namespace is named by the server's own warning
    assert 'namespace "exempt-labelled" is exempt from Pod Security' in ns["exempt-labelled"]["enforce"]["evidence"]


def test_traps_are_reported_as_what_they_are(traps):
    ns, hooks = by_namespace(traps["doc"]), traps["hooks"]
    assert ns["mhooked"]["probe"]["reason"] == f"webhook {hooks['mutating']} does not support dry run"
    assert "LimitRange refused the probe before PodSecurity" in ns["limited"]["probe"]["reason"]
    # ResourceQuota and a validating webhook refuse after PodSecurity: the warning proves PodSecurity admitted
    assert any("then refused by ResourceQuota" in n for n in ns["quota"]["notes"])
    assert any("then refused by ResourceQuota" in n for n in ns["quota-silent"]["notes"])
    assert any(f"then refused by webhook {hooks['validating']} (no dry run)" in n for n in ns["hooked"]["notes"])
    # the mutated probe: named fields, and the pod the server returned is kept
    assert ns["mutated"]["mutated"] == ["spec.containers[0].securityContext.privileged"]
    assert ns["mutated"]["mutated_pod"]["spec"]["containers"][0]["securityContext"]["privileged"] is False
    breakout = [e for e in ns["mutated"]["evidence"] if e["probe"] == "breakout"][0]
    assert breakout["request"]["query"] == {"dryRun": "All"} and breakout["answer"]["status"] == 201


def test_cluster_facts_and_runtime_classes(traps):
    c = traps["doc"]["cluster"]
    assert c["plugin"]["state"] == "loaded"
    assert c["runner"]["username"] == "pss-admin" and c["runner"]["exempt"] is False
    assert {r["name"]: r["exempt"] for r in c["runtime_classes"]} == {"exempt-rc": True, "plain-rc": False}
    assert c["audit_source"] is True
    # the metrics count exactly the exempt answers the sweep got: one exempt-namespace probe, one exempt-rc probe
    exemptions = {k: v for k, v in c["metrics"].items() if k.startswith("pod_security_exemptions_total")}
    assert exemptions == {'pod_security_exemptions_total{request_operation="create",resource="pod",subresource=""}': 2.0}


def test_policy_findings_are_exact(traps):
    doc = traps["doc"]
    assert findings(doc) == EXPECTED_FINDINGS
    expired = [f for f in doc["findings"] if f["id"] == "exemption-expired"]
    assert len(expired) == 1 and "expired on 2020-01-31" in expired[0]["message"] and "ops@example.com" in \
        expired[0]["message"]
    assert all(f["cis"][0] == "5.2.1" and f["nsa"] for f in doc["findings"])
    assert doc["summary"]["unmatched"] == len(SYSTEM) - 1 + BULK - BULK // 5


def test_three_hundred_namespaces_in_one_run(traps):
    doc = traps["doc"]
    n = len(doc["namespaces"])
    assert n == len(TRAPS) + len(SYSTEM) + BULK >= 300
    q = doc["requests"]
    assert q["other"] == 0 and q["dry_run_writes"] >= n
    print(f"\n{n} namespaces: sweep {doc['summary']['elapsed_s']}s ({doc['summary']['namespaces_per_second']}/s), "
          f"command wall {traps['wall']:.1f}s, {q['total']} requests")


def test_without_an_audit_source_audit_is_unknown_never_ok(traps, capsys):
    plane = traps["plane"]
    code, doc = run_cli("--kubeconfig", str(plane.kubeconfig), "--policy", str(traps["policy"]),
                        "--format", "json", "--today", "2026-06-01", "layered", "mixed", "restricted",
                        capsys=capsys)
    assert code == 1
    validate(doc)
    ns = by_namespace(doc)
    assert {n: e["audit"]["text"] for n, e in ns.items()} == {"layered": "unknown", "mixed": "unknown",
                                                              "restricted": "unknown"}
    got = findings(doc)
    assert got[("layered", "watched")] == ["audit-unknown", "exempt-runtime-class"]
    assert got[("mixed", "watched")] == ["audit-unknown", "exempt-runtime-class"]
    assert got[("restricted", "everything")] == []
    # without the audit log the runner's non-exemption is still proven: a probe was denied
    assert doc["cluster"]["runner"]["exempt"] is False


def test_table_output_and_exit_status(traps, capsys):
    plane = traps["plane"]
    code, out = run_cli("--kubeconfig", str(plane.kubeconfig), "--selector", "tier=tenant", capsys=capsys)
    assert code == 0, out  # every tenant's enforce posture is proven
    lines = out.splitlines()
    assert lines[1].startswith("PodSecurity loaded; runner pss-admin not exempt; RuntimeClasses: exempt-rc (exempt), "
                               "plain-rc (not exempt)")
    rows = [line.split() for line in lines if line.startswith("bulk-")]
    assert len(rows) == BULK // 5
    assert rows[0][:4] == ["bulk-000", "baseline:latest", "unknown", "unknown"]
    code, out = run_cli("--kubeconfig", str(plane.kubeconfig), "limited", "nope", capsys=capsys)
    assert code == 4, out  # an unprobeable namespace and a missing one: nothing proven there
    assert "nope: namespace nope was not found" in out


# -- the guarded plane: shipped role and dry-run guard, an exempt runner ------------------------------

@pytest.fixture(scope="module")
def guarded():
    with EmbeddedCluster(exemptions=Exemptions(usernames=("bob",), namespaces=("ns-exempt",)),
                         audit_policy=AUDIT_EVERYTHING) as plane:
        admin = Cluster(plane.kubeconfig)
        create_namespaces(admin, {"ns-exempt": labels(enforce="baseline"), "enforced": labels(enforce="restricted"),
                                  "open": {}})
        docs = list(yaml.safe_load_all(SWEEP_ROLE.read_text().replace(SHIPPED_IDENTITY, "alice")))
        kinds = {d["kind"]: d for d in docs}
        assert set(kinds) == {"ClusterRole", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
        admin.checked("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", kinds["ClusterRole"])
        admin.checked("POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
                      kinds["ValidatingAdmissionPolicy"])
        admin.checked("POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
                      kinds["ValidatingAdmissionPolicyBinding"])
        for user in ("alice", "bob"):
            bind(admin, user, "pss-harness-sweep")
        await_service_accounts(admin, ["ns-exempt", "enforced", "open", *SYSTEM])
        alice = Cluster(plane.kubeconfig, "alice")
        # the guard loads lazily. Wait for it with real creates that cannot succeed either way: in a namespace
        # with a ResourceQuota pods=0, which refuses after ValidatingAdmissionPolicy
        admin.create_namespace("guard-wait", {})
        admin.checked("POST", "/api/v1/namespaces/guard-wait/resourcequotas", {
            "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}})
        await_service_accounts(admin, ["guard-wait"])
        deadline = time.monotonic() + 30
        while True:
            resp = alice.submit({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "real"},
                                 "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}},
                                "guard-wait", dry_run=False)
            if resp.status == 403 and "ValidatingAdmissionPolicy" in resp.message:
                break
            assert resp.status == 403 and "exceeded quota" in resp.message, f"{resp.status} {resp.message}"
            assert time.monotonic() < deadline, f"the dry-run guard was not in effect after 30s: {resp.message}"
            time.sleep(0.1)
        admin.delete_namespace("guard-wait")
        assert admin.wait_gone("Namespace", None, "guard-wait")
        yield {"plane": plane, "admin": admin, "alice": alice}


def test_the_guard_refuses_every_real_write_and_allows_dry_run(guarded):
    alice = guarded["alice"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
           "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
    real = alice.submit(pod, "open", dry_run=False)
    assert real.status == 403
    assert real.message == ("pods \"probe\" is forbidden: ValidatingAdmissionPolicy 'pss-harness-sweep-dry-run-only' "
                            "with binding 'pss-harness-sweep-dry-run-only' denied request: the pss-harness sweep "
                            "identity may only send server-side dry-run requests")
    assert alice.submit(pod, "open").status == 201
    ns = alice.request("GET", "/api/v1/namespaces", query={"fieldSelector": "metadata.name=open"}).body["items"][0]
    ns["metadata"]["labels"]["x"] = "y"
    assert alice.request("PUT", "/api/v1/namespaces/open", ns).status == 403
    assert alice.request("PUT", "/api/v1/namespaces/open", ns, {"dryRun": "All"}).status == 200
    # and the role grants nothing else
    assert alice.request("GET", "/api/v1/namespaces/open").status == 403
    assert alice.request("DELETE", "/api/v1/namespaces/open", query={"dryRun": "All"}).status == 403
    assert alice.request("GET", "/api/v1/namespaces/open/secrets").status == 403
    assert alice.request("GET", "/metrics").status == 403
    assert guarded["admin"].get("Pod", "open", "probe").status == 404


def test_the_sweep_passes_under_the_least_privilege_role_and_never_writes(guarded, capsys):
    plane = guarded["plane"]
    since = log_end(plane.audit_log)
    code, doc = run_cli("--kubeconfig", str(plane.kubeconfig), "--context", "alice", "--audit-log",
                        str(plane.audit_log), "--format", "json", capsys=capsys)
    assert code == 0, doc
    validate(doc)
    got = {n: posture(e) for n, e in by_namespace(doc).items()}
    assert got == {
        "ns-exempt": ("none", "none", "none", "label", ("namespace",), "ok"),
        "enforced": ("restricted:latest", "unknown", "privileged", "label", (), "ok"),
        "open": ("privileged", "privileged", "privileged", "default", (), "ok"),
        **{n: ("privileged", "privileged", "privileged", "default", (), "ok") for n in SYSTEM},
    }
    c = doc["cluster"]
    assert c["runner"] == {"username": "alice", "exempt": False, "evidence": c["runner"]["evidence"]}
    assert c["runtime_classes"] == [] and c["runtime_classes_listed"] is True
    assert c["metrics"] is None  # /metrics is not granted by the role: not read, not guessed
    # the audit log holds every request alice made: each one a read or a dry run
    events = [e for e in read_events(plane.audit_log, since) if e.get("user", {}).get("username") == "alice"]
    assert len(events) == doc["requests"]["total"]  # the refused GET /metrics included
    writes = [e for e in events if e["verb"] not in ("get", "list", "watch")]
    assert writes and all("dryRun=All" in e["requestURI"] for e in writes), \
        [e["requestURI"] for e in writes if "dryRun=All" not in e["requestURI"]]
    assert {e["verb"] for e in writes} == {"create", "update"}
    assert all(e["responseStatus"]["code"] < 500 for e in events)


def test_an_exempt_runner_proves_nothing_and_says_so(guarded, capsys, tmp_path):
    plane = guarded["plane"]
    policy = tmp_path / "p.yaml"
    policy.write_text(namespace_policy("  - {name: all, namespaces: ['*'], minimum: {enforce: baseline}}\n"))
    # without the audit log: the labels of "enforced" say deny, it is not exempt, and it admitted silently
    code, doc = run_cli("--kubeconfig", str(plane.kubeconfig), "--context", "bob", "--policy", str(policy),
                        "--format", "json", capsys=capsys)
    assert code == 1
    c = doc["cluster"]
    assert c["runner"]["exempt"] is True and "namespace enforced is labelled to deny" in c["runner"]["evidence"]
    assert findings(doc) and all(v == ["runner-exempt"] for v in findings(doc).values())
    ns = by_namespace(doc)
    # the namespace exemption is still proven: namespace requests never consult user exemptions
    assert posture(ns["ns-exempt"]) == ("none", "none", "none", "label", ("namespace",), "ok")
    assert posture(ns["enforced"]) == ("unknown", "unknown", "unknown", "label", ("user",), "ok")
    # with the audit log the exemption is read from the audit event
    code, doc = run_cli("--kubeconfig", str(plane.kubeconfig), "--context", "bob", "--audit-log",
                        str(plane.audit_log), "--format", "json", capsys=capsys)
    assert code == 4
    assert doc["cluster"]["runner"]["exempt"] is True and "exempt=user" in doc["cluster"]["runner"]["evidence"]


# -- no plugin ----------------------------------------------------------------------------------------

def test_a_plane_without_podsecurity_is_named_and_nothing_passes(capsys, tmp_path):
    with EmbeddedCluster(pod_security=False) as plane:
        admin = Cluster(plane.kubeconfig)
        admin.create_namespace("locked", labels(enforce="restricted"))
        await_service_accounts(admin, ["locked", *SYSTEM])
        policy = tmp_path / "p.yaml"
        policy.write_text(namespace_policy("  - {name: all, namespaces: ['*'], minimum: {enforce: baseline}}\n"))
        code, doc = run_cli("--kubeconfig", str(plane.kubeconfig), "--policy", str(policy), "--format", "json",
                            capsys=capsys)
    assert code == 1
    validate(doc)
    assert doc["cluster"]["plugin"]["state"] == "disabled"
    assert {n: posture(e)[:3] for n, e in by_namespace(doc).items()} == \
        {n: ("none", "none", "none") for n in ("locked", *SYSTEM)}
    assert all(v == ["plugin-disabled"] for v in findings(doc).values()) and len(findings(doc)) == 5


# -- pytest mode and the evidence bundle ------------------------------------------------------------

def test_pytest_mode_one_item_per_namespace_and_rule_and_a_sealed_section(traps, tmp_path):
    import xml.etree.ElementTree as ET

    plane = traps["plane"]
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", f"--psa-namespaces={traps['policy']}", "-p", "no:cacheprovider", "-q",
         "-n", "2", "--kubeconfig", str(plane.kubeconfig), "--audit-log", str(plane.audit_log),
         "-o", f"psa_reports={reports}", "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"),
         f"--alluredir={tmp_path / 'allure'}", f"--junitxml={tmp_path / 'junit.xml'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    # today's date decides expiry here (no --today): the expired entry expired in 2020 either way
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    got = {}
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert "findings" in props, (case.attrib, props, ET.tostring(case)[:2000])
        failed = case.find("failure") is not None
        findings_ = [] if props["findings"] == "none" else sorted(props["findings"].split(","))
        assert failed == bool(findings_), case.get("name")
        got[(props["namespace"], props["rule"])] = findings_
    assert got == EXPECTED_FINDINGS
    (bundle_dir,) = (reports / "evidence").iterdir()
    verify = subprocess.run([sys.executable, "-m", "harness", "report", "verify", str(bundle_dir)], cwd=REPO,
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    doc = json.loads((bundle_dir / "namespaces.json").read_text())
    validate(doc)
    page = (bundle_dir / "namespaces.html").read_text()
    assert "exemption-expired" in page and "5.2.1" in page and "does not support dry run" in page
    assert "<script" not in page and "http://" not in page and plane.server not in page


def test_cli_bundle_section_is_sealed_and_tamper_evident(traps, tmp_path, capsys):
    plane = traps["plane"]
    out = tmp_path / "bundle"
    code, _ = run_cli("--kubeconfig", str(plane.kubeconfig), "--selector", "tier=tenant", "--bundle", str(out),
                      capsys=capsys)
    assert code == 0
    from harness.reports import bundle

    assert bundle.verify(out).ok
    html_page = out / "namespaces.html"
    html_page.write_text(html_page.read_text().replace("bulk-000", "bulk-999"))
    v = bundle.verify(out)
    assert not v.ok and v.changed == ("namespaces.html",)
