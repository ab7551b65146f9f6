"""Who refused a request, on the real server: PodSecurity's exact forms, ValidatingAdmissionPolicies, quotas (#11.9, #11.10).

Every policy here is a real ``admissionregistration.k8s.io/v1`` ValidatingAdmissionPolicy and binding,
created through the API of the session's embedded cluster and deleted after its test; the quotas
are real ResourceQuotas. The harness's classification (``harness.core.verdict``) and its namespace
probe (``harness.cluster.namespaces``) are driven through ``Runtime``, as a run drives them. One
test starts a second plane that exempts a namespace from PodSecurity.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
import xml.etree.ElementTree as ET

import pytest
import yaml

from _harness_run import run_harness
from harness.cluster.audit import AuditSource
from harness.cluster.client import Cluster
from harness.cluster.namespaces import PROBE_POD, RUN_LABEL, await_policy
from harness.cluster.runtime import Execution, Runtime, Submission
from harness.core.errors import ClusterError
from harness.core.expectations import Policy
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.core.polling import poll
from harness.core.settings import standalone
from harness.core.verdict import attach_audit, observe
from harness.embedded import EmbeddedCluster, Exemptions

pytestmark = pytest.mark.integration

ADMISSION = "/apis/admissionregistration.k8s.io/v1"
PAUSE = "registry.k8s.io/pause:3.10"
PRIVILEGED_TEXT = 'privileged (container "c" must not set securityContext.privileged=true)'
#: what a copying policy answers: PodSecurity's denial, word for word
COPIED_DENIAL = f'pods "p" is forbidden: violates PodSecurity "restricted:latest": {PRIVILEGED_TEXT}'
COPIED_WARNING = f'would violate PodSecurity "restricted:latest": {PRIVILEGED_TEXT}'
HARDENED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED = Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)
BASELINE_WARN = Policy(Level.BASELINE, Mode.WARN, LATEST)
BASELINE_AUDIT = Policy(Level.BASELINE, Mode.AUDIT, LATEST)


def pod(name: str, **security) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": PAUSE, "securityContext": security}]}}


@contextlib.contextmanager
def vap(client: Cluster, name: str, selector: dict, validation: dict, *, actions=("Deny",),
        resources=("pods", "pods/ephemeralcontainers"), probe: tuple[dict, str] | None = None):
    """A ValidatingAdmissionPolicy + binding for pods in namespaces matching ``selector``, deleted afterwards.

    ``probe=(obj, namespace)``: wait until the policy answers for that request (the API server
    picks up new policies asynchronously).
    """
    policy = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
              "metadata": {"name": name},
              "spec": {"failurePolicy": "Fail", "validations": [validation],
                       "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                               "operations": ["CREATE", "UPDATE"],
                                                               "resources": list(resources)}]}}}
    binding = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
               "metadata": {"name": f"{name}-b"},
               "spec": {"policyName": name, "validationActions": list(actions),
                        "matchResources": {"namespaceSelector": {"matchLabels": selector}}}}
    client.checked("POST", f"{ADMISSION}/validatingadmissionpolicies", policy, what=f"creating VAP {name}")
    client.checked("POST", f"{ADMISSION}/validatingadmissionpolicybindings", binding, what=f"binding VAP {name}")
    try:
        if probe is not None:
            obj, namespace = probe
            def answered() -> bool:
                resp = client.submit(obj, namespace)
                return f"ValidatingAdmissionPolicy '{name}'" in json.dumps([resp.body, resp.warnings])

            poll(answered, timeout=30, interval=0.2, what=f"VAP {name} to take effect")
        yield f"ValidatingAdmissionPolicy '{name}' (binding '{name}-b')"
    finally:
        client.request("DELETE", f"{ADMISSION}/validatingadmissionpolicybindings/{name}-b")
        client.request("DELETE", f"{ADMISSION}/validatingadmissionpolicies/{name}")


@contextlib.contextmanager
def namespace(client: Cluster, labels: dict, *, quota: bool = False):
    """A labelled namespace (with a ``pods: 0`` ResourceQuota if asked), deleted afterwards."""
    name = f"layers-{uuid.uuid4().hex[:8]}"
    client.create_namespace(name, labels)
    try:
        client.wait_for("serviceaccounts", name, "default")
        if quota:
            client.checked("POST", f"/api/v1/namespaces/{name}/resourcequotas",
                           {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "zero"},
                            "spec": {"hard": {"pods": "0"}}}, what="creating a quota")
            poll(lambda: "exceeded quota" in client.submit(pod("q"), name).message, timeout=30, interval=0.2,
                 what=f"the quota of {name} to take effect")
        yield name
    finally:
        client.delete_namespace(name)


def runtime(embedded, *, audit: bool = True, **cfg) -> Runtime:
    return Runtime(standalone(**cfg), str(embedded.kubeconfig), None,
                   audit=AuditSource(embedded.audit_log) if audit else None)


# -- #11.9: PodSecurity's exact forms ---------------------------------------------------------------

def test_podsecurity_denials_have_the_exact_form_for_pods_generate_name_and_ephemeral_containers(embedded, admin):
    audit = AuditSource(embedded.audit_log)
    with namespace(admin, RESTRICTED.labels()) as ns:
        generated = pod("", privileged=True)
        generated["metadata"] = {"generateName": "gen-"}
        running = admin.submit({**pod("base", **HARDENED),
                                "spec": {**pod("base", **HARDENED)["spec"], "schedulingGates": [{"name": "x/y"}]}},
                               ns, dry_run=False)
        assert running.status == 201, running.message
        answers = {
            "pod": admin.submit(pod("p", privileged=True), ns),
            "generateName": admin.submit(generated, ns),
            "ephemeralcontainers": admin.add_ephemeral_containers(
                running.body, ns, [{"name": "dbg", "image": "busybox", "securityContext": {"privileged": True}}]),
        }
        for what, resp in answers.items():
            assert (resp.status, resp.reason) == (403, "Forbidden"), (what, resp.message)
            name = {"pod": "p", "ephemeralcontainers": "base"}.get(what)
            container = "dbg" if what == "ephemeralcontainers" else "c"
            assert re.match(f'pods "{name}" is forbidden: ' if name else r'pods "gen-[a-z0-9]{5}" is forbidden: ',
                            resp.message), resp.message
            assert f'is forbidden: violates PodSecurity "restricted:latest": privileged (container "{container}" must ' \
                   f'not set securityContext.privileged=true)' in resp.message
            obs = observe(resp, 37)
            attach_audit(obs, audit.find(resp.audit_id), 37)
            assert (obs.outcome, obs.denied_by) == (Outcome.DENIED, "PodSecurity"), (what, obs)
            assert "privileged" in obs.checks
            assert obs.audit_annotations["pod-security.kubernetes.io/enforce-policy"] == "restricted:latest"


def test_a_vap_copying_podsecurity_is_denied_other_never_denied(embedded, admin):
    """A real VAP with ``reason: Forbidden`` whose message is PodSecurity's denial, word for word."""
    rt = runtime(embedded)
    try:
        ns = rt.namespace(RESTRICTED)
        copy = {"expression": "false", "reason": "Forbidden", "message": COPIED_DENIAL}
        with vap(admin, f"copycat-{rt.cfg.run_id}", {RUN_LABEL: rt.cfg.run_id}, copy,
                 probe=(pod("probe", **HARDENED), ns)) as policy:
            compliant = rt.execute(Submission(pod("ok", **HARDENED), RESTRICTED, "ok"))
            generated = pod("", **HARDENED)
            generated["metadata"] = {"generateName": "gen-"}
            by_generate_name = rt.execute(Submission(generated, RESTRICTED, "gen"))
            debug = rt.execute(Submission(pod("base", **HARDENED), RESTRICTED, "debug",
                                          update=[{"name": "dbg", "image": "busybox", "securityContext": HARDENED}]))
            privileged = rt.execute(Submission(pod("priv", privileged=True), RESTRICTED, "priv"))
        for result in (compliant, by_generate_name):
            obs = result.observation
            assert obs.status == 403 and re.match(r'pods "[a-z0-9-]+" is forbidden: ValidatingAdmissionPolicy', obs.message)
            assert COPIED_DENIAL in obs.message  # the server's answer quotes PodSecurity ...
            assert obs.outcome is Outcome.DENIED_OTHER and obs.denied_by == policy  # ... but it is the VAP's
            assert obs.checks == frozenset() and obs.violation is None
            assert "quotes PodSecurity's text" in obs.attribution
            # the audit event says PodSecurity evaluated the pod under the very policy the copy names, and let it through
            assert obs.audit_annotations == {"pod-security.kubernetes.io/enforce-policy": "restricted:latest"}
        # the update path: the running pod is created before the policy matters (it too is refused here)
        assert debug.observation.outcome is Outcome.ERROR and policy.split(" (")[0] in debug.observation.message
        # PodSecurity validates before the VAP: a privileged pod is still PodSecurity's denial
        assert (privileged.observation.outcome, privileged.observation.denied_by) == (Outcome.DENIED, "PodSecurity")
    finally:
        rt.cleanup()


