"""Rollout readiness, the cluster part: read what runs and what will run, ask the server, plan.

For each selected namespace ``Planner.plan`` gathers

* **(a) the server's answer**: a server-side dry-run (``dryRun=All``, nothing persists) of the
  merge patch that labels ``enforce`` + ``enforce-version`` at the target; its ``Warning``
  headers are parsed by ``harness.core.rollout``;
* **(b) every pod**, listed from the API and evaluated offline at the target
  (``harness.policy.evaluate_pod``: a stored pod is already defaulted and mutated);
* **(c) every pod template**: Deployments (``replicas: 0`` too), StatefulSets, DaemonSets,
  ReplicaSets no Deployment controls, Jobs no CronJob controls, CronJobs, ReplicationControllers
  and PodTemplates (``harness.core.kinds``), evaluated offline and, unless offline, created by
  dry-run as the Pod its controller would create, into a harness namespace labelled
  ``enforce`` at the target (``Runtime.execute_many``). Fields that other admission plugins
  would refuse in that namespace (its service account, priority class) are left out: PodSecurity
  does not read them;
* **RuntimeClass exemptions**: each RuntimeClass a pod or template names is probed by a
  dry-run privileged pod with it in that namespace (admitted: exempt);

then compares (a) with (b) and builds the plan (``harness.core.rollout.plan_namespace``). The
server reads pods from an informer, so a pod created a moment ago may be missing from its
answer: a namespace whose answer disagrees is listed and dry-run again until it agrees or
``settle`` seconds pass.

``apply_warn`` labels warn and audit (never enforce) on the namespaces whose plan is ``ready``
or ``warn-first``, with the namespace's resourceVersion as a precondition. ``seed`` creates
objects for real (the embedded plane's demo and tests), each pod with a scheduling gate so that
it never runs.

Imports: ``harness.cluster.client`` / ``.runtime`` (through ``Runtime``), ``harness.policy``
and ``harness.core``; the embedded plane only inside ``connect``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import dataclasses
import time
from typing import Callable, Iterable, Iterator, Sequence

from harness.cluster.client import Cluster, Response, resource_path
from harness.cluster.incluster import detect
from harness.cluster.runtime import Runtime, Submission
from harness.core.errors import ClusterError, ClusterPermissionError, UsageError
from harness.core.expectations import Policy
from harness.core.kinds import KINDS, WORKLOAD_KINDS
from harness.core.model import Level, Mode
from harness.core.rollout import (
    LevelVersion,
    NamespacePlan,
    Observed,
    PodVerdict,
    TemplateVerdict,
    label_key,
    parse_namespace_warnings,
    plan_namespace,
    sorted_labels,
)
from harness.policy import evaluate_object, evaluate_pod, pod_template
from harness.policy.evaluator import UNKNOWN_FORBIDDEN_REASON

__all__ = ["NEVER_SCHEDULE_GATE", "Planner", "Rollout", "Target", "apply_warn", "connect", "seed", "wait_for_pods"]

NEVER_SCHEDULE_GATE = "pss-harness.io/never-schedule"
HARNESS_OWNED = "app.kubernetes.io/managed-by=pss-harness"   #: the harness's own namespaces are never planned
PAGE = 500
MERGE_PATCH = "application/merge-patch+json"

#: what ``rollout`` reads and asks, on top of a run's permissions (verb, group, resource)
ROLLOUT_PERMISSIONS = [("list", "", "namespaces"), ("patch", "", "namespaces"), ("list", "", "pods")] + \
    [("list", KINDS[k].group, KINDS[k].plural) for k in WORKLOAD_KINDS]

_PRIVILEGED_PROBE = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss-harness-rc-probe"},
                     "spec": {"containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10",
                                              "securityContext": {"privileged": True}}]}}


# -- connecting ------------------------------------------------------------------------------

@dataclasses.dataclass
class Target:
    """The cluster to plan on: a connection, and a ``Runtime`` unless offline."""

    cluster: Cluster
    description: str
    server_version: str
    server_minor: int
    runtime: "Runtime | None" = None       #: template dry-runs go through it (None: --offline)
    kubeconfig: str | None = None


def _minor(info: dict) -> int:
    return int("".join(ch for ch in str(info.get("minor", "0")) if ch.isdigit()) or 0)


@contextlib.contextmanager
def connect(kubeconfig: str | None, context: str | None, k8s_version: str | None, *, offline: bool,
            seed_objects: Sequence[dict] = (), progress: Callable[[str], None] = lambda m: None) -> Iterator[Target]:
    """The target: ``kubeconfig``/``context``, in-cluster in a pod, or a fresh embedded control plane (seeded
    with ``seed_objects``; always embedded).

    Unless ``offline`` a ``Runtime`` is opened on it (preflight, canary, and a harness namespace
    for the template dry-runs, deleted on exit).
    """
    embedded = None
    audit = None
    in_cluster = detect() if kubeconfig is None and k8s_version is None and not seed_objects else None
    with contextlib.ExitStack() as stack:
        if kubeconfig is None and in_cluster is None:
            from harness.embedded import announced_embedded_plane

            embedded = stack.enter_context(announced_embedded_plane(k8s_version, progress))
            kubeconfig, audit = str(embedded.kubeconfig), str(embedded.audit_log)
            if seed_objects:
                seeder = Cluster(kubeconfig)
                try:
                    seed(seeder, seed_objects, progress=progress)
                finally:
                    seeder.close()
        shown = "embedded" if embedded is not None else \
            f"kubeconfig {kubeconfig}" if kubeconfig else in_cluster.describe()
        if offline:
            cluster = Cluster(kubeconfig, context, in_cluster=in_cluster)
            try:
                info = cluster.server_version()
                yield Target(cluster, _describe(shown, info), info.get("gitVersion", "?"), _minor(info), None,
                             kubeconfig)
            finally:
                cluster.close()
            return
        from harness.cluster.sessions import open_runtime

        with open_runtime(kubeconfig, context, k8s_version, audit_log=audit, progress=progress) as rt:
            info = rt.cluster.server_version()
            yield Target(rt.cluster, _describe(shown, info), info.get("gitVersion", "?"), rt.server_minor, rt,
                         kubeconfig)


def _describe(where: str, info: dict) -> str:
    return f"{where} (Kubernetes {info.get('gitVersion', '?')})"


# -- reading the cluster -----------------------------------------------------------------------

def list_objects(cluster: Cluster, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict]:
    """Every object of ``kind`` (in ``namespace``, or cluster-wide), following ``continue`` tokens."""
    path = resource_path(kind, namespace)
    items, token = [], None
    while True:
        query = {"limit": str(PAGE)}
        if token:
            query["continue"] = token
        if selector:
            query["labelSelector"] = selector
        resp = cluster.checked("GET", path, query=query,
                               what=f"listing {KINDS[kind].plural if kind in KINDS else 'namespaces'}"
                                    + (f" in {namespace}" if namespace else ""))
        body = resp.body or {}
        for item in body.get("items", []):
            item.setdefault("kind", kind)
            items.append(item)
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return items


def check_permissions(cluster: Cluster, namespaces: Sequence[str] | None) -> None:
    """Raise ``ClusterPermissionError`` listing what the identity may not read or dry-run patch.

    Each permission is asked cluster-wide first; only where that is refused, and namespaces were
    named, in each of them.
    """
    missing = []
    for verb, group, resource in ROLLOUT_PERMISSIONS:
        if cluster.can_i(verb, resource, group):
            continue
        if resource == "namespaces" or not namespaces or \
                not all(cluster.can_i(verb, resource, group, namespace=ns) for ns in namespaces):
            missing.append(f"{verb} {resource}{' (' + group + ')' if group else ''}")
    if missing:
        who = cluster.whoami().get("username", "?")
        raise ClusterPermissionError(
            f"the identity {who!r} lacks what `rollout` needs: {'; '.join(missing)}. It reads pods and workloads and "
            "dry-runs a namespace label change (patch namespaces with dryRun=All); grant them, e.g. the ClusterRole "
            "'view' plus patch on namespaces.")


def select_namespaces(cluster: Cluster, names: Sequence[str] = (), selector: str | None = None,
                      all_namespaces: bool = False) -> list[dict]:
    """The namespaces to plan: by name (each must exist), by label selector, or all; never the harness's own."""
    if names:
        out = []
        for name in dict.fromkeys(names):
            resp = cluster.request("GET", resource_path("Namespace", None, name))
            if resp.status == 404:
                raise UsageError(f"namespace {name!r} does not exist (list them with `kubectl get namespaces`)")
            if not resp.ok:
                cluster.checked("GET", resource_path("Namespace", None, name), what=f"reading namespace {name}")
            out.append(resp.body)
        return out
    found = list_objects(cluster, "Namespace", selector=selector)
    owner_key, _, owner = HARNESS_OWNED.partition("=")
    return sorted((n for n in found if (n["metadata"].get("labels") or {}).get(owner_key) != owner),
                  key=lambda n: n["metadata"]["name"])


