"""The runtime (``harness.cluster.runtime``) through the fake cluster: the seam, executing items, the update path."""

from __future__ import annotations

import inspect

import pytest

from harness.cluster.audit import AuditSource
from harness.cluster.client import Cluster
from harness.cluster.runtime import NEVER_SCHEDULE_GATE, Execution, Runtime, Submission
from harness.cluster.seam import ClusterAPI
from harness.core.answers import Response
from harness.core.errors import ClusterError, ClusterUnreachable
from harness.core.expectations import Policy
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.core.settings import standalone

from fake_cluster import FakeCluster

RESTRICTED = Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)
RESTRICTED_AUDIT = Policy(Level.RESTRICTED, Mode.AUDIT, LATEST)
NS = "pss-rt-main-restricted-enforce-latest"


def pod(name: str = "p", **security) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ignored"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "securityContext": security}]}}


DEBUG_PRIVILEGED = [{"name": "debugger", "image": "busybox", "securityContext": {"privileged": True}}]


def runtime(fake: FakeCluster, audit: AuditSource | None = None, **cfg) -> Runtime:
    return Runtime(standalone(run_id="rt", **cfg), None, None, audit=audit, cluster=fake)


# -- the seam -----------------------------------------------------------------------------------------------

def _protocol_methods() -> list[str]:
    return [n for n, v in vars(ClusterAPI).items() if callable(v) and not n.startswith("_")]


@pytest.mark.parametrize("implementation", [Cluster, FakeCluster])
def test_the_real_client_and_the_fake_both_satisfy_the_seam(implementation):
    assert len(_protocol_methods()) >= 13
    for name in _protocol_methods():
        assert hasattr(implementation, name), f"{implementation.__name__} lacks {name}"
        want = inspect.signature(getattr(ClusterAPI, name))
        got = inspect.signature(getattr(implementation, name))
        assert [(p.name, p.kind) for p in got.parameters.values()] == \
               [(p.name, p.kind) for p in want.parameters.values()], f"{implementation.__name__}.{name}{got}"
    assert isinstance(FakeCluster(), ClusterAPI)


def test_the_runtime_only_uses_what_the_seam_offers():
    """Every ``self.cluster.<op>`` in the runner's modules is an operation of ``ClusterAPI``."""
    import re

    from harness.cluster import namespaces, preflight, runtime as rt_module

    used = set()
    for module in (namespaces, preflight, rt_module):
        used |= set(re.findall(r"\bcluster\.([a-z_]+)\(", inspect.getsource(module)))
    assert used and used <= set(_protocol_methods()), sorted(used - set(_protocol_methods()))


def test_the_default_cluster_is_built_from_the_kubeconfig(tmp_path):
    with pytest.raises(Exception, match="no such file"):
        Runtime(standalone(), str(tmp_path / "missing"), None, audit=None)


# -- executing items ----------------------------------------------------------------------------------------