def test_a_vap_copying_podsecurity_on_ephemeral_containers_is_denied_other(embedded, admin):
    rt = runtime(embedded)
    try:
        ns = rt.namespace(RESTRICTED)
        with vap(admin, f"eph-{rt.cfg.run_id}", {RUN_LABEL: rt.cfg.run_id},
                 {"expression": "false", "reason": "Forbidden", "message": COPIED_DENIAL},
                 resources=("pods/ephemeralcontainers",)) as policy:
            def attempt() -> Execution:
                return rt.execute(Submission(pod("base", **HARDENED), RESTRICTED, "debug",
                                             update=[{"name": "dbg", "image": "busybox", "securityContext": HARDENED}]))
            result = poll(attempt, until=lambda r: not r.observation.status == 200, timeout=30, interval=0.2,
                          what="the VAP on ephemeral containers to take effect")
        obs = result.observation
        assert obs.message.startswith(f"pods \"{result.manifest['pod']['metadata']['name']}\" is forbidden: "
                                      f"ValidatingAdmissionPolicy '{policy.split(chr(39))[1]}'"), obs.message
        assert (obs.outcome, obs.denied_by, obs.checks) == (Outcome.DENIED_OTHER, policy, frozenset())
        assert ns
    finally:
        rt.cleanup()