# -- the offline verdicts ------------------------------------------------------------------------

def _controller(obj: dict) -> dict | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def _reasons(evaluation) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(r.reason or UNKNOWN_FORBIDDEN_REASON for r in evaluation.results),
            tuple(r.id for r in evaluation.results))


def template_pod(obj: dict) -> dict:
    """The Pod a workload's controller would create from its template (for a dry-run create).

    The service account and priority class are left out: the harness namespace has neither and
    their admission plugins would refuse the pod before PodSecurity sees it; PodSecurity reads
    neither.
    """
    meta, spec = pod_template(obj)
    spec = copy.deepcopy(spec)
    for key in ("serviceAccountName", "serviceAccount", "priorityClassName", "priority", "preemptionPolicy",
                "overhead"):
        spec.pop(key, None)
    name = f"{obj.get('kind', 'pod').lower()}-{(obj.get('metadata') or {}).get('name', 'template')}"[:63].rstrip("-.")
    pod_meta = {"name": name}
    for key in ("labels", "annotations"):
        if meta.get(key):
            pod_meta[key] = dict(meta[key])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def evaluate_pods(pods: Iterable[dict], target: LevelVersion, newest_minor: int, owners: dict[str, str],
                  exempt_classes: dict[str, bool | None]) -> list[PodVerdict]:
    """Each stored pod at the target, with its top-most owner and whether its RuntimeClass is exempt."""
    out = []
    for pod in pods:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        evaluation = evaluate_pod(meta, spec, target.level, target.version, newest_minor)
        reasons, checks = _reasons(evaluation)
        rc = spec.get("runtimeClassName") or None
        ref = _controller(pod)
        owner = None
        if ref is not None:
            owner = owners.get(ref.get("uid", ""), f"{ref.get('kind')}/{ref.get('name')}")
        out.append(PodVerdict(meta.get("name", ""), reasons, checks, owner, rc, bool(rc and exempt_classes.get(rc))))
    return out


