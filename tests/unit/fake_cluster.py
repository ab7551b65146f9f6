"""An in-memory stand-in for ``harness.cluster.client.Cluster``, for unit tests of the runner only.

``FakeCluster`` satisfies ``harness.cluster.seam.ClusterAPI`` and keeps namespaces, pods and
events in dictionaries. It models just what the runner's own logic depends on, each behind a knob
a test turns:

* namespaces carry labels and a ``creationTimestamp`` (from ``clock``, UTC); their ``default``
  ServiceAccount appears after ``sa_after`` polls, and their PodSecurity labels take effect after
  ``labels_after`` admission requests (``None``: never), like the admission plugin's namespace cache;
* PodSecurity knows one check, ``privileged``, enough for the canary and probe pods and for the
  update path's ephemeral containers: enforce refuses with the upstream message, warn answers with
  the Warning, audit writes ``audit-violations`` into the audit log; ``pod_security=False`` admits
  everything, ``exempt="namespace"`` (or ``"user"``...) admits and annotates ``exempt=...``;
* PodSecurity writes ``enforce-policy`` into the audit event of every pod it evaluates (not in a
  namespace privileged in all three modes, which it skips), and no warning into a response it refuses;
* ``refuse(obj, namespace, dry_run)`` may answer a submission first, before PodSecurity (a LimitRange,
  a mutating webhook): its audit event has no PodSecurity annotation; ``refuse_after(obj, namespace,
  dry_run)`` answers after PodSecurity admitted it (a ValidatingAdmissionPolicy, a validating webhook,
  a ResourceQuota): the answer keeps PodSecurity's warnings and audit annotations, as the API server's does;
* RBAC: ``denied`` holds ``(verb, group, resource, subresource)`` tuples ``can_i`` answers False for;
* each admission request gets an ``Audit-Id``; with ``audit_log`` set its ``ResponseComplete``
  event is appended there as the API server does (before the answer returns).

Every call is recorded in ``calls`` as ``(operation, argument)``. Integration tests never use
this: claims about admission itself are tested against the real embedded server.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

from harness.core.answers import Response
from harness.core.errors import ClusterError
from harness.core.polling import PollTimeout, poll

__all__ = ["FakeCluster", "iso"]


def iso(epoch: float) -> str:
    """An RFC 3339 UTC timestamp, as the API server writes ``creationTimestamp``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message}


