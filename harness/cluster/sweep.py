"""The namespace sweep: probe every namespace's effective Pod Security enforcement, side-effect free.

``sweep(cluster, ...)`` lists the namespaces (and RuntimeClasses), sends the probes that
``harness.core.posture`` describes — server-side dry-run pod creates and namespace updates, never
a real write: every non-GET request goes through ``_Sender``, which refuses to send one without
``dryRun=All`` — reads the audit events of the pod probes when an audit source is given, and
hands the answers to ``harness.core.posture.infer``.

Per namespace (in a thread pool): the breakout probe; the restricted probe when enforce is
baseline; the exemption probe when the breakout probe was not evaluated visibly. Once per
cluster: the plugin probe, and each RuntimeClass in a namespace that evaluated the plain probe.
Transient refusals (a new namespace without its ``default`` ServiceAccount yet, 429, 5xx) and
answers that disagree with the labels (the apiserver's namespace informer lags after a label
change) are retried with backoff until ``settle`` seconds have passed.

It may import ``harness.core``, ``harness.policy`` and the rest of ``harness.cluster``.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import re
import threading
import time
from typing import Callable, Iterable

from harness.cluster.client import Cluster
from harness.core.answers import Response
from harness.core.errors import ClusterError, ClusterPermissionError, ClusterUnreachable, UsageError
from harness.core.model import Level, PolicyVersion
from harness.core.posture import (
    BREAKOUT_POD,
    RESTRICTED_POD,
    Answer,
    ClusterFacts,
    ModePosture,
    NamespaceAnswers,
    Posture,
    derive_cluster_facts,
    exemption_probe_labels,
    infer,
    plugin_probe_labels,
    read_pod_answer,
    with_runtime_class,
)

__all__ = ["SweepResult", "UnsafeRequest", "probe_signatures", "sweep"]

DRY_RUN = {"dryRun": "All"}
_METRIC = re.compile(r'^(pod_security_(?:exemptions|evaluations)_total)\{([^}]*)\}\s+([0-9.eE+-]+)$')


class UnsafeRequest(AssertionError):
    """The sweep was about to send a write that is not a dry run (a bug; it is never sent)."""


@dataclasses.dataclass
class SweepResult:
    """Everything one sweep found, for the report and the evidence."""

    server_version: str
    server_minor: int
    runner: dict
    facts: ClusterFacts
    postures: list[Posture]
    cluster_answers: list[Answer]
    requests: list[dict]                 #: every request sent: method, path, dryRun, status
    metrics: dict | None                 #: pod_security_* counter deltas over the sweep (None: not readable)
    elapsed: float
    selector: str | None = None

    def request_summary(self) -> dict:
        reads = sum(r["method"] == "GET" for r in self.requests)
        dry = sum(r["method"] != "GET" and r["dryRun"] for r in self.requests)
        return {"total": len(self.requests), "reads": reads, "dry_run_writes": dry,
                "other": len(self.requests) - reads - dry}


class _Sender:
    """Sends requests for the sweep: reads, and writes only as server-side dry runs. Records them all."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.log: list[dict] = []
        self._lock = threading.Lock()

    def send(self, method: str, path: str, body=None, query: dict | None = None) -> Response:
        query = dict(query or {})
        if method != "GET" and query.get("dryRun") != "All":
            raise UnsafeRequest(f"refusing to send {method} {path} without dryRun=All: the sweep never writes")
        resp = self.cluster.request(method, path, body, query)
        with self._lock:
            self.log.append({"method": method, "path": path, "dryRun": query.get("dryRun") == "All",
                             "status": resp.status})
        return resp

    def read(self, path: str, what: str, query: dict | None = None) -> Response:
        resp = self.send("GET", path, query=query)
        if resp.status == 0:
            raise ClusterUnreachable(f"{what}: the API server at {self.cluster.host} did not answer: "
                                     f"{resp.transport_error}")
        return resp


