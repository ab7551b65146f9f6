"""The janitor: the namespaces a run creates, awaits, sweeps and deletes.

``Namespaces`` gives one namespace per policy, created on first use with the policy's PodSecurity
labels (every mode pinned, ``Policy.labels``: the AdmissionConfiguration's defaults never apply)
plus owner/run-id labels, and ready before it is handed out: the controller manager has
created its ``default`` ServiceAccount (the ServiceAccount admission plugin needs it) and, where
it can be observed, PodSecurity enforces its labels (``await_policy``: admission reads namespaces
from an informer cache, so a fresh namespace's labels are not in effect at once). With
``--psa-namespace-map`` it uses the user's namespaces instead, after checking their labels, and
never creates or deletes any. A policy whose namespace cannot be made ready is recorded with its
error, once, and every later item of that policy fails at once with the same message (never a
``409 AlreadyExists`` from creating it again, nor another wait for the probe's deadline).
``sweep_orphans`` deletes namespaces other runs left behind (a crashed run cannot clean up) once
they are older than the sweep age; ``cleanup`` deletes this process's own unless
``--keep-namespaces``.

The readiness probe (``await_policy``) names what kept PodSecurity's answer from showing, in one
message: a ValidatingAdmissionPolicy, a webhook, a quota (``harness.core.verdict`` attributes
refusals), an exemption, or a policy other than the label's.

May import the core, ``harness.cluster.seam`` and ``harness.cluster.audit``; it talks to the
cluster only through the ``ClusterAPI`` protocol.
"""

from __future__ import annotations

import calendar
import dataclasses
import time
from typing import Callable, Iterable

from harness.cluster.audit import AuditSource
from harness.cluster.seam import ClusterAPI
from harness.core.errors import ClusterError, ClusterUnreachable, HarnessError, UsageError
from harness.core.expectations import Policy
from harness.core.messages import ParsedViolation, podsecurity_warning
from harness.core.model import Level, Mode, Outcome
from harness.core.polling import PollTimeout, poll
from harness.core.settings import HarnessConfig
from harness.core.verdict import EXEMPT as EXEMPT_ANNOTATION, Observation, attach_audit, observe

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


@dataclasses.dataclass
class _Probe:
    """One answer to the readiness probe, and what it shows."""

    observation: Observation
    evidence: ParsedViolation | None   #: PodSecurity's denial, warning or audit-violations for this mode
    exempt: str | None = None           #: the audit event's ``exempt`` annotation (a configured exemption)

    def confirms(self, want: str) -> bool:
        return self.evidence is not None and self.evidence.policy == want


def await_policy(cluster: ClusterAPI, policy: Policy, name: str, *, audit: AuditSource | None,
                 server_minor: int, timeout: float = 15.0, interval: float = 0.2) -> None:
    """Poll until namespace ``name``'s PodSecurity labels are in effect, or raise ``ClusterError`` naming the blocker.

    The probe is a privileged pod, sent by dry-run; what shows the labels in effect is PodSecurity's
    own answer under the namespace's policy, whatever another layer did with the request after it:

    * enforce: a PodSecurity denial (confirmed by the audit event when the log is read);
    * warn: PodSecurity's warning. Admission stops at the first refusal, and PodSecurity validates
      before ValidatingAdmissionPolicy, validating webhooks and ResourceQuota, so a refusal by one of
      these still carries the warning PodSecurity added (checked against kube-apiserver v1.37): a
      quota or a policy that refuses the probe confirms the labels at once instead of for ``timeout``;
    * audit: the ``audit-violations`` annotation of the request's audit event (also on a refusal).

    A LimitRange, the ServiceAccount plugin and mutating webhooks act before PodSecurity: their
    refusal shows nothing. An exemption (the audit event says ``exempt=...``) fails at once. Otherwise
    the probe is repeated for ``timeout`` seconds (the admission plugin reads namespaces from a
    cache) and the error names the last blocker in one message. Privileged namespaces and audit
    without a log have nothing to observe.
    """
    if policy.level is Level.PRIVILEGED or (policy.mode is Mode.AUDIT and audit is None):
        return
    want = f"{policy.level}:{policy.version}"
    audit_wait = 2.0 if policy.mode is Mode.AUDIT else 0.5

    def probe() -> _Probe:
        resp = cluster.submit(PROBE_POD, name)
        obs = observe(resp, server_minor)
        event = audit.find(resp.audit_id, timeout=audit_wait) if audit is not None and resp.audit_id else None
        if audit is not None:
            attach_audit(obs, event, server_minor)
        exempt = ((event or {}).get("annotations") or {}).get(EXEMPT_ANNOTATION)
        if policy.mode is Mode.ENFORCE:
            evidence = obs.violation if obs.outcome is Outcome.DENIED else None
        elif policy.mode is Mode.WARN:
            evidence = next((v for v in (podsecurity_warning(w, server_minor) for w in obs.warnings) if v), None)
        else:
            evidence = obs.audit_violation
        return _Probe(obs, evidence, exempt)

    try:
        result = poll(probe, until=lambda r: r.confirms(want) or r.exempt, timeout=timeout, interval=interval,
                      what=f"the PodSecurity labels of namespace {name}")
    except PollTimeout as exc:
        raise ClusterError(_blocker(name, policy, exc.last, timeout, server_minor)) from None
    if not result.confirms(want):
        raise ClusterError(_blocker(name, policy, result, timeout, server_minor))


