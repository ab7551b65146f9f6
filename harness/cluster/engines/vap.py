"""A ValidatingAdmissionPolicy set as the engine under test (``--psa-engine vap``).

Two ways to name the set:

* **the project's** (default): ``policies/vap/`` as shipped (``harness.corpus.vapset.load_set``), scoped
  to the run (``vapset.scoped``: names suffixed with the run id, bindings limited to the run's
  namespaces). ``install`` creates the 19 policies and 76 bindings and waits until all of them act
  (below); ``uninstall`` deletes exactly those objects; ``sweep_orphans`` deletes the copies crashed
  runs left, by their labels, once older than the sweep age. The runner needs ``create``, ``delete``
  and ``list`` on ``validatingadmissionpolicies`` and ``validatingadmissionpolicybindings``
  (``permissions``: asked in the preflight);
* **the user's own**: ``--vap-binding-selector 'key={level}'`` (``{mode}``, ``{version}`` too) names the
  labels the user's bindings select; the harness only labels its namespaces so (and PodSecurity
  ``privileged``), installs nothing, and counts every ValidatingAdmissionPolicy as the engine.

**In effect.** The API server compiles policies and bindings into its admission hooks
asynchronously (``generic/policy_source.go``: a refresh after the informers change), so a fresh
set acts partly for a moment. After installing, ``install`` creates one namespace per level
labelled for all three modes and polls three probe pods (a Linux pod tripping most checks, a
user-namespaced one with ``procMount: Unmasked``, a Windows HostProcess one), as Pods and as
Deployments, until every binding the offline evaluator expects to answer has answered: the Pods'
denial (and, with an audit log, the ``[Deny, Audit]`` entries and the audit bindings' entries),
the warnings of the workload and warn bindings. A binding that never answers within 60 s is named
in the error. Each test namespace is then probed like PodSecurity's (``await_policy``): a privileged
pod must get the engine's answer in the namespace's mode; the preflight's ``canary`` is that answer
under ``restricted`` enforce (a denial by the set).

May import the core, ``harness.corpus.vapset``, ``harness.policy`` and the rest of ``harness.cluster``.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import Callable

from harness.cluster.audit import AuditSource
from harness.cluster.namespaces import OWNER, OWNER_LABEL, PROBE_POD, RUN_LABEL, created_at
from harness.cluster.seam import ClusterAPI
from harness.core.engines import VapEngine, engine_for
from harness.core.errors import AdmissionNotInEffect, ClusterError, HarnessError
from harness.core.expectations import Policy
from harness.core.kinds import as_kind
from harness.core.messages import VAP_VALIDATION_FAILURE, vap_audit_failures, vap_denial, vap_warning
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.core.polling import PollTimeout, poll
from harness.core.settings import HarnessConfig
from harness.corpus import vapset
from harness.policy import evaluate_object
from harness.policy import vap as vapdef

__all__ = ["READINESS_PROBES", "VapDriver", "apply_objects", "delete_objects"]

_API = "/apis/admissionregistration.k8s.io/v1"
_PLURAL = {"ValidatingAdmissionPolicy": "validatingadmissionpolicies",
           "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings"}
_IMAGE = "registry.k8s.io/pause:3.10"

#: pods that, together, trip every check a valid pod can trip at ``latest`` (baseline ``procMount`` cannot:
#: validation allows ``Unmasked`` only with ``hostUsers: false``, which relaxes it)
READINESS_PROBES = {
    "linux": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss-harness-vap-probe"}, "spec": {
        "hostPID": True,
        "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "65536"}],
                            "seLinuxOptions": {"type": "spc_t"}},
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "image": _IMAGE, "ports": [{"containerPort": 8080, "hostPort": 8080}],
                        "livenessProbe": {"tcpSocket": {"port": 8080, "host": "169.254.169.254"}},
                        "securityContext": {"privileged": True, "capabilities": {"add": ["NET_RAW"]},
                                            "seccompProfile": {"type": "Unconfined"},
                                            "appArmorProfile": {"type": "Unconfined"},
                                            "runAsNonRoot": False, "runAsUser": 0}}]}},
    "user-namespace": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss-harness-vap-probe-userns"},
                       "spec": {"hostUsers": False, "containers": [
                           {"name": "c", "image": _IMAGE, "securityContext": {"procMount": "Unmasked"}}]}},
    "windows": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss-harness-vap-probe-windows"}, "spec": {
        "os": {"name": "windows"}, "hostNetwork": True,
        "securityContext": {"windowsOptions": {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
        "containers": [{"name": "c", "image": _IMAGE}]}},
}
#: binding name suffix (before the run id) -> binding shape (``harness.policy.vap.BINDING_SHAPES``)
_SHAPES = {s.suffix: s for s in vapdef.BINDING_SHAPES}


def _path(obj: dict, name: str | None = None) -> str:
    return f"{_API}/{_PLURAL[obj['kind']]}" + (f"/{name}" if name else "")


def apply_objects(cluster: ClusterAPI, objects: list[dict]) -> list[dict]:
    """Create (or replace) ``objects``, policies first; the ones created. A refusal is one ClusterError naming the
    object and the fix."""
    done = []
    for obj in sorted(objects, key=lambda o: o["kind"] != "ValidatingAdmissionPolicy"):
        name = obj["metadata"]["name"]
        resp = cluster.request("POST", _path(obj), obj)
        if resp.status == 409:
            current = cluster.request("GET", _path(obj, name))
            body = copy.deepcopy(obj)
            body["metadata"]["resourceVersion"] = (current.body or {}).get("metadata", {}).get("resourceVersion", "")
            resp = cluster.request("PUT", _path(obj, name), body)
        if not resp.ok:
            fix = (" (the runner needs create and delete on validatingadmissionpolicies and "
                   "validatingadmissionpolicybindings, group admissionregistration.k8s.io)") if resp.status == 403 else ""
            raise ClusterError(f"installing {obj['kind']} {name}: HTTP {resp.status} {resp.reason}: "
                               f"{resp.message or resp.body}{fix}")
        done.append(obj)
    return done


def delete_objects(cluster: ClusterAPI, objects: list[dict]) -> list[str]:
    """Delete ``objects`` (bindings first; already gone is fine); the names that could not be deleted."""
    left = []
    for obj in sorted(objects, key=lambda o: o["kind"] == "ValidatingAdmissionPolicy"):
        name = obj["metadata"]["name"]
        resp = cluster.request("DELETE", _path(obj, name))
        if not resp.ok and resp.status != 404:
            left.append(f"{obj['kind']} {name} (HTTP {resp.status})")
    return left


class VapDriver:
    """``--psa-engine vap`` (see the module docstring)."""

    def __init__(self, cfg: HarnessConfig, objects: list[dict] | None = None):
        self.cfg = cfg
        self.installed: list[dict] = []
        if cfg.vap_binding_selector and objects is None:
            self.objects: list[dict] = []
            self.engine: VapEngine = engine_for("vap", selector=cfg.vap_binding_selector)
        else:
            self.objects = vapset.scoped(objects if objects is not None else vapset.load_set(), cfg.run_id)
            owned = frozenset(o["metadata"]["name"] for o in self.objects if o["kind"] == "ValidatingAdmissionPolicy")
            self.engine = engine_for("vap", owned=owned)
        self._suffix = f"-{cfg.run_id}"

    # -- what the run needs ----------------------------------------------------------------------------------

    def permissions(self) -> list[tuple[str, str, str, str]]:
        if not self.objects:
            return []
        return [(verb, "admissionregistration.k8s.io", plural, "")
                for plural in _PLURAL.values() for verb in ("create", "delete", "list")]

    # -- install / uninstall ----------------------------------------------------------------------------------

    def install(self, cluster: ClusterAPI, *, audit: AuditSource | None, server_minor: int,
                progress: Callable[[str], None] = lambda m: None, timeout: float = 60.0) -> None:
        """Create the scoped set and wait until every binding acts (nothing to do for the user's set)."""
        if not self.objects:
            return
        t0 = time.monotonic()
        policies = sum(o["kind"] == "ValidatingAdmissionPolicy" for o in self.objects)
        progress(f"installing the PSS-in-CEL ValidatingAdmissionPolicy set: {policies} policies, "
                 f"{len(self.objects) - policies} bindings (run {self.cfg.run_id})")
        self.installed = list(self.objects)  # a failure half-way removes what was created (the rest is a 404)
        try:
            apply_objects(cluster, self.objects)
            self._await_set(cluster, audit, timeout)
        except HarnessError:
            self.uninstall(cluster)
            raise
        progress(f"the ValidatingAdmissionPolicy set is in effect ({time.monotonic() - t0:.1f}s)")

    def uninstall(self, cluster: ClusterAPI) -> None:
        installed, self.installed = self.installed, []
        if installed:
            delete_objects(cluster, installed)

    def sweep_orphans(self, cluster: ClusterAPI, *, cutoff: float) -> list[str]:
        """Delete policy-set objects other runs installed before ``cutoff`` (seconds since the epoch)."""
        swept = []
        for kind, plural in sorted(_PLURAL.items(), key=lambda kv: kv[0] == "ValidatingAdmissionPolicy"):
            resp = cluster.request("GET", f"{_API}/{plural}", query={"labelSelector": f"{OWNER_LABEL}={OWNER}"})
            if not resp.ok:
                continue  # not allowed to list: nothing of ours can be told apart; the objects stay
            for obj in (resp.body or {}).get("items", []):
                meta = obj.get("metadata", {})
                if meta.get("labels", {}).get(RUN_LABEL) == self.cfg.run_id:
                    continue
                if created_at(meta.get("creationTimestamp", "")) < cutoff:
                    if cluster.request("DELETE", f"{_API}/{plural}/{meta['name']}").ok:
                        swept.append(f"{kind} {meta['name']}")
        return swept

    # -- the set in effect ---------------------------------------------------------------------------------

    def _check(self, policy_name: str) -> str | None:
        base = policy_name[:-len(self._suffix)] if policy_name.endswith(self._suffix) else policy_name
        return vapdef.check_of_policy(base)

    def _shape(self, binding: str) -> str:
        base = binding[:-len(self._suffix)] if binding.endswith(self._suffix) else binding
        return next((s for s in sorted(_SHAPES, key=len, reverse=True) if base.endswith("-" + s)), "?")

    def _await_set(self, cluster: ClusterAPI, audit: AuditSource | None, timeout: float) -> None:
        # one namespace per level and mode: under all three modes at once a workload draws two warnings per check,
        # past the API server's 4096-rune warning budget (warnings are then cut to 256 runes, and some dropped)
        tag = uuid.uuid4().hex[:4]  # a namespace of an earlier install may still be terminating
        names = {(lv, mode): f"pss-{self.cfg.run_id}-vap-ready-{tag}-{lv}-{mode}"
                 for lv in (Level.BASELINE, Level.RESTRICTED) for mode in Mode
                 if mode is not Mode.AUDIT or audit is not None}
        labels = {OWNER_LABEL: OWNER, RUN_LABEL: self.cfg.run_id, "pss-harness.io/policy": "vap-ready"}
        try:
            for (level, mode), name in names.items():
                cluster.create_namespace(name, {**labels, **self.engine.labels(Policy(level, mode, LATEST))},
                                         exist_ok=True)
            for name in names.values():
                cluster.wait_for("serviceaccounts", name, "default")
            wanted = self._wanted(audit is not None)
            try:
                poll(lambda: self._missing(cluster, names, audit, wanted), until=lambda missing: not missing,
                     timeout=timeout, interval=0.5, what="the ValidatingAdmissionPolicy set in effect")
            except PollTimeout as exc:
                detail = "; ".join(f"{lv} {shape}: {', '.join(sorted(checks))}"
                                   for (lv, shape), checks in sorted(exc.last.items()))
                raise ClusterError(f"the pss-harness ValidatingAdmissionPolicy set is not in effect after "
                                   f"{timeout:.0f}s: these bindings never answered their readiness probes: {detail} "
                                   "(is the ValidatingAdmissionPolicy admission plugin enabled? kube-apiserver "
                                   "--enable-admission-plugins; it is on by default since 1.30)") from None
        finally:
            for name in names.values():
                cluster.delete_namespace(name)

    def _wanted(self, with_audit: bool) -> dict[tuple[Level, str], set[str]]:
        """(level, binding shape) -> the checks the probes must draw from it (the offline evaluator's). Without an
        audit log a Pod's denial names one policy only, so the enforce bindings must merely deny each probe."""
        wanted: dict[tuple[Level, str], set[str]] = {}
        for level in (Level.BASELINE, Level.RESTRICTED):
            for pod in READINESS_PROBES.values():
                checks = set(evaluate_object(pod, level, LATEST).ids)
                for shape in _SHAPES.values():
                    if shape.suffix == "enforce" and not with_audit:
                        checks_here = {"(a denial of each probe pod)"} if checks else set()
                    elif shape.mode is Mode.AUDIT and not with_audit:
                        continue
                    else:
                        checks_here = checks
                    wanted.setdefault((level, shape.suffix), set()).update(checks_here)
        return wanted

    def _missing(self, cluster: ClusterAPI, names: dict, audit: AuditSource | None,
                 wanted: dict[tuple[Level, str], set[str]]) -> dict[tuple[Level, str], set[str]]:
        seen: dict[tuple[Level, str], set[str]] = {key: set() for key in wanted}
        undenied = {lv: False for lv, _ in names}
        for (level, mode), ns in names.items():
            for pod in READINESS_PROBES.values():
                for obj in (pod, as_kind(pod, "Deployment")):
                    resp = cluster.submit(obj, ns)
                    answers = [a for a in (vap_warning(w) for w in resp.warnings) if a]
                    denial = vap_denial(resp.message) if not resp.ok else None
                    if mode is Mode.ENFORCE and obj is pod and evaluate_object(pod, level, LATEST).ids and \
                            (denial is None or not self.engine.owns(denial.policy)):
                        undenied[level] = True
                    if denial is not None:
                        answers.append(denial)
                    if audit is not None and resp.audit_id and (mode is Mode.AUDIT or
                                                                (mode is Mode.ENFORCE and obj is pod)):
                        event = audit.find(resp.audit_id, timeout=2.0) or {}
                        answers += vap_audit_failures((event.get("annotations") or {}).get(VAP_VALIDATION_FAILURE))
                    for a in answers:
                        check = self._check(a.policy)
                        if check and self.engine.owns(a.policy):
                            seen.setdefault((level, self._shape(a.binding)), set()).add(check)
        for level, failed in undenied.items():
            if not failed:
                seen.setdefault((level, "enforce"), set()).add("(a denial of each probe pod)")
        missing = {key: checks - seen.get(key, set()) for key, checks in wanted.items()}
        return {k: v for k, v in missing.items() if v}

    # -- namespaces -----------------------------------------------------------------------------------------

    def await_policy(self, cluster: ClusterAPI, policy: Policy, name: str, *, audit: AuditSource | None,
                     server_minor: int, timeout: float = 15.0, interval: float = 0.2) -> None:
        """Poll until a privileged pod gets the set's answer in ``name`` under ``policy``'s mode, or raise naming
        what answered instead."""
        if policy.level is Level.PRIVILEGED or (policy.mode is Mode.AUDIT and audit is None):
            return
        audit_wait = 2.0 if policy.mode is Mode.AUDIT else 0.5

        def probe():
            resp = cluster.submit(PROBE_POD, name)
            obs = self.engine.observe(resp, server_minor, policy)
            if audit is not None and resp.audit_id:
                self.engine.attach_audit(obs, audit.find(resp.audit_id, timeout=audit_wait), server_minor, policy)
            return obs

        try:
            poll(probe, until=lambda obs: self.engine.answer(obs, policy.mode, server_minor) is not None,
                 timeout=timeout, interval=interval, what=f"the ValidatingAdmissionPolicy set in namespace {name}")
        except PollTimeout as exc:
            obs = exc.last
            by = f" by {obs.denied_by}" if obs.denied_by else ""
            raise ClusterError(
                f"namespace {name} is labelled {self.engine.labels(policy)} but for {timeout:.0f}s a privileged pod "
                f"was {obs.outcome}{by} (HTTP {obs.status}) there, with no {policy.mode} answer from the "
                f"ValidatingAdmissionPolicy set under test ({self.engine.describe()['title']}); do its bindings select "
                f"these labels?" + (f" Server message: {obs.message}" if obs.message else "")) from None

    def canary(self, cluster: ClusterAPI, namespace: str, *, audit: AuditSource | None, server_minor: int,
               timeout: float = 15.0) -> None:
        """Fail at once unless the set denies a privileged pod in ``namespace`` (restricted, enforce)."""
        policy = Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)
        try:
            poll(lambda: self.engine.observe(cluster.submit(PROBE_POD, namespace), server_minor, policy),
                 until=lambda obs: obs.outcome is Outcome.DENIED, timeout=timeout, interval=0.2,
                 what=f"the canary in {namespace}")
        except PollTimeout as exc:
            obs = exc.last
            labels = self.engine.labels(policy)
            if obs.outcome in (Outcome.ADMITTED, Outcome.WARNED):
                raise AdmissionNotInEffect(
                    f"the ValidatingAdmissionPolicy set is not in effect: namespace {namespace} is labelled {labels}, "
                    f"yet a privileged pod was {obs.outcome} (HTTP {obs.status}) for {timeout:.0f}s; do the set's "
                    "Deny bindings select these labels (--vap-binding-selector), and is the "
                    "ValidatingAdmissionPolicy admission plugin enabled?") from None
            raise ClusterError(f"the canary pod in {namespace} was refused by something other than the "
                               f"ValidatingAdmissionPolicy set under test ({obs.outcome}, HTTP {obs.status}): "
                               f"{obs.message}" + (f" ({obs.attribution})" if obs.attribution else "")) from None