def probe_signatures(newest_minor: int) -> dict[str, list[tuple[int, tuple[tuple[str, str], ...]]]]:
    """The breakout probe's denial items at every policy minor, per level, from the offline evaluator."""
    from harness.policy import evaluate_object

    out: dict[str, list] = {}
    for level in (Level.BASELINE, Level.RESTRICTED):
        rows = []
        for minor in range(0, newest_minor + 1):
            ev = evaluate_object(BREAKOUT_POD, level, PolicyVersion(minor), newest_minor=newest_minor)
            rows.append((minor, tuple((r.reason, r.detail) for r in ev.results)))
        out[level.value] = rows
    return out


def _minor(info: dict) -> int:
    return int("".join(ch for ch in str(info.get("minor", "0")) if ch.isdigit()) or 0)


def _list_namespaces(s: _Sender, selector: str | None, field: str | None = None) -> list[dict]:
    items, cont = [], None
    while True:
        query = {"limit": "500"}
        if selector:
            query["labelSelector"] = selector
        if field:
            query["fieldSelector"] = field
        if cont:
            query["continue"] = cont
        resp = s.read("/api/v1/namespaces", "listing namespaces", query)
        if not resp.ok:
            hint = " (check --selector)" if resp.status == 400 else \
                " (the sweep role rbac/pss-harness-sweep.yaml grants list namespaces)" if resp.status == 403 else ""
            raise (ClusterPermissionError if resp.status in (401, 403) else ClusterError)(
                f"listing namespaces: {resp.status} {resp.reason}: {resp.message}{hint}")
        items += resp.body.get("items", [])
        cont = (resp.body.get("metadata") or {}).get("continue")
        if not cont:
            return items


def _metrics(s: _Sender) -> dict[str, float] | None:
    resp = s.send("GET", "/metrics")
    if resp.status != 200 or not isinstance(resp.body, str):
        return None
    out: dict[str, float] = {}
    for line in resp.body.splitlines():
        if not line.startswith("pod_security_"):
            continue
        m = _METRIC.match(line)
        if m:
            out[f"{m.group(1)}{{{m.group(2)}}}"] = float(m.group(3))
    return out


class _Prober:
    """Runs the per-namespace probe chain."""

    def __init__(self, s: _Sender, settle: float, audit, progress: Callable[[str], None]):
        self.s = s
        self.settle = settle
        self.audit = audit
        self.progress = progress
        self._audit_misses = 0
        self._audit_hits = 0
        self._audit_lock = threading.Lock()

    def pod(self, probe: str, pod: dict, namespace: str) -> Answer:
        path = f"/api/v1/namespaces/{namespace}/pods"
        deadline = time.monotonic() + self.settle
        delay = 0.05
        while True:
            resp = self.s.send("POST", path, pod, DRY_RUN)
            answer = Answer.of(probe, resp, pod)
            if not read_pod_answer(answer).transient or time.monotonic() + delay > deadline:
                return answer
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def namespace_update(self, probe: str, ns: dict, labels: dict[str, str]) -> Answer:
        body = copy.deepcopy(ns)
        meta = body.setdefault("metadata", {})
        meta.pop("resourceVersion", None)  # unconditional: the server's current object is the old one
        meta["labels"] = labels
        resp = self.s.send("PUT", f"/api/v1/namespaces/{meta['name']}", body, DRY_RUN)
        return Answer.of(probe, resp, body)

    def chain(self, ns: dict) -> NamespaceAnswers:
        name = ns["metadata"]["name"]
        labels = dict(ns["metadata"].get("labels") or {})
        out = NamespaceAnswers(name, labels)
        self.fill(out, ns)
        return out

    def fill(self, out: NamespaceAnswers, ns: dict) -> None:
        out.breakout = self.pod("breakout", BREAKOUT_POD, out.name)
        out.restricted = out.exemption = None
        r = read_pod_answer(out.breakout)
        if r.kind == "denied" and r.policy.startswith("baseline:"):
            out.restricted = self.pod("restricted", RESTRICTED_POD, out.name)
        if r.kind != "denied" and not r.warn_policy:
            out.exemption = self.namespace_update("exemption", ns, exemption_probe_labels(out.labels))

    def with_audit(self, answer: Answer | None) -> Answer | None:
        if answer is None or self.audit is None or not answer.audit_id or "/pods" not in answer.path:
            return answer
        with self._audit_lock:
            give_up = self._audit_misses >= 3 and not self._audit_hits
        event = None if give_up else self.audit.find(answer.audit_id, timeout=0.0 if self._audit_hits else 5.0)
        if event is None and self._audit_hits:
            event = self.audit.find(answer.audit_id, timeout=2.0)  # written late: wait a little once
        with self._audit_lock:
            if event is None:
                self._audit_misses += 1
            else:
                self._audit_hits += 1
        return answer.with_audit(event.get("annotations") or {} if event is not None else None)

    def attach_audit(self, ns: NamespaceAnswers) -> None:
        ns.breakout = self.with_audit(ns.breakout)
        ns.restricted = self.with_audit(ns.restricted)


