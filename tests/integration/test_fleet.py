"""``pss-harness fleet`` and ``report fleet`` over three real embedded planes side by side, in a real browser.

* ``correct``: the upstream configuration;
* ``lax``: PodSecurity exempts the namespace ``legacy`` and the RuntimeClass ``sandboxed``, and its
  defaults for unlabelled modes warn at ``baseline``;
* ``down``: started, its kubeconfig kept, then stopped: nothing listens at its address.

One kubeconfig holds the three contexts. The corpus is kept small (Pods, enforce mode, two
scenarios of the corpus and one of the test's own, ``vulnerable-pod-sandboxed``, the seed's pod
with ``runtimeClassName: sandboxed``; both live planes have that RuntimeClass).

What the corpus run can and cannot see on ``lax``:

* the namespace exemption changes nothing the run tests: the harness submits into namespaces of
  its own, with random names, so ``legacy`` is never one of them (the items pass as on
  ``correct``; a namespace sweep would have to look for it);
* the RuntimeClass exemption is a real gap, seen only because a scenario names that class: the
  sandboxed pod is admitted at baseline and restricted (2 items "weaker");
* the ``warn=baseline`` default does not reach the harness's namespaces: they pin every mode
  (the modes not under test ``privileged``), so no default for unlabelled modes applies to them
  (before they did, the privileged control namespace warned about the seed's pod: 1 item
  "stricter"; an ``enforce`` default made the warn- and audit-mode namespaces refuse the
  readiness probe: ``tests/integration/test_cluster_defaults.py``).

What ``--sweep`` adds: both live planes get a namespace ``legacy`` labelled ``enforce=baseline``;
each cluster's namespace sweep (its own process) probes every namespace but the harness's own,
against a policy that wants ``legacy`` at baseline. On ``correct`` it is clean and every namespace
it says admits the breakout pod does (the server is asked again); on ``lax`` ``legacy`` is exempt
and admits it: ``off-policy``, the exemption the corpus run could not see; ``down``'s sweep is not
checked. ``--sweep-only`` shows the same without the corpus: ``lax`` reads ``off-policy``.

A second fleet run, after a ValidatingAdmissionPolicy on ``correct`` starts refusing sandboxed
pods, shows the drift since the first run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cluster.client import Cluster
from harness.core.polling import poll
from harness.core.posture import BREAKOUT_POD
from harness.embedded import EmbeddedCluster, Exemptions, PodSecurityDefaults
from harness.reports import bundle

from _planes import namespace_policy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "scenarios" / "baseline" / "privileged" / "vulnerable-pod.yaml"
SCREENSHOT = REPO / "reports" / "fleet-report-screenshot.png"
PYTEST_ARGS = ["--psa-kinds", "Pod", "--psa-modes", "enforce", "-k", "vulnerable-pod or hardened-pod"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def _context(kubeconfig: Path, name: str) -> tuple[dict, dict, dict]:
    data = yaml.safe_load(kubeconfig.read_text())
    admin = next(u for u in data["users"] if u["name"] == "admin")
    return ({"name": name, "cluster": data["clusters"][0]["cluster"]}, {"name": name, "user": admin["user"]},
            {"name": name, "context": {"cluster": name, "user": name}})


@pytest.fixture(scope="module")
def planes(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    correct = EmbeddedCluster().start()
    lax = down = None
    try:
        lax = EmbeddedCluster(exemptions=Exemptions(namespaces=("legacy",), runtime_classes=("sandboxed",)),
                              defaults=PodSecurityDefaults(warn="baseline")).start()
        down = EmbeddedCluster().start()
        parts = [_context(correct.kubeconfig, "correct"), _context(lax.kubeconfig, "lax"),
                 _context(down.kubeconfig, "down")]
        down.stop()
        kubeconfig = root / "fleet-kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "correct",
                                              "clusters": [p[0] for p in parts], "users": [p[1] for p in parts],
                                              "contexts": [p[2] for p in parts]}))
        for plane in (correct, lax):
            Cluster(plane.kubeconfig).checked("POST", "/apis/node.k8s.io/v1/runtimeclasses", {
                "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "sandboxed"},
                "handler": "runc"})
        extra = root / "extra"
        extra.mkdir()
        doc = yaml.safe_load(SEED.read_text())
        doc["metadata"]["name"] = "vulnerable-pod-sandboxed"
        doc["spec"]["runtimeClassName"] = "sandboxed"
        (extra / "vulnerable-pod-sandboxed.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        yield {"root": root, "kubeconfig": kubeconfig, "extra": extra, "correct": correct, "lax": lax,
               "down_server": parts[2][0]["cluster"]["server"]}
    finally:
        for plane in (correct, lax, down):
            if plane is not None:
                plane.stop()


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSS_HARNESS_", "PYTEST_"))}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env=env)


def run_fleet(planes, *options: str, reports: str = "fleet", corpus: bool = True) -> subprocess.CompletedProcess:
    p = planes
    tail = ["--", *PYTEST_ARGS, "--psa-scenarios", str(p["extra"])] if corpus else []
    return harness("fleet", "--kubeconfig", str(p["kubeconfig"]), "--contexts", "correct,lax,down", "--parallel", "2",
                   "--reports", str(p["root"] / reports), "--audit-log", f"correct={p['correct'].audit_log}",
                   "--audit-log", f"lax={p['lax'].audit_log}", "--format", "json", *options, *tail, cwd=p["root"])


@pytest.fixture(scope="module")
def first(planes):
    return run_fleet(planes)


def test_fleet_gives_one_row_per_cluster_with_the_right_verdict(first, planes, schema_check):
    assert first.returncode == 5, first.stderr  # a finding (lax) and a cluster not checked (down)
    doc = json.loads(first.stdout)
    schema_check(doc, "fleet")
    rows = {r["context"]: r for r in doc["clusters"]}
    assert [r["context"] for r in doc["clusters"]] == ["correct", "lax", "down"]

    correct = rows["correct"]
    assert correct["verdict"] == "passed" and correct["cause"] is None
    assert correct["items"] == 9 and correct["counts"] == {"passed": 9}

    lax = rows["lax"]
    assert lax["verdict"] == "gap"
    # the plane's default warn=baseline no longer reaches the harness's namespaces (every mode is
    # pinned): only the RuntimeClass exemption fails, as weaker
    assert lax["failures"] == {"weaker": 2, "stricter": 0, "different": 0, "error": 0}
    lax_results = bundle.load_results(planes["root"] / "fleet" / lax["bundle"])["results"]
    failed = sorted(r["name"] for r in lax_results if r["result"] == "failed")
    assert failed == ["vulnerable-pod-sandboxed[Pod-baseline-enforce-latest]",
                      "vulnerable-pod-sandboxed[Pod-restricted-enforce-latest]"]
    exempt = {r["name"]: (r["observed"]["audit_annotations"] or {}).get("pod-security.kubernetes.io/exempt")
              for r in lax_results if r["scenario"] == "vulnerable-pod-sandboxed"}
    # the server says why: the RuntimeClass exemption; in the privileged namespace (every mode
    # privileged) PodSecurity evaluates nothing, so it names no exemption either
    assert exempt == {"vulnerable-pod-sandboxed[Pod-baseline-enforce-latest]": "runtimeClass",
                      "vulnerable-pod-sandboxed[Pod-restricted-enforce-latest]": "runtimeClass",
                      "vulnerable-pod-sandboxed[Pod-privileged-enforce-latest]": None}
    # the namespace exemption is invisible to the run: everything else passes as on the correct plane
    assert sorted(r["name"] for r in lax_results if r["result"] == "passed") == sorted(
        r["name"] for r in bundle.load_results(planes["root"] / "fleet" / correct["bundle"])["results"]
        if r["name"] not in failed)

    down = rows["down"]
    assert down["verdict"] == "unreachable" and down["exit_status"] == 3 and down["bundle"] is None
    assert "did not answer" in down["cause"] and planes["down_server"] not in json.dumps(doc)

    for row in (correct, lax):
        assert row["server_version"] == "v1.37.2"
        assert row["bundle_sha256"] == bundle.sums_digest(planes["root"] / "fleet" / row["bundle"])
    assert correct["cluster_fingerprint"] != lax["cluster_fingerprint"]  # two clusters, no shared client state
    assert doc["summary"]["verdicts"]["passed"] == 1 and doc["summary"]["findings"] == 1
    assert doc["summary"]["unchecked"] == 1
    for ctx in ("correct", "lax", "down"):  # progress per cluster on stderr
        assert re.search(rf"\[\d/3\] {ctx}: (PASSED|GAP|UNREACHABLE) in", first.stderr), first.stderr


POLICY = namespace_policy("  - {name: tenants, namespaces: [legacy, 'team-*'], minimum: {enforce: baseline}}\n")


@pytest.fixture(scope="module")
def swept(first, planes):
    """The fleet with the namespace sweep (after the first run), and the same with --sweep-only."""
    for plane in ("correct", "lax"):
        Cluster(planes[plane].kubeconfig).create_namespace(
            "legacy", {"pss-harness.io/test": "fleet", "pod-security.kubernetes.io/enforce": "baseline"}, exist_ok=True)
    policy = planes["root"] / "desired.yaml"
    policy.write_text(POLICY)
    both = run_fleet(planes, "--sweep", "--namespace-policy", str(policy), reports="fleet-swept")
    only = run_fleet(planes, "--sweep-only", "--namespace-policy", str(policy), reports="fleet-sweep-only",
                     corpus=False)
    for name, run in (("without the sweep", first), ("with --sweep", both), ("--sweep-only", only)):
        print(f"fleet {name}: {json.loads(run.stdout)['duration']:.1f}s")  # the figures the README quotes (-s)
    return both, only


def _admits(plane: EmbeddedCluster, namespace: str) -> bool:
    """The server's own answer: is the breakout pod admitted in ``namespace`` (a dry run)?"""
    resp = Cluster(plane.kubeconfig).submit(BREAKOUT_POD, namespace)
    assert resp.status in (201, 403), (namespace, resp.status, resp.message)
    return resp.status == 201