@dataclasses.dataclass
class _Inventory:
    namespace: dict
    pods: list[dict]
    workloads: list[dict]

    @property
    def name(self) -> str:
        return self.namespace["metadata"]["name"]


def _owners(workloads: Sequence[dict]) -> dict[str, str]:
    """uid -> ``Kind/name`` of the top-most owner among ``workloads`` (RS -> Deployment, Job -> CronJob)."""
    by_uid = {w["metadata"].get("uid"): w for w in workloads}
    out = {}
    for uid, w in by_uid.items():
        node, seen = w, set()
        while (ref := _controller(node)) is not None and ref.get("uid") in by_uid and ref["uid"] not in seen:
            seen.add(ref["uid"])
            node = by_uid[ref["uid"]]
        out[uid] = f"{node['kind']}/{node['metadata']['name']}"
    return out


def planned_templates(workloads: Sequence[dict]) -> list[dict]:
    """The workloads whose template is planned: not a ReplicaSet a Deployment controls, nor a Job a CronJob does."""
    out = []
    for w in workloads:
        ref = _controller(w)
        if ref is not None and (w["kind"], ref.get("kind")) in (("ReplicaSet", "Deployment"), ("Job", "CronJob")):
            continue
        out.append(w)
    return out


# -- the plan -----------------------------------------------------------------------------------

@dataclasses.dataclass
class Rollout:
    """The plans of one run, and how it went."""

    target: LevelVersion
    description: str
    server_version: str
    offline: bool
    plans: list[NamespacePlan]
    runtime_classes: dict[str, bool | None]
    timings: dict[str, float]
    applied: list[dict] | None = None