def test_a_vap_warn_action_copying_the_warning_is_not_a_podsecurity_warning(embedded, admin):
    with namespace(admin, {}) as ns:
        with vap(admin, f"warner-{ns}", {"kubernetes.io/metadata.name": ns},
                 {"expression": "false", "message": COPIED_WARNING}, actions=("Warn",)):
            resp = poll(lambda: admin.submit(pod("ok"), ns), until=lambda r: r.warnings, timeout=30, interval=0.2,
                        what="the Warn policy to take effect")
    assert resp.warnings == [f"Validation failed for ValidatingAdmissionPolicy 'warner-{ns}' with binding "
                             f"'warner-{ns}-b': {COPIED_WARNING}"]
    obs = observe(resp, 37)
    assert (obs.outcome, obs.violation) == (Outcome.ADMITTED, None)
    assert "does not start with 'would violate PodSecurity'" in obs.attribution


# -- #11.10: a VAP denial is 422 and denied-other --------------------------------------------------------

@pytest.mark.parametrize("validation, code, reason", [
    ({"expression": "false", "messageExpression": "'no pods named ' + object.metadata.name"}, 422, "Invalid"),
    ({"expression": "false", "message": "no pods here"}, 422, "Invalid"),
    ({"expression": "false", "reason": "Forbidden", "message": "no pods here"}, 403, "Forbidden"),
])
def test_a_vap_denial_is_denied_other_naming_the_policy(embedded, admin, schema_check, validation, code, reason):
    rt = runtime(embedded)
    try:
        ns = rt.namespace(BASELINE_WARN)
        name = f"deny-{uuid.uuid4().hex[:6]}"
        with vap(admin, name, {RUN_LABEL: rt.cfg.run_id}, validation, probe=(pod("probe"), ns)) as policy:
            result = rt.execute(Submission(pod("ok"), BASELINE_WARN, "ok"))
            invalid = rt.execute(Submission({**pod("bad"), "spec": {"containers": [{"name": "c"}]}},
                                            BASELINE_WARN, "bad"))
        obs = result.observation
        assert obs.status == code
        assert obs.message.startswith(f"pods \"ok\" is forbidden: ValidatingAdmissionPolicy '{name}' with binding "
                                      f"'{name}-b' denied request: no pods"), obs.message
        assert (obs.outcome, obs.denied_by) == (Outcome.DENIED_OTHER, f"ValidatingAdmissionPolicy '{name}' (binding '{name}-b')")
        assert policy == obs.denied_by
        if code == 422:
            assert obs.attribution == f"a ValidatingAdmissionPolicy denial (HTTP 422 {reason}), not a validation failure"
        record = obs.to_dict()
        assert (record["outcome"], record["denied_by"]) == ("denied-other", policy)
        schema_check(record, "results", definition="observed")
        # a true validation failure is refused before admission's validating phase: still invalid
        assert invalid.observation.status == 422 and "is invalid" in invalid.observation.message
        assert (invalid.observation.outcome, invalid.observation.denied_by) == (Outcome.INVALID, None)
    finally:
        rt.cleanup()