def sweep(cluster: Cluster, *, names: Iterable[str] = (), selector: str | None = None, audit=None,
          concurrency: int = 8, settle: float = 5.0,
          progress: Callable[[str], None] = lambda m: None) -> SweepResult:
    """Probe the cluster's namespaces (all, those matching ``selector``, or ``names``)."""
    t0 = time.monotonic()
    if concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    s = _Sender(cluster)
    version = s.read("/version", "reading the server version")
    if not version.ok:
        raise (ClusterPermissionError if version.status in (401, 403) else ClusterError)(
            f"reading the server version: {version.status} {version.reason}: {version.message}")
    info = version.body or {}
    minor = _minor(info)
    who = s.send("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                 {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, DRY_RUN)
    user = (who.body or {}).get("status", {}).get("userInfo", {}) if who.ok else {}
    runner = {"username": user.get("username", "(unknown: SelfSubjectReview not allowed)"),
              "groups": user.get("groups", [])}
    wanted = list(dict.fromkeys(names))
    if wanted:
        listed = []
        for n in wanted:
            listed += _list_namespaces(s, selector, f"metadata.name={n}")
    else:
        listed = _list_namespaces(s, selector)
    listed.sort(key=lambda ns: ns["metadata"]["name"])
    found = {ns["metadata"]["name"] for ns in listed}
    missing = [n for n in wanted if n not in found]
    rcs_resp = s.send("GET", "/apis/node.k8s.io/v1/runtimeclasses")
    runtime_classes = sorted(i["metadata"]["name"] for i in rcs_resp.body.get("items", [])) if rcs_resp.ok else None
    before = _metrics(s)
    progress(f"probing {len(listed)} namespace(s) as {runner['username']} (concurrency {concurrency})")

    prober = _Prober(s, settle, audit, progress)
    cluster_answers: list[Answer] = []
    plugin = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep") as pool:
        plugin_future = None
        target = next(iter(listed), None)
        if target is not None:
            plugin_future = pool.submit(prober.namespace_update, "plugin", target,
                                        plugin_probe_labels(target["metadata"].get("labels") or {}))
        answers = list(pool.map(prober.chain, listed))
        if plugin_future is not None:
            plugin = plugin_future.result()
            cluster_answers.append(plugin)
        if audit is not None:
            list(pool.map(prober.attach_audit, answers))

        def facts_for(rc_answers: dict[str, Answer]) -> ClusterFacts:
            return derive_cluster_facts(plugin, answers, runner=runner["username"], runtime_classes=runtime_classes,
                                        runtime_class_answers=rc_answers, audit_source=audit is not None,
                                        newest_minor=minor)

        facts = facts_for({})
        rc_answers: dict[str, Answer] = {}
        reference = _reference_namespace(answers)
        if runtime_classes and reference is not None and not facts.runner_exempt:
            futures = {rc: pool.submit(prober.pod, f"runtimeClass:{rc}", with_runtime_class(BREAKOUT_POD, rc),
                                       reference) for rc in runtime_classes}
            rc_answers = {rc: prober.with_audit(f.result()) for rc, f in futures.items()}
            cluster_answers += rc_answers.values()
            facts = facts_for(rc_answers)
        signatures = probe_signatures(minor)
        postures = {ns.name: infer(ns, facts, signatures) for ns in answers}
        # informer lag: retry, with a bound, namespaces whose behaviour disagrees with their labels
        deadline = time.monotonic() + settle
        by_name = {ns.name: ns for ns in answers}
        delay = 0.1
        while True:
            drifting = [n for n, p in postures.items() if p.labels_agree is False]
            if not drifting or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

            def again(name: str) -> None:
                fresh = _list_namespaces(s, None, f"metadata.name={name}")
                if not fresh:
                    return
                ns = by_name[name]
                ns.history += [a for a in (ns.breakout, ns.restricted, ns.exemption) if a is not None]
                ns.labels = dict(fresh[0]["metadata"].get("labels") or {})
                ns.attempts += 1
                prober.fill(ns, fresh[0])
                if audit is not None:
                    prober.attach_audit(ns)

            list(pool.map(again, drifting))
            for n in drifting:
                postures[n] = infer(by_name[n], facts, signatures)
    after = _metrics(s)
    metrics = None
    if before is not None and after is not None:
        metrics = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in sorted(set(before) | set(after))
                   if after.get(k, 0.0) != before.get(k, 0.0)}
    out = [postures[ns.name] for ns in answers]
    for n in missing:
        u = ModePosture("unknown", evidence=f"namespace {n} was not found")
        out.append(Posture(n, {}, u, u, u, ("unknown",), "error", f"namespace {n} was not found"))
    return SweepResult(info.get("gitVersion", "?"), minor, runner, facts, out, cluster_answers, s.log, metrics,
                       time.monotonic() - t0, selector)


