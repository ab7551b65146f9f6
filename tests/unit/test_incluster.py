"""In-cluster detection and the precedence of targets (harness.cluster.incluster), without a server.

The connection itself (the client's in-cluster loader talking to a real API server with a minted
ServiceAccount token) is tested in tests/integration/test_deploy_live.py.
"""

from __future__ import annotations

import pytest

from harness.cluster.client import Cluster
from harness.cluster.incluster import HOST_ENV, MODE_ENV, PORT_ENV, SA_DIR_ENV, InCluster, detect
from harness.core.errors import ClusterError, UsageError
from harness.core.settings import standalone


@pytest.fixture
def sa_dir(tmp_path):
    d = tmp_path / "serviceaccount"
    d.mkdir()
    (d / "token").write_text("header.payload.signature")
    (d / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (d / "namespace").write_text("pss-harness\n")
    return d


def pod_env(sa_dir, **extra) -> dict:
    return {HOST_ENV: "10.96.0.1", PORT_ENV: "443", SA_DIR_ENV: str(sa_dir), **extra}


def test_a_pod_is_detected_from_its_environment_and_files(sa_dir):
    found = detect(pod_env(sa_dir))
    assert found == InCluster("10.96.0.1", "443", str(sa_dir / "token"), str(sa_dir / "ca.crt"), "pss-harness")
    assert found.server == "https://10.96.0.1:443"
    assert found.describe() == "in-cluster (ServiceAccount token in namespace pss-harness, https://10.96.0.1:443)"
    assert InCluster.from_dict(found.to_dict()) == found  # what xdist workers receive


def test_ipv6_service_host_is_bracketed(sa_dir):
    assert detect(pod_env(sa_dir, **{HOST_ENV: "fd00::1"})).server == "https://[fd00::1]:443"


@pytest.mark.parametrize("drop", [HOST_ENV, PORT_ENV])
def test_not_a_pod_without_the_service_variables(sa_dir, drop):
    env = pod_env(sa_dir)
    del env[drop]
    assert detect(env) is None


def test_not_a_pod_without_the_token(sa_dir):
    (sa_dir / "token").unlink()
    assert detect(pod_env(sa_dir)) is None


def test_never_turns_detection_off(sa_dir):
    for value in ("0", "never", "false", "NO"):
        assert detect(pod_env(sa_dir, **{MODE_ENV: value})) is None


def test_always_names_what_is_missing(sa_dir):
    (sa_dir / "token").unlink()
    with pytest.raises(UsageError, match=r"not running in a pod: missing \$KUBERNETES_SERVICE_PORT, .*token"):
        detect({HOST_ENV: "10.96.0.1", SA_DIR_ENV: str(sa_dir), MODE_ENV: "1"})


def test_a_bad_mode_is_one_clear_message(sa_dir):
    with pytest.raises(UsageError, match=r"PSS_HARNESS_IN_CLUSTER='maybe': write auto"):
        detect(pod_env(sa_dir, **{MODE_ENV: "maybe"}))


def test_a_missing_ca_in_a_pod_is_an_error_not_a_fallback(sa_dir):
    (sa_dir / "ca.crt").unlink()
    with pytest.raises(UsageError, match="ca.crt is missing"):
        detect(pod_env(sa_dir))


def test_the_default_paths_are_the_kubelets(monkeypatch):
    import harness.cluster.incluster as ic

    assert ic.SA_DIR == "/var/run/secrets/kubernetes.io/serviceaccount"
    # the process environment is read when no mapping is given
    monkeypatch.delenv(HOST_ENV, raising=False)
    assert detect() is None


def test_the_client_is_configured_by_the_in_cluster_loader(sa_dir):
    found = detect(pod_env(sa_dir))
    cluster = Cluster(in_cluster=found)
    try:
        conf = cluster.api.configuration
        assert cluster.host == "https://10.96.0.1:443"
        assert conf.ssl_ca_cert == str(sa_dir / "ca.crt")
        assert conf.api_key["BearerToken"] == "bearer header.payload.signature"
        assert conf.refresh_api_key_hook is not None  # re-reads a rotated projected token
        assert cluster.describe().startswith("in-cluster (ServiceAccount token in namespace pss-harness")
    finally:
        cluster.close()


def test_an_empty_token_is_a_cluster_error_naming_in_cluster(sa_dir):
    (sa_dir / "token").write_text("")
    with pytest.raises(ClusterError, match=r"in-cluster .*in-cluster loader cannot use the ServiceAccount files "
                                           r"\(Token file exists but empty"):
        Cluster(in_cluster=detect(pod_env(sa_dir)))


def test_kubeconfig_and_in_cluster_are_exclusive(sa_dir, tmp_path):
    with pytest.raises(UsageError, match="either a kubeconfig or in-cluster"):
        Cluster(tmp_path / "kubeconfig", in_cluster=detect(pod_env(sa_dir)))


def test_the_evidence_names_the_target_kind(sa_dir):
    assert standalone().target_kind == "embedded" and standalone().embedded
    assert standalone(kubeconfig="/k").target_kind == "external"
    cfg = standalone(in_cluster=detect(pod_env(sa_dir)).to_dict())
    assert cfg.target_kind == "in-cluster" and not cfg.embedded


def _plugin_config(pytester, *args):
    pytester.makeini("[pytest]\n")
    config = pytester.parseconfig("-p", "harness.plugin", *args)
    from harness.plugin.options import get_config

    return get_config(config)


def test_plugin_precedence_kubeconfig_then_k8s_version_then_in_cluster(pytester, sa_dir, monkeypatch, tmp_path):
    for k, v in pod_env(sa_dir).items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PSS_HARNESS_KUBECONFIG", raising=False)
    monkeypatch.delenv(MODE_ENV, raising=False)
    cfg = _plugin_config(pytester)
    assert cfg.target_kind == "in-cluster" and cfg.in_cluster["token_file"] == str(sa_dir / "token")
    assert _plugin_config(pytester, "--k8s-version", "1.34").target_kind == "embedded"
    kubeconfig = tmp_path / "kc.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://x'}}]\n"
                          "users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                          "current-context: x\n")
    assert _plugin_config(pytester, "--kubeconfig", str(kubeconfig)).target_kind == "external"
    monkeypatch.setenv(MODE_ENV, "0")
    assert _plugin_config(pytester).target_kind == "embedded"