# -- #11.10: the namespace probe -----------------------------------------------------------------------

def test_a_vap_refusing_the_probe_in_a_warn_namespace_is_named_per_item_and_the_namespace_is_ready(embedded, admin):
    """The probe's refused answer still carries PodSecurity's warning: the labels are confirmed at once."""
    rt = runtime(embedded)
    try:
        selector = {RUN_LABEL: rt.cfg.run_id}
        probe_ns = rt.ns.name_for(BASELINE_WARN)
        check = {"expression": "!object.spec.containers.exists(c, has(c.securityContext) && "
                               "has(c.securityContext.privileged) && c.securityContext.privileged)",
                 "message": "privileged containers are not allowed"}
        with vap(admin, f"noprv-{rt.cfg.run_id}", selector, check) as policy:
            # the policy is in effect before the namespace exists (checked on another namespace of the run)
            with namespace(admin, {**BASELINE_WARN.labels(), RUN_LABEL: rt.cfg.run_id}) as other:
                poll(lambda: admin.submit(PROBE_POD, other).status == 422, timeout=30, interval=0.2,
                     what="the VAP to take effect")
            t0 = time.monotonic()
            futures = rt.submit_many([Submission(pod(f"p{i}", privileged=True), BASELINE_WARN, f"p{i}")
                                      for i in range(5)])
            results = [f.result(timeout=60) for f in futures]
            took = time.monotonic() - t0
        assert all(isinstance(r, Execution) for r in results), results
        assert rt.ns.by_policy[BASELINE_WARN] == probe_ns and not rt.ns.failed
        for r in results:
            obs = r.observation
            assert (obs.status, obs.outcome, obs.denied_by) == (422, Outcome.DENIED_OTHER, policy)
            assert any(w.startswith('would violate PodSecurity "baseline:latest": privileged') for w in obs.warnings)
        assert took < 10, f"{took:.1f}s for the namespace and 5 items"
    finally:
        rt.cleanup()