class Planner:
    """Plans namespaces on one ``Target``."""

    def __init__(self, target: Target, level: Level, version, *, concurrency: int = 8, settle: float = 5.0,
                 exempt_runtime_classes: Iterable[str] = (), progress: Callable[[str], None] = lambda m: None):
        self.t = target
        self.target = LevelVersion(Level(level), version)
        self.concurrency = concurrency
        self.settle = settle
        self.declared_exempt = set(exempt_runtime_classes)
        self.progress = progress
        self.timings: dict[str, float] = {}

    # the server's answer
    def dry_run(self, namespace: dict) -> Response:
        """The server-side dry-run of labelling ``enforce`` at the target (a merge patch; nothing persists)."""
        name = namespace["metadata"]["name"]
        labels = {label_key("enforce"): self.target.level.value,
                  label_key("enforce", version=True): str(self.target.version)}
        return self.t.cluster.request("PATCH", resource_path("Namespace", None, name), {"metadata": {"labels": labels}},
                                      {"dryRun": "All"}, content_type=MERGE_PATCH)

    def _answer(self, namespace: dict):
        resp = self.dry_run(namespace)
        name = namespace["metadata"]["name"]
        if resp.status == 0:
            self.t.cluster.checked("PATCH", resource_path("Namespace", None, name), what=f"dry-run labelling {name}")
        warnings = list(resp.warnings)
        if not resp.ok:
            if resp.status in (401, 403) and "forbidden" in resp.message.lower() and "PodSecurity" not in resp.message:
                raise ClusterPermissionError(f"dry-run labelling namespace {name}: {resp.status} {resp.message}")
            warnings.append(f"the server refused the label change ({resp.status}): {resp.message}")
        return parse_namespace_warnings(warnings, name, self.target, self.t.server_minor)

    # gathering
    def _inventories(self, namespaces: list[dict], pool: concurrent.futures.Executor) -> list[_Inventory]:
        """Pods and workloads of ``namespaces``: cluster-wide lists for many namespaces, per namespace for a few."""
        names = [n["metadata"]["name"] for n in namespaces]
        by_ns: dict[str, tuple[list, list]] = {n: ([], []) for n in names}
        scopes = [None] if len(names) > 4 else names
        jobs = [(kind, pool.submit(list_objects, self.t.cluster, kind, scope))
                for kind in ("Pod", *WORKLOAD_KINDS) for scope in scopes]
        for kind, job in jobs:
            for obj in job.result():
                ns = obj["metadata"].get("namespace")
                if ns in by_ns:
                    by_ns[ns][0 if kind == "Pod" else 1].append(obj)
        return [_Inventory(n, *by_ns[n["metadata"]["name"]]) for n in namespaces]

    def _probe_and_dry_run(self, templates: list[tuple[str, dict, dict]], classes: set[str]):
        """Dry-run each template's pod and probe each RuntimeClass in the harness namespace enforcing the target."""
        rt = self.t.runtime
        policy = Policy(self.target.level, Mode.ENFORCE, self.target.version)
        probes = []
        for rc in sorted(classes):
            pod = copy.deepcopy(_PRIVILEGED_PROBE)
            pod["spec"]["runtimeClassName"] = rc
            probes.append(Submission(pod, policy, f"rc-{rc}"))
        work = probes + [Submission(pod, policy, ns) for ns, _, pod in templates]
        results = rt.execute_many(work) if work else []
        exempt: dict[str, bool | None] = {}
        for rc, res in zip(sorted(classes), results[:len(probes)]):
            outcome = res.observation.outcome.value if not isinstance(res, BaseException) else "error"
            exempt[rc] = True if outcome in ("admitted", "warned") else False if outcome == "denied" else None
        observed = []
        for res in results[len(probes):]:
            if isinstance(res, BaseException):
                observed.append(Observed("error", (), str(res)))
            else:
                o = res.observation
                observed.append(Observed(o.outcome.value, tuple(sorted(o.checks)), o.message))
        return exempt, observed

    def plan(self, namespaces: list[dict]) -> Rollout:
        t0 = time.monotonic()
        pool = concurrent.futures.ThreadPoolExecutor(max(1, self.concurrency), thread_name_prefix="pss-rollout")
        try:
            # the label dry-runs are the server's work: they run while this thread reads and decodes the lists
            pending = [pool.submit(self._answer, n) for n in namespaces]
            inventories = self._inventories(namespaces, pool)
            self.timings["list"] = time.monotonic() - t0
            return self._plan(inventories, pending, t0)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _plan(self, inventories: list[_Inventory], pending: list[concurrent.futures.Future], t0: float) -> Rollout:
        t1 = time.monotonic()
        per_ns_templates: dict[str, list[tuple[dict, dict]]] = {}
        classes = set()
        for inv in inventories:
            chosen = []
            for w in planned_templates(inv.workloads):
                try:
                    chosen.append((w, template_pod(w)))
                except ValueError:   # NotPodBearing: a workload without a template
                    continue
            per_ns_templates[inv.name] = chosen
            classes |= {p["spec"].get("runtimeClassName") for p in inv.pods if (p.get("spec") or {}).get("runtimeClassName")}
            classes |= {pod["spec"]["runtimeClassName"] for _, pod in chosen if pod["spec"].get("runtimeClassName")}
        flat = [(inv.name, w, pod) for inv in inventories for w, pod in per_ns_templates[inv.name]]
        exempt: dict[str, bool | None] = {rc: (rc in self.declared_exempt) for rc in classes}
        observed: list[Observed | None] = [None] * len(flat)
        if self.t.runtime is not None:
            probed, observed = self._probe_and_dry_run(flat, classes)
            exempt.update({rc: v for rc, v in probed.items()})
            for rc, v in probed.items():
                if v is None and rc in self.declared_exempt:
                    exempt[rc] = True
        self.timings["templates_dry_run"] = time.monotonic() - t1

        t2 = time.monotonic()
        answers = [f.result() for f in pending]
        self.timings["namespace_dry_run_wait"] = time.monotonic() - t2

        t3 = time.monotonic()
        plans = []
        index = 0
        template_verdicts: dict[str, list[TemplateVerdict]] = {}
        for inv in inventories:
            owners = _owners(inv.workloads)
            verdicts = []
            pods_by_owner: dict[str, int] = {}
            for p in inv.pods:
                ref = _controller(p)
                if ref is not None:
                    o = owners.get(ref.get("uid", ""), f"{ref.get('kind')}/{ref.get('name')}")
                    pods_by_owner[o] = pods_by_owner.get(o, 0) + 1
            for w, pod in per_ns_templates[inv.name]:
                evaluation = evaluate_object(pod, self.target.level, self.target.version, self.t.server_minor)
                reasons, checks = _reasons(evaluation)
                rc = pod["spec"].get("runtimeClassName") or None
                ref = f"{w['kind']}/{w['metadata']['name']}"
                replicas = (w.get("spec") or {}).get("replicas") if w["kind"] in (
                    "Deployment", "ReplicaSet", "StatefulSet", "ReplicationController") else None
                verdicts.append(TemplateVerdict(w["kind"], w["metadata"]["name"], reasons, checks, replicas, rc,
                                                bool(rc and exempt.get(rc)), observed[index], pods_by_owner.get(ref, 0)))
                index += 1
            template_verdicts[inv.name] = verdicts
        for inv, answer in zip(inventories, answers):
            plans.append(self._plan_one(inv, answer, template_verdicts[inv.name], exempt))
        self.timings["evaluate"] = time.monotonic() - t3

        t4 = time.monotonic()
        plans = self._settle(plans, inventories, template_verdicts, exempt)
        self.timings["settle"] = time.monotonic() - t4
        self.timings["total"] = time.monotonic() - t0
        return Rollout(self.target, self.t.description, self.t.server_version, self.t.runtime is None, plans,
                       exempt, dict(self.timings))

    def _plan_one(self, inv: _Inventory, answer, templates, exempt) -> NamespacePlan:
        pods = evaluate_pods(inv.pods, self.target, self.t.server_minor, _owners(inv.workloads), exempt)
        return plan_namespace(inv.name, inv.namespace["metadata"].get("labels") or {}, self.target, answer, pods,
                              templates)

    def _settle(self, plans, inventories, template_verdicts, exempt):
        """Ask again where the server's answer and the evaluator differ (the server's pod informer may lag)."""
        deadline = time.monotonic() + self.settle
        by_name = {inv.name: inv for inv in inventories}
        while True:
            pending = [i for i, p in enumerate(plans) if p.differences]
            if not pending or time.monotonic() > deadline:
                return plans
            time.sleep(0.2)
            for i in pending:
                inv = by_name[plans[i].namespace]
                inv.pods = list_objects(self.t.cluster, "Pod", inv.name)
                plans[i] = self._plan_one(inv, self._answer(inv.namespace), template_verdicts[inv.name], exempt)


