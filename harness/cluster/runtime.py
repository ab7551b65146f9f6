"""One process's view of the run: the target, its namespaces, and how an item is executed.

``Runtime`` owns the ``Cluster`` connection, creates one namespace per policy on first use
(labelled for that policy plus run-id/owner labels; it waits for the ``default`` ServiceAccount),
deletes them at the end (also on Ctrl-C, via the pytest session teardown and an ``atexit``
safety net), sweeps namespaces of crashed runs, runs the preflight, and executes an item:
build the object, submit it (dry-run unless ``--live``), observe, and fetch the audit event.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import copy
import dataclasses
import json
import os
import re
import shlex
import subprocess
import threading
import time
import uuid
from pathlib import Path

from harness.cluster.client import Cluster, Response
from harness.core.settings import HarnessConfig
from harness.core.errors import AdmissionNotInEffect, ClusterError, ClusterPermissionError, UsageError
from harness.core.expectations import Policy, expected
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.corpus.scenarios import Scenario
from harness.core.kinds import CONTROLLER_KINDS, as_kind
from harness.core.verdict import Observation, attach_audit, observe

__all__ = ["AuditSource", "Execution", "Preflight", "Runtime", "RUNNER_PERMISSIONS", "Submission"]

OWNER_LABEL = "app.kubernetes.io/managed-by"
RUN_LABEL = "pss-harness.io/run-id"
POLICY_LABEL = "pss-harness.io/policy"
OWNER = "pss-harness"
NEVER_SCHEDULE_GATE = "pss-harness.io/never-schedule"

# (verb, group, resource, subresource): what a run needs, per docs/rbac
RUNNER_PERMISSIONS = [
    ("create", "", "namespaces", ""), ("delete", "", "namespaces", ""), ("list", "", "namespaces", ""),
    ("get", "", "serviceaccounts", ""),
    ("create", "", "pods", ""), ("delete", "", "pods", ""), ("update", "", "pods", "ephemeralcontainers"),
    ("create", "", "podtemplates", ""), ("create", "", "replicationcontrollers", ""),
    ("create", "apps", "deployments", ""), ("create", "apps", "replicasets", ""),
    ("create", "apps", "statefulsets", ""), ("create", "apps", "daemonsets", ""),
    ("create", "batch", "jobs", ""), ("create", "batch", "cronjobs", ""),
]
_CANARY_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss-harness-canary"},
    "spec": {"containers": [{"name": "canary", "image": "registry.k8s.io/pause:3.10",
                             "securityContext": {"privileged": True}}]},
}


class AuditSource:
    """Finds the audit event of a request by its ``Audit-Id``: a JSON-lines file, or ``!COMMAND``.

    Thread-safe. A file is read from its size at creation on (earlier events are not this
    process's); lines are indexed by ``auditID`` unparsed and only the events asked for are
    decoded, since most of what a process reads is other processes' requests.
    """

    _ID = re.compile(rb'"auditID"\s*:\s*"([^"]+)"')
    _COMPLETE = re.compile(rb'"stage"\s*:\s*"ResponseComplete"')

    def __init__(self, spec: str):
        self.spec = spec
        self._offset = 0
        self._index: dict[str, bytes] = {}
        self._lock = threading.Lock()
        if not spec.startswith("!"):
            if not Path(spec).exists():
                raise UsageError(f"--audit-log {spec}: no such file (use '!COMMAND' to run a command)")
            self._offset = Path(spec).stat().st_size  # earlier events cannot be this process's

    def _read(self) -> None:
        if self.spec.startswith("!"):
            try:
                out = subprocess.run(shlex.split(self.spec[1:]), capture_output=True, timeout=60).stdout
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ClusterError(f"--audit-log command {self.spec[1:]!r} failed: {exc}") from None
            lines = out.splitlines()
        else:
            with open(self.spec, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < self._offset:  # rotated or truncated: start over
                    self._offset = 0
                fh.seek(self._offset)
                data = fh.read()
            end = data.rfind(b"\n") + 1
            self._offset += end
            lines = data[:end].splitlines()
        for line in lines:
            if not self._COMPLETE.search(line):
                continue
            m = self._ID.search(line)
            if m:
                self._index[m.group(1).decode()] = line

    def _take(self, audit_id: str) -> dict | None:
        line = self._index.pop(audit_id, None)
        if line is None:
            return None
        try:
            event = json.loads(line)
        except ValueError:
            return None
        return event if event.get("auditID") == audit_id and event.get("stage") == "ResponseComplete" else None

    def find(self, audit_id: str, timeout: float = 5.0) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if audit_id not in self._index:
                    self._read()
                if audit_id in self._index:
                    return self._take(audit_id)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


@dataclasses.dataclass
class Preflight:
    """What the preflight found, for the report header and the evidence."""

    server_version: str
    server_minor: int
    identity: str
    groups: list[str]
    missing: list[str]


@dataclasses.dataclass
class Execution:
    """One executed item: what was sent, what came back."""

    namespace: str
    request: dict            #: verb, path, dryRun, namespace policy
    manifest: dict           #: the object sent
    observation: Observation
    started: float
    duration: float
    controller: dict | None = None  #: --live: the controller's FailedCreate event for its pods, if awaited


class Runtime:
    """Everything one pytest process (controller or xdist worker) needs to run items."""

    def __init__(self, cfg: HarnessConfig, kubeconfig: str, context: str | None, *, audit: AuditSource | None,
                 worker: str = "main", server_minor: int | None = None, concurrency: int = 8):
        self.cfg = cfg
        self.concurrency = concurrency
        self.cluster = Cluster(kubeconfig, context)
        self.audit = audit
        self.worker = worker
        self._namespaces: dict[Policy, str] = {}
        self._created: list[str] = []
        self._server_minor = server_minor
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        atexit.register(self.cleanup)

    @property
    def server_minor(self) -> int:
        if self._server_minor is None:
            info = self.cluster.server_version()
            self._server_minor = int("".join(ch for ch in info.get("minor", "0") if ch.isdigit()) or 0)
        return self._server_minor

    # -- preflight ---------------------------------------------------------------------

    def preflight(self) -> Preflight:
        """Version, identity, RBAC (SelfSubjectAccessReview) and the enforcement canary."""
        info = self.cluster.server_version()
        who = self.cluster.whoami()
        missing = []
        mapped = sorted(set(self.cfg.namespace_map.values()))
        for verb, group, resource, sub in RUNNER_PERMISSIONS:
            if mapped and resource == "namespaces":
                continue
            if not all(self.cluster.can_i(verb, resource, group, namespace=ns, subresource=sub)
                       for ns in (mapped or [None])):
                missing.append(f"{verb} {resource}{'/' + sub if sub else ''}{' (' + group + ')' if group else ''}")
        if missing:
            raise ClusterPermissionError(
                f"the runner identity {who['username']!r} lacks {len(missing)} permission(s): "
                f"{'; '.join(missing)}.\nFix: kubectl apply -f rbac/pss-harness-runner.yaml and bind the ClusterRole "
                f"'pss-harness-runner' to {who['username']!r} (see the README's 'Least privilege' section), or run as an identity that has it.")
        pf = Preflight(info.get("gitVersion", "?"), self.server_minor, who["username"], who["groups"], missing)
        self.canary()
        return pf

    def canary(self) -> None:
        """Fail at once if a namespace labelled enforce=restricted admits a privileged pod."""
        ns = self.namespaces([Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)], probe=False)[
            Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)]
        resp = self.cluster.submit(_CANARY_POD, ns)
        obs = observe(resp, self.server_minor)
        if obs.outcome.value == "denied":
            return
        if obs.outcome.value in ("admitted", "warned"):
            event = self.audit.find(resp.audit_id, timeout=2) if self.audit and resp.audit_id else None
            exempt = ((event or {}).get("annotations") or {}).get("pod-security.kubernetes.io/exempt")
            cause = (f"the audit event says the request was exempt (exempt={exempt}): remove the "
                     f"{exempt} exemption from the PodSecurity AdmissionConfiguration" if exempt else
                     "is the PodSecurity admission plugin disabled (--disable-admission-plugins=PodSecurity), "
                     "or is the namespace or the runner identity exempt in the AdmissionConfiguration?")
            raise AdmissionNotInEffect(
                f"PodSecurity admission is not in effect: namespace {ns} is labelled "
                f"pod-security.kubernetes.io/enforce=restricted, yet a privileged pod was admitted "
                f"(HTTP {resp.status}); {cause}")
        raise ClusterError(f"the canary pod in {ns} was refused by something other than PodSecurity "
                           f"({obs.outcome}, HTTP {resp.status}): {obs.message}")

    # -- namespaces ----------------------------------------------------------------------

    def namespace_name(self, policy: Policy) -> str:
        version = str(policy.version).replace(".", "-")
        return f"pss-{self.cfg.run_id}-{self.worker}-{policy.level}-{policy.mode}-{version}"[:63].rstrip("-")

    def namespace(self, policy: Policy) -> str:
        """The namespace for ``policy``, created (and ready) on first use."""
        return self.namespaces([policy])[policy]

    def namespaces(self, policies, *, probe: bool = True) -> dict[Policy, str]:
        """Namespaces for ``policies``: new ones are all created first, then awaited together.

        ``probe``: also wait until their PodSecurity labels are in effect (the canary does not:
        it is the probe that tells a disabled admission plugin from a slow cache).
        """
        fresh = {}
        for policy in dict.fromkeys(policies):
            if policy in self._namespaces or policy in fresh:
                continue
            if self.cfg.namespace_map:
                name = self.cfg.namespace_map.get(policy.label)
                if not name:
                    raise UsageError(f"--psa-namespace-map has no namespace for policy {policy.label!r}; "
                                     f"add '{policy.label}: <namespace labelled {policy.labels()}>'")
                self._check_labels(name, policy)
            else:
                name = self.namespace_name(policy)
                labels = {**policy.labels(), OWNER_LABEL: OWNER, RUN_LABEL: self.cfg.run_id,
                          POLICY_LABEL: policy.label}
                self.cluster.create_namespace(name, labels)
                self._created.append(name)
            fresh[policy] = name
        for policy, name in fresh.items():  # the ServiceAccount admission plugin needs "default"
            self.cluster.wait_for("serviceaccounts", name, "default", timeout=60)
            if probe:
                self._await_policy(policy, name)
            self._namespaces[policy] = name
        return {p: self._namespaces[p] for p in policies}

    def _await_policy(self, policy: Policy, name: str, timeout: float = 15.0) -> None:
        """Poll until the namespace's labels are in effect (PodSecurity reads namespaces from a cache).

        A privileged pod is refused (enforce), warned about (warn) or recorded (audit, when the
        audit log can be read) at every baseline or restricted version; privileged namespaces
        and audit without a log have nothing to observe.
        """
        if policy.level is Level.PRIVILEGED or (policy.mode is Mode.AUDIT and self.audit is None):
            return
        want = {Mode.ENFORCE: "denied", Mode.WARN: "warned", Mode.AUDIT: "admitted"}[policy.mode]
        deadline = time.monotonic() + timeout
        while True:
            resp = self.cluster.submit(_CANARY_POD, name)
            obs = observe(resp, self.server_minor)
            if obs.outcome.value == want and policy.mode is Mode.AUDIT:
                attach_audit(obs, self.audit.find(resp.audit_id, timeout=2), self.server_minor)
                if obs.audit_violation is not None:
                    return
            elif obs.outcome.value == want:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"namespace {name} is labelled {policy.labels()} but a privileged pod was "
                                   f"{obs.outcome} there for {timeout:.0f}s: the PodSecurity labels are not in effect")
            time.sleep(0.2)

    def _check_labels(self, name: str, policy: Policy) -> None:
        resp = self.cluster.checked("GET", f"/api/v1/namespaces/{name}", what=f"reading namespace {name}")
        labels = resp.body.get("metadata", {}).get("labels", {})
        wrong = {k: v for k, v in policy.labels().items() if labels.get(k) != v}
        if wrong:
            raise UsageError(f"namespace {name} (mapped to {policy.label}) must carry the labels {wrong}; "
                             f"it has {labels}")

    def sweep_orphans(self) -> list[str]:
        """Delete namespaces of earlier runs older than the sweep age (crashed runs leave them)."""
        swept = []
        if self.cfg.namespace_map:
            return swept
        cutoff = time.time() - self.cfg.sweep_after_minutes * 60
        for ns in self.cluster.list_namespaces(f"{OWNER_LABEL}={OWNER}"):
            meta = ns["metadata"]
            if meta.get("labels", {}).get(RUN_LABEL) == self.cfg.run_id:
                continue
            created = time.mktime(time.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            if created < cutoff and ns.get("status", {}).get("phase") != "Terminating":
                self.cluster.delete_namespace(meta["name"])
                swept.append(meta["name"])
        return swept

    def cleanup(self) -> None:
        """Delete the namespaces this process created (unless ``--keep-namespaces``)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.cfg.keep_namespaces:
            return
        created, self._created = self._created, []
        for name in created:
            self.cluster.delete_namespace(name)
        self._namespaces.clear()

    # -- execution -----------------------------------------------------------------------

    def execute(self, submission: "Submission") -> Execution:
        """Submit one item and observe the answer (see ``execute_many`` for the concurrent form)."""
        result = self.execute_many([submission])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def execute_many(self, work: list["Submission"]) -> list[Execution | BaseException]:
        """Execute submissions concurrently; results (or the exception each raised) in ``work`` order."""
        return [f.result() for f in self.submit_many(work)]

    def submit_many(self, work: list["Submission"]) -> list[concurrent.futures.Future]:
        """Start submissions on the pool; one future per submission, never raising.

        Namespaces are prepared first, in the calling thread. Each submission still makes its
        own request and gets its own observation (with its audit event); a caller judging the
        first results while later ones are in flight keeps the API server and this process busy.
        """
        self.namespaces([w.policy for w in work])
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max(1, self.concurrency),
                                                               thread_name_prefix="pss-submit")
        return [self._pool.submit(_capture, self._execute_one, w) for w in work]

    def _execute_one(self, w: "Submission") -> Execution:
        result = self._send(w)
        if self.audit is not None and result.observation.audit_id:
            # every mode: evidence for the report, and exemptions explain surprises
            wait = 5.0 if w.policy.mode is Mode.AUDIT else 0.5
            event = self.audit.find(result.observation.audit_id, timeout=wait)
            attach_audit(result.observation, event, self.server_minor)
        return result

    def submission(self, scenario: Scenario, kind: str, policy: Policy) -> "Submission":
        """The request a scenario item makes."""
        pods_denied = policy.mode is Mode.ENFORCE and \
            expected(scenario, "Pod", policy, self.server_minor).outcome is Outcome.DENIED
        update = scenario.update["ephemeralContainers"] if scenario.update else None
        return Submission(as_kind(scenario.manifest, kind), policy, scenario.id, update, pods_denied)

    def _send(self, w: "Submission") -> Execution:
        ns = self._namespaces[w.policy]
        dry_run = not self.cfg.live
        started = time.time()
        t0 = time.monotonic()
        # the submission stays as it was (it may be sent again): only metadata is changed here,
        # except on the update path, which also edits the spec
        if w.update is not None:
            manifest = copy.deepcopy(w.manifest)
        else:
            manifest = {**w.manifest, "metadata": dict(w.manifest.get("metadata") or {})}
        manifest["metadata"].pop("namespace", None)
        kind = manifest.get("kind", "")
        if w.update is not None:
            resp, manifest = self._update_path(manifest, w.update, w.stem, ns, dry_run)
        else:
            if not dry_run:  # real objects: one name per kind, so controllers' events are attributable
                manifest["metadata"]["name"] = f"{w.stem[:48]}-{kind.lower()}"[:63]
                manifest["metadata"].pop("generateName", None)
            resp = self.cluster.submit(manifest, ns, dry_run=dry_run)
        controller = None
        if not dry_run and resp.ok and w.update is None:
            name = manifest["metadata"]["name"]
            if kind in CONTROLLER_KINDS and w.pods_denied:
                controller = self._await_failed_create(ns, name)
            self.cluster.delete(kind, ns, name)
        obs = observe(resp, self.server_minor)
        request = {"verb": resp.method, "path": resp.path, "dryRun": "All" if dry_run else None,
                   "namespace": ns, "policy": w.policy.labels()}
        return Execution(ns, request, manifest, obs, started, time.monotonic() - t0, controller)

    def _await_failed_create(self, ns: str, name: str, timeout: float = 45.0) -> dict:
        """Wait for the controller's ``FailedCreate`` event carrying the PodSecurity denial."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.cluster.events(ns):
                involved = ev.get("involvedObject", {}).get("name", "")
                msg = ev.get("message", "")
                if ev.get("reason") == "FailedCreate" and involved.startswith(name) and "PodSecurity" in msg:
                    return {"reason": "FailedCreate", "object": f"{ev['involvedObject'].get('kind')}/{involved}",
                            "message": msg}
            time.sleep(0.5)
        return {"reason": None, "object": None, "message": f"no FailedCreate event within {timeout:.0f}s"}

    def _update_path(self, base: dict, containers: list, stem: str, ns: str, dry_run: bool) -> tuple[Response, dict]:
        """Create the compliant pod for real (gated so it never runs), then add the ephemeral containers."""
        base["metadata"]["name"] = f"{stem[:56]}-{uuid.uuid4().hex[:6]}"
        if dry_run:
            base.setdefault("spec", {}).setdefault("schedulingGates", []).append({"name": NEVER_SCHEDULE_GATE})
        created = self.cluster.submit(base, ns, dry_run=False)
        if not created.ok:  # the update was never attempted: an error, not a verdict
            refused = Response(created.method, created.path, created.query, 0, created.body, created.warnings,
                               created.audit_id, created.elapsed,
                               transport_error=f"the running pod of the update path was refused "
                                               f"(HTTP {created.status}): {created.message}")
            return refused, base
        try:
            resp = self.cluster.add_ephemeral_containers(created.body, ns, containers, dry_run=dry_run)
        finally:
            self.cluster.request("DELETE", f"/api/v1/namespaces/{ns}/pods/{base['metadata']['name']}",
                                 {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
        return resp, {"pod": base, "ephemeralContainers": containers}


@dataclasses.dataclass(frozen=True)
class Submission:
    """One request to make: an object into the namespace of a policy (optionally the update path)."""

    manifest: dict                  #: the object (a deep copy is sent; metadata.namespace is dropped)
    policy: Policy
    stem: str                       #: name stem for real objects (scenario id or object name)
    update: list | None = None      #: ephemeral containers to add to the created pod (kubectl debug)
    pods_denied: bool = False       #: --live: the controller must meet a PodSecurity denial


def _capture(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # returned, and raised by the item that owns it
        return exc
