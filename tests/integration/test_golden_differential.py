"""Golden differential test: the offline evaluator predicts kube-apiserver's PodSecurity answer exactly.

The pods are data (``tests/fixtures/golden/differential-pods.yaml``: every check, singular and
plural messages, pod- and container-level fields, annotations, Windows, user namespaces, and pods
API validation refuses). On v1.37.2 and on v1.34.4 (one embedded kube-apiserver each, no
controller manager), in a namespace per level (baseline, restricted) and policy version of
``VERSIONS``, labelled ``enforce`` and ``warn`` at that level and version:

* each pod is created by dry-run as a **Pod**: a denial must be HTTP 403 whose Status message is
  ``pods "<name>" is forbidden: `` + the evaluator's ``message("violates")`` verbatim, naming the
  evaluator's checks; an allowed pod must be admitted without a PodSecurity warning;
* each pod is created by dry-run as a **Deployment**: admitted, with a ``would violate PodSecurity``
  warning equal to the evaluator's ``message("would violate")`` verbatim (its checks parsed back by
  ``harness.core.verdict`` must be the evaluator's), or none when the evaluator allows it;
* a compliant target pod is created for real in each namespace, and each ephemeral container of
  the data is added by dry-run through ``pods/ephemeralcontainers``: denied verbatim as predicted,
  or admitted;
* pods the data marks ``invalid`` (or ``invalid-workloads``, for the Deployment) must be refused by
  API validation (400/422), and no other pod may be.

The counts of compared requests, denials and warnings are pinned per version, so the test cannot
pass by comparing nothing. ``python -m pytest tests/integration/test_golden_differential.py -v``;
~10 s per version once the control planes are built.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import time
from pathlib import Path

import pytest
import yaml

from harness.cluster.client import Cluster
from harness.core.kinds import as_kind
from harness.core.model import DEFAULT_K8S_VERSION, Level, Outcome, PolicyVersion
from harness.core.verdict import observe
from harness.embedded import EmbeddedCluster
from harness.policy import evaluate_object

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "differential-pods.yaml"
VERSIONS = ["v1.0", "v1.18", "v1.19", "v1.22", "v1.23", "v1.24", "v1.25", "v1.27", "v1.29", "v1.30", "v1.31",
            "v1.32", "v1.34", "v1.35", "v1.36", "v1.37", "v1.99", "latest"]
LEVELS = (Level.BASELINE, Level.RESTRICTED)
SERVERS = (DEFAULT_K8S_VERSION, "v1.34.4")  # both built by `make controlplane controlplane-old`
#: pinned per server: (Pod denials, ephemeral-container denials, Deployment warnings) that were compared verbatim
PINNED = {"v1.37.2": (1628, 89, 1592), "v1.34.4": (1649, 89, 1613)}
WORKERS = 4
_CANARY = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "golden-canary"},
           "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause", "securityContext": {"privileged": True}}]}}


def _load() -> dict:
    data = yaml.safe_load(DATA.read_text())
    names = [e["pod"]["metadata"]["name"] for e in data["pods"]]
    assert len(names) == len(set(names)), f"{DATA}: pod names must be unique"
    assert {e["expect"] for e in data["pods"]} <= {"ok", "invalid", "invalid-workloads"}, DATA
    return data


GOLDEN = _load()


@dataclasses.dataclass
class Comparison:
    """One request and what it was compared with."""

    kind: str            #: Pod, Deployment or Pod/ephemeralcontainers
    name: str
    namespace: str
    expect: str          #: ok or invalid (as this kind)
    status: int
    outcome: str         #: the harness's classification of the answer
    predicted: str       #: the evaluator's message ("" when it allows the object)
    observed: str        #: the Status message, or the PodSecurity warning
    problems: list[str]

    def __str__(self) -> str:
        return (f"{self.namespace} {self.kind} {self.name} (HTTP {self.status}, {self.outcome}): "
                f"{'; '.join(self.problems)}\n  predicted: {self.predicted}\n  observed:  {self.observed}")


def ns_name(level: Level, version: str) -> str:
    return f"golden-{level.value}-{version.replace('.', '-')}"


def _psa_warning(warnings: list[str]) -> str:
    return next((w for w in warnings if "PodSecurity" in w), "")


def _check_parse(obs, ev, problems: list[str]) -> None:
    """The checks the harness parses out of the server's text must be the evaluator's, all known."""
    if obs.checks != frozenset(ev.ids):
        problems.append(f"parsed checks {sorted(obs.checks)} != predicted {sorted(ev.ids)}")
    if obs.violation is not None and (obs.violation.unknown or obs.violation.truncated):
        problems.append(f"unparsed reasons {list(obs.violation.unknown)} (truncated={obs.violation.truncated})")


def _invalid(rec: Comparison, resp) -> bool:
    """Judge an API-validation answer (expected or not); True when the request ended there."""
    refused = resp.status in (400, 422)
    if rec.expect == "invalid" and not refused:
        rec.problems.append(f"API validation should refuse it, got HTTP {resp.status}")
        return True
    if refused:
        rec.observed = resp.message
        if rec.expect != "invalid":
            rec.problems.append("refused by API validation; the data says it reaches PodSecurity")
        elif rec.outcome != Outcome.INVALID.value:
            rec.problems.append(f"classified {rec.outcome}, not invalid")
        return True
    return False


def compare_pod(cluster: Cluster, pod: dict, expect: str, level: Level, version: str, minor: int) -> Comparison:
    name = pod["metadata"]["name"]
    ev = evaluate_object(pod, level, PolicyVersion.parse(version), newest_minor=minor)
    resp = cluster.submit(pod, ns_name(level, version))
    obs = observe(resp, minor)
    rec = Comparison("Pod", name, ns_name(level, version), "ok" if expect == "invalid-workloads" else expect,
                     resp.status, obs.outcome.value, ev.message("violates"), resp.message, [])
    if _invalid(rec, resp):
        return rec
    if ev.allowed:
        if obs.outcome is not Outcome.ADMITTED:
            rec.problems.append("predicted allowed (and no warning)")
        return rec
    want = f'pods "{name}" is forbidden: {ev.message("violates")}'
    if resp.status != 403 or resp.message != want or obs.outcome is not Outcome.DENIED:
        rec.problems.append("the denial differs from the prediction")
    _check_parse(obs, ev, rec.problems)
    return rec


def compare_workload(cluster: Cluster, pod: dict, expect: str, level: Level, version: str, minor: int) -> Comparison:
    obj = as_kind(pod, "Deployment")
    ev = evaluate_object(obj, level, PolicyVersion.parse(version), newest_minor=minor)
    resp = cluster.submit(obj, ns_name(level, version))
    obs = observe(resp, minor)
    warning = _psa_warning(resp.warnings)
    rec = Comparison("Deployment", obj["metadata"]["name"], ns_name(level, version),
                     "invalid" if expect == "invalid-workloads" else expect, resp.status, obs.outcome.value,
                     ev.message("would violate"), warning or resp.message, [])
    if _invalid(rec, resp):
        return rec
    if not resp.ok:
        rec.problems.append("a workload is never denied by PodSecurity")
    elif warning != ev.message("would violate"):
        rec.problems.append("the warning differs from the prediction")
    elif warning:
        if obs.outcome is not Outcome.WARNED:
            rec.problems.append("classified as not warned")
        _check_parse(obs, ev, rec.problems)
    elif obs.outcome is not Outcome.ADMITTED:
        rec.problems.append("classified as not admitted")
    return rec


def compare_ephemeral(cluster: Cluster, target: dict, case: str, container: dict, level: Level, version: str,
                      minor: int) -> Comparison:
    ns = ns_name(level, version)
    name = target["metadata"]["name"]
    pod = copy.deepcopy(target)
    pod["spec"]["ephemeralContainers"] = [container]
    ev = evaluate_object(pod, level, PolicyVersion.parse(version), newest_minor=minor)
    current = cluster.get("Pod", ns, name)
    assert current.ok, f"the ephemeral target {ns}/{name} is gone: {current.status} {current.message}"
    resp = cluster.add_ephemeral_containers(current.body, ns, [container])
    obs = observe(resp, minor)
    rec = Comparison("Pod/ephemeralcontainers", f"{name}+{case}", ns, "ok", resp.status, obs.outcome.value,
                     ev.message("violates"), resp.message, [])
    if resp.ok:
        if not ev.allowed or obs.outcome is not Outcome.ADMITTED:
            rec.problems.append("admitted (without a warning) only if predicted allowed")
        return rec
    if resp.status != 403 or resp.message != f'pods "{name}" is forbidden: {ev.message("violates")}' or ev.allowed:
        rec.problems.append("the denial differs from the prediction")
    _check_parse(obs, ev, rec.problems)
    return rec


def _await_enforced(cluster: Cluster, ns: str, timeout: float = 30.0) -> None:
    """Poll until the namespace's labels are in effect (a privileged pod is denied there)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = cluster.submit(_CANARY, ns)
        if resp.status == 403 and "violates PodSecurity" in resp.message:
            return
        assert time.monotonic() < deadline, f"{ns}: PodSecurity labels not in effect after {timeout:.0f}s: {resp.status}"
        time.sleep(0.1)


