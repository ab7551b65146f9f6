"""The embedded control plane against its own promises: real admission, audit, lifecycle."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cluster.audit import AuditSource
from harness.cluster.client import Cluster
from harness.embedded import EmbeddedCluster, Exemptions, binaries_for
from harness.core.errors import ControlPlaneError
from harness.core.polling import PollTimeout, poll

from _rbac import bind

pytestmark = pytest.mark.integration

PAUSE = "registry.k8s.io/pause:3.10"


def pod(name: str, **security) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": PAUSE, "securityContext": security}]}}


def labelled_namespace(client: Cluster, name: str, labels: dict) -> str:
    client.create_namespace(name, labels)
    client.wait_for("serviceaccounts", name, "default")
    return name


def _pids_alive(pids) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}").exists() and
            "zombie" not in Path(f"/proc/{p}/status").read_text().lower()]


def test_version_reports_the_built_release(embedded, admin):
    info = admin.server_version()
    assert info["gitVersion"] == embedded.version == binaries_for().version
    assert info["minor"] == embedded.version.split(".")[1]


def test_enforce_baseline_refuses_a_privileged_pod_with_403(admin):
    ns = labelled_namespace(admin, "ec-enforce", {"pod-security.kubernetes.io/enforce": "baseline"})
    resp = admin.submit(pod("priv", privileged=True), ns)
    assert resp.status == 403
    assert resp.reason == "Forbidden"
    assert 'violates PodSecurity "baseline:latest"' in resp.message
    assert "privileged" in resp.message
    assert resp.warnings == []  # enforce denials carry no warning


def test_warn_restricted_admits_and_returns_the_warning_header(admin):
    ns = labelled_namespace(admin, "ec-warn", {"pod-security.kubernetes.io/warn": "restricted"})
    resp = admin.submit(pod("plain"), ns)
    assert resp.status == 201
    psa = [w for w in resp.warnings if w.startswith('would violate PodSecurity "restricted:latest"')]
    assert len(psa) == 1, resp.warnings
    assert "allowPrivilegeEscalation != false" in psa[0]


def test_audit_restricted_admits_and_the_audit_log_holds_the_violation(embedded, admin):
    ns = labelled_namespace(admin, "ec-audit", {"pod-security.kubernetes.io/audit": "restricted"})
    resp = admin.submit(pod("plain"), ns)
    assert resp.status == 201 and resp.warnings == []
    assert resp.audit_id
    event = AuditSource(embedded.audit_log, since=0).find(resp.audit_id)
    assert event is not None, "no audit event for the request"
    assert event["objectRef"]["namespace"] == ns
    violation = event["annotations"]["pod-security.kubernetes.io/audit-violations"]
    assert violation.startswith('would violate PodSecurity "restricted:latest": ')


def test_ordinary_identities_are_subject_to_rbac(embedded, admin):
    alice = Cluster(embedded.kubeconfig, context="alice")
    assert alice.whoami()["username"] == "alice"
    resp = alice.submit(pod("p"), "default")
    assert resp.status == 403 and "cannot create resource" in resp.message
    assert "PodSecurity" not in resp.message


def test_namespace_deletion_completes(admin):
    ns = labelled_namespace(admin, "ec-delete", {})
    assert admin.submit(pod("real"), ns, dry_run=False).status == 201
    assert admin.delete_namespace(ns).status == 200
    assert admin.wait_gone("Namespace", None, ns, timeout=90), "namespace stuck in Terminating"


def test_username_exemption_is_honoured_and_annotated(embedded):
    """A second cluster (side by side with the session one) exempting user alice."""
    with EmbeddedCluster(exemptions=Exemptions(usernames=("alice",))) as other:
        assert other.ports["apiserver"] != embedded.ports["apiserver"]
        assert set(other.pids.values()).isdisjoint(embedded.pids.values())
        admin = Cluster(other.kubeconfig)
        ns = labelled_namespace(admin, "exempt", {"pod-security.kubernetes.io/enforce": "baseline"})
        bind(admin, "alice", "edit", namespace=ns)
        alice, bob = Cluster(other.kubeconfig, "alice"), Cluster(other.kubeconfig, "bob")
        allowed = alice.submit(pod("by-alice", privileged=True), ns)
        assert allowed.status == 201, allowed.message
        event = AuditSource(other.audit_log, since=0).find(allowed.audit_id)
        assert event["annotations"].get("pod-security.kubernetes.io/exempt") == "user"
        # the same pod from the admin is still denied: the exemption is per user
        assert admin.submit(pod("by-admin", privileged=True), ns).status == 403
        assert bob.submit(pod("by-bob"), ns).status == 403  # bob has no RBAC grant at all


def test_start_stop_leaves_no_process_and_no_directory():
    cluster = EmbeddedCluster(controller_manager=False)
    with cluster:
        pids = list(cluster.pids.values())
        workdir = cluster.workdir
        assert len(_pids_alive(pids)) == 2
    assert _pids_alive(pids) == []
    assert not workdir.exists()


def test_startup_failure_reports_the_log_tail():
    cluster = EmbeddedCluster(controller_manager=False, extra_apiserver_args=["--no-such-flag=1"])
    with pytest.raises(ControlPlaneError) as info:
        cluster.start()
    assert "kube-apiserver exited" in str(info.value)
    assert "no-such-flag" in str(info.value)
    assert cluster.pids == {}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_the_cluster_and_remove_its_directory(tmp_path, sig):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import json, sys, time
        from harness.embedded import EmbeddedCluster
        with EmbeddedCluster(controller_manager=False) as c:
            print(json.dumps({"pids": list(c.pids.values()), "workdir": str(c.workdir)}), flush=True)
            time.sleep(300)
    """))
    # The child's stderr goes to a file, not to the suite's terminal: the SIGINT leaves the script
    # with Python's KeyboardInterrupt traceback, which is expected and asserted on below.
    stderr_file = tmp_path / "stderr.txt"
    with stderr_file.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=stderr, text=True)
    import json
    info = json.loads(proc.stdout.readline())
    assert len(_pids_alive(info["pids"])) == 2
    proc.send_signal(sig)
    proc.wait(timeout=60)
    proc.stdout.close()
    with contextlib.suppress(PollTimeout):
        poll(lambda: not _pids_alive(info["pids"]), timeout=10, interval=0.1, what="the cluster's processes to exit")
    assert _pids_alive(info["pids"]) == []
    assert not Path(info["workdir"]).exists()
    err = stderr_file.read_text()
    if sig == signal.SIGINT:  # the interrupt reached the script through the cluster's context manager
        assert proc.returncode == -signal.SIGINT and err.rstrip().endswith("KeyboardInterrupt"), err
    else:  # the cluster turns SIGTERM into SystemExit(128 + 15): a clean exit, no traceback
        assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err