def _reference_namespace(answers: list[NamespaceAnswers]) -> str | None:
    """A namespace whose PodSecurity evaluated the plain breakout probe (denied first, else warned)."""
    readings = [(ns.name, read_pod_answer(ns.breakout)) for ns in answers if ns.breakout is not None]
    for want in ("denied", "warned"):
        for name, r in readings:
            if (want == "denied" and r.kind == "denied") or (want == "warned" and r.kind == "passed" and r.warn_policy
                                                             and not r.refused_by):
                return name
    return None


SCHEMA = "pss-harness/namespaces/v1"


def document(result: SweepResult, desired=None, *, today=None, target: str = "", evidence: bool = True) -> dict:
    """The sweep as one JSON document (``harness/schemas/namespaces.schema.json``), findings included.

    ``desired`` is a ``harness.core.namespace_rules.DesiredState`` (None: the posture only).
    """
    import datetime

    from harness.core.namespace_rules import evaluate, matching_rules

    today = today or datetime.date.today()
    namespaces, results, findings = [], [], []
    unmatched = 0
    for p in result.postures:
        entry = p.to_dict(evidence=evidence)
        rules = matching_rules(desired, p.namespace, p.labels) if desired is not None else []
        entry["rules"] = [r.name for r in rules]
        if desired is not None and not rules:
            unmatched += 1
        for rule in rules:
            found = evaluate(rule, p, result.facts, today)
            results.append({"namespace": p.namespace, "rule": rule.name, "passed": not found,
                            "findings": [f.id for f in found]})
            findings += [f.to_dict() for f in found]
        namespaces.append(entry)
    by_id: dict[str, int] = {}
    for f in findings:
        by_id[f["id"]] = by_id.get(f["id"], 0) + 1
    proven = sum(p.enforce.state in ("proven", "none") and p.probe == "ok" for p in result.postures)
    summary = {
        "namespaces": len(result.postures),
        "enforce_proven": proven,
        "unprobeable": sum(p.probe != "ok" for p in result.postures),
        "unknown": sum(p.enforce.state == "unknown" for p in result.postures),
        "findings": len(findings), "by_finding": dict(sorted(by_id.items())),
        "results": len(results), "results_passed": sum(r["passed"] for r in results),
        "unmatched": unmatched if desired is not None else None,
        "elapsed_s": round(result.elapsed, 3),
        "namespaces_per_second": round(len(result.postures) / result.elapsed, 1) if result.elapsed else None,
    }
    cluster = result.facts.to_dict()
    cluster["metrics"] = result.metrics
    if evidence:
        cluster["answers"] = [a.to_dict() for a in result.cluster_answers]
    return {
        "schema": SCHEMA, "target": target, "server_version": result.server_version, "runner": result.runner,
        "selector": result.selector, "today": today.isoformat(), "cluster": cluster,
        "policy": None if desired is None else {"path": desired.path, "rules": [r.to_dict() for r in desired.rules]},
        "namespaces": namespaces, "results": results, "findings": findings,
        "requests": result.request_summary(), "summary": summary,
    }