def test_with_the_sweep_the_fleet_sees_each_clusters_own_namespaces(swept, first, planes, schema_check):
    both, only = swept
    assert both.returncode == 5, both.stderr  # lax: a gap and off-policy; down: neither run nor sweep checked
    doc = json.loads(both.stdout)
    schema_check(doc, "fleet")
    assert doc["sweep"] == {"policy": "desired.yaml"} and doc["corpus"] is True
    rows = {r["context"]: r for r in doc["clusters"]}
    fleet = planes["root"] / "fleet-swept"

    correct, lax, down = rows["correct"], rows["lax"], rows["down"]
    assert (correct["verdict"], correct["corpus_verdict"], correct["sweep"]["verdict"]) == ("passed", "passed", "passed")
    assert correct["cause"] is None and correct["items"] == 9
    for ctx, row in (("correct", correct), ("lax", lax)):
        sweep = row["sweep"]
        assert sweep["document"] == f"{ctx}/namespaces.json" and sweep["policy"] is True and sweep["plugin"] == "loaded"
        ns_doc = json.loads((fleet / sweep["document"]).read_text())
        schema_check(ns_doc, "namespaces")
        swept_names = [n["namespace"] for n in ns_doc["namespaces"]]
        assert "legacy" in swept_names and "default" in swept_names and sweep["namespaces"] == len(swept_names)
        assert not any(n["labels"].get("pss-harness.io/run-id") for n in ns_doc["namespaces"])  # not the run's own
        # every namespace the fleet says admits the breakout pod does, and every other one refuses it: ask the server
        plane = planes[ctx]
        assert sorted(sweep["admitting"]) == sorted(n for n in swept_names if _admits(plane, n)), ctx
        assert sweep["unproven"] == [] and (fleet / f"{ctx}/namespaces.log").is_file()
    assert "legacy" not in correct["sweep"]["admitting"] and correct["sweep"]["exempt"] == []
    assert correct["sweep"]["findings"] == 0 and set(correct["sweep"]["admitting"]) >= {"default", "kube-system"}

    # lax: the exemption the corpus run could not see (its items pass as on correct) is the sweep's finding
    assert (lax["verdict"], lax["corpus_verdict"], lax["sweep"]["verdict"]) == ("gap", "gap", "off-policy")
    assert lax["failures"]["weaker"] == 2
    assert lax["sweep"]["exempt"] == ["legacy"] and "legacy" in lax["sweep"]["admitting"]
    assert lax["sweep"]["offending"] == ["legacy"] and lax["sweep"]["by_finding"].get("exempt-namespace") == 1
    assert "namespace sweep: " in lax["cause"] and "legacy" in lax["cause"]

    assert (down["verdict"], down["corpus_verdict"], down["sweep"]["verdict"]) == ("unreachable",) * 3
    assert down["sweep"]["document"] is None and down["sweep"]["exit_status"] == 3
    assert not (fleet / "down" / "namespaces.json").exists() and planes["down_server"] not in json.dumps(doc)
    assert doc["summary"]["findings"] == 1 and doc["summary"]["unchecked"] == 1
    for ctx in ("correct", "lax", "down"):
        assert f"{ctx}: namespace sweep started" in both.stderr, both.stderr

    # the sweep alone: the namespace exemption now decides lax's verdict
    assert only.returncode == 5, only.stderr
    doc_only = json.loads(only.stdout)
    schema_check(doc_only, "fleet")
    assert doc_only["corpus"] is False
    verdicts = {r["context"]: (r["verdict"], r["corpus_verdict"], r["items"]) for r in doc_only["clusters"]}
    assert verdicts == {"correct": ("passed", None, 0), "lax": ("off-policy", None, 0),
                        "down": ("unreachable", None, 0)}

    # the fleet report carries it, and refuses a sweep document changed after the fleet recorded it
    out = planes["root"] / "report-swept"
    made = harness("report", "fleet", str(out), str(fleet), "--format", "json", cwd=planes["root"])
    assert made.returncode == 5, made.stderr
    report = json.loads(made.stdout)
    schema_check(report, "fleet-report")
    by = {c["name"]: c for c in report["clusters"]}
    assert by["lax"]["verdict"] == "gap" and by["lax"]["sweep"]["exempt"] == ["legacy"]
    assert by["correct"]["sweep"]["admitting"] == correct["sweep"]["admitting"]
    assert by["down"]["sweep"]["verdict"] == "unreachable" and not by["down"]["checked"]
    page = (out / "index.html").read_text()
    assert '<section id="namespaces">' in page and 'data-exempt="legacy"' in page
    only_report = harness("report", "fleet", str(planes["root"] / "report-sweep-only"),
                          str(planes["root"] / "fleet-sweep-only"), "--format", "json", cwd=planes["root"])
    assert only_report.returncode == 5, only_report.stderr
    schema_check(json.loads(only_report.stdout), "fleet-report")
    assert "no corpus run: namespace sweep only" in (planes["root"] / "report-sweep-only" / "index.html").read_text().lower()
    document = fleet / "lax" / "namespaces.json"
    document.write_text(document.read_text().replace('"legacy"', '"legacy2"'))
    refused = harness("report", "fleet", str(planes["root"] / "report-tampered"), str(fleet), cwd=planes["root"])
    assert refused.returncode == 2 and "1 sweep document(s) fail verification" in refused.stderr, refused.stderr
    assert "the document was replaced" in refused.stderr


