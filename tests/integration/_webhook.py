"""A tiny HTTPS admission webhook on 127.0.0.1 for integration tests, and webhook configurations for it.

``AdmissionWebhook`` serves AdmissionReview v1 on ``/allow`` (allows everything) and
``/unprivilege`` (a JSONPatch setting the first container's ``securityContext.privileged`` to
false). Its serving certificate is signed by the embedded cluster's CA.

kube-apiserver's v1 API only accepts ``sideEffects: None`` or ``NoneOnDryRun`` (``Unknown`` and
``Some`` were v1beta1-only, removed in v1.22), yet clusters upgraded from then still hold such
configurations, and the apiserver answers every dry-run they match with 400 ``does not support
dry run``. ``register(..., side_effects="Unknown")`` reproduces that: it creates the configuration
with ``NoneOnDryRun`` and rewrites the stored object in etcd (the plane must run with
``--storage-media-type=application/json``), then waits until the apiserver serves the new value.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.cluster.client import Cluster
from harness.embedded import EmbeddedCluster

ADMISSION = "admissionregistration.k8s.io/v1"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        req = review["request"]
        self.server.seen.append(req)
        resp = {"uid": req["uid"], "allowed": True}
        if self.path.split("?")[0] == "/unprivilege":
            patch = [{"op": "replace", "path": "/spec/containers/0/securityContext/privileged", "value": False}]
            resp.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(patch).encode()).decode())
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class AdmissionWebhook:
    """Serve admission reviews over TLS on a free loopback port until ``stop()``."""

    def __init__(self, cluster: EmbeddedCluster):
        cert, key = cluster.serving_cert("test-webhook")
        self.ca_bundle = base64.b64encode(cluster.ca_file.read_bytes()).decode()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.seen = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _etcd(cluster: EmbeddedCluster, op: str, body: dict) -> dict:
    req = urllib.request.Request(f"{cluster.etcd_url}/v3/kv/{op}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def register(cluster: EmbeddedCluster, admin: Cluster, hook: AdmissionWebhook, *, name: str, kind: str,
             path: str, namespace_label: tuple[str, str], side_effects: str = "None", timeout: float = 30.0) -> str:
    """Create a Mutating/ValidatingWebhookConfiguration for pod creates in the labelled namespaces.

    Returns the webhook's name (``<name>.pss-harness.test``).
    """
    plural = {"MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
              "ValidatingWebhookConfiguration": "validatingwebhookconfigurations"}[kind]
    webhook = f"{name}.pss-harness.test"
    stored = "NoneOnDryRun" if side_effects in ("Unknown", "Some") else side_effects
    admin.checked("POST", f"/apis/{ADMISSION}/{plural}", {
        "apiVersion": ADMISSION, "kind": kind, "metadata": {"name": name},
        "webhooks": [{"name": webhook, "sideEffects": stored, "admissionReviewVersions": ["v1"],
                      "failurePolicy": "Fail", "timeoutSeconds": 5,
                      "clientConfig": {"url": hook.url(path), "caBundle": hook.ca_bundle},
                      "namespaceSelector": {"matchLabels": {namespace_label[0]: namespace_label[1]}},
                      "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                 "resources": ["pods"]}]}]})
    if stored != side_effects:
        key = base64.b64encode(f"/registry/{plural}/{name}".encode()).decode()
        found = _etcd(cluster, "range", {"key": key}).get("kvs") or []
        assert found, f"{kind} {name} is not in etcd under /registry/{plural}/{name}"
        value = base64.b64decode(found[0]["value"])
        assert value.startswith(b"{"), "the plane must store JSON: --storage-media-type=application/json"
        doc = json.loads(value)
        for w in doc["webhooks"]:
            w["sideEffects"] = side_effects
        _etcd(cluster, "put", {"key": key, "value": base64.b64encode(json.dumps(doc).encode()).decode()})
        deadline = time.monotonic() + timeout
        while admin.request("GET", f"/apis/{ADMISSION}/{plural}/{name}").body["webhooks"][0]["sideEffects"] \
                != side_effects:
            assert time.monotonic() < deadline, f"the apiserver never served sideEffects={side_effects} for {name}"
            time.sleep(0.05)
    return webhook