@pytest.fixture(scope="module")
def exempting():
    """A second plane that exempts namespace ``exempt-ns`` from PodSecurity (side by side with the session's)."""
    with EmbeddedCluster(exemptions=Exemptions(namespaces=("exempt-ns",))) as plane:
        client = Cluster(plane.kubeconfig)
        client.create_namespace("exempt-ns", RESTRICTED.labels())
        client.wait_for("serviceaccounts", "exempt-ns", "default")
        yield plane, client


def test_a_vap_refusing_the_probe_where_podsecurity_cannot_answer_is_named_in_one_message(exempting):
    plane, client = exempting
    with vap(client, "noprobe", {"kubernetes.io/metadata.name": "exempt-ns"},
             {"expression": "false", "message": "no pods in this namespace"}, probe=(PROBE_POD, "exempt-ns")):
        # without the audit log: the probe is repeated to its deadline, and the VAP is named
        with pytest.raises(ClusterError) as info:
            await_policy(client, RESTRICTED, "exempt-ns", audit=None, server_minor=37, timeout=1)
        assert str(info.value) == (
            "namespace exempt-ns: the readiness probe was refused by ValidatingAdmissionPolicy 'noprobe' (binding "
            "'noprobe-b') (HTTP 422): pods \"pss-harness-canary\" is forbidden: ValidatingAdmissionPolicy 'noprobe' "
            "with binding 'noprobe-b' denied request: no pods in this namespace (a ValidatingAdmissionPolicy denial "
            "(HTTP 422 Invalid), not a validation failure); PodSecurity labels cannot be confirmed (labelled "
            "{'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': "
            "'latest', 'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/warn-version': "
            "'latest', 'pod-security.kubernetes.io/audit': 'privileged', 'pod-security.kubernetes.io/"
            "audit-version': 'latest'}; no PodSecurity enforce answer in 1s)")
        # with it: the audit event names the exemption, at once
        t0 = time.monotonic()
        with pytest.raises(ClusterError, match=r"^namespace exempt-ns: the readiness probe's audit event says "
                                               r"exempt=namespace: namespace exempt-ns is exempt from PodSecurity"):
            await_policy(client, RESTRICTED, "exempt-ns", audit=AuditSource(plane.audit_log), server_minor=37)
        assert time.monotonic() - t0 < 3


def test_items_mapped_onto_an_unconfirmable_namespace_fail_at_once_with_one_message(exempting):
    plane, client = exempting
    rt = Runtime(standalone(namespace_map={RESTRICTED.label: "exempt-ns"}), str(plane.kubeconfig), None,
                 audit=AuditSource(plane.audit_log))
    probes_before = _probe_events(plane)
    try:
        t0 = time.monotonic()
        results = []
        for i in range(20):  # 20 items, each asking for its namespace as a pytest item does
            results += [f.result(timeout=60) for f in rt.submit_many([Submission(pod(f"p{i}"), RESTRICTED, "p")])]
        took = time.monotonic() - t0
    finally:
        rt.cleanup()
    assert all(isinstance(r, ClusterError) for r in results)
    assert len({str(r) for r in results}) == 1 and "exempt=namespace" in str(results[0])
    assert not any("AlreadyExists" in str(r) for r in results)
    assert took < 5, f"{took:.1f}s for 20 items"
    assert _probe_events(plane) - probes_before == 1  # probed once, not once per item


def _probe_events(plane) -> int:
    return sum('"pss-harness-canary"' in line and '"exempt-ns"' in line and "ResponseComplete" in line
               for line in plane.audit_log.read_text().splitlines())


# -- #11.10: a ResourceQuota in a warn (or audit) namespace ---------------------------------------------