def test_a_second_run_shows_drift_and_the_fleet_report_renders_in_a_browser(first, planes, tmp_path, schema_check):
    assert first.returncode == 5
    correct = Cluster(planes["correct"].kubeconfig)
    correct.checked("POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "no-sandboxed"},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                         "operations": ["CREATE"], "resources": ["pods"]}]},
                 "validations": [{"expression": "!has(object.spec.runtimeClassName) || "
                                                "object.spec.runtimeClassName != 'sandboxed'",
                                  "message": "sandboxed pods are not allowed here"}]}})
    correct.checked("POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "no-sandboxed"}, "spec": {"policyName": "no-sandboxed", "validationActions": ["Deny"]}})
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
             "spec": {"runtimeClassName": "sandboxed", "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
    poll(lambda: correct.submit(probe, "default").message, until=lambda m: "sandboxed pods are not allowed" in m,
         timeout=60, interval=0.5, what="the ValidatingAdmissionPolicy to refuse a sandboxed pod")  # 422 Invalid

    second = run_fleet(planes)
    assert second.returncode == 5, second.stderr
    rows = {r["context"]: r for r in json.loads(second.stdout)["clusters"]}
    assert rows["correct"]["verdict"] == "deviation" and rows["correct"]["failures"]["weaker"] == 0
    assert rows["lax"]["verdict"] == "gap" and rows["down"]["verdict"] == "unreachable"

    out = tmp_path / "report"
    made = harness("report", "fleet", str(out), str(planes["root"] / "fleet"), "--format", "json", cwd=planes["root"])
    assert made.returncode == 5, made.stderr
    doc = json.loads(made.stdout)
    assert json.loads((out / "fleet-report.json").read_text()) == doc
    schema_check(doc, "fleet-report")
    by = {c["name"]: c for c in doc["clusters"]}
    assert doc["summary"]["drifted"] == ["correct"]
    changes = by["correct"]["drift"]["changes"]
    assert changes and all(c["level"] == "privileged" and c["before"] == "passed" and c["after"] == "failed"
                           for c in changes)
    assert by["lax"]["drift"]["previous"]["run_id"] and not by["lax"]["drift"]["drifted"]
    assert by["lax"]["controls"]["cis"]["5.2.2"] == "failed" and by["correct"]["controls"]["attack"]["T1611"] == "failed"
    assert by["down"]["controls"] is None and by["down"]["verdict"] == "unreachable"
    assert doc["summary"]["server_versions"] == {"v1.37.2": ["correct", "lax"]}
    assert harness("report", "verify", str(out), cwd=planes["root"]).returncode == 0

    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if chromium is None:
        pytest.skip("no Chromium on PATH; install Debian's package: apt-get install -y chromium")
    index = out / "index.html"

    def browse(url: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, url],
                              capture_output=True, text=True, timeout=120)

    dom = browse(index.as_uri() + "?verdict=gap", "--dump-dom", "--virtual-time-budget=2000")
    assert dom.returncode == 0 and "<html" in dom.stdout, dom.stderr[-2000:]
    page = dom.stdout
    assert 'data-filter="gap"' in page, "the page script did not apply ?verdict="
    assert "1 of 3 cluster(s) gap" in page
    rows_html = re.findall(r'<tr id="c-([a-z]+)" data-verdict="([a-z-]+)"( class="filtered")?', page)
    assert [(n, v, bool(f)) for n, v, f in rows_html] == [("correct", "deviation", True), ("lax", "gap", False),
                                                          ("down", "unreachable", True)]
    assert re.search(r'data-status="not-checked" title="[^"]*">not checked: unreachable', page)
    assert re.search(r'<h3 data-drifted="correct">correct: \d+ control\(s\) changed since run', page)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    shot = browse(index.as_uri(), f"--screenshot={SCREENSHOT}", "--window-size=1400,2200", "--hide-scrollbars",
                  "--virtual-time-budget=2000")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 20_000
