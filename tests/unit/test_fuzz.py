"""harness.fuzz without a cluster: the mutation operators' declared checks (``operators``), the generated pods
(``strategies``), the regression-scenario derivation (``regressions``), and the whole shrink-and-write path of
the driver against a simulated server, with the planted bug of ``selftest``.

The live differential run is ``tests/integration/test_fuzz_live.py``.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, seed, settings

from harness import fuzz
from harness.core.checks import CHECKS, effective_check, newest_minor
from harness.core.answers import Response
from harness.core.expectations import checks_at
from harness.fuzz import (IMAGE, OPERATORS, FuzzCase, Mutation, derive_checks, fixup, fuzz_cases, hardened_pod,
                          range_text)
from harness.fuzz.strategies import WINDOWS_FORBIDDEN_POD_SC, WINDOWS_FORBIDDEN_SC
from harness.core.model import Level, PolicyVersion
from harness.policy import admitted_pod, evaluate_object, evaluate_pod, pod_template
from harness.corpus.scenarios import load_scenario
from harness.core.kinds import as_kind
from harness.core.verdict import observe

NEWEST = newest_minor()
B, R = Level.BASELINE, Level.RESTRICTED
LATEST = PolicyVersion.parse("latest")


def _ids(pod: dict, level: Level, minor: int) -> set[str]:
    return set(evaluate_object(pod, level, PolicyVersion(minor)).ids)


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_each_mutation_trips_exactly_its_declared_checks_at_every_level_and_version(op):
    """On a hardened pod (a container and a sidecar), every argument and place of the operator makes the
    evaluator report what the operator declares, mapped to the check that reports it at each level and
    version (restricted overrides included). Windows-only operators start from the hardened Windows pod."""
    operator = OPERATORS[op]
    linux = "linux" in operator.oses
    base = hardened_pod(containers=1, sidecars=1, os_name=None if linux else "windows")
    places = list(operator.places) + (["all"] if "containers" in operator.places else [])
    problems = []
    for arg in operator.args:
        for place in places:
            pod = copy.deepcopy(base)
            m = Mutation(op, arg, place, 0)
            m.apply(pod)
            fixup(pod)
            trips = m.trips()
            for level in (B, R):
                for minor in range(0, NEWEST + 1):
                    want = {effective_check(c, level, minor) for c, rng in trips if minor in rng} - {None}
                    want |= _ids(base, level, minor)
                    got = _ids(pod, level, minor)
                    if got != want:
                        problems.append(f"{m!r} at {level}:v1.{minor}: evaluator {sorted(got)}, declared {sorted(want)}")
    assert not problems, "\n".join(problems[:10])


def test_operators_name_known_checks_and_mutation_boundaries_steer_versions():
    assert {c for op in OPERATORS.values() for a in op.args for c, _ in op.trips(a)} <= set(CHECKS)
    assert Mutation("sysctl", "net.ipv4.tcp_rmem", "pod", 0).boundaries() == {32}
    assert Mutation("add_capability", "SYS_ADMIN", "containers", 0).trips()[0][0] == "capabilities_baseline"
    assert repr(Mutation("add_capability", "SYS_ADMIN", "initContainers", 1)) == \
        "add_capability('SYS_ADMIN')@initContainers[1]"
    families = {op.family for op in OPERATORS.values()}
    assert families >= set(CHECKS) - {"hostPathVolumes"} - {"procMount_restricted", "seccompProfile_restricted"}


def test_operator_validation_raises_a_real_error():
    from harness.fuzz import operators

    ops = list(OPERATORS.values())
    operators._validate(ops)
    bad = fuzz.Operator("bad", "privileged", (1,), ("pod",), lambda pod, c, arg: None,
                        lambda arg: (("no_such_check", "all"), ("privileged", ">v1.2")))
    with pytest.raises(RuntimeError) as info:
        operators._validate(ops + [bad, ops[0]])
    text = str(info.value)
    assert "operator 'privileged' is declared twice" in text
    assert "bad(1) trips unknown check 'no_such_check'" in text
    assert "bad(1) trips privileged at an invalid version range" in text


_LINUX_ONLY_POD = set(WINDOWS_FORBIDDEN_POD_SC)
_LINUX_ONLY = set(WINDOWS_FORBIDDEN_SC)


@seed(20260714)
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=fuzz_cases())
def test_generated_cases_are_well_formed_and_evaluable(case: FuzzCase):
    pod = case.pod
    spec = pod["spec"]
    everything = spec.get("initContainers", []) + spec["containers"] + list(case.ephemeral)
    names = [c["name"] for c in everything]
    assert len(names) == len(set(names))
    for c in everything:
        assert c["image"] == IMAGE and not {"command", "args", "env", "envFrom"} & set(c)
    assert "ephemeralContainers" not in spec  # only through the update path
    windows = (spec.get("os") or {}).get("name") == "windows"
    if windows:
        assert not _LINUX_ONLY_POD & set(spec.get("securityContext") or {})
        assert not any(_LINUX_ONLY & set(c.get("securityContext") or {}) for c in everything)
        assert not {"hostUsers", "hostPID", "hostIPC"} & set(spec)
    host_ports = [(p.get("hostPort"), p.get("protocol", "TCP")) for c in everything for p in c.get("ports") or ()
                  if p.get("hostPort")]
    assert len(host_ports) == len(set(host_ports))
    for c in spec.get("initContainers", []):
        if c.get("restartPolicy") != "Always":
            assert not {"livenessProbe", "readinessProbe", "startupProbe", "lifecycle"} & set(c)
    for c in everything:
        if (c.get("securityContext") or {}).get("procMount") == "Unmasked":
            assert spec.get("hostUsers") is False
    assert fixup(copy.deepcopy(pod)) == pod  # fixed up already: idempotent
    assert case.policies and all(lv in (B, R) for lv, _ in case.policies)
    for level, version in case.policies:
        ev = evaluate_object(pod, level, PolicyVersion.parse(version))
        assert all(r.reason and r.detail for r in ev.results)


def testrange_text():
    assert range_text(list(range(0, 38)), 37) == "all"
    assert range_text(list(range(0, 32)), 37) == "<v1.32"
    assert range_text(list(range(19, 38)), 37) == ">=v1.19"
    assert range_text(list(range(19, 35)), 37) == ">=v1.19 <v1.35"
    assert range_text([1, 3], 37) is None
    assert range_text([], 37) is None


def test_derive_checks_reproduces_per_version_and_per_kind_answers():
    newest = 37
    obs = {}
    for level in (B, R):
        for m in range(newest + 1):
            pod = set()
            if m < 32:
                pod.add("sysctls")
            pod.add("hostNamespaces")
            work = set(pod)
            pod.add("hostPorts")  # the hostNetwork hostPort defaulting happens to Pods only
            if level is R and m >= 22:
                pod.add("capabilities_restricted")
                work.add("capabilities_restricted")
            obs[("Pod", level, m)] = frozenset(pod)
            obs[("workload", level, m)] = frozenset(work)
    declared = derive_checks(obs, newest, workloads=True)
    assert declared == ["hostNamespaces", {"id": "hostPorts", "kinds": ["Pod"]}, {"id": "sysctls", "versions": "<v1.32"},
                        {"id": "capabilities_restricted", "versions": ">=v1.22"}]  # registry (message) order
    # a restricted check that a baseline one implies at restricted is left out
    for m in range(newest + 1):
        for level in (B, R):
            obs[("Pod", level, m)] = obs[("workload", level, m)] = frozenset(
                {"capabilities_baseline" if level is B or m < 22 else "capabilities_restricted"})
    assert derive_checks(obs, newest, workloads=True) == ["capabilities_baseline"]


# -- the whole path against a simulated server -------------------------------------------------------------------


class _FakeCluster:
    def server_version(self):
        return {"gitVersion": "v1.37.2-simulated", "minor": "37"}


class SimulatedRuntime:
    """Answers like kube-apiserver v1.37 would, computed by the evaluator as it was before a test plants a bug."""

    server_minor = 37

    def __init__(self):
        self.cluster = _FakeCluster()
        self.audit = None
        self.concurrency = 1
        self.requests = 0
        self._eval_object, self._eval_pod = evaluate_object, evaluate_pod

    def execute_many(self, work):
        from harness.cluster.runtime import Execution

        out = []
        for w in work:
            self.requests += 1
            level, version = w.policy.level, w.policy.version
            obj = copy.deepcopy(w.manifest)
            if w.update is not None:
                obj["metadata"]["name"] = "fuzz-eph-abc123"
                meta, spec = admitted_pod(obj["metadata"], obj["spec"])
                spec = {**spec, "ephemeralContainers": copy.deepcopy(w.update)}
                ev = self._eval_pod(meta, spec, level, version, 37)
                manifest = {"pod": obj, "ephemeralContainers": w.update}
            else:
                ev = self._eval_object(obj, level, version, 37)
                manifest = obj
            name = obj["metadata"]["name"]
            if obj["kind"] != "Pod":
                warnings = [ev.message("would violate")] if not ev.allowed else []
                resp = Response("POST", "/x", {}, 201, {"kind": obj["kind"]}, warnings)
            elif ev.allowed:
                resp = Response("POST", "/x", {}, 201, {"kind": "Pod"})
            else:
                resp = Response("POST", "/x", {}, 403, {"kind": "Status", "reason": "Forbidden",
                                                         "message": f'pods "{name}" is forbidden: {ev.message()}'})
            out.append(Execution("ns", {}, manifest, observe(resp, 37), 0.0, 0.0))
        return out


def test_a_simulated_server_agrees_with_the_evaluator(tmp_path):
    report = fuzz.run(SimulatedRuntime(), examples=150, seed=1, regressions_dir=tmp_path)
    assert report.examples >= 150 and not report.disagreements and not report.aborted
    assert report.compared > 150 and report.workloads and report.ephemeral
    assert not list(tmp_path.iterdir())




def test_a_planted_evaluator_bug_shrinks_to_a_one_change_regression_scenario(tmp_path):
    runtime = SimulatedRuntime()
    report = fuzz.run(runtime, examples=200, seed=7, regressions_dir=tmp_path, families=["add_capability"],
                      ephemeral=False, evaluate=fuzz.planted_bug(evaluate_object, ignore_capability="NET_RAW"))
    assert len(report.disagreements) >= 1, report.summary()
    d = report.disagreements[0]
    text = str(d)
    assert "predicted:" in text and "observed:" in text and "regression scenario written" in text
    # shrunk: the hardened base with one container and the one change that matters
    assert d.case.mutations == (fuzz.Mutation("add_capability", "NET_RAW", "containers", 0),)
    spec = d.case.pod["spec"]
    assert len(spec["containers"]) == 1 and "initContainers" not in spec and "volumes" not in spec
    assert spec["containers"][0]["securityContext"]["capabilities"]["add"] == ["NET_RAW"]
    s = load_scenario(d.regression)
    assert d.regression.parent == tmp_path and s.id.startswith("fuzz-")
    assert s.level is Level.BASELINE and s.check_ids() == ["capabilities_baseline"]
    for m in (0, 21, 22, NEWEST):  # the server's answers, whatever the evaluator says
        assert checks_at(s, "Pod", B, m) == {"capabilities_baseline"}
        assert checks_at(s, "Pod", R, m) == {"capabilities_baseline" if m < 22 else "capabilities_restricted"}
    assert "Found by differential fuzzing" in s.title and "v1.37.2-simulated" in s.description


def _workload_answer(fuzzer, pod, level, version, warnings):
    from harness.cluster.runtime import Execution

    obj = as_kind(pod, "Deployment")
    resp = Response("POST", "/x", {}, 201, {"kind": "Deployment"}, warnings)
    return fuzzer._compare("Deployment", level, version, obj, Execution("ns", {}, obj, observe(resp, 37), 0.0, 0.0))


def test_workload_warnings_follow_the_api_servers_warning_budget():
    """kube-apiserver cuts every warning to 256 runes once a response's warnings pass 4096 runes, and drops a
    warning added after the cut ones already fill 4096 (apiserver pkg/endpoints/filters/warning.go)."""
    fuzzer = fuzz.Fuzzer(SimulatedRuntime(), regressions_dir=None)
    pod = hardened_pod(containers=3)
    for c in pod["spec"]["containers"]:
        c["name"] = c["name"] + "-" + "n" * 50
        del c["securityContext"]
    predicted = evaluate_object(as_kind(pod, "Deployment"), R, LATEST).message("would violate")
    assert len(predicted) > 256
    full = ["x" * 250] * 17  # 4250 runes of validation warnings, already cut
    few = ["x" * 250] * 3
    assert _workload_answer(fuzzer, pod, R, "latest", few + [predicted]) is None              # kept whole
    assert _workload_answer(fuzzer, pod, R, "latest", few + [predicted[:256]]) is None        # cut to 256
    assert _workload_answer(fuzzer, pod, R, "latest", full) is None                           # dropped: budget spent
    assert fuzzer.report.truncated == 1 and fuzzer.report.dropped == 1
    finding = _workload_answer(fuzzer, pod, R, "latest", few)                                  # dropped: unexplained
    assert finding is not None and finding.predicted == predicted and finding.observed == ""
    assert _workload_answer(fuzzer, pod, R, "latest", few + [predicted[:200]]) is not None    # cut elsewhere


def test_a_warning_cut_inside_a_reason_phrase_is_accepted_only_as_the_last_item():
    fuzzer = fuzz.Fuzzer(SimulatedRuntime(), regressions_dir=None)
    for n in range(1, 120):  # container names long enough that the cut falls inside "unrestricted capabilities"
        pod = hardened_pod(containers=1)
        c = pod["spec"]["containers"][0]
        c["name"] = "c" + "n" * n
        del c["securityContext"]
        predicted = evaluate_object(as_kind(pod, "Deployment"), R, LATEST).message("would violate")
        start = predicted.index(", unrestricted capabilities") + 2
        if start < 256 < start + len("unrestricted capabilities"):
            break
    else:
        pytest.fail("no name length puts the cut inside the reason")
    few = ["x" * 250] * 3
    assert _workload_answer(fuzzer, pod, R, "latest", few + [predicted[:256]]) is None
    bogus = predicted[:start] + "unrestricted capaXX"
    bogus += "y" * (256 - len(bogus))
    assert _workload_answer(fuzzer, pod, R, "latest", few + [bogus[:256]]) is not None
