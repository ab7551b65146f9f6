"""The one place that talks to a cluster.

``Cluster`` wraps the ``kubernetes`` client's ApiClient (so kubeconfig contexts, exec plugins and
token refresh work as in kubectl) and speaks raw REST: it submits any manifest, by server-side
dry-run by default, and returns a ``Response`` with the status, the Status message, the
``Warning`` headers and the ``Audit-Id``. In a pod it connects as the ServiceAccount through the
client's in-cluster loader (``harness.cluster.incluster``). Client and transport errors are
translated into the harness's exception tree here and nowhere else. It satisfies ``harness.cluster.seam.ClusterAPI``,
the protocol the runner is written against.

The only module that imports the ``kubernetes`` client (and ``urllib3``); otherwise it may import
the core and ``harness.cluster.incluster`` only.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any, Iterable

import urllib3

from harness.cluster.incluster import InCluster
from harness.core.errors import ClusterError, ClusterUnreachable, UsageError
from harness.core.answers import Response, parse_warning_header
from harness.core.kinds import KINDS
from harness.core.polling import PollTimeout, poll

__all__ = ["Cluster", "Response", "Stream", "check_kubeconfig", "parse_warning_header", "resource_path"]

_PLURALS = {**{name: (k.group, k.version, k.plural) for name, k in KINDS.items()},
            "Namespace": ("", "v1", "namespaces")}


def resource_path(kind: str, namespace: str | None, name: str | None = None, subresource: str | None = None,
                  api_version: str | None = None) -> str:
    """The REST path of a kind (``/api/v1/namespaces/ns/pods[/name[/sub]]``)."""
    if kind not in _PLURALS:
        raise UsageError(f"kind {kind!r} is not one the harness submits (known: {', '.join(_PLURALS)})")
    group, version, plural = _PLURALS[kind]
    if api_version and "/" in api_version:
        group, version = api_version.split("/", 1)
    elif api_version:
        group, version = "", api_version
    path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


def check_kubeconfig(path: str | Path, context: str | None = None) -> None:
    """Raise ``UsageError`` naming the file and the problem unless ``path`` is a usable kubeconfig.

    The client's loader answers a malformed file with a ``TypeError`` or a YAML traceback; a
    user deserves one line saying which file is wrong and how.
    """
    import yaml

    shown = str(path)
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"--kubeconfig {shown}: no such file")
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--kubeconfig {shown}: cannot read it: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise UsageError(f"--kubeconfig {shown}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    fix = "it must be a kubeconfig (kind: Config) with clusters, users and contexts, as `kubectl config view --raw` prints"
    if not isinstance(data, dict):
        raise UsageError(f"--kubeconfig {shown}: a YAML {type(data).__name__}, not a mapping; {fix}")
    for key in ("clusters", "users", "contexts"):
        if not isinstance(data.get(key), list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                                          for e in data[key]):
            raise UsageError(f"--kubeconfig {shown}: '{key}' must be a list of named entries; {fix}")
    names = [c["name"] for c in data["contexts"]]
    wanted = context or data.get("current-context")
    if not wanted:
        raise UsageError(f"--kubeconfig {shown}: no current-context and no --context given "
                         f"(contexts: {', '.join(names) or 'none'})")
    if wanted not in names:
        raise UsageError(f"--kubeconfig {shown}: context {wanted!r} is not defined (contexts: {', '.join(names) or 'none'})")


def _in_cluster_client(target: InCluster):
    """An ApiClient from the client's own in-cluster loader, reading ``target``'s files and address.

    ``try_refresh_token``: the loader re-reads the token file (a projected token the kubelet
    rotates) at most once a minute, before a request.
    """
    from kubernetes import client as kclient
    from kubernetes.config.incluster_config import InClusterConfigLoader

    configuration = kclient.Configuration()
    InClusterConfigLoader(token_filename=target.token_file, cert_filename=target.ca_file,
                          try_refresh_token=True, environ=target.environ).load_and_set(configuration)
    return kclient.ApiClient(configuration=configuration)
class Stream:
    """An open streaming response (``Cluster.stream``): iterate ``lines()`` for decoded JSON objects."""

    def __init__(self, path: str, status: int, response):
        self.path = path
        self.status = status
        self._response = response
        self.error: Any = None
        if status != 200:
            data = response.read()
            try:
                self.error = json.loads(data) if data else None
            except ValueError:
                self.error = data.decode(errors="replace")
            response.release_conn()

    @property
    def ok(self) -> bool:
        return self.status == 200

    def lines(self) -> Iterable[dict]:
        """Each complete JSON line as it arrives; ends when the server closes the stream.

        A broken connection or a read timeout raises ``ClusterUnreachable``; a line that is not
        JSON is skipped.
        """
        buf = b""
        try:
            for chunk in self._response.stream(amt=65536, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except ValueError:
                            continue
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise ClusterUnreachable(f"watching {self.path}: the stream broke: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        """End the stream (also from another thread: the reader's next read fails or ends)."""
        with contextlib.suppress(Exception):
            self._response.shutdown()  # urllib3 >= 2.3: unblocks a read in another thread
        with contextlib.suppress(Exception):
            self._response.close()
        with contextlib.suppress(Exception):
            self._response.release_conn()


class Cluster:
    """A connection to one API server as one identity."""

    def __init__(self, kubeconfig: str | Path | None = None, context: str | None = None, *,
                 timeout: float = 30.0, in_cluster: InCluster | None = None):
        from kubernetes import config as kconfig
        from kubernetes.config.config_exception import ConfigException

        self.kubeconfig = str(kubeconfig) if kubeconfig else None
        self.context = context
        self.timeout = timeout
        self.in_cluster = in_cluster
        if in_cluster is not None and self.kubeconfig:
            raise UsageError("a cluster connection is either a kubeconfig or in-cluster, not both")
        try:
            if in_cluster is not None:
                self.api = _in_cluster_client(in_cluster)
            else:
                if self.kubeconfig:
                    check_kubeconfig(self.kubeconfig, context)
                self.api = kconfig.new_client_from_config(config_file=self.kubeconfig, context=context,
                                                          persist_config=False)
        except ConfigException as exc:
            if in_cluster is not None:
                raise ClusterError(f"{in_cluster.describe()}: the Kubernetes client's in-cluster loader cannot use "
                                   f"the ServiceAccount files ({exc})") from None
            where = self.kubeconfig or "the default kubeconfig (~/.kube/config or $KUBECONFIG)"
            raise ClusterError(f"cannot use {where}"
                               f"{f' context {context!r}' if context else ''}: {exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # the loader's answer to odd shapes
            raise UsageError(f"--kubeconfig {self.kubeconfig or '(default)'}: the Kubernetes client cannot use it "
                             f"({type(exc).__name__}: {exc}); check it with `kubectl config view`") from None
        self.api.configuration.retries = False
        # Both loaders' per-request hooks re-assign ``host``, which re-reads the proxy
        # from os.environ unless a proxy was set explicitly: pin the value it found, so requests
        # on other threads never iterate os.environ while pytest's thread changes it.
        self.api.configuration.proxy = self.api.configuration.proxy
        self.host = self.api.configuration.host
        #: the client's own connection pool (proxy, TLS and retries as it configured them), for ``_post_json``
        self._pool = getattr(getattr(self.api, "rest_client", None), "pool_manager", None)
        self._timeout = urllib3.Timeout(total=timeout)

    def describe(self) -> str:
        """Where this connection goes, for messages and reports (never a credential)."""
        if self.in_cluster is not None:
            return self.in_cluster.describe()
        return f"kubeconfig {self.kubeconfig or '(default)'}" + (f" context {self.context}" if self.context else "")

    # -- raw requests -------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                content_type: str = "application/json") -> Response:
        """Send one request; never raises for an HTTP status, only for an unusable client."""
        query = dict(query or {})
        headers = {"Accept": "application/json", "Content-Type": content_type}
        payload = body
        t0 = time.monotonic()
        fast = method == "POST" and content_type == "application/json" and isinstance(body, dict) and self._pool
        try:
            # the client serialises the URL, headers and credentials (token refresh, exec plugins)
            _m, url, headers, payload, _ = self.api.param_serialize(
                method, path, query_params=list(query.items()) or None, header_params=headers,
                body=None if fast else payload, auth_settings=["BearerToken"])
            if fast:  # a submission: the client's own send, minus its walk over the body (as json.dumps sends it)
                raw = self._post_json(url, headers, body)
                data = raw.data
            else:
                raw = self.api.call_api(method, url, header_params=headers, body=payload,
                                        _request_timeout=self.timeout)
                data = raw.read()
        except urllib3.exceptions.SSLError as exc:  # as the client reports it (ApiException(status=0))
            return Response(method, path, query, 0, elapsed=time.monotonic() - t0,
                            transport_error=f"{type(exc).__name__}\n{exc}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Response(method, path, query, 0, elapsed=time.monotonic() - t0,
                            transport_error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the client wraps TLS errors as ApiException(status=0)
            if getattr(exc, "status", None) == 0:
                return Response(method, path, query, 0, elapsed=time.monotonic() - t0,
                                transport_error=str(getattr(exc, "reason", exc)))
            raise
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = data.decode(errors="replace")
        warnings = [parse_warning_header(v) for v in raw.headers.getlist("Warning")] \
            if hasattr(raw.headers, "getlist") else []
        return Response(method, path, query, raw.status, decoded, warnings,
                        raw.headers.get("Audit-Id", ""), time.monotonic() - t0)

    def _post_json(self, url: str, headers: dict, body: dict):
        """POST ``body`` as the client's REST layer would (same pool, headers, timeout and JSON text)."""
        return self._pool.request("POST", url, body=json.dumps(body), timeout=self._timeout, headers=headers,
                                  preload_content=False)

    def stream(self, path: str, query: dict[str, str] | None = None, *, connect_timeout: float = 10.0,
               read_timeout: float = 90.0) -> "Stream":
        """Open a streaming GET (a watch: ``?watch=1``); its lines are read as they arrive.

        Raises ``ClusterUnreachable`` when the server does not answer; an HTTP error status is
        returned as ``Stream.status`` with the decoded body in ``Stream.error``.
        """
        query = dict(query or {})
        headers = {"Accept": "application/json"}
        try:
            _m, url, headers, _body, _ = self.api.param_serialize(
                "GET", path, query_params=list(query.items()) or None, header_params=headers,
                auth_settings=["BearerToken"])
            raw = self.api.call_api("GET", url, header_params=headers,
                                    _request_timeout=(connect_timeout, read_timeout))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterUnreachable(f"watching {path}: {type(exc).__name__}: {exc}") from None
        except Exception as exc:
            if getattr(exc, "status", None) == 0:
                raise ClusterUnreachable(f"watching {path}: {getattr(exc, 'reason', exc)}") from None
            raise
        return Stream(path, raw.status, raw.response)

    def checked(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                what: str = "", ok: Iterable[int] = ()) -> Response:
        """``request`` that raises ``ClusterError`` unless the answer is 2xx (or in ``ok``)."""
        resp = self.request(method, path, body, query)
        if resp.ok or resp.status in tuple(ok):
            return resp
        what = what or f"{method} {path}"
        if resp.status == 0:
            raise ClusterUnreachable(f"{what}: the API server at {self.host} did not answer: {resp.transport_error}. "
                                     "Check the kubeconfig's server address, the network and the CA.")
        if resp.status in (401, 403):
            raise ClusterError(f"{what}: {resp.status} {resp.reason}: {resp.message}. "
                               "Check the runner identity's credentials and RBAC (rbac/pss-harness-runner.yaml grants what a run needs).")
        raise ClusterError(f"{what}: {resp.status} {resp.reason}: {resp.message or resp.body}")

    # -- submissions ----------------------------------------------------------------------

    def submit(self, obj: dict, namespace: str, *, dry_run: bool = True) -> Response:
        """Create ``obj`` in ``namespace`` (server-side dry-run unless ``dry_run=False``)."""
        path = resource_path(obj["kind"], namespace, api_version=obj.get("apiVersion"))
        return self.request("POST", path, obj, {"dryRun": "All"} if dry_run else None)

    def add_ephemeral_containers(self, pod: dict, namespace: str, containers: list[dict], *,
                                 dry_run: bool = True) -> Response:
        """Add ephemeral containers to a running pod through ``pods/ephemeralcontainers`` (kubectl debug)."""
        pod = json.loads(json.dumps(pod))
        pod.setdefault("spec", {}).setdefault("ephemeralContainers", []).extend(containers)
        path = resource_path("Pod", namespace, pod["metadata"]["name"], "ephemeralcontainers")
        return self.request("PUT", path, pod, {"dryRun": "All"} if dry_run else None)

    def get(self, kind: str, namespace: str | None, name: str) -> Response:
        return self.request("GET", resource_path(kind, namespace, name))

    def delete(self, kind: str, namespace: str | None, name: str, *, background: bool = True) -> Response:
        body = {"kind": "DeleteOptions", "apiVersion": "v1",
                "propagationPolicy": "Background" if background else "Foreground"}
        return self.request("DELETE", resource_path(kind, namespace, name), body)

    # -- namespaces -----------------------------------------------------------------------

    def create_namespace(self, name: str, labels: dict[str, str], *, exist_ok: bool = False) -> Response:
        """Create namespace ``name``; ``exist_ok``: a 409 answers with the existing namespace instead."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        resp = self.checked("POST", resource_path("Namespace", None), body, what=f"creating namespace {name}",
                            ok=(409,) if exist_ok else ())
        if resp.status == 409:
            return self.checked("GET", resource_path("Namespace", None, name), what=f"reading namespace {name}")
        return resp

    def delete_namespace(self, name: str) -> Response:
        return self.request("DELETE", resource_path("Namespace", None, name))

    def list_namespaces(self, label_selector: str) -> list[dict]:
        resp = self.checked("GET", resource_path("Namespace", None), query={"labelSelector": label_selector},
                            what="listing namespaces")
        return resp.body.get("items", [])

    def wait_for(self, kind: str, namespace: str | None, name: str, timeout: float = 60.0) -> dict:
        """Poll until the object exists (e.g. a namespace's ``default`` ServiceAccount); its body."""
        path = resource_path(kind, namespace, name) if kind in _PLURALS else \
            f"/api/v1/namespaces/{namespace}/{kind}/{name}"
        try:
            return poll(lambda: self.request("GET", path), until=lambda r: r.ok, timeout=timeout, interval=0.02,
                        what=f"waiting for {path}").body
        except PollTimeout as exc:
            raise ClusterError(f"{path} did not appear within {timeout:.0f}s (last answer: {exc.last.status} "
                               f"{exc.last.message}); is a controller manager running?") from None

    def wait_gone(self, kind: str, namespace: str | None, name: str, timeout: float = 60.0) -> bool:
        """Poll until the object is gone (404); False if it is still there after ``timeout``."""
        try:
            poll(lambda: self.get(kind, namespace, name).status == 404, timeout=timeout, interval=0.2,
                 what=f"waiting for {kind} {name} to go")
            return True
        except PollTimeout:
            return False

    # -- identity and permissions -------------------------------------------------------------

    def server_version(self) -> dict:
        return self.checked("GET", "/version", what="reading the server version").body

    def whoami(self) -> dict:
        """``{"username", "groups"}`` of the runner identity (SelfSubjectReview)."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        resp = self.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body)
        if not resp.ok:
            return {"username": "(unknown: SelfSubjectReview not allowed)", "groups": []}
        info = resp.body.get("status", {}).get("userInfo", {})
        return {"username": info.get("username", ""), "groups": info.get("groups", [])}

    def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None,
              subresource: str = "") -> bool:
        attrs = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attrs["namespace"] = namespace
        if subresource:
            attrs["subresource"] = subresource
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        resp = self.checked("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body,
                            what="asking the API server what the runner may do")
        return bool(resp.body.get("status", {}).get("allowed"))

    def events(self, namespace: str) -> list[dict]:
        resp = self.request("GET", f"/api/v1/namespaces/{namespace}/events")
        return resp.body.get("items", []) if resp.ok else []

    def reset_connections(self) -> None:
        """Drop the pooled connections (after the server went away, a kept-alive one fails once on reuse)."""
        with contextlib.suppress(Exception):
            self.api.rest_client.pool_manager.clear()

    def close(self) -> None:
        self.api.close()
