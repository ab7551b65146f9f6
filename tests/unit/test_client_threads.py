"""The client is used from a thread pool while pytest's thread edits os.environ (no cluster)."""

from __future__ import annotations

import kubernetes.client.configuration as kconf

from harness.cluster.client import Cluster

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abcdefghijklmnop}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_per_request_auth_hook_does_not_read_the_environment(tmp_path, monkeypatch):
    """The loader's hook runs on every request; reading os.environ there races pytest's writes."""
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    cluster = Cluster(path)
    reads = []
    monkeypatch.setattr(kconf, "getproxies", lambda: reads.append(1) or {})
    conf = cluster.api.configuration
    assert conf.refresh_api_key_hook is not None  # the hook the loader installs for token users
    conf.refresh_api_key_hook(conf)
    assert conf.host == "https://127.0.0.1:6443"
    assert reads == []
    assert conf.api_key["BearerToken"].endswith("abcdefghijklmnop")
