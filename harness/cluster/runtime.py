"""One process's view of the run: the target, its namespaces, and how an item is executed.

``Runtime`` holds the cluster connection (any ``ClusterAPI``; by default a ``Cluster`` built from
the kubeconfig), the process's ``Namespaces`` (the janitor, ``harness.cluster.namespaces``) and
the audit source and the engine under test (``--psa-engine``: a ``harness.cluster.engines`` driver,
whose core ``Engine`` labels the namespaces and classifies the answers), runs the preflight
(``harness.cluster.preflight``; the engine is installed between its RBAC check and its canary),
and executes items: build the object (``Submission``), submit it (dry-run unless ``--live``; the
update path creates a gated pod and adds ephemeral containers), observe the answer and fetch its
audit event (``Execution``). Namespaces are deleted at the end, also on Ctrl-C (the pytest session teardown,
and an ``atexit`` safety net).

May import the core, the corpus's ``Scenario`` and the rest of ``harness.cluster``.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import copy
import dataclasses
import time
import uuid
from typing import Callable

from harness.cluster.audit import AuditSource
from harness.cluster.client import Cluster
from harness.cluster.engines import EngineDriver, driver_for
from harness.cluster.incluster import InCluster
from harness.cluster.namespaces import Namespaces, await_policy
from harness.cluster.preflight import Preflight, parse_minor, run_preflight
from harness.cluster.seam import ClusterAPI
from harness.core.answers import Response
from harness.core.expectations import Policy, expected
from harness.core.kinds import CONTROLLER_KINDS, as_kind
from harness.core.messages import podsecurity_event_denial
from harness.core.model import LATEST, Level, Mode, Outcome
from harness.core.polling import PollTimeout, poll
from harness.core.settings import HarnessConfig
from harness.core.verdict import Observation
from harness.corpus.scenarios import Scenario

__all__ = ["Execution", "Runtime", "Submission"]

NEVER_SCHEDULE_GATE = "pss-harness.io/never-schedule"
_OBJECTS = 64  #: scenario-kind objects remembered (a file's items are submitted together: its kinds are enough)
CANARY_POLICY = Policy(Level.RESTRICTED, Mode.ENFORCE, LATEST)


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
    """Everything one pytest process (controller or xdist worker) needs to run items.

    ``cluster``: the connection to use (anything satisfying ``ClusterAPI``: unit tests pass a
    fake); by default a ``Cluster`` of ``kubeconfig`` and ``context``, or of ``in_cluster`` (in a pod).
    ``driver``: the engine under test (default: ``driver_for(cfg)``, the engine ``cfg.engine`` names).
    """

    def __init__(self, cfg: HarnessConfig, kubeconfig: str | None, context: str | None, *,
                 audit: AuditSource | None, worker: str = "main", server_minor: int | None = None,
                 concurrency: int = 8, cluster: ClusterAPI | None = None, shared_namespaces: bool = False,
                 in_cluster: InCluster | None = None, driver: EngineDriver | None = None):
        self.cfg = cfg
        self.concurrency = concurrency
        self.cluster: ClusterAPI = cluster if cluster is not None else Cluster(kubeconfig, context, in_cluster=in_cluster)
        self.audit = audit
        self.worker = worker
        self.driver: EngineDriver = driver if driver is not None else driver_for(cfg)
        self.engine = self.driver.engine
        self.ns = Namespaces(self.cluster, cfg, worker, ready=self._await_policy, shared=shared_namespaces,
                             labels=lambda policy: self.engine.labels(policy, self.server_minor))
        self._server_minor = server_minor
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._objects: dict[tuple[int, str], tuple[Scenario, dict]] = {}  #: ``_object``'s (least recent first)
        atexit.register(self.cleanup)

    @property
    def server_minor(self) -> int:
        if self._server_minor is None:
            self._server_minor = parse_minor(self.cluster.server_version())
        return self._server_minor

    @property
    def expectation_minor(self) -> int:
        """The server minor expectations are derived at: the server's for PodSecurity, the set's for a VAP set."""
        return self.engine.expectation_minor(self.server_minor)

    # -- preflight ---------------------------------------------------------------------

    def preflight(self, progress: Callable[[str], None] = lambda m: None) -> Preflight:
        """Version, identity, RBAC (SelfSubjectAccessReview), the engine installed, and the enforcement canary."""
        return run_preflight(self.cluster, mapped_namespaces=sorted(set(self.cfg.namespace_map.values())),
                             server_minor=self.server_minor, audit=self.audit,
                             canary_namespace=self._canary_namespace,
                             extra_permissions=self.driver.permissions(),
                             before_canary=lambda: self.driver.install(self.cluster, audit=self.audit,
                                                                       server_minor=self.server_minor,
                                                                       progress=progress),
                             canary_check=self.driver.canary)

    def _canary_namespace(self) -> str:
        # not probed: the canary is what tells a disabled admission plugin from a slow cache
        return self.namespaces([CANARY_POLICY], probe=False)[CANARY_POLICY]

    # -- namespaces (the janitor: harness.cluster.namespaces) ------------------------------

    def namespace(self, policy: Policy) -> str:
        """The namespace for ``policy``, created (and ready) on first use."""
        return self.namespaces([policy])[policy]

    def namespaces(self, policies, *, probe: bool = True) -> dict[Policy, str]:
        """Namespaces for ``policies`` (see ``Namespaces.ensure``)."""
        return self.ns.ensure(policies, probe=probe)

    def _await_policy(self, policy: Policy, name: str) -> None:
        self.driver.await_policy(self.cluster, policy, name, audit=self.audit, server_minor=self.server_minor)

    def sweep_orphans(self) -> list[str]:
        """Delete namespaces (and engine objects, e.g. a VAP set) of earlier runs older than the sweep age."""
        swept = self.ns.sweep_orphans()
        if not self.cfg.namespace_map:
            swept += self.driver.sweep_orphans(self.cluster, cutoff=self.ns.clock() - self.cfg.sweep_after_minutes * 60)
        return swept

    def cleanup(self) -> None:
        """Stop the submission pool; delete the namespaces this process created and what it installed (unless
        ``--keep-namespaces``)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.ns.cleanup()
        if not self.cfg.keep_namespaces:
            self.driver.uninstall(self.cluster)

    # -- execution -----------------------------------------------------------------------

    def execute(self, submission: "Submission") -> Execution:
        """Submit one item and observe the answer (see ``execute_many`` for the concurrent form)."""
        result = self.execute_many([submission])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def execute_many(self, work: list["Submission"]) -> list[Execution | BaseException]:
        """Execute submissions concurrently; results (or the exception each raised) in ``work`` order.

        Raises the namespace error of the first policy whose namespace cannot be made ready (all or
        nothing: ``assess`` and the fuzzer report it as a cluster error); ``submit_many`` gives it per item.
        """
        self.namespaces([w.policy for w in work])
        return [f.result() for f in self.submit_many(work)]

    def submit_many(self, work: list["Submission"]) -> list[concurrent.futures.Future]:
        """Start submissions on the pool; one future per submission, never raising.

        Namespaces are prepared first, in the calling thread. A submission whose policy's namespace
        could not be made ready gets a future holding that error (the same message for every item
        of the policy, at once: ``harness.cluster.namespaces``); the others are sent. Each
        submission makes its own request and gets its own observation (with its audit event); a
        caller judging the first results while later ones are in flight keeps the API server and
        this process busy.
        """
        failures = self.ns.prepare([w.policy for w in work])
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max(1, self.concurrency),
                                                               thread_name_prefix="pss-submit")
        futures = []
        for w in work:
            if w.policy in failures:
                failed: concurrent.futures.Future = concurrent.futures.Future()
                failed.set_result(failures[w.policy])
                futures.append(failed)
            else:
                futures.append(self._pool.submit(_capture, self._execute_one, w))
        return futures

    def _execute_one(self, w: "Submission") -> Execution:
        result = self._send(w)
        if self.audit is not None and result.observation.audit_id:
            # every mode: evidence for the report, and exemptions explain surprises
            obs = result.observation
            # a ValidatingAdmissionPolicy denial names one policy: its audit event names the others
            wait = 5.0 if w.policy.mode is Mode.AUDIT else 2.0 if obs.violation is not None and obs.violation.partial \
                else 0.5
            event = self.audit.find(obs.audit_id, timeout=wait)
            self.engine.attach_audit(obs, event, self.server_minor, w.policy)
        return result

    def submission(self, scenario: Scenario, kind: str, policy: Policy) -> "Submission":
        """The request a scenario item makes.

        The object is built once per scenario and kind and shared by its policies' submissions (a
        submission is never changed: ``_send`` sends a copy of its metadata, a deep copy on the
        update path); ``pods_denied`` is worked out only where it is read (``--live``).
        """
        pods_denied = self.cfg.live and policy.mode is Mode.ENFORCE and \
            expected(scenario, "Pod", policy, self.expectation_minor).outcome is Outcome.DENIED
        update = scenario.update["ephemeralContainers"] if scenario.update else None
        return Submission(self._object(scenario, kind), policy, scenario.id, update, pods_denied)

    def _object(self, scenario: Scenario, kind: str) -> dict:
        """``as_kind(scenario.manifest, kind)``, remembered for the last ``_OBJECTS`` scenario-kind pairs."""
        key = (id(scenario), kind)
        found = self._objects.pop(key, None)
        if found is None or found[0] is not scenario:
            found = (scenario, as_kind(scenario.manifest, kind))
            if len(self._objects) >= _OBJECTS:
                del self._objects[next(iter(self._objects))]
        self._objects[key] = found
        return found[1]

    def _send(self, w: "Submission") -> Execution:
        ns = self.ns.by_policy[w.policy]
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
        obs = self.engine.observe(resp, self.server_minor, w.policy)
        request = {"verb": resp.method, "path": resp.path, "dryRun": "All" if dry_run else None,
                   "namespace": ns, "policy": self.engine.labels(w.policy, self.server_minor)}
        return Execution(ns, request, manifest, obs, started, time.monotonic() - t0, controller)

    def _await_failed_create(self, ns: str, name: str, timeout: float = 45.0) -> dict:
        """Wait for the controller's ``FailedCreate`` event carrying the PodSecurity denial (its exact form:
        an event quoting a policy's copy of it does not count)."""
        def failed_create() -> dict | None:
            for ev in self.cluster.events(ns):
                involved = ev.get("involvedObject", {}).get("name", "")
                msg = ev.get("message", "")
                if ev.get("reason") == "FailedCreate" and involved.startswith(name) and \
                        podsecurity_event_denial(msg, self.server_minor) is not None:
                    return {"reason": "FailedCreate", "object": f"{ev['involvedObject'].get('kind')}/{involved}",
                            "message": msg}
            return None

        try:
            return poll(failed_create, timeout=timeout, interval=0.5, what=f"a FailedCreate event of {ns}/{name}")
        except PollTimeout:
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
