"""The janitor: the namespaces a run creates, awaits, sweeps and deletes.

``Namespaces`` gives one namespace per policy, created on first use with the policy's PodSecurity
labels plus owner/run-id labels, and ready before it is handed out: the controller manager has
created its ``default`` ServiceAccount (the ServiceAccount admission plugin needs it) and, where
it can be observed, PodSecurity enforces its labels (``await_policy``: admission reads namespaces
from an informer cache, so a fresh namespace's labels are not in effect at once). With
``--psa-namespace-map`` it uses the user's namespaces instead, after checking their labels, and
never creates or deletes any. ``sweep_orphans`` deletes namespaces other runs left behind (a
crashed run cannot clean up) once they are older than the sweep age; ``cleanup`` deletes this
process's own unless ``--keep-namespaces``.

May import the core, ``harness.cluster.seam`` and ``harness.cluster.audit``; it talks to the
cluster only through the ``ClusterAPI`` protocol.
"""

from __future__ import annotations

import calendar
import time
from typing import Callable, Iterable

from harness.cluster.audit import AuditSource
from harness.cluster.seam import ClusterAPI
from harness.core.errors import ClusterError, UsageError
from harness.core.expectations import Policy
from harness.core.model import Level, Mode
from harness.core.polling import PollTimeout, poll
from harness.core.settings import HarnessConfig
from harness.core.verdict import attach_audit, observe

__all__ = ["Namespaces", "OWNER", "OWNER_LABEL", "POLICY_LABEL", "PROBE_POD", "RUN_LABEL", "await_policy",
           "created_at"]

OWNER_LABEL = "app.kubernetes.io/managed-by"
RUN_LABEL = "pss-harness.io/run-id"
POLICY_LABEL = "pss-harness.io/policy"
OWNER = "pss-harness"

#: A privileged pod: refused, warned about or audited by every baseline and restricted policy.
#: The readiness probe sends it (dry-run) to see a namespace's labels in effect; the preflight's
#: canary sends it to see PodSecurity enforcing at all.
PROBE_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss-harness-canary"},
    "spec": {"containers": [{"name": "canary", "image": "registry.k8s.io/pause:3.10",
                             "securityContext": {"privileged": True}}]},
}