def test_an_item_is_sent_by_dry_run_and_the_submission_stays_as_it_was(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("")
    fake = FakeCluster(audit_log=log)
    rt = runtime(fake, AuditSource(log))
    sub = Submission(pod("priv", privileged=True), RESTRICTED, "s-1")
    before = repr(sub)
    result = rt.execute(sub)
    assert isinstance(result, Execution)
    assert repr(sub) == before
    assert result.namespace == NS
    assert "namespace" not in result.manifest["metadata"]
    assert result.request == {"verb": "POST", "path": f"/api/v1/namespaces/{NS}/pods", "dryRun": "All",
                              "namespace": NS, "policy": RESTRICTED.labels()}
    assert result.observation.outcome is Outcome.DENIED and result.observation.checks == {"privileged"}
    assert result.observation.audit_annotations == {"pod-security.kubernetes.io/enforce-policy": "restricted:latest"}
    assert fake.pods == {}  # dry-run: nothing stored
    rt.cleanup()


def test_results_come_back_in_order_and_an_exception_belongs_to_its_item():
    class Flaky(FakeCluster):
        def submit(self, obj, namespace, *, dry_run=True):
            if obj["metadata"]["name"] == "boom":
                raise ClusterUnreachable("the API server did not answer")
            return super().submit(obj, namespace, dry_run=dry_run)

    rt = runtime(Flaky())
    work = [Submission(pod("a"), RESTRICTED, "a"), Submission(pod("boom"), RESTRICTED, "b"),
            Submission(pod("c", privileged=True), RESTRICTED, "c")]
    results = rt.execute_many(work)
    assert results[0].observation.outcome is Outcome.ADMITTED
    assert isinstance(results[1], ClusterUnreachable)
    assert results[2].observation.outcome is Outcome.DENIED
    rt.cleanup()


def test_update_path_creates_a_gated_pod_adds_the_containers_and_deletes_the_pod():
    fake = FakeCluster()
    rt = runtime(fake)
    result = rt.execute(Submission(pod("base"), RESTRICTED, "debug-priv", update=DEBUG_PRIVILEGED))
    created = [arg for op, arg in fake.calls if op == "submit" and arg[2] and arg[2].startswith("debug-priv-")]
    assert len(created) == 1 and created[0][3] is False  # the base pod is real ...
    base = result.manifest["pod"]
    assert {"name": NEVER_SCHEDULE_GATE} in base["spec"]["schedulingGates"]  # ... and never scheduled
    assert result.manifest["ephemeralContainers"] == DEBUG_PRIVILEGED
    assert [arg for op, arg in fake.calls if op == "add_ephemeral_containers"] == [(NS, base["metadata"]["name"], True)]
    assert result.observation.outcome is Outcome.DENIED and result.observation.checks == {"privileged"}
    assert ("request", f"DELETE /api/v1/namespaces/{NS}/pods/{base['metadata']['name']}") in fake.calls
    assert fake.pods == {}
    rt.cleanup()


def test_update_path_with_a_refused_base_pod_is_an_error_observation_not_a_verdict():
    def quota(obj, namespace, dry_run):
        if not dry_run:
            return Response("POST", f"/api/v1/namespaces/{namespace}/pods", {}, 403, {
                "kind": "Status", "reason": "Forbidden", "message": 'pods "x" is forbidden: exceeded quota: pods=0'})
        return None

    fake = FakeCluster(refuse=quota)
    rt = runtime(fake)
    result = rt.execute(Submission(pod("base"), RESTRICTED, "debug", update=DEBUG_PRIVILEGED))
    assert result.observation.outcome is Outcome.ERROR
    assert result.observation.message == ("the running pod of the update path was refused (HTTP 403): "
                                          'pods "x" is forbidden: exceeded quota: pods=0')
    assert not [c for c in fake.calls if c[0] == "add_ephemeral_containers"]
    rt.cleanup()


def test_update_path_deletes_the_pod_even_when_adding_the_containers_fails():
    class Dropping(FakeCluster):
        def add_ephemeral_containers(self, pod, namespace, containers, *, dry_run=True):
            raise ClusterUnreachable("connection reset")

    fake = Dropping()
    rt = runtime(fake)
    with pytest.raises(ClusterUnreachable):
        rt.execute(Submission(pod("base"), RESTRICTED, "debug", update=DEBUG_PRIVILEGED))
    deletes = [arg for op, arg in fake.calls if op == "request" and arg.startswith("DELETE ")]
    assert len(deletes) == 1 and deletes[0].startswith(f"DELETE /api/v1/namespaces/{NS}/pods/debug-")
    assert fake.pods == {}
    rt.cleanup()


def test_live_objects_get_one_name_per_kind_and_are_deleted():
    fake = FakeCluster()
    rt = runtime(fake, live=True)
    result = rt.execute(Submission(pod("whatever"), RESTRICTED, "s-live"))
    assert result.request["dryRun"] is None
    assert result.manifest["metadata"]["name"] == "s-live-pod"
    assert ("delete", ("Pod", NS, "s-live-pod")) in fake.calls and fake.pods == {}
    rt.cleanup()


def test_live_controllers_failed_create_event_is_awaited_with_a_deadline():
    fake = FakeCluster()
    rt = runtime(fake, live=True)
    ns = rt.namespace(RESTRICTED)
    assert rt._await_failed_create(ns, "d-deployment", timeout=0.05) == {
        "reason": None, "object": None, "message": "no FailedCreate event within 0s"}
    fake.events_by_ns[ns] = [
        {"reason": "FailedCreate", "involvedObject": {"kind": "ReplicaSet", "name": "d-deployment-5d8f"},
         "message": 'pods "x" is forbidden: violates PodSecurity "restricted:latest": privileged'}]
    assert rt._await_failed_create(ns, "d-deployment", timeout=5) == {
        "reason": "FailedCreate", "object": "ReplicaSet/d-deployment-5d8f",
        "message": 'pods "x" is forbidden: violates PodSecurity "restricted:latest": privileged'}
    rt.cleanup()


# -- cleanup on error ----------------------------------------------------------------------------------------

def _second_namespace_fails(fake: FakeCluster) -> None:
    fake.add_namespace("pss-rt-main-restricted-audit-latest", {})  # taken by someone else: 409


def test_namespaces_created_before_an_exception_are_deleted_at_cleanup():
    fake = FakeCluster()
    _second_namespace_fails(fake)
    rt = runtime(fake)
    with pytest.raises(ClusterError, match="AlreadyExists"):
        rt.execute_many([Submission(pod(), RESTRICTED, "a"), Submission(pod(), RESTRICTED_AUDIT, "b")])
    rt.cleanup()
    assert fake.deleted_namespaces() == [NS]
    assert "pss-rt-main-restricted-audit-latest" in fake.namespaces


def test_keep_namespaces_keeps_them_after_an_error_too():
    fake = FakeCluster()
    _second_namespace_fails(fake)
    rt = runtime(fake, keep_namespaces=True)
    with pytest.raises(ClusterError):
        rt.execute_many([Submission(pod(), RESTRICTED, "a"), Submission(pod(), RESTRICTED_AUDIT, "b")])
    rt.cleanup()
    assert fake.deleted_namespaces() == [] and NS in fake.namespaces


def test_cleanup_after_items_deletes_every_namespace_once():
    fake = FakeCluster()
    rt = runtime(fake)
    rt.execute_many([Submission(pod(), RESTRICTED, "a"),
                     Submission(pod(), Policy(Level.BASELINE, Mode.WARN, LATEST), "b")])
    rt.cleanup()
    rt.cleanup()
    assert sorted(fake.deleted_namespaces()) == sorted([NS, "pss-rt-main-baseline-warn-latest"])


def test_items_of_a_policy_whose_namespace_failed_fail_at_once_and_the_others_run():
    """#11.10: a refused readiness probe once made every later item of the run fail with 409 AlreadyExists."""
    fake = FakeCluster()
    rt = runtime(fake)
    warn = Policy(Level.BASELINE, Mode.WARN, LATEST)
    probed = []

    def ready(policy, name):
        probed.append(policy)
        if policy == warn:
            raise ClusterError(f"namespace {name}: the readiness probe was refused by ValidatingAdmissionPolicy 'p' "
                               f"(binding 'b') (HTTP 422): no; PodSecurity labels cannot be confirmed")

    rt.ns.ready = ready
    work = [Submission(pod("a"), RESTRICTED, "a"), Submission(pod("b"), warn, "b"), Submission(pod("c"), warn, "c")]
    messages = set()
    for _ in range(3):  # as pytest runs later items (each file's prefetch): no new namespace, no new probe
        futures = rt.submit_many(work)
        results = [f.result(timeout=5) for f in futures]
        assert isinstance(results[0], Execution) and results[0].observation.outcome is Outcome.ADMITTED
        assert all(isinstance(r, ClusterError) for r in results[1:])
        messages |= {str(r) for r in results[1:]}
    assert len(messages) == 1 and "ValidatingAdmissionPolicy 'p'" in messages.pop()
    assert [op for op, _ in fake.calls].count("create_namespace") == 2
    assert probed == [RESTRICTED, warn]
    assert not any("AlreadyExists" in str(arg) for _, arg in fake.calls)
    with pytest.raises(ClusterError, match="ValidatingAdmissionPolicy 'p'"):  # all or nothing, as assess expects
        rt.execute_many(work)
    rt.cleanup()
    assert sorted(fake.deleted_namespaces()) == sorted([NS, "pss-rt-main-baseline-warn-latest"])


def test_a_failed_create_event_counts_only_with_podsecurity_s_exact_denial():
    """#11.9 on the --live controller path: a ValidatingAdmissionPolicy's copy of the denial is not PodSecurity's."""
    from harness.core.messages import podsecurity_event_denial

    denial = 'pods "d-5d8f-x1" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must ' \
             'not set securityContext.privileged=true)'
    # the forms kube-apiserver v1.37's controllers write (ReplicaSet/Job/RC, StatefulSet)
    assert podsecurity_event_denial(f"Error creating: {denial}", 37).checks == {"privileged"}
    assert podsecurity_event_denial(f"create Pod d-0 in StatefulSet d failed error: {denial}", 37) is not None
    copied = f"Error creating: pods \"d-5d8f-x1\" is forbidden: ValidatingAdmissionPolicy 'c' with binding 'b' " \
             f"denied request: {denial}"
    assert podsecurity_event_denial(copied, 37) is None
    fake = FakeCluster()
    rt = runtime(fake, live=True)
    ns = rt.namespace(RESTRICTED)
    fake.events_by_ns[ns] = [{"reason": "FailedCreate", "involvedObject": {"kind": "ReplicaSet", "name": "d-5d8f"},
                              "message": copied}]
    assert rt._await_failed_create(ns, "d", timeout=0.1)["reason"] is None
    rt.cleanup()