def _cluster_up_detached(tmp_path: Path, name: str) -> tuple[dict, list[str], subprocess.CompletedProcess]:
    """``pss-harness cluster up --detach --name NAME`` with the cache under ``tmp_path`` (the built binaries
    shared with it), asserted to succeed: ``(env, the cluster command, up's result)`` for the next calls."""
    env = dict(os.environ, PSS_HARNESS_CACHE=str(tmp_path))
    # share the built binaries with the temporary cache
    (tmp_path / "k8s").symlink_to(binaries_for().directory.parent.parent)
    cli = [sys.executable, "-m", "harness", "cluster"]
    up = subprocess.run([*cli, "up", "--detach", "--name", name], env=env, capture_output=True, text=True,
                        timeout=300)
    assert up.returncode == 0, up.stderr
    return env, cli, up


def test_cli_up_detach_gives_a_usable_kubeconfig_and_down_stops_it(tmp_path):
    env, cli, up = _cluster_up_detached(tmp_path, "ci")
    kubeconfig = next(line.split(": ", 1)[1] for line in up.stdout.splitlines() if line.startswith("kubeconfig:"))
    status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True)
    assert "ci: Kubernetes" in status.stdout
    try:
        client = Cluster(kubeconfig)
        assert client.server_version()["gitVersion"] == binaries_for().version
        assert client.whoami()["username"] == "pss-admin"
    finally:
        down = subprocess.run([*cli, "down", "--name", "ci"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not Path(kubeconfig).exists()
    assert "no named cluster" in subprocess.run([*cli, "status"], env=env, capture_output=True, text=True).stdout


def _gone(pid: int) -> bool:
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return True


def test_a_component_that_dies_keeps_its_log_until_cluster_down(tmp_path):
    """#11.12: the supervisor used to delete its directory, then name a log it had just removed."""
    import json
    import re

    env, cli, _ = _cluster_up_detached(tmp_path, "crash")
    directory = tmp_path / "clusters" / "crash"
    state = json.loads((directory / "state.json").read_text())
    try:
        os.kill(state["pids"]["kube-apiserver"], signal.SIGKILL)
        poll(lambda: _gone(state["supervisor"]), timeout=60, interval=0.2, what="the supervisor to exit")
        supervisor_log = (tmp_path / "clusters" / "crash.log").read_text()
        m = re.search(r"pss-harness: error: cluster 'crash': kube-apiserver exited with status -9; its log is kept "
                      r"at (\S+) until `pss-harness cluster down --name crash`", supervisor_log)
        assert m, supervisor_log[-3000:]
        named = Path(m.group(1))
        assert named.is_file() and named.is_relative_to(directory) and named.stat().st_size > 0
        assert named.read_text(errors="replace").strip()  # what the API server wrote before it was killed
        # only the logs are kept: no etcd data, keys or tokens
        assert sorted(p.name for p in (directory / "work").iterdir()) == ["logs"]
        assert sorted(p.name for p in named.parent.iterdir()) == ["etcd.log", "kube-apiserver.log",
                                                                  "kube-controller-manager.log"]
        assert all(_gone(pid) for pid in state["pids"].values())
        failed = json.loads((directory / "state.json").read_text())
        assert failed["failed"].startswith("cluster 'crash': kube-apiserver exited with status -9")
        status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True)
        assert f"crash: FAILED: cluster 'crash': kube-apiserver exited with status -9" in status.stdout
        assert f"logs kept in {named.parent}" in status.stdout
    finally:
        down = subprocess.run([*cli, "down", "--name", "crash"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert "had failed" in down.stdout and "removed it and its kept logs" in down.stdout
    assert not directory.exists() and not (tmp_path / "clusters" / "crash.log").exists()