def _blocker(name: str, policy: Policy, last: _Probe, timeout: float, server_minor: int | None = None) -> str:
    """One message: what kept the last readiness probe from showing ``policy`` in effect in ``name``."""
    want = f"{policy.level}:{policy.version}"
    labels = policy.labels(server_minor)
    obs = last.observation
    cannot = "PodSecurity labels cannot be confirmed"
    if last.exempt:
        who = {"namespace": f"namespace {name} is", "user": "the runner identity is",
               "runtimeClass": "the probe's runtime class is"}.get(last.exempt, f"the request ({last.exempt}) is")
        return (f"namespace {name}: the readiness probe's audit event says exempt={last.exempt}: {who} exempt from "
                f"PodSecurity in the cluster's AdmissionConfiguration, so its labels {labels} are never "
                f"enforced there; {cannot} (remove the exemption, or use another namespace or identity)")
    if last.evidence is not None:
        return (f"namespace {name} is labelled {labels} but for {timeout:.0f}s PodSecurity answered the "
                f"readiness probe under {last.evidence.policy!r}, not {want!r}; {cannot}")
    if obs.outcome is Outcome.DENIED:
        return (f"namespace {name} is labelled {labels} but for {timeout:.0f}s the readiness probe was denied "
                f"by PodSecurity under {obs.violation.policy!r} (enforce), which leaves no {policy.mode} answer under "
                f"{want!r} to see; {cannot}")
    if obs.outcome in (Outcome.DENIED_OTHER, Outcome.INVALID):
        by = obs.denied_by or "the API server"
        note = f" ({obs.attribution})" if obs.attribution else ""
        return (f"namespace {name}: the readiness probe was refused by {by} (HTTP {obs.status}): {obs.message}{note}; "
                f"{cannot} (labelled {labels}; no PodSecurity {policy.mode} answer in {timeout:.0f}s)")
    if obs.outcome is Outcome.ERROR:
        return (f"namespace {name}: the readiness probe failed (HTTP {obs.status}): {obs.message}; {cannot} "
                f"(labelled {labels}, tried for {timeout:.0f}s)")
    return (f"namespace {name} is labelled {labels} but a privileged pod was {obs.outcome} there for "
            f"{timeout:.0f}s: the PodSecurity labels are not in effect")


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

    A policy whose namespace cannot be made ready (created, awaited, probed) is recorded in
    ``failed`` with the error, once: every later request for it fails at once with the same
    message, instead of creating the namespace again (``409 AlreadyExists``) or waiting out the
    probe's deadline again. Only an unanswered request (``ClusterUnreachable``) before the
    namespace exists is not recorded: nothing was created, so trying again is safe.
    """

    def __init__(self, cluster: ClusterAPI, cfg: HarnessConfig, worker: str = "main", *,
                 ready: Callable[[Policy, str], None] | None = None, clock: Callable[[], float] = time.time,
                 sa_timeout: float = 60.0, shared: bool = False,
                 labels: Callable[[Policy], dict[str, str]] | None = None):
        self.cluster = cluster
        #: the labels that put a namespace under the engine at a policy: PodSecurity's pin every mode
        #: (``Policy.labels``), so that no cluster-wide default applies in a namespace of the run
        self.labels = labels or Policy.labels
        self.cfg = cfg
        self.worker = worker
        self.shared = shared
        self.ready = ready
        self.clock = clock                      #: wall clock (seconds since the epoch) for the sweep age
        self.sa_timeout = sa_timeout
        self.by_policy: dict[Policy, str] = {}  #: ready namespaces
        self.failed: dict[Policy, HarnessError] = {}  #: policies whose namespace could not be made ready
        self.created: list[str] = []            #: namespaces this process created (deleted by ``cleanup``)

    def name_for(self, policy: Policy) -> str:
        version = str(policy.version).replace(".", "-")
        owner = "" if self.shared else f"-{self.worker}"
        return f"pss-{self.cfg.run_id}{owner}-{policy.level}-{policy.mode}-{version}"[:63].rstrip("-")

    def ensure(self, policies: Iterable[Policy], *, probe: bool = True) -> dict[Policy, str]:
        """Namespaces for ``policies`` (see ``prepare``); raises the error of the first that failed."""
        policies = list(policies)
        failures = self.prepare(policies, probe=probe)
        for policy in policies:
            if policy in failures:
                raise failures[policy]
        return {p: self.by_policy[p] for p in policies}

    def prepare(self, policies: Iterable[Policy], *, probe: bool = True) -> dict[Policy, HarnessError]:
        """Make namespaces for ``policies`` ready; new ones are all created first, then awaited together.

        Returns the failures among ``policies`` (a fresh exception per call, with the recorded
        message); the others are in ``by_policy``. ``probe``: also call ``ready`` (the canary does
        not: it is the probe that tells a disabled admission plugin from a slow cache).
        """
        policies = list(dict.fromkeys(policies))
        fresh: dict[Policy, str] = {}
        unanswered: dict[Policy, HarnessError] = {}
        for policy in policies:
            if policy in self.by_policy or policy in self.failed or policy in fresh:
                continue
            try:
                fresh[policy] = self._create(policy)
            except ClusterUnreachable as exc:  # nothing was created: the next request tries again
                unanswered[policy] = exc
            except HarnessError as exc:
                self.failed[policy] = exc
        for policy, name in fresh.items():  # the ServiceAccount admission plugin needs "default"
            try:
                self.cluster.wait_for("serviceaccounts", name, "default", timeout=self.sa_timeout)
                if probe and self.ready is not None:
                    self.ready(policy, name)
            except HarnessError as exc:
                self.failed[policy] = exc
                continue
            self.by_policy[policy] = name
        return {**unanswered, **{p: _again(self.failed[p]) for p in policies if p in self.failed}}

    def _create(self, policy: Policy) -> str:
        """The namespace for ``policy``: the mapped one (labels checked), or a new one of this run."""
        if self.cfg.namespace_map:
            name = self.cfg.namespace_map.get(policy.label)
            if not name:
                raise UsageError(f"--psa-namespace-map has no namespace for policy {policy.label!r}; "
                                 f"add '{policy.label}: <namespace labelled {self.labels(policy)}>'")
            self._check_labels(name, policy)
            return name
        name = self.name_for(policy)
        labels = {**self.labels(policy), OWNER_LABEL: OWNER, RUN_LABEL: self.cfg.run_id, POLICY_LABEL: policy.label}
        if self.shared:  # another process of the run may have created it: a 409 answers with it
            resp = self.cluster.create_namespace(name, labels, exist_ok=True)
            found = resp.body.get("metadata", {}).get("labels", {}) if isinstance(resp.body, dict) else {}
            if any(found.get(k) != v for k, v in labels.items()):
                raise ClusterError(f"namespace {name} exists but is not this run's (labels {found}); "
                                   f"another run uses run id {self.cfg.run_id!r}: pass a different --psa-run-id")
            return name
        self.cluster.create_namespace(name, labels)
        self.created.append(name)
        return name

    def _check_labels(self, name: str, policy: Policy) -> None:
        resp = self.cluster.checked("GET", f"/api/v1/namespaces/{name}", what=f"reading namespace {name}")
        labels = resp.body.get("metadata", {}).get("labels", {})
        wrong = {k: v for k, v in self.labels(policy).items() if labels.get(k) != v}
        if wrong:
            raise UsageError(f"namespace {name} (mapped to {policy.label}) must carry the labels {wrong}; "
                             f"it has {labels} (every PodSecurity mode is pinned, so that no cluster-wide default "
                             f"applies: label it with all of {self.labels(policy)})")

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
        self.failed.clear()


def _again(exc: HarnessError) -> HarnessError:
    """A new exception of the same type and message (one instance raised from many places would pile up tracebacks)."""
    try:
        return type(exc)(*exc.args)
    except TypeError:  # a subclass with another signature (ScenarioError): the same text as a ClusterError
        return ClusterError(str(exc))