# -- changing labels --------------------------------------------------------------------------------

def apply_warn(cluster: Cluster, plans: Sequence[NamespacePlan]) -> list[dict]:
    """Label warn and audit at the target on ``ready`` and ``warn-first`` namespaces; never enforce.

    A namespace whose PodSecurity labels are no longer those the plan saw is left alone and
    reported; the patch carries the resourceVersion just read as a precondition (a conflict is
    reported too). Returns one record per namespace: what was set (old -> new) and the warnings.
    """
    changes = []
    for plan in plans:
        if plan.plan.value not in ("ready", "warn-first"):
            continue
        wanted = sorted_labels({k: v for k, v in plan.labels_now.items()
                                if k.startswith((label_key("warn"), label_key("audit")))})
        if not wanted:
            continue
        path = resource_path("Namespace", None, plan.namespace)
        current = cluster.checked("GET", path, what=f"reading namespace {plan.namespace}").body
        labels = (current.get("metadata") or {}).get("labels") or {}
        now = {k: v for k, v in labels.items() if k.startswith("pod-security.kubernetes.io/")}
        record = {"namespace": plan.namespace, "set": {}, "warnings": [], "status": "unchanged"}
        if now != dict(plan.labels):
            record["status"] = "skipped: its PodSecurity labels changed since the plan; run rollout again"
            changes.append(record)
            continue
        body = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"], "labels": wanted}}
        resp = cluster.request("PATCH", path, body, content_type=MERGE_PATCH)
        if resp.status == 409:
            record["status"] = "skipped: the namespace changed meanwhile (conflict); run rollout again"
        elif not resp.ok:
            cluster.checked("PATCH", path, body, what=f"labelling namespace {plan.namespace}")
        else:
            record["status"] = "labelled"
            record["set"] = {k: [labels.get(k), v] for k, v in wanted.items()}
            record["warnings"] = list(resp.warnings)
        changes.append(record)
    return changes


