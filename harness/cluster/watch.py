"""Continuous control validation: watch the cluster, re-probe what a change concerns, report drift as it happens.

``WatchLoop.run`` does a full namespace sweep (``harness.cluster.sweep``), then lists and watches

* namespaces (a label changed, a namespace added or deleted: re-probe that namespace),
* ValidatingAdmissionPolicies and their bindings, Validating/MutatingWebhookConfigurations
  (compared with what was present at the start: ``harness.core.drift.admission_findings``; a
  webhook change also re-probes every namespace, since a webhook can change or refuse the probe),
* the apiserver identity Leases in ``kube-system`` (label
  ``apiserver.kubernetes.io/identity=kube-apiserver``): every kube-apiserver start writes a new
  ``holderIdentity`` (``apiserver-<hash>_<uuid>``), the only API-visible trace of a restart, after
  which defaults and exemptions (a file on the server) may differ: re-probe everything.

Every ``interval`` it sweeps everything again, which catches what no watch sees. Each watch
lists, then watches from the list's ``resourceVersion`` with bookmarks, relists on
``410 Gone``/``Expired`` and reconnects with exponential backoff; nothing transient ends the
loop. When the server cannot be probed (no answer, 503, 429: ``harness.core.drift.probe_failure``)
the loop reports "cannot probe" and opens or closes no drift event; once it answers again it
sweeps everything.

Findings against the desired state (``--policy``, else ``harness.core.drift.snapshot_policy``)
are tracked by ``harness.core.drift.DriftTracker``; every transition goes to the ``Listener``
(JSON lines, the history store, metrics: wired by ``harness.cli.watch``).

May import ``harness.core`` and the rest of ``harness.cluster``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

from harness.cluster.client import Cluster
from harness.cluster.sweep import SweepResult, sweep
from harness.core.drift import (
    Context,
    DriftTracker,
    Observation,
    Transition,
    admission_findings,
    admission_state,
    latest_managed_time,
    parse_time,
    probe_failure,
    snapshot_policy,
)
from harness.core.errors import ClusterError, ClusterUnreachable
from harness.core.namespace_rules import DesiredState, evaluate, matching_rules
from harness.core.posture import LABEL_PREFIX, Posture

__all__ = ["RESOURCES", "AuditChanges", "Listener", "WatchLoop", "Watcher"]

LEASE_SELECTOR = "apiserver.kubernetes.io/identity=kube-apiserver"
_ADMISSION = "/apis/admissionregistration.k8s.io/v1/"

#: resource -> (list path, extra query)
RESOURCES: dict[str, tuple[str, dict[str, str]]] = {
    "namespaces": ("/api/v1/namespaces", {}),
    "validatingadmissionpolicies": (_ADMISSION + "validatingadmissionpolicies", {}),
    "validatingadmissionpolicybindings": (_ADMISSION + "validatingadmissionpolicybindings", {}),
    "validatingwebhookconfigurations": (_ADMISSION + "validatingwebhookconfigurations", {}),
    "mutatingwebhookconfigurations": (_ADMISSION + "mutatingwebhookconfigurations", {}),
    "leases": ("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", {"labelSelector": LEASE_SELECTOR}),
}
ADMISSION_RESOURCES = ("validatingadmissionpolicies", "validatingadmissionpolicybindings",
                       "validatingwebhookconfigurations", "mutatingwebhookconfigurations")
_WEBHOOKS = ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    """What a ``Watcher`` hands the loop: ``SYNC`` (a full list), ``ADDED``/``MODIFIED``/``DELETED``,
    ``DOWN`` (the server stopped answering; ``error``), ``UP`` (it answers again), ``FORBIDDEN``."""

    resource: str
    type: str
    obj: dict | None = None
    items: tuple = ()
    error: str = ""
    received: float = 0.0


class Listener:
    """Receives what the loop finds. Every method may be overridden; the defaults do nothing."""

    def transition(self, t: Transition, loop: "WatchLoop") -> None: ...
    def status(self, record: dict) -> None: ...
    def probed(self, loop: "WatchLoop", scope: str, seconds: float) -> None: ...
    def probe_error(self, cls: str, message: str) -> None: ...
    def relisted(self, resource: str, reason: str) -> None: ...
    def reconnected(self, resource: str) -> None: ...


class Watcher(threading.Thread):
    """List + watch one resource forever (until ``stop``), handing ``WatchEvent`` s to ``out``.

    Watches from the list's ``resourceVersion`` with ``allowWatchBookmarks``; a bookmark moves
    the resourceVersion on; ``410``/``Expired`` relists; a broken or refused connection is
    retried with exponential backoff (``backoff``: first and largest delay), from the last
    resourceVersion (a relist if that is too old). ``resource_version`` starts the first watch
    from a given version instead of a list (tests use it to provoke a 410).
    """

    def __init__(self, cluster: Cluster, resource: str, out: "queue.Queue[WatchEvent]", stop: threading.Event, *,
                 timeout_seconds: int = 300, backoff: tuple[float, float] = (0.2, 5.0),
                 resource_version: str | None = None, listener: Listener | None = None,
                 clock: Callable[[], float] = time.time):
        super().__init__(name=f"watch-{resource}", daemon=True)
        self.cluster, self.resource, self.out, self.stopping = cluster, resource, out, stop
        self.path, self.query = RESOURCES[resource]
        self.timeout_seconds = timeout_seconds
        self.backoff = backoff
        self.rv = resource_version
        self.listener = listener or Listener()
        self.clock = clock
        self.down = False
        self.relists = {"initial": 0, "gone": 0}
        self.reconnects = 0
        self.bookmarks = 0
        self._stream = None
        self._listed = resource_version is not None  # a relist from a given version is after a 410

    def close(self) -> None:
        s = self._stream
        if s is not None:
            s.close()

    def _emit(self, type_: str, **kw) -> None:
        self.out.put(WatchEvent(self.resource, type_, received=self.clock(), **kw))

    def _up(self) -> None:
        if self.down:
            self.down = False
            self.reconnects += 1
            self.listener.reconnected(self.resource)
            self._emit("UP")

    def _fail(self, message: str, delay: float) -> float:
        if not self.down:
            self.down = True
            self._emit("DOWN", error=message)
        self.stopping.wait(delay)
        return min(delay * 2, self.backoff[1])

    def _list(self) -> bool:
        items, cont = [], None
        while True:
            q = dict(self.query, limit="500")
            if cont:
                q["continue"] = cont
            resp = self.cluster.request("GET", self.path, query=q)
            if resp.status in (401, 403, 404):
                self._emit("FORBIDDEN", error=f"{resp.status} {resp.reason}: {resp.message}")
                return False
            if not resp.ok:
                raise ClusterUnreachable(f"listing {self.path}: {resp.status or ''} {resp.reason or ''} "
                                         f"{resp.message or resp.transport_error}".strip())
            items += (resp.body or {}).get("items") or []
            meta = (resp.body or {}).get("metadata") or {}
            cont = meta.get("continue")
            if not cont:
                self.rv = meta.get("resourceVersion")
                reason = "gone" if self._listed else "initial"
                self._listed = True
                self.relists[reason] += 1
                self.listener.relisted(self.resource, reason)
                self._up()
                self._emit("SYNC", items=tuple(items))
                return True

    def run(self) -> None:
        delay = self.backoff[0]
        while not self.stopping.is_set():
            try:
                if self.rv is None and not self._list():
                    return  # not allowed to list it: the periodic sweep still covers what it would have shown
                q = dict(self.query, watch="1", resourceVersion=self.rv, allowWatchBookmarks="true",
                         timeoutSeconds=str(self.timeout_seconds))
                self._stream = s = self.cluster.stream(self.path, q, read_timeout=self.timeout_seconds + 30)
                if s.status == 410:
                    self.rv = None
                    continue
                if s.status in (401, 403):  # may list, may not watch: the periodic sweep covers it
                    self._emit("FORBIDDEN", error=f"watch: {s.status} {(s.error or {}).get('message', s.error)}"
                               if isinstance(s.error, dict) else f"watch: {s.status} {s.error}")
                    return
                if not s.ok:
                    raise ClusterUnreachable(f"watching {self.path}: {s.status} {s.error}")
                self._up()
                delay = self.backoff[0]
                for ev in s.lines():
                    if self.stopping.is_set():
                        break
                    kind, obj = ev.get("type"), ev.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410 or obj.get("reason") in ("Expired", "Gone"):
                            self.rv = None  # too old: relist
                            break
                        raise ClusterUnreachable(f"watching {self.path}: {obj.get('code')} {obj.get('message')}")
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.rv = rv
                    if kind == "BOOKMARK":
                        self.bookmarks += 1
                        continue
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        self._emit(kind, obj=obj)
            except ClusterError as exc:
                if self.stopping.is_set():
                    break
                delay = self._fail(str(exc), delay)
            finally:
                if self._stream is not None:
                    self._stream.close()  # hands the connection back (or drops it) after a break or an end
                self._stream = None


class AuditChanges:
    """Change times from a JSON-lines audit log FILE: successful writes to an object, by their audit timestamps.

    The change time is the event's ``requestReceivedTimestamp`` (µs): the write is committed between it
    and ``stageTimestamp`` (ResponseComplete), and a watch can deliver the change before the
    ``stageTimestamp`` (measured on kube-apiserver v1.37: up to a millisecond), so only the former
    is sure to precede the detection. Both are kept in the event's proof.
    """

    _VERBS = ("create", "update", "patch", "delete")
    _KEEP = 8

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._offset = self.path.stat().st_size if self.path.exists() else 0
        self._writes: dict[tuple[str, str], list[dict]] = {}
        self._lock = threading.Lock()

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                if fh.seek(0, 2) < self._offset:
                    self._offset = 0
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            if b'"ResponseComplete"' not in line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            ref = ev.get("objectRef") or {}
            code = (ev.get("responseStatus") or {}).get("code", 0)
            if ev.get("verb") not in self._VERBS or not ref.get("name") or not 200 <= code < 300:
                continue
            if "dryRun=All" in (ev.get("requestURI") or ""):
                continue
            received = parse_time(ev.get("requestReceivedTimestamp"))
            if received is None:
                continue
            writes = self._writes.setdefault((ref.get("resource", ""), ref["name"]), [])
            writes.append({"received": received, "stage": parse_time(ev.get("stageTimestamp")),
                           "audit_id": ev.get("auditID", ""), "verb": ev.get("verb"),
                           "user": (ev.get("user") or {}).get("username", "")})
            del writes[:-self._KEEP]

    def changed(self, resource: str, name: str, after: float, before: float, timeout: float = 1.0) -> dict | None:
        """The newest successful write to ``resource/name`` received in ``(after, before]``; waits up to
        ``timeout`` for its line (the log can lag the watch). None if there is none."""
        def look() -> dict | None:
            with self._lock:
                self._read()
                hits = [w for w in self._writes.get((resource, name), []) if after < w["received"] <= before]
            return hits[-1] if hits else None

        deadline = time.monotonic() + timeout
        while True:
            hit = look()
            if hit is not None or time.monotonic() >= deadline:
                return hit
            time.sleep(0.05)


@dataclasses.dataclass
class _Namespace:
    labels: dict
    obj: dict
    probed_labels: dict | None = None
    posture: Posture | None = None
    restart_seen: int = 0               #: the restart count when last probed
    probed_at: float = 0.0              #: when it was last probed


class WatchLoop:
    """The watch: startup sweep, watches, targeted and periodic re-probes, drift events (see the module doc)."""

    def __init__(self, cluster: Cluster, *, desired: DesiredState | None = None, interval: float = 300.0,
                 audit=None, audit_log: str | None = None, listener: Listener | None = None,
                 settle: float = 5.0, concurrency: int = 8, debounce: float = 0.1,
                 backoff: tuple[float, float] = (0.2, 5.0), watch_timeout: int = 300,
                 resource_versions: Mapping[str, str] | None = None, resources: Iterable[str] = tuple(RESOURCES),
                 clock: Callable[[], float] = time.time, progress: Callable[[str], None] = lambda m: None):
        self.cluster = cluster
        self.policy = desired
        self.desired: DesiredState | None = desired
        self.interval = interval
        self.audit = audit
        self.audit_changes = AuditChanges(audit_log) if audit_log and not str(audit_log).startswith("!") else None
        self.listener = listener or Listener()
        self.settle, self.concurrency, self.debounce, self.backoff = settle, concurrency, debounce, backoff
        self.watch_timeout = watch_timeout
        self.resource_versions = dict(resource_versions or {})
        self.resources = tuple(resources)
        self.clock = clock
        self.progress = progress
        self.tracker = DriftTracker()
        self.lock = threading.RLock()
        self.namespaces: dict[str, _Namespace] = {}
        self.findings: dict[str, list] = {}       #: namespace -> its current findings
        self.matches: dict[str, bool | None] = {}  #: namespace -> meets its rules (None: no rule)
        self.facts = None
        self.server_version = ""
        self.baseline: dict[str, dict[str, dict]] = {}
        self.admission: dict[str, dict[str, dict]] = {}
        self._admission_ctx: dict[str, Context] = {}
        self._admission_seen: dict[str, float] = {}
        self.holders: dict[str, str] = {}
        self._leases_synced = False
        self.restarts = 0
        self._restart_at: float | None = None
        self.probe_up = False
        self.down_class: str | None = None
        self.last_success: float | None = None
        self.sweeps = {"full": 0, "targeted": 0}
        self.watchers: dict[str, Watcher] = {}
        self.forbidden: dict[str, str] = {}
        self._startup: set[str] = set()
        self._queue: "queue.Queue[WatchEvent]" = queue.Queue()
        self._stop = threading.Event()
        self._dirty: set[str] = set()
        self._need_full = False
        self._retry_at: float | None = None
        self._starting = False
        self._ready = threading.Event()

    # -- public ----------------------------------------------------------------------------------

    @property
    def ready(self) -> threading.Event:
        """Set once the startup sweep is done and every watch has listed."""
        return self._ready

    def stop(self) -> None:
        self._stop.set()
        for w in self.watchers.values():
            w.close()

    def run(self, stop: threading.Event | None = None) -> None:
        """Watch until ``stop`` (or ``self.stop()``); never returns on a transient error."""
        if stop is not None:
            threading.Thread(target=lambda: (stop.wait(), self.stop()), daemon=True, name="watch-stop").start()
        for resource in self.resources:
            w = Watcher(self.cluster, resource, self._queue, self._stop, timeout_seconds=self.watch_timeout,
                        backoff=self.backoff, resource_version=self.resource_versions.get(resource),
                        listener=self.listener, clock=self.clock)
            self.watchers[resource] = w
            w.start()
        delay = self.backoff[0]
        t0 = time.monotonic()
        while not self._stop.is_set() and not self._full_sweep(startup=True):
            self._stop.wait(delay)
            delay = min(delay * 2, self.backoff[1])
        self.progress(f"startup sweep: {len(self.namespaces)} namespace(s) in {time.monotonic() - t0:.1f}s; watching")
        next_full = time.monotonic() + self.interval
        self._retry_at = None
        try:
            while not self._stop.is_set():
                if not self._ready.is_set() and all(w.relists["initial"] or w.rv for w in self.watchers.values()
                                                    if w.is_alive()) and self._queue.empty():
                    self._ready.set()
                wait = max(0.0, min(next_full - time.monotonic(), 0.5))
                try:
                    first = self._queue.get(timeout=wait)
                except queue.Empty:
                    first = None
                if first is not None:
                    self._handle(first)
                    deadline = time.monotonic() + self.debounce
                    while True:
                        try:
                            self._handle(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                        except queue.Empty:
                            break
                if self._stop.is_set():
                    break
                now = time.monotonic()
                if self.down_class is not None:
                    if self._retry_at is None or now >= self._retry_at:
                        if self._full_sweep():
                            self._retry_at, delay = None, self.backoff[0]
                            next_full = time.monotonic() + self.interval
                        elif self._starting:  # it answers, not ready yet: it will be soon
                            self._retry_at = now + 0.1
                        else:
                            self._retry_at, delay = now + delay, min(delay * 2, self.backoff[1])
                    continue
                if self._need_full or now >= next_full:
                    if self._full_sweep():
                        next_full = time.monotonic() + self.interval
                elif self._dirty:
                    self._targeted_sweep()
        finally:
            self.stop()
            for w in self.watchers.values():
                w.join(timeout=5)

    # -- events ---------------------------------------------------------------------------------

    def _handle(self, ev: WatchEvent) -> None:
        if ev.type == "DOWN":
            if self.last_success is None or ev.received > self.last_success:  # not news older than the last sweep
                self._cannot_probe("unreachable", f"{ev.resource}: {ev.error}", source=f"watch {ev.resource}")
            return
        if ev.type == "UP":
            self._need_full = True
            self._retry_at = None  # a watch reconnected: the server answers again, probe now
            return
        if ev.type == "FORBIDDEN":
            self.forbidden[ev.resource] = ev.error
            self.listener.status({"event": "watch-forbidden", "resource": ev.resource, "error": ev.error,
                                  "at": _iso(ev.received)})
            self.progress(f"cannot watch {ev.resource} ({ev.error}); the periodic sweep still covers it")
            return
        if ev.resource == "namespaces":
            self._namespace_event(ev)
        elif ev.resource == "leases":
            self._lease_event(ev)
        else:
            self._admission_event(ev)

    def _namespace_event(self, ev: WatchEvent) -> None:
        with self.lock:
            if ev.type == "SYNC":
                present = set()
                for obj in ev.items:
                    present.add(obj["metadata"]["name"])
                    self._namespace_seen(obj)
                for name in set(self.namespaces) - present:
                    self._namespace_gone(name, ev.received)
                return
            obj = ev.obj or {}
            name = (obj.get("metadata") or {}).get("name")
            if not name:
                return
            if ev.type == "DELETED" or (obj.get("metadata") or {}).get("deletionTimestamp"):
                self._namespace_gone(name, ev.received)
            else:
                self._namespace_seen(obj)

    def _namespace_seen(self, obj: dict) -> None:
        meta = obj["metadata"]
        name, labels = meta["name"], dict(meta.get("labels") or {})
        if meta.get("deletionTimestamp"):
            return
        known = self.namespaces.get(name)
        if known is None:
            self.namespaces[name] = _Namespace(labels, obj)
            self._dirty.add(name)
            return
        known.obj = obj
        known.labels = labels
        if _psa(labels) != _psa(known.probed_labels or {}) or known.probed_labels is None:
            self._dirty.add(name)

    def _namespace_gone(self, name: str, now: float) -> None:
        known = self.namespaces.pop(name, None)
        self._dirty.discard(name)
        self.findings.pop(name, None)
        self.matches.pop(name, None)
        if known is not None:
            for t in self.tracker.gone(f"namespaces/{name}", now, Context(what_changed={"namespace": "deleted"})):
                self.listener.transition(t, self)

    def _lease_event(self, ev: WatchEvent) -> None:
        objs = list(ev.items) if ev.type == "SYNC" else [ev.obj] if ev.type in ("ADDED", "MODIFIED") else []
        first = not self._leases_synced
        for obj in objs:
            self._lease_seen(obj, ev.received, record_only=first)
        self._leases_synced = True

    def _lease_seen(self, obj: dict, received: float, record_only: bool = False) -> None:
        name = obj.get("metadata", {}).get("name", "")
        spec = obj.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        with self.lock:
            old = self.holders.get(name)
            self.holders[name] = holder
            if record_only or old == holder:
                return
            self.restarts += 1
            at = parse_time(spec.get("acquireTime")) or parse_time(spec.get("renewTime")) or received
            self._restart_at = at
            self._need_full = True
            self._retry_at = None
        self.listener.status({"event": "apiserver-restart", "lease": name, "previous_holder": old,
                              "holder": holder, "started": _iso(at), "detected": _iso(received)})
        self.progress(f"kube-apiserver restarted (Lease {name}: holder {holder}); re-probing every namespace")

    def _admission_event(self, ev: WatchEvent) -> None:
        res = ev.resource
        with self.lock:
            current = self.admission.setdefault(res, {})
            changed: dict[str, tuple[str, dict | None]] = {}
            if ev.type == "SYNC":
                names = set()
                for obj in ev.items:
                    name = obj["metadata"]["name"]
                    names.add(name)
                    state = admission_state(res, obj)
                    if current.get(name) != state:
                        changed[name] = ("SYNC", obj)
                    current[name] = state
                for name in set(current) - names:
                    del current[name]
                    changed[name] = ("DELETED", None)
                if res not in self.baseline:
                    self.baseline[res] = {k: dict(v) for k, v in current.items()}
                    return
            else:
                obj = ev.obj or {}
                name = obj.get("metadata", {}).get("name", "")
                if ev.type == "DELETED":
                    current.pop(name, None)
                else:
                    current[name] = admission_state(res, obj)
                changed[name] = (ev.type, obj)
                if res not in self.baseline:
                    return
            if not changed:
                return
            for name, (kind, obj) in changed.items():
                self._admission_ctx[f"{res}/{name}"] = self._admission_context(res, name, kind, obj, ev.received)
            if res in _WEBHOOKS:
                self._need_full = True  # a webhook can change or refuse the probes
            self._evaluate_admission(ev.received)

    def _admission_context(self, res: str, name: str, kind: str, obj: dict | None, received: float) -> Context:
        changed_at, source, audit = None, "watch-event", None
        key = f"{res}/{name}"
        if self.audit_changes is not None:
            audit = self.audit_changes.changed(res, name, self._admission_seen.get(key, 0.0), received)
            if audit is not None:
                changed_at, source = audit["received"], "audit"
        self._admission_seen[key] = received
        if changed_at is None and kind != "DELETED" and obj:
            changed_at, source = latest_managed_time(obj), "managedFields"
        if changed_at is None:
            changed_at, source = received, "watch-event"
        before = (self.baseline.get(res) or {}).get(name)
        after = (self.admission.get(res) or {}).get(name)
        meta = (obj or {}).get("metadata") or {}
        proof = [{"request": {"method": "GET", "path": RESOURCES[res][0], "query": {"watch": "1"}},
                  "answer": {"type": kind, "name": name, "resourceVersion": meta.get("resourceVersion"),
                             "state": after, "received": _iso(received)}}]
        if audit is not None:
            proof.append({"audit": {**audit, "received": _iso(audit["received"]), "stage": _iso(audit["stage"])}})
        return Context(changed_at, source, {"resource": res, "name": name, "before": before, "after": after},
                       before, after, tuple(proof))

    def _evaluate_admission(self, now: float) -> None:
        obs = admission_findings(self.baseline, self.admission)
        scope = {f"{res}/{name}" for res, objs in self.baseline.items() for name in objs}
        for t in self.tracker.observe(scope, obs, now, dict(self._admission_ctx)):
            self.listener.transition(t, self)

    # -- probing --------------------------------------------------------------------------------

    def _cannot_probe(self, cls: str, message: str, source: str = "sweep") -> None:
        self.listener.probe_error(cls, message)
        with self.lock:
            was_up = self.down_class is None
            self.down_class = cls
            self.probe_up = False
        if was_up:
            self.listener.status({"event": "probe-unavailable", "class": cls, "source": source, "error": message,
                                  "at": _iso(self.clock())})
            self.progress(f"cannot probe ({cls}): {message}")

    def _sweep(self, names: list[str] | None) -> SweepResult | None:
        try:
            result = sweep(self.cluster, names=names or (), audit=self.audit, concurrency=self.concurrency,
                           settle=self.settle)
        except ClusterError as exc:
            self._cannot_probe("unreachable" if isinstance(exc, ClusterUnreachable) or "did not answer" in str(exc)
                               else "error", str(exc))
            return None
        broken = [r for r in result.requests if r["status"] == 0 and r["path"] != "/metrics"]  # metrics: optional
        if broken:
            self._cannot_probe("unreachable", f"{len(broken)} request(s) got no answer during the sweep "
                                              f"(first: {broken[0]['method']} {broken[0]['path']})")
            return None
        return result

    def _full_sweep(self, startup: bool = False) -> bool:
        t0 = time.monotonic()
        if not startup and self.down_class is not None and not self._server_ready():
            return False
        self._need_full = False
        result = self._sweep(None)
        if result is None:
            self._need_full = True
            return False
        with self.lock:
            if startup:
                self._startup = {p.namespace for p in result.postures}
            self.sweeps["full"] += 1
            self._apply(result, full=True)
        self.listener.probed(self, "full", time.monotonic() - t0)
        return True

    def _targeted_sweep(self) -> None:
        t0 = time.monotonic()
        with self.lock:
            names = sorted(n for n in self._dirty if n in self.namespaces)
            self._dirty.clear()
            reference = self._reference()
        if not names:
            return
        # a namespace whose enforce denied the probe last time: its denial proves, within this sweep, that the
        # runner is not exempt (without it a silent admission in the changed namespace proves nothing)
        result = self._sweep(sorted(set(names) | ({reference} if reference else set())))
        if result is None:
            with self.lock:
                self._dirty.update(names)
            return
        with self.lock:
            self.sweeps["targeted"] += 1
            self._apply(result, full=False)
        self.listener.probed(self, "targeted", time.monotonic() - t0)

    def _reference(self) -> str | None:
        for name, ns in sorted(self.namespaces.items()):
            p = ns.posture
            if p is not None and p.probe == "ok" and p.enforce.state == "proven" and p.enforce.level in (
                    "baseline", "restricted") and name not in self._dirty:
                return name
        return None

    def _server_ready(self) -> bool:
        """After an outage: is the server ready (``/readyz``), and did it restart (a new Lease holder)?

        A starting kube-apiserver serves requests before ``/readyz`` is ready, and writes its new
        identity Lease just around then (measured on v1.37: within 25 ms of ``/readyz`` turning 200):
        sweeping earlier would see new exemptions before knowing of the restart that brought them.
        """
        self.cluster.reset_connections()
        resp = self.cluster.request("GET", "/readyz")
        self._starting = resp.status not in (0, 200)
        if resp.status != 200:
            self._cannot_probe(probe_failure(resp.status, resp.message) or "unavailable",
                               f"/readyz: {resp.status} {resp.transport_error or resp.body}")
            return False
        restarts = self.restarts
        deadline = time.monotonic() + 1.0
        while self._check_leases() and self.restarts == restarts and time.monotonic() < deadline:
            self._stop.wait(0.05)
        return True

    def _check_leases(self) -> bool:
        """List the identity Leases (a new holder is a restart); False if they cannot be listed."""
        path, q = RESOURCES["leases"]
        resp = self.cluster.request("GET", path, query=q)
        if not resp.ok:
            return False
        first = not self._leases_synced
        for obj in (resp.body or {}).get("items") or []:
            self._lease_seen(obj, self.clock(), record_only=first)
        self._leases_synced = True
        return True

    def _recovered(self) -> None:
        if self.down_class is not None:
            cls, self.down_class = self.down_class, None
            self.listener.status({"event": "probe-recovered", "after": cls, "at": _iso(self.clock())})
            self.progress("the API server answers again")
        self.probe_up = True

    def _apply(self, result: SweepResult, full: bool) -> None:
        now = self.clock()
        self._recovered()
        self.last_success = now
        self.facts = result.facts
        self.server_version = result.server_version
        if self.desired is None:
            self.desired = snapshot_policy([p for p in result.postures if p.probe == "ok"],
                                           datetime.date.fromtimestamp(now))
        today = datetime.date.fromtimestamp(now)
        scope, observations, context, first = set(), [], {}, set()
        for p in result.postures:
            name = p.namespace
            if p.probe == "error" and not p.evidence and p.probe_reason.endswith("was not found"):
                self._namespace_gone(name, now)
                continue
            failure = next((c for c in (probe_failure(a.status, a.message) for a in p.evidence) if c), None)
            if failure is not None:
                self.listener.probe_error(failure, f"{name}: a probe answer proved nothing")
                self._dirty.add(name)
                continue
            known = self.namespaces.get(name)
            if known is None:
                known = self.namespaces[name] = _Namespace(dict(p.labels), {"metadata": {"name": name}})
            subject = f"namespaces/{name}"
            scope.add(subject)
            if known.posture is None and name in self._startup:
                first.add(subject)
            rules = matching_rules(self.desired, name, p.labels)
            found = [f for rule in rules for f in evaluate(rule, p, result.facts, today)]
            self.findings[name] = found
            self.matches[name] = (not found) if rules else None
            mine = [Observation.of(f) for f in found]
            observations += mine
            opens = subject not in first and any(o.key not in self.tracker.open for o in mine)
            context[subject] = self._namespace_context(name, known, p, rules, now, change_time=opens)
            known.posture = p
            known.probed_labels = dict(p.labels)
            known.restart_seen = self.restarts
            known.probed_at = now
        for t in self.tracker.observe(scope, observations, now, context, preexisting=first):
            self.listener.transition(t, self)

    def _namespace_context(self, name: str, known: _Namespace, p: Posture, rules, now: float,
                           change_time: bool = True) -> Context:
        """What an event on this namespace records; ``change_time``: look the change time up (an event opens)."""
        before = known.posture
        labels_changed = _psa(known.probed_labels or {}) != _psa(p.labels) or known.probed_labels is None
        changed_at, source, audit = None, "unknown", None
        if not change_time:
            pass
        elif known.restart_seen != self.restarts and not labels_changed and self._restart_at is not None:
            changed_at, source = self._restart_at, "apiserver-lease"
        elif self.audit_changes is not None and (audit := self.audit_changes.changed(
                "namespaces", name, known.probed_at, now, timeout=1.0 if labels_changed else 0.0)) is not None:
            changed_at, source = audit["received"], "audit"
        elif (t := latest_managed_time(known.obj)) is not None:
            changed_at, source = t, "managedFields"
        what = {"labels": {"before": None if known.probed_labels is None else _psa(known.probed_labels),
                           "after": _psa(p.labels)},
                "posture": {"before": None if before is None else {m: before.mode(m).text for m in
                                                                    ("enforce", "warn", "audit")},
                            "after": {m: p.mode(m).text for m in ("enforce", "warn", "audit")}}}
        if source == "apiserver-lease":
            what["apiserver_restart"] = {"restarts": self.restarts, "started": _iso(self._restart_at)}
        proof = [a.to_dict() for a in p.evidence]
        if audit is not None:
            proof.append({"audit": {**audit, "received": _iso(audit["received"]), "stage": _iso(audit["stage"])}})
        return Context(changed_at, source, what, [r.to_dict() for r in rules], p.to_dict(evidence=False),
                       tuple(proof))

    # -- for metrics and reports -----------------------------------------------------------------

    def snapshot(self) -> dict:
        """The current state, for the metrics endpoint (copies, taken under the lock)."""
        with self.lock:
            return {"postures": {n: ns.posture for n, ns in self.namespaces.items() if ns.posture is not None},
                    "findings": {n: list(f) for n, f in self.findings.items()},
                    "matches": dict(self.matches), "facts": self.facts, "probe_up": self.probe_up,
                    "last_success": self.last_success, "open": list(self.tracker.open.values()),
                    "server_version": self.server_version}


def _psa(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k.startswith(LABEL_PREFIX)}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="microseconds")