class FakeCluster:
    """An in-memory API server of one identity (see the module docstring for what it models)."""

    def __init__(self, *, version: str = "v1.37.2", username: str = "runner", groups: Iterable[str] = ("ci",),
                 denied: Iterable[tuple[str, str, str, str]] = (), pod_security: bool = True,
                 exempt: str | None = None, audit_log: Path | None = None, labels_after: int | None = 0,
                 sa_after: int = 0, refuse: Callable[[dict, str, bool], Response | None] | None = None,
                 refuse_after: Callable[[dict, str, bool], Response | None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.version = version
        self.username = username
        self.groups = list(groups)
        self.denied = set(denied)
        self.pod_security = pod_security
        self.exempt = exempt
        self.audit_log = audit_log
        self.labels_after = labels_after
        self.sa_after = sa_after
        self.refuse = refuse
        self.refuse_after = refuse_after
        self.clock = clock
        self.namespaces: dict[str, dict] = {}
        self.pods: dict[tuple[str, str], dict] = {}
        self.events_by_ns: dict[str, list[dict]] = {}
        self.calls: list[tuple[str, Any]] = []
        self._sa_polls: dict[str, int] = {}
        self._label_delay: dict[str, int | None] = {}  #: admissions before a namespace's labels take effect
        self._admissions: dict[str, int] = {}

    # -- test helpers -----------------------------------------------------------------

    def add_namespace(self, name: str, labels: dict[str, str], *, created: float | None = None,
                      phase: str = "Active") -> dict:
        """A namespace as if another party (another run, a user) had created it."""
        ns = {"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": name, "labels": dict(labels),
                           "creationTimestamp": iso(self.clock() if created is None else created)},
              "status": {"phase": phase}}
        self.namespaces[name] = ns
        self._sa_polls[name] = self.sa_after  # long there: its ServiceAccount and labels are in effect
        self._label_delay[name] = 0
        return ns

    def deleted_namespaces(self) -> list[str]:
        return [arg for op, arg in self.calls if op == "delete_namespace"]

    # -- raw requests -------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                content_type: str = "application/json") -> Response:
        self.calls.append(("request", f"{method} {path}"))
        parts = path.strip("/").split("/")
        # /api/v1/namespaces/{ns}[/{plural}/{name}]
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4:
            ns = self.namespaces.get(parts[3])
            if method == "GET":
                return self._answer(method, path, query, 200, ns) if ns else self._not_found(method, path, "namespaces", parts[3])
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6 and parts[4] == "pods":
            key = (parts[3], parts[5])
            if method == "DELETE":
                pod = self.pods.pop(key, None)
                return self._answer(method, path, query, 200, pod) if pod else self._not_found(method, path, "pods", parts[5])
            if method == "GET":
                pod = self.pods.get(key)
                return self._answer(method, path, query, 200, pod) if pod else self._not_found(method, path, "pods", parts[5])
        return self._not_found(method, path, parts[-2] if len(parts) > 1 else "", parts[-1])

    def checked(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                what: str = "", ok: Iterable[int] = ()) -> Response:
        resp = self.request(method, path, body, query)
        if resp.ok or resp.status in tuple(ok):
            return resp
        raise ClusterError(f"{what or f'{method} {path}'}: {resp.status} {resp.reason}: {resp.message}")

    # -- objects ------------------------------------------------------------------------

    def submit(self, obj: dict, namespace: str, *, dry_run: bool = True) -> Response:
        self.calls.append(("submit", (obj.get("kind"), namespace, obj.get("metadata", {}).get("name"), dry_run)))
        path = f"/api/v1/namespaces/{namespace}/{obj.get('kind', '').lower()}s"
        query = {"dryRun": "All"} if dry_run else {}
        if namespace not in self.namespaces:
            return self._not_found("POST", path, "namespaces", namespace, query)
        if self.refuse is not None:
            answer = self.refuse(obj, namespace, dry_run)
            if answer is not None:
                audit_id = answer.audit_id or uuid.uuid4().hex
                self._audit(audit_id, namespace, obj.get("metadata", {}).get("name", ""), {})
                return dataclasses.replace(answer, audit_id=audit_id)
        resp = self._admit("POST", path, query, obj, namespace)
        if resp.ok and not dry_run and obj.get("kind") == "Pod":
            stored = json.loads(json.dumps(obj))
            stored["metadata"]["namespace"] = namespace
            stored["metadata"]["uid"] = uuid.uuid4().hex
            self.pods[(namespace, stored["metadata"]["name"])] = stored
            resp.body = stored
        return resp

    def add_ephemeral_containers(self, pod: dict, namespace: str, containers: list[dict], *,
                                 dry_run: bool = True) -> Response:
        name = pod["metadata"]["name"]
        self.calls.append(("add_ephemeral_containers", (namespace, name, dry_run)))
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/ephemeralcontainers"
        query = {"dryRun": "All"} if dry_run else {}
        if (namespace, name) not in self.pods:
            return self._not_found("PUT", path, "pods", name, query)
        updated = json.loads(json.dumps(pod))
        updated.setdefault("spec", {}).setdefault("ephemeralContainers", []).extend(containers)
        return self._admit("PUT", path, query, updated, namespace, status=200)

    def delete(self, kind: str, namespace: str | None, name: str, *, background: bool = True) -> Response:
        self.calls.append(("delete", (kind, namespace, name)))
        self.pods.pop((namespace, name), None)
        return self._answer("DELETE", f"/{kind}/{name}", {}, 200, {})

    def events(self, namespace: str) -> list[dict]:
        self.calls.append(("events", namespace))
        return list(self.events_by_ns.get(namespace, []))

    def wait_for(self, kind: str, namespace: str | None, name: str, timeout: float = 60.0) -> dict:
        self.calls.append(("wait_for", (kind, namespace, name)))

        def exists():
            if namespace not in self.namespaces:
                return None
            self._sa_polls[namespace] = self._sa_polls.get(namespace, 0) + 1
            return {"kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}} \
                if self._sa_polls[namespace] > self.sa_after else None

        try:
            return poll(exists, timeout=timeout, interval=0.001, what=f"{kind} {namespace}/{name}")
        except PollTimeout:
            raise ClusterError(f"/api/v1/namespaces/{namespace}/{kind}/{name} did not appear within "
                               f"{timeout:.0f}s; is a controller manager running?") from None

    # -- namespaces ---------------------------------------------------------------------

    def create_namespace(self, name: str, labels: dict[str, str], *, exist_ok: bool = False) -> Response:
        self.calls.append(("create_namespace", name))
        if name in self.namespaces and exist_ok:
            return self._answer("GET", f"/api/v1/namespaces/{name}", {}, 200, self.namespaces[name])
        if name in self.namespaces:
            raise ClusterError(f"creating namespace {name}: 409 AlreadyExists: namespaces {name!r} already exists")
        ns = self.add_namespace(name, labels)
        self._sa_polls[name] = 0
        self._label_delay[name] = self.labels_after
        return self._answer("POST", "/api/v1/namespaces", {}, 201, ns)

    def delete_namespace(self, name: str) -> Response:
        self.calls.append(("delete_namespace", name))
        ns = self.namespaces.pop(name, None)
        return self._answer("DELETE", f"/api/v1/namespaces/{name}", {}, 200, ns) if ns else \
            self._not_found("DELETE", f"/api/v1/namespaces/{name}", "namespaces", name)

    def list_namespaces(self, label_selector: str) -> list[dict]:
        self.calls.append(("list_namespaces", label_selector))
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)
        return [json.loads(json.dumps(ns)) for ns in self.namespaces.values()
                if all(ns["metadata"]["labels"].get(k) == v for k, v in wanted.items())]

    # -- identity and permissions ---------------------------------------------------------

    def server_version(self) -> dict:
        self.calls.append(("server_version", None))
        minor = self.version.split(".")[1]
        return {"major": "1", "minor": minor, "gitVersion": self.version}

    def whoami(self) -> dict:
        self.calls.append(("whoami", None))
        return {"username": self.username, "groups": list(self.groups)}

    def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None,
              subresource: str = "") -> bool:
        self.calls.append(("can_i", (verb, group, resource, subresource, namespace)))
        return (verb, group, resource, subresource) not in self.denied

    # -- internals ------------------------------------------------------------------------

    def _answer(self, method, path, query, status, body, warnings=(), audit_id="") -> Response:
        return Response(method, path, dict(query or {}), status, body, list(warnings), audit_id)

    def _not_found(self, method, path, plural, name, query=None) -> Response:
        return self._answer(method, path, query, 404, _status(404, "NotFound", f'{plural} "{name}" not found'))

    def _effective_labels(self, namespace: str) -> dict[str, str]:
        """The labels PodSecurity sees: none until ``labels_after`` admissions have passed (a cache)."""
        seen = self._admissions.get(namespace, 0)
        self._admissions[namespace] = seen + 1
        delay = self._label_delay.get(namespace, 0)
        if delay is None or seen < delay:
            return {}
        return self.namespaces[namespace]["metadata"]["labels"]

    def _audit(self, audit_id: str, namespace: str, name: str, annotations: dict[str, str]) -> None:
        if self.audit_log is None:
            return
        event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": audit_id,
                 "stage": "ResponseComplete", "verb": "create", "user": {"username": self.username},
                 "objectRef": {"resource": "pods", "namespace": namespace, "name": name},
                 "annotations": annotations}
        with self.audit_log.open("a") as fh:
            fh.write(json.dumps(event) + "\n")

    def _admit(self, method: str, path: str, query: dict, obj: dict, namespace: str, status: int = 201) -> Response:
        audit_id = uuid.uuid4().hex
        annotations: dict[str, str] = {}
        warnings: list[str] = []
        answer = None
        labels = self._effective_labels(namespace)
        privileged = [c["name"] for field in ("initContainers", "containers", "ephemeralContainers")
                      for c in (obj.get("spec") or {}).get(field, [])
                      if (c.get("securityContext") or {}).get("privileged")]
        name = obj.get("metadata", {}).get("name", "")
        levels = {mode: labels.get(f"pod-security.kubernetes.io/{mode}", "privileged")
                  for mode in ("enforce", "audit", "warn")}
        if self.pod_security and self.exempt:
            annotations["pod-security.kubernetes.io/exempt"] = self.exempt
        elif self.pod_security and set(levels.values()) != {"privileged"}:
            reason = "privileged (container " + ", ".join(f'"{c}"' for c in privileged) + \
                " must not set securityContext.privileged=true)"
            for mode in ("enforce", "audit", "warn"):
                level = levels[mode]
                policy = f'{level}:{labels.get(f"pod-security.kubernetes.io/{mode}-version", "latest")}'
                if mode == "enforce":
                    annotations["pod-security.kubernetes.io/enforce-policy"] = policy
                if level == "privileged" or not privileged:
                    continue
                if mode == "enforce":
                    answer = self._answer(method, path, query, 403, _status(
                        403, "Forbidden", f'pods "{name}" is forbidden: violates PodSecurity "{policy}": {reason}'),
                        audit_id=audit_id)
                elif mode == "audit":
                    annotations["pod-security.kubernetes.io/audit-violations"] = \
                        f'would violate PodSecurity "{policy}": {reason}'
                elif answer is None:  # no warnings on a request PodSecurity refuses
                    warnings.append(f'would violate PodSecurity "{policy}": {reason}')
        if answer is None and self.refuse_after is not None:
            later = self.refuse_after(obj, namespace, query.get("dryRun") == "All")
            if later is not None:
                answer = dataclasses.replace(later, warnings=warnings + list(later.warnings), audit_id=audit_id)
        self._audit(audit_id, namespace, name, annotations)
        if answer is not None:
            return answer
        body = json.loads(json.dumps(obj))
        body.setdefault("metadata", {})["namespace"] = namespace
        return self._answer(method, path, query, status, body, warnings, audit_id)