# -- seeding (the embedded plane's demo, the tests) ----------------------------------------------------

def gate(obj: dict) -> dict:
    """``obj`` with the never-schedule gate on the pod it is or templates (a copy)."""
    obj = copy.deepcopy(obj)
    kind = obj.get("kind")
    if kind not in KINDS:
        return obj
    node = obj
    for step in KINDS[kind].template_path:
        node = node.setdefault(step, {})
    spec = node.setdefault("spec", {})
    gates = spec.setdefault("schedulingGates", [])
    if not any(g.get("name") == NEVER_SCHEDULE_GATE for g in gates):
        gates.append({"name": NEVER_SCHEDULE_GATE})
    return obj


def seed(cluster: Cluster, objects: Sequence[dict], *, progress: Callable[[str], None] = lambda m: None,
         timeout: float = 60.0) -> None:
    """Create ``objects`` for real: Namespaces first, then the rest (pods gated: they never run).

    Waits for each namespace's ``default`` ServiceAccount and for the pods of Deployments,
    ReplicaSets, StatefulSets and ReplicationControllers.
    """
    namespaces = [o for o in objects if o.get("kind") == "Namespace"]
    rest = [o for o in objects if o.get("kind") != "Namespace"]
    for ns in namespaces:
        resp = cluster.request("POST", resource_path("Namespace", None), ns)
        if not resp.ok and resp.status != 409:
            raise ClusterError(f"seeding namespace {ns['metadata']['name']}: {resp.status} {resp.message}")
        cluster.wait_for("serviceaccounts", ns["metadata"]["name"], "default", timeout=timeout)
    for obj in rest:
        if obj.get("kind") not in KINDS:
            raise UsageError(f"--seed: kind {obj.get('kind')!r} is not one rollout seeds (Namespace and "
                             f"{', '.join(KINDS)})")
        ns = (obj.get("metadata") or {}).get("namespace") or "default"
        resp = cluster.submit(gate(obj), ns, dry_run=False)
        if not resp.ok and resp.status != 409:
            raise ClusterError(f"seeding {obj['kind']}/{obj['metadata'].get('name')} in {ns}: {resp.status} {resp.message}")
    want: dict[str, int] = {}
    for obj in rest:
        ns = (obj.get("metadata") or {}).get("namespace") or "default"
        if obj["kind"] == "Pod":
            want[ns] = want.get(ns, 0) + 1
        elif obj["kind"] in ("Deployment", "ReplicaSet", "StatefulSet", "ReplicationController"):
            want[ns] = want.get(ns, 0) + int((obj.get("spec") or {}).get("replicas", 1))
    for ns, n in want.items():
        wait_for_pods(cluster, ns, n, timeout=timeout)
    progress(f"seeded {len(namespaces)} namespace(s) and {len(rest)} object(s)")


def wait_for_pods(cluster: Cluster, namespace: str, count: int, timeout: float = 60.0) -> list[dict]:
    """Poll until ``namespace`` holds at least ``count`` pods (controllers create them asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        pods = list_objects(cluster, "Pod", namespace)
        if len(pods) >= count:
            return pods
        if time.monotonic() > deadline:
            raise ClusterError(f"namespace {namespace} has {len(pods)} pods after {timeout:.0f}s, expected {count}: "
                               "is the controller manager running?")
        time.sleep(0.1)