@pytest.fixture(scope="module", params=SERVERS)
def golden(request) -> tuple[str, list[Comparison]]:
    """Every comparison on one server: ``(gitVersion, comparisons)``."""
    with EmbeddedCluster(request.param, controller_manager=False) as ec:
        cluster = Cluster(ec.kubeconfig)
        info = cluster.server_version()
        assert info["gitVersion"] == request.param, info
        minor = int("".join(ch for ch in info["minor"] if ch.isdigit()))
        for level in LEVELS:
            for v in VERSIONS:
                ns = ns_name(level, v)
                cluster.create_namespace(ns, {
                    "pod-security.kubernetes.io/enforce": level.value, "pod-security.kubernetes.io/enforce-version": v,
                    "pod-security.kubernetes.io/warn": level.value, "pod-security.kubernetes.io/warn-version": v})
                # no controller manager: the ServiceAccount admission plugin needs "default"
                cluster.checked("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
                                ok=(409,))
        for level in LEVELS:
            for v in VERSIONS:
                _await_enforced(cluster, ns_name(level, v))
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            jobs = [pool.submit(fn, cluster, e["pod"], e["expect"], level, v, minor)
                    for level in LEVELS for v in VERSIONS for e in GOLDEN["pods"]
                    for fn in (compare_pod, compare_workload)]
            records = [j.result() for j in jobs]
        target = GOLDEN["ephemeral"]["target"]
        for level in LEVELS:
            for v in VERSIONS:
                created = cluster.submit(target, ns_name(level, v), dry_run=False)
                assert created.ok, f"creating the ephemeral target in {ns_name(level, v)}: {created.status} {created.message}"
                for case in GOLDEN["ephemeral"]["containers"]:
                    records.append(compare_ephemeral(cluster, target, case["case"], case["container"], level, v, minor))
        yield info["gitVersion"], records