def created_at(timestamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 ``creationTimestamp`` (``2026-07-01T12:00:00Z``, always UTC).

    ``calendar.timegm`` reads the fields as UTC whatever the local zone and its daylight saving.
    """
    try:
        return float(calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")))
    except (TypeError, ValueError):
        raise ClusterError(f"a namespace's creationTimestamp {timestamp!r} is not of the form "
                           "YYYY-MM-DDTHH:MM:SSZ") from None


def await_policy(cluster: ClusterAPI, policy: Policy, name: str, *, audit: AuditSource | None,
                 server_minor: int, timeout: float = 15.0, interval: float = 0.2) -> None:
    """Poll until namespace ``name``'s PodSecurity labels are in effect, or raise ``ClusterError`` naming it.

    A privileged pod is refused (enforce), warned about (warn) or recorded (audit, when the
    audit log can be read) at every baseline or restricted version; privileged namespaces and
    audit without a log have nothing to observe.
    """
    if policy.level is Level.PRIVILEGED or (policy.mode is Mode.AUDIT and audit is None):
        return
    want = {Mode.ENFORCE: "denied", Mode.WARN: "warned", Mode.AUDIT: "admitted"}[policy.mode]

    def probe():
        resp = cluster.submit(PROBE_POD, name)
        obs = observe(resp, server_minor)
        if obs.outcome.value == want and policy.mode is Mode.AUDIT:
            attach_audit(obs, audit.find(resp.audit_id, timeout=2), server_minor)
            return obs, obs.audit_violation is not None
        return obs, obs.outcome.value == want

    try:
        poll(probe, until=lambda r: r[1], timeout=timeout, interval=interval,
             what=f"the PodSecurity labels of namespace {name}")
    except PollTimeout as exc:
        obs = exc.last[0]
        raise ClusterError(f"namespace {name} is labelled {policy.labels()} but a privileged pod was "
                           f"{obs.outcome} there for {timeout:.0f}s: the PodSecurity labels are not in effect") from None


class Namespaces:
    """The namespaces of one process (controller or xdist worker) of one run.

    ``ready(policy, name)`` is called for each new namespace once its ``default`` ServiceAccount
    exists, unless the caller asks for no probe (the runtime passes ``await_policy``).

    ``shared``: the processes of one run (pytest-xdist's controller and workers) share one
    namespace per policy, named by run id and policy: whichever needs it first creates it, the
    others find it (a 409 is theirs to use once its labels are checked), and only the controller
    deletes them, at the end (``harness.plugin.session``). Each namespace a run creates costs the
    cluster its creation and, on deletion, the namespace controller's list-and-delete of every
    resource type, so sharing halves that work for two workers. Unshared, each process names,
    creates and deletes its own.
    """

    def __init__(self, cluster: ClusterAPI, cfg: HarnessConfig, worker: str = "main", *,
                 ready: Callable[[Policy, str], None] | None = None, clock: Callable[[], float] = time.time,
                 sa_timeout: float = 60.0, shared: bool = False):
        self.cluster = cluster
        self.cfg = cfg
        self.worker = worker
        self.shared = shared
        self.ready = ready
        self.clock = clock                      #: wall clock (seconds since the epoch) for the sweep age
        self.sa_timeout = sa_timeout
        self.by_policy: dict[Policy, str] = {}  #: ready namespaces
        self.created: list[str] = []            #: namespaces this process created (deleted by ``cleanup``)

    def name_for(self, policy: Policy) -> str:
        version = str(policy.version).replace(".", "-")
        owner = "" if self.shared else f"-{self.worker}"
        return f"pss-{self.cfg.run_id}{owner}-{policy.level}-{policy.mode}-{version}"[:63].rstrip("-")

    def ensure(self, policies: Iterable[Policy], *, probe: bool = True) -> dict[Policy, str]:
        """Namespaces for ``policies``: new ones are all created first, then awaited together.

        ``probe``: also call ``ready`` (the canary does not: it is the probe that tells a disabled
        admission plugin from a slow cache).
        """
        policies = list(policies)
        fresh = {}
        for policy in dict.fromkeys(policies):
            if policy in self.by_policy or policy in fresh:
                continue
            if self.cfg.namespace_map:
                name = self.cfg.namespace_map.get(policy.label)
                if not name:
                    raise UsageError(f"--psa-namespace-map has no namespace for policy {policy.label!r}; "
                                     f"add '{policy.label}: <namespace labelled {policy.labels()}>'")
                self._check_labels(name, policy)
            else:
                name = self.name_for(policy)
                labels = {**policy.labels(), OWNER_LABEL: OWNER, RUN_LABEL: self.cfg.run_id,
                          POLICY_LABEL: policy.label}
                if self.shared:
                    resp = self.cluster.create_namespace(name, labels, exist_ok=True)
                    found = (resp.body or {}).get("metadata", {}).get("labels", {}) if isinstance(resp.body, dict) else {}
                    if any(found.get(k) != v for k, v in labels.items()):
                        raise ClusterError(f"namespace {name} exists but is not this run's (labels {found}); "
                                           f"another run uses run id {self.cfg.run_id!r}: pass a different --psa-run-id")
                else:
                    self.cluster.create_namespace(name, labels)
                    self.created.append(name)
            fresh[policy] = name
        for policy, name in fresh.items():  # the ServiceAccount admission plugin needs "default"
            self.cluster.wait_for("serviceaccounts", name, "default", timeout=self.sa_timeout)
            if probe and self.ready is not None:
                self.ready(policy, name)
            self.by_policy[policy] = name
        return {p: self.by_policy[p] for p in policies}

    def _check_labels(self, name: str, policy: Policy) -> None:
        resp = self.cluster.checked("GET", f"/api/v1/namespaces/{name}", what=f"reading namespace {name}")
        labels = resp.body.get("metadata", {}).get("labels", {})
        wrong = {k: v for k, v in policy.labels().items() if labels.get(k) != v}
        if wrong:
            raise UsageError(f"namespace {name} (mapped to {policy.label}) must carry the labels {wrong}; "
                             f"it has {labels}")

    def sweep_orphans(self) -> list[str]:
        """Delete namespaces of other runs older than the sweep age (crashed runs leave them); their names."""
        swept: list[str] = []
        if self.cfg.namespace_map:
            return swept
        cutoff = self.clock() - self.cfg.sweep_after_minutes * 60
        for ns in self.cluster.list_namespaces(f"{OWNER_LABEL}={OWNER}"):
            meta = ns["metadata"]
            if meta.get("labels", {}).get(RUN_LABEL) == self.cfg.run_id:
                continue
            if created_at(meta["creationTimestamp"]) < cutoff and ns.get("status", {}).get("phase") != "Terminating":
                self.cluster.delete_namespace(meta["name"])
                swept.append(meta["name"])
        return swept

    def cleanup(self) -> None:
        """Delete the namespaces this process created (unless ``--keep-namespaces``; shared ones: never here)."""
        if self.cfg.keep_namespaces:
            return
        created, self.created = self.created, []
        for name in created:
            self.cluster.delete_namespace(name)
        self.by_policy.clear()