@pytest.mark.parametrize("policy", [BASELINE_WARN, BASELINE_AUDIT], ids=lambda p: p.label)
def test_a_quota_refusing_the_probe_confirms_the_labels_at_once(embedded, admin, policy):
    """ResourceQuota comes after PodSecurity: the refused probe carries the warning (the audit annotation)."""
    audit = AuditSource(embedded.audit_log)
    with namespace(admin, policy.labels(), quota=True) as ns:
        probe = admin.submit(PROBE_POD, ns)
        assert (probe.status, probe.reason) == (403, "Forbidden") and "exceeded quota: zero" in probe.message
        event = audit.find(probe.audit_id)
        if policy.mode is Mode.WARN:
            assert probe.warnings == ['would violate PodSecurity "baseline:latest": privileged (container "canary" '
                                      'must not set securityContext.privileged=true)']
        else:
            assert event["annotations"]["pod-security.kubernetes.io/audit-violations"].startswith(
                'would violate PodSecurity "baseline:latest": privileged')
        rt = Runtime(standalone(namespace_map={policy.label: ns}), str(embedded.kubeconfig), None, audit=audit)
        try:
            durations = []
            for i in range(5):
                t0 = time.monotonic()
                result = rt.execute(Submission(pod(f"p{i}", privileged=True), policy, "p"))
                durations.append(time.monotonic() - t0)
                obs = result.observation
                assert (obs.outcome, obs.denied_by) == (Outcome.DENIED_OTHER, "ResourceQuota 'zero'")
        finally:
            rt.cleanup()
    # before #11.10 the first item waited out the probe's 15 s deadline, and so did every later one
    assert durations[0] < 5 and max(durations[1:]) < 3, [round(d, 2) for d in durations]


def test_a_run_mapped_onto_quota_namespaces_is_fast_and_names_the_quota(embedded, admin, tmp_path, schema_check):
    """End to end: ``pytest scenarios --psa-namespace-map`` onto warn namespaces that hold a ``pods: 0`` quota."""
    with contextlib.ExitStack() as stack:
        enforce = stack.enter_context(namespace(admin, RESTRICTED.labels()))  # the canary's
        mapping = {RESTRICTED.label: enforce}
        for level in (Level.BASELINE, Level.RESTRICTED):
            p = Policy(level, Mode.WARN, LATEST)
            mapping[p.label] = stack.enter_context(namespace(admin, p.labels(), quota=True))
        (tmp_path / "map.yaml").write_text(yaml.safe_dump(mapping))
        run = run_harness(embedded, tmp_path / "w", "--psa-namespace-map", str(tmp_path / "map.yaml"),
                          "--psa-modes", "warn", "--psa-levels", "baseline,restricted", "--psa-versions", "latest",
                          run_id="quotarun")
    results = json.loads((run.evidence / "results.json").read_text())
    schema_check(results, "results")
    items = results["results"]
    assert items and {r["policy"]["mode"] for r in items} == {"warn"}, run.log[-3000:]
    pods = [r for r in items if r["kind"] == "Pod"]
    others = [r for r in items if r["kind"] != "Pod"]
    assert pods and others
    for r in pods:  # refused by the quota, named, and never a 409 or a namespace error
        assert (r["observed"]["outcome"], r["observed"]["denied_by"]) == ("denied-other", "ResourceQuota 'zero'"), r
        assert r["result"] == "failed" and any("(refused by ResourceQuota 'zero')" in p for p in r["problems"]), r
    assert all(r["observed"] is not None for r in items), [r["problems"] for r in items if r["observed"] is None]
    assert all(r["result"] == "passed" for r in others if r["scenario"] != "mislabelled-pod"), \
        [(r["name"], r["problems"]) for r in others if r["result"] != "passed"]
    assert "AlreadyExists" not in run.log and "cannot be confirmed" not in run.log
    # each item's own time (JUnit: the namespace it waits for included): before #11.10 every item of a
    # mapped warn namespace re-probed it until the 15 s deadline
    times = sorted(float(case.get("time")) for case in ET.parse(run.junit).getroot().iter("testcase"))
    assert len(times) == len(items) and times[-1] < 5, times