def _disagreements(records: list[Comparison], kind: str) -> str:
    bad = [r for r in records if r.kind == kind and r.problems]
    return f"{len(bad)} disagreement(s):\n" + "\n".join(map(str, bad[:40])) if bad else ""


def _count(expects: set[str], kind: str) -> int:
    """Requests of ``kind`` the data expects to end as one of ``expects``, over every namespace."""
    if kind == "Pod":
        per_ns = sum(("ok" if e["expect"] == "invalid-workloads" else e["expect"]) in expects for e in GOLDEN["pods"])
    else:
        per_ns = sum(("invalid" if e["expect"] == "invalid-workloads" else e["expect"]) in expects for e in GOLDEN["pods"])
    return per_ns * len(LEVELS) * len(VERSIONS)


def test_pod_denials_equal_the_prediction_verbatim(golden):
    version, records = golden
    pods = [r for r in records if r.kind == "Pod"]
    assert not _disagreements(records, "Pod"), _disagreements(records, "Pod")
    assert len([r for r in pods if r.expect == "ok"]) == _count({"ok"}, "Pod")
    denied = sum(r.status == 403 for r in pods)
    assert denied == PINNED[version][0], f"{denied} Pod denials compared on {version} (pinned {PINNED[version][0]})"


def test_workload_warnings_equal_the_prediction_verbatim(golden):
    version, records = golden
    workloads = [r for r in records if r.kind == "Deployment"]
    assert not _disagreements(records, "Deployment"), _disagreements(records, "Deployment")
    assert len([r for r in workloads if r.expect == "ok"]) == _count({"ok"}, "Deployment")
    warned = sum(r.outcome == Outcome.WARNED.value for r in workloads)
    assert warned == PINNED[version][2], f"{warned} Deployment warnings compared on {version} (pinned {PINNED[version][2]})"


def test_ephemeral_container_updates_equal_the_prediction(golden):
    version, records = golden
    updates = [r for r in records if r.kind == "Pod/ephemeralcontainers"]
    assert not _disagreements(records, "Pod/ephemeralcontainers"), _disagreements(records, "Pod/ephemeralcontainers")
    assert len(updates) == len(GOLDEN["ephemeral"]["containers"]) * len(LEVELS) * len(VERSIONS)
    denied = sum(r.status == 403 for r in updates)
    assert denied == PINNED[version][1], f"{denied} ephemeral denials compared on {version} (pinned {PINNED[version][1]})"


def test_api_validation_refuses_exactly_the_pods_marked_invalid(golden):
    _, records = golden
    for kind in ("Pod", "Deployment"):
        invalid = [r for r in records if r.kind == kind and r.expect == "invalid"]
        assert len(invalid) == _count({"invalid"}, kind)
        assert all(r.status in (400, 422) and r.outcome == Outcome.INVALID.value for r in invalid), \
            _disagreements(records, kind)
    refused = {r.name for r in records if r.status in (400, 422)}
    marked = {e["pod"]["metadata"]["name"] for e in GOLDEN["pods"] if e["expect"] != "ok"}
    assert refused == marked
