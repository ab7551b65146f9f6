"""The preflight (``harness.cluster.preflight``) through the fake cluster: RBAC, identity, the canary."""

from __future__ import annotations

import pytest

from harness.cluster.audit import AuditSource
from harness.cluster.preflight import RUNNER_PERMISSIONS, Preflight
from harness.cluster.runtime import Runtime
from harness.core.answers import Response
from harness.core.errors import AdmissionNotInEffect, ClusterError, ClusterPermissionError
from harness.core.settings import standalone

from fake_cluster import FakeCluster

CANARY_NS = "pss-pf-main-restricted-enforce-latest"


def runtime(fake: FakeCluster, audit: AuditSource | None = None, **cfg) -> Runtime:
    return Runtime(standalone(run_id="pf", **cfg), None, None, audit=audit, cluster=fake)


@pytest.fixture
def audit_log(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("")
    return log


def test_a_ready_cluster_passes_with_version_identity_and_the_canary_denied():
    fake = FakeCluster(version="v1.36.4", username="ci-bot", groups=["ci", "system:authenticated"])
    rt = runtime(fake)
    assert rt.preflight() == Preflight("v1.36.4", 36, "ci-bot", ["ci", "system:authenticated"], [])
    assert len([c for c in fake.calls if c[0] == "can_i"]) == len(RUNNER_PERMISSIONS)
    canary = [arg for op, arg in fake.calls if op == "submit"]
    assert canary == [("Pod", CANARY_NS, "pss-harness-canary", True)]  # dry-run, and no readiness probe first
    rt.cleanup()
    assert fake.deleted_namespaces() == [CANARY_NS]


def test_missing_rbac_lists_every_missing_permission_and_the_fix():
    fake = FakeCluster(username="ci-bot", denied={("update", "", "pods", "ephemeralcontainers"),
                                                  ("create", "apps", "deployments", ""),
                                                  ("list", "", "namespaces", "")})
    with pytest.raises(ClusterPermissionError) as info:
        runtime(fake).preflight()
    message = str(info.value)
    assert message.startswith("the runner identity 'ci-bot' lacks 3 permission(s): "
                              "list namespaces; update pods/ephemeralcontainers; create deployments (apps).")
    assert "Fix: kubectl apply -f rbac/pss-harness-runner.yaml and bind the ClusterRole 'pss-harness-runner' " \
           "to 'ci-bot'" in message
    assert "Least privilege" in message
    assert not [c for c in fake.calls if c[0] in ("create_namespace", "submit")]  # nothing was touched


def test_with_a_namespace_map_permissions_are_asked_in_each_mapped_namespace():
    fake = FakeCluster(denied={("create", "", "namespaces", "")})  # not needed with a map
    for name in ("team-a", "team-b"):  # every mode pinned, as the harness requires of a mapped namespace
        fake.add_namespace(name, {"pod-security.kubernetes.io/enforce": "restricted",
                                  "pod-security.kubernetes.io/enforce-version": "latest",
                                  "pod-security.kubernetes.io/warn": "restricted",
                                  "pod-security.kubernetes.io/warn-version": "latest",
                                  "pod-security.kubernetes.io/audit": "privileged",
                                  "pod-security.kubernetes.io/audit-version": "latest"})
    rt = runtime(fake, namespace_map={"restricted-enforce-latest": "team-a", "baseline-enforce-latest": "team-b"})
    assert rt.preflight().missing == []
    asked = [arg for op, arg in fake.calls if op == "can_i"]
    assert all(resource != "namespaces" for _, _, resource, _, _ in asked)
    assert {ns for *_, ns in asked} == {"team-a", "team-b"}
    assert [arg for op, arg in fake.calls if op == "submit"][0][1] == "team-a"


def test_an_admitted_canary_names_the_exemption_from_the_audit_event(audit_log):
    fake = FakeCluster(exempt="namespace", audit_log=audit_log)
    with pytest.raises(AdmissionNotInEffect) as info:
        runtime(fake, AuditSource(audit_log)).preflight()
    message = str(info.value)
    assert message.startswith(f"PodSecurity admission is not in effect: namespace {CANARY_NS} is labelled "
                              "pod-security.kubernetes.io/enforce=restricted, yet a privileged pod was admitted "
                              "(HTTP 201)")
    assert "the audit event says the request was exempt (exempt=namespace): remove the namespace exemption " \
           "from the PodSecurity AdmissionConfiguration" in message


@pytest.mark.parametrize("with_log", [True, False])
def test_an_admitted_canary_without_an_exemption_suggests_the_causes(audit_log, with_log):
    fake = FakeCluster(pod_security=False, audit_log=audit_log if with_log else None)
    with pytest.raises(AdmissionNotInEffect) as info:
        runtime(fake, AuditSource(audit_log) if with_log else None).preflight()
    assert "is the PodSecurity admission plugin disabled (--disable-admission-plugins=PodSecurity), or is the " \
           "namespace or the runner identity exempt in the AdmissionConfiguration?" in str(info.value)
    assert "exempt=" not in str(info.value)


def test_a_canary_refused_by_something_else_is_a_cluster_error_not_a_pass():
    def webhook(obj, namespace, dry_run):
        return Response("POST", f"/api/v1/namespaces/{namespace}/pods", {}, 403,
                        {"kind": "Status", "reason": "Forbidden", "message": 'admission webhook "deny.example.com" '
                                                                             "denied the request: no pods today"})
    fake = FakeCluster(refuse=webhook)
    rt = runtime(fake)
    with pytest.raises(ClusterError) as info:
        rt.preflight()
    assert not isinstance(info.value, AdmissionNotInEffect)
    assert str(info.value) == (f"the canary pod in {CANARY_NS} was refused by something other than PodSecurity "
                               "(denied-other, HTTP 403): admission webhook \"deny.example.com\" denied the "
                               "request: no pods today")
    rt.cleanup()  # cleanup on error: the canary namespace created before the error goes
    assert fake.deleted_namespaces() == [CANARY_NS]


def test_a_canary_answered_by_a_server_error_is_a_cluster_error():
    fake = FakeCluster(refuse=lambda obj, ns, dry: Response("POST", "/p", {}, 500, {
        "kind": "Status", "reason": "InternalError", "message": "etcdserver: request timed out"}))
    with pytest.raises(ClusterError, match=r"\(error, HTTP 500\): etcdserver: request timed out"):
        runtime(fake).preflight()


def test_a_canary_denial_the_audit_event_does_not_confirm_is_not_podsecurity(audit_log):
    """A layer that answers with PodSecurity's exact form is caught by the audit event (#11.9)."""
    def copycat(obj, namespace, dry_run):
        return Response("POST", f"/api/v1/namespaces/{namespace}/pods", {}, 403, {
            "kind": "Status", "reason": "Forbidden",
            "message": 'pods "pss-harness-canary" is forbidden: violates PodSecurity "restricted:latest": privileged '
                       '(container "canary" must not set securityContext.privileged=true)'})
    fake = FakeCluster(pod_security=False, refuse=copycat, audit_log=audit_log)
    rt = runtime(fake, AuditSource(audit_log))
    with pytest.raises(ClusterError) as info:
        rt.preflight()
    assert not isinstance(info.value, AdmissionNotInEffect)
    assert "(denied-other, HTTP 403)" in str(info.value)
    assert str(info.value).endswith("(the message has the form of a PodSecurity denial under 'restricted:latest', but "
                                    "the request's audit event has no pod-security.kubernetes.io/enforce-policy "
                                    "annotation: PodSecurity did not refuse it)")
    rt.cleanup()


def test_the_vap_engine_asks_for_its_install_permissions_and_names_the_role():
    fake = FakeCluster(username="ci-bot", denied={("create", "admissionregistration.k8s.io",
                                                   "validatingadmissionpolicies", "")})
    with pytest.raises(ClusterPermissionError) as info:
        runtime(fake, engine="vap").preflight()
    message = str(info.value)
    assert "lacks 1 permission(s): create validatingadmissionpolicies (admissionregistration.k8s.io)." in message
    assert "rbac/pss-harness-vap-installer.yaml" in message and "--vap-binding-selector" in message
    assert not [c for c in fake.calls if c[0] in ("create_namespace", "submit", "request")]  # nothing installed
    mine = runtime(FakeCluster(), engine="vap", vap_binding_selector="example.com/pss-{mode}={level}")
    assert mine.driver.permissions() == []  # the user's own set: nothing to install
