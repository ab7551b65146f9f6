"""Differential check: the offline evaluator (``harness.policy``) against a real kube-apiserver.

Starts one embedded control plane (no controller manager), creates a namespace per
(level, version) labelled ``enforce=<level>`` + ``enforce-version=<v>`` and the same for warn,
then for every pod of the corpus below:

* dry-run creates it as a **Pod** and compares the 403 Status message verbatim with
  ``pods "<name>" is forbidden: `` + the evaluator's ``message("violates")`` (or expects success
  when the evaluator allows it);
* dry-run creates it as a **Deployment** and compares the ``would violate PodSecurity`` Warning
  header verbatim with the evaluator's ``message("would violate")`` for the Deployment;
* for the ephemeral-container cases, really creates a compliant pod and dry-runs the
  ``pods/ephemeralcontainers`` update.

Pods the API server rejects as invalid (400/422) never reach PodSecurity; those the corpus
expects to be invalid are counted apart, any other one is reported.

    .venv/bin/python bench/differential_smoke.py [--json out.json] [--versions v1.0,v1.25,latest]
                                                 [--k8s-version 1.34]

Exit status 0 when every comparison agrees, 1 otherwise.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import sys
import time

from harness.core.checks import newest_minor
from harness.cluster.client import Cluster
from harness.embedded import EmbeddedCluster
from harness.core.messages import parse_podsecurity_message
from harness.core.model import Level, PolicyVersion
from harness.policy import evaluate_object
from harness.core.kinds import as_kind

VERSIONS = ["v1.0", "v1.18", "v1.19", "v1.22", "v1.23", "v1.24", "v1.25", "v1.27", "v1.29", "v1.30", "v1.31",
            "v1.32", "v1.34", "v1.35", "v1.36", "v1.37", "v1.99", "latest"]
LEVELS = [Level.BASELINE, Level.RESTRICTED]
IMAGE = "registry.k8s.io/pause"

# -- the corpus -------------------------------------------------------------------------------------


def _c(name: str, **kw) -> dict:
    return {"name": name, "image": IMAGE, **kw}


def _hard_sc(**extra) -> dict:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, **extra}


def _pod(name: str, spec: dict, annotations: dict | None = None) -> dict:
    meta = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _hardened(name: str, *, containers=None, init=None, pod_sc=None, annotations=None, **spec) -> dict:
    """A restricted-compliant pod, then changed by the arguments."""
    sc = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if pod_sc is not None:
        sc = pod_sc
    body = {"securityContext": sc,
            "containers": containers if containers is not None else [_c("app", securityContext=_hard_sc())]}
    if init is not None:
        body["initContainers"] = init
    body.update(spec)
    return _pod(name, body, annotations)


def corpus() -> list[tuple[dict, str]]:
    """``(pod, expectation)``: ``ok`` (reaches PodSecurity), ``invalid`` (API validation refuses it) or
    ``invalid-workloads`` (valid as a Pod, refused as a workload template)."""
    hs = _hard_sc
    pods: list[tuple[dict, str]] = []

    def add(pod, expect="ok"):
        pods.append((pod, expect))

    # bases
    add(_pod("bare", {"containers": [_c("c")]}))
    add(_pod("bare-plural", {"initContainers": [_c("init")], "containers": [_c("a"), _c("b")]}))
    add(_hardened("hardened"))
    add(_hardened("hardened-per-container", pod_sc={},
                  containers=[_c("a", securityContext=hs(runAsNonRoot=True, seccompProfile={"type": "RuntimeDefault"})),
                              _c("b", securityContext=hs(runAsNonRoot=True, seccompProfile={"type": "Localhost",
                                                                                            "localhostProfile": "p.json"}))]))
    add(_pod("windows-hardened", {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True},
                                  "containers": [_c("c")]}))
    add(_pod("windows-bare", {"os": {"name": "windows"}, "containers": [_c("c"), _c("d")]}))
    # privileged
    add(_hardened("priv-one", containers=[_c("app", securityContext={"privileged": True,
                                                                     "capabilities": {"drop": ["ALL"]}})]))
    add(_pod("priv-plural", {"initContainers": [_c("i", securityContext={"privileged": True})],
                             "containers": [_c("a", securityContext={"privileged": True}), _c("b")]}))
    add(_hardened("priv-false", containers=[_c("app", securityContext=hs(privileged=False))]))
    # hostNamespaces
    add(_hardened("hostnet", hostNetwork=True))
    add(_hardened("hostnet-ports", hostNetwork=True,
                  containers=[_c("app", securityContext=hs(), ports=[{"containerPort": 8080}])]))
    add(_pod("hostpid-ipc", {"hostPID": True, "hostIPC": True, "containers": [_c("c")]}))
    add(_pod("host-all", {"hostNetwork": True, "hostPID": True, "hostIPC": True, "containers": [_c("c")]}))
    # hostPathVolumes / restrictedVolumes
    add(_hardened("hostpath", volumes=[{"name": "hp", "hostPath": {"path": "/tmp"}}]))
    add(_hardened("hostpath-plural", volumes=[{"name": "a", "hostPath": {"path": "/a"}}, {"name": "e", "emptyDir": {}},
                                              {"name": "b", "hostPath": {"path": "/b"}}]))
    add(_hardened("vol-nfs", volumes=[{"name": "n", "nfs": {"server": "1.2.3.4", "path": "/x"}}]))
    add(_hardened("vol-mixed", volumes=[
        {"name": "hp", "hostPath": {"path": "/tmp"}},
        {"name": "cm", "configMap": {"name": "x"}},
        {"name": "nfs", "nfs": {"server": "1.2.3.4", "path": "/x"}},
        {"name": "iscsi", "iscsi": {"targetPortal": "1.2.3.4:3260", "iqn": "iqn.2001-04.com.example:storage",
                                    "lun": 0}},
        {"name": "rbd", "rbd": {"monitors": ["1.2.3.4"], "image": "img"}}]))
    add(_hardened("vol-allowed", volumes=[
        {"name": "cm", "configMap": {"name": "x"}}, {"name": "s", "secret": {"secretName": "x"}},
        {"name": "d", "downwardAPI": {"items": []}}, {"name": "e", "emptyDir": {}},
        {"name": "p", "projected": {"sources": []}}, {"name": "pvc", "persistentVolumeClaim": {"claimName": "x"}},
        {"name": "csi", "csi": {"driver": "x.example.com"}},
        {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}},
        {"name": "nosource"}]))
    add(_hardened("vol-image", volumes=[{"name": "img", "image": {"reference": "registry.k8s.io/pause"}}]))
    # hostPorts
    add(_hardened("hostport", containers=[_c("app", securityContext=hs(), ports=[{"containerPort": 80, "hostPort": 80}])]))
    add(_pod("hostports-plural", {"containers": [
        _c("a", ports=[{"containerPort": 10, "hostPort": 10}, {"containerPort": 8080, "hostPort": 8080}]),
        _c("b", ports=[{"containerPort": 9, "hostPort": 9}]), _c("c", ports=[{"containerPort": 1}])]}))
    add(_hardened("hostports-one-container", containers=[_c("web", securityContext=hs(), ports=[
        {"containerPort": 80, "hostPort": 80}, {"containerPort": 443, "hostPort": 443},
        {"containerPort": 8443, "hostPort": 443, "protocol": "UDP"}])]))
    # capabilities
    add(_hardened("cap-netadmin", containers=[_c("app", securityContext=hs(capabilities={"drop": ["ALL"],
                                                                                        "add": ["NET_ADMIN"]}))]))
    add(_pod("cap-plural", {"initContainers": [_c("i", securityContext={"capabilities": {"add": ["SYS_ADMIN", "CHOWN"]}})],
                            "containers": [_c("a", securityContext={"capabilities": {"add": ["ALL", "NET_RAW"]}}),
                                           _c("b", securityContext={"capabilities": {"add": ["KILL"]}})]}))
    add(_hardened("cap-default-set", containers=[_c("app", securityContext=hs(capabilities={
        "drop": ["ALL"], "add": ["CHOWN", "KILL", "NET_BIND_SERVICE"]}))]))
    add(_hardened("cap-nbs", containers=[_c("app", securityContext=hs(capabilities={"drop": ["ALL"],
                                                                                  "add": ["NET_BIND_SERVICE"]}))]))
    add(_hardened("cap-drop-lower", containers=[_c("app", securityContext=hs(capabilities={"drop": ["all"]}))]))
    add(_hardened("cap-two-clauses", containers=[
        _c("a", securityContext={"allowPrivilegeEscalation": False}),
        _c("b", securityContext=hs(capabilities={"drop": ["ALL"], "add": ["SYS_TIME", "CHOWN"]})),
        _c("c", securityContext=hs(capabilities={"add": ["NET_BIND_SERVICE"]}))]))
    add(_hardened("cap-prefixed", containers=[_c("app", securityContext=hs(capabilities={"drop": ["ALL"],
                                                                                        "add": ["CAP_CHOWN"]}))]))
    # appArmorProfile
    add(_hardened("aa-pod-unconfined", pod_sc={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                               "appArmorProfile": {"type": "Unconfined"}}))
    add(_hardened("aa-c-unconfined", containers=[_c("app", securityContext=hs(appArmorProfile={"type": "Unconfined"}))]))
    add(_hardened("aa-annot-unconfined", annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}))
    add(_hardened("aa-annot-bogus", annotations={"container.apparmor.security.beta.kubernetes.io/app": "bogus"}),
        "invalid")  # validation accepts only runtime/default, localhost/<p>, unconfined (and "")
    add(_hardened("aa-annot-ok", annotations={"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}))
    add(_hardened("aa-localhost", containers=[_c("app", securityContext=hs(appArmorProfile={
        "type": "Localhost", "localhostProfile": "k8s-apparmor-example"}))]))
    add(_hardened("aa-mixed", pod_sc={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                      "appArmorProfile": {"type": "Unconfined"}},
                  containers=[_c("a", securityContext=hs(appArmorProfile={"type": "Unconfined"})),
                              _c("b", securityContext=hs()), _c("c", securityContext=hs())],
                  annotations={"container.apparmor.security.beta.kubernetes.io/b": "unconfined",
                               "container.apparmor.security.beta.kubernetes.io/c": "unconfined"}))
    # a Pod's annotation is copied into the container's field before admission; a template's is not,
    # and there annotation and (inherited pod-level) field must match
    add(_hardened("aa-annot-copied", pod_sc={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                             "appArmorProfile": {"type": "RuntimeDefault"}},
                  containers=[_c("a", securityContext=hs()), _c("b", securityContext=hs())],
                  annotations={"container.apparmor.security.beta.kubernetes.io/a": "localhost/x",
                               "container.apparmor.security.beta.kubernetes.io/b": "unconfined"}), "invalid-workloads")
    # seLinuxOptions
    add(_hardened("selinux-spc", containers=[_c("app", securityContext=hs(seLinuxOptions={"type": "spc_t"}))]))
    add(_hardened("selinux-engine", containers=[_c("app", securityContext=hs(seLinuxOptions={"type": "container_engine_t"}))]))
    add(_hardened("selinux-user-role",
                  pod_sc={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                          "seLinuxOptions": {"user": "system_u", "role": "system_r"}},
                  containers=[_c("a", securityContext=hs(seLinuxOptions={"type": "foo_t"})),
                              _c("b", securityContext=hs(seLinuxOptions={"type": "bar_t", "level": "s0"}))]))
    add(_hardened("selinux-container-user", containers=[_c("app", securityContext=hs(seLinuxOptions={"user": "u"}))]))
    add(_hardened("selinux-level", containers=[_c("app", securityContext=hs(seLinuxOptions={"level": "s0:c1,c2",
                                                                                           "type": "container_t"}))]))
    # procMount
    add(_hardened("procmount-userns", hostUsers=False,
                  containers=[_c("app", securityContext=hs(procMount="Unmasked"))]))
    add(_hardened("procmount-hostusers", containers=[_c("app", securityContext=hs(procMount="Unmasked"))]), "invalid")
    add(_hardened("procmount-default", containers=[_c("app", securityContext=hs(procMount="Default"))]))
    # seccompProfile (baseline annotations and fields, restricted)
    add(_pod("seccomp-annot-pod", {"containers": [_c("c")]},
             {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}))
    add(_pod("seccomp-annot-containers", {"containers": [_c("a"), _c("b"), _c("c")]},
             {"container.seccomp.security.alpha.kubernetes.io/a": "unconfined",
              "container.seccomp.security.alpha.kubernetes.io/b": "localhost/x",
              "container.seccomp.security.alpha.kubernetes.io/c": "docker/default",
              "seccomp.security.alpha.kubernetes.io/pod": "docker/default"}))
    add(_pod("seccomp-annot-bogus", {"containers": [_c("c")]},
             {"seccomp.security.alpha.kubernetes.io/pod": "bogus"}), "invalid")  # validation: must be a valid seccomp profile
    add(_hardened("seccomp-annot-ok", annotations={"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}))
    add(_hardened("seccomp-pod-unconfined", pod_sc={"runAsNonRoot": True, "seccompProfile": {"type": "Unconfined"}}))
    add(_hardened("seccomp-c-unconfined",
                  containers=[_c("a", securityContext=hs(seccompProfile={"type": "Unconfined"})),
                              _c("b", securityContext=hs())]))
    add(_hardened("seccomp-missing", pod_sc={"runAsNonRoot": True}))
    add(_hardened("seccomp-partial", pod_sc={"runAsNonRoot": True},
                  containers=[_c("a", securityContext=hs(seccompProfile={"type": "RuntimeDefault"})),
                              _c("b", securityContext=hs()), _c("c", securityContext=hs())]))
    add(_hardened("seccomp-pod-and-c", pod_sc={"runAsNonRoot": True, "seccompProfile": {"type": "Unconfined"}},
                  containers=[_c("a", securityContext=hs(seccompProfile={"type": "Localhost", "localhostProfile": "p"})),
                              _c("b", securityContext=hs(seccompProfile={"type": "Unconfined"}))]))
    # sysctls
    for tag, names in [("v0", ["kernel.shm_rmid_forced", "net.ipv4.ip_unprivileged_port_start"]),
                       ("v27", ["net.ipv4.ip_local_reserved_ports"]),
                       ("v29", ["net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout"]),
                       ("v32", ["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]),
                       ("v37", ["net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"]),
                       ("bad", ["net.core.somaxconn", "kernel.msgmax", "net.ipv4.tcp_syncookies"])]:
        add(_hardened(f"sysctl-{tag}", pod_sc={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                               "sysctls": [{"name": n, "value": "1"} for n in names]}))
    # windowsHostProcess
    add(_pod("hostprocess-pod", {"os": {"name": "windows"}, "hostNetwork": True,
                                 "securityContext": {"runAsNonRoot": True, "windowsOptions": {"hostProcess": True,
                                                                                             "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
                                 "containers": [_c("c")]}))
    add(_pod("hostprocess-containers", {"os": {"name": "windows"}, "hostNetwork": True,
                                        "containers": [_c("a", securityContext={"windowsOptions": {"hostProcess": True}}),
                                                       _c("b", securityContext={"windowsOptions": {"hostProcess": True}})]}))
    # hostProbesAndHostLifecycle
    add(_hardened("probe-hosts", containers=[_c(
        "app", securityContext=hs(),
        livenessProbe={"httpGet": {"host": "8.8.8.8", "port": 80}},
        readinessProbe={"tcpSocket": {"host": "::1", "port": 80}},
        lifecycle={"preStop": {"httpGet": {"host": "bad.host", "port": 80}}})]))
    add(_hardened("probe-sidecar", init=[_c("side", restartPolicy="Always", securityContext=hs(),
                                            startupProbe={"tcpSocket": {"host": "127.0.0.1", "port": 80}})],
                  containers=[_c("app", securityContext=hs(),
                                 lifecycle={"postStart": {"tcpSocket": {"host": "127.0.0.1", "port": 80}}})]))
    add(_hardened("probe-nohost", containers=[_c("app", securityContext=hs(),
                                                 livenessProbe={"httpGet": {"path": "/", "port": 80}})]))
    # allowPrivilegeEscalation
    add(_hardened("ape-true", containers=[_c("app", securityContext={"allowPrivilegeEscalation": True,
                                                                     "capabilities": {"drop": ["ALL"]}})]))
    add(_hardened("ape-missing", init=[_c("i", securityContext={"capabilities": {"drop": ["ALL"]}})],
                  containers=[_c("a", securityContext={"capabilities": {"drop": ["ALL"]}}), _c("b", securityContext=hs())]))
    # runAsNonRoot
    add(_hardened("ranr-pod-false", pod_sc={"runAsNonRoot": False, "seccompProfile": {"type": "RuntimeDefault"}}))
    add(_hardened("ranr-c-false", containers=[_c("a", securityContext=hs(runAsNonRoot=False)),
                                              _c("b", securityContext=hs())]))
    add(_hardened("ranr-implicit", pod_sc={"seccompProfile": {"type": "RuntimeDefault"}},
                  containers=[_c("a", securityContext=hs(runAsNonRoot=True)), _c("b", securityContext=hs()),
                              _c("c", securityContext=hs())]))
    add(_hardened("ranr-mixed", pod_sc={"seccompProfile": {"type": "RuntimeDefault"}},
                  containers=[_c("a", securityContext=hs(runAsNonRoot=False)), _c("b", securityContext=hs())]))
    add(_hardened("ranr-runasuser", pod_sc={"runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}))
    add(_hardened("ranr-userns", hostUsers=False, pod_sc={"seccompProfile": {"type": "RuntimeDefault"}}))
    # runAsUser
    add(_hardened("rau-pod-0", pod_sc={"runAsNonRoot": True, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}))
    add(_hardened("rau-c-0", containers=[_c("a", securityContext=hs(runAsUser=0)), _c("b", securityContext=hs(runAsUser=0)),
                                         _c("c", securityContext=hs(runAsUser=1))]))
    add(_hardened("rau-pod-0-overridden", pod_sc={"runAsNonRoot": True, "runAsUser": 0,
                                                  "seccompProfile": {"type": "RuntimeDefault"}},
                  containers=[_c("app", securityContext=hs(runAsUser=1000))]))
    add(_hardened("rau-userns", hostUsers=False,
                  pod_sc={"runAsNonRoot": True, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}))
    # everything at once
    add(_pod("kitchen-sink", {
        "hostNetwork": True, "hostPID": True,
        "securityContext": {"runAsUser": 0, "seccompProfile": {"type": "Unconfined"},
                            "sysctls": [{"name": "kernel.msgmax", "value": "1"}],
                            "seLinuxOptions": {"type": "spc_t"}},
        "initContainers": [_c("init", securityContext={"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}})],
        "containers": [_c("main", securityContext={"privileged": True, "runAsNonRoot": False,
                                                   "appArmorProfile": {"type": "Unconfined"}},
                          ports=[{"containerPort": 443, "hostPort": 443}],
                          livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 443}})],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}))
    return pods


EPHEMERAL = [
    ("eph-privileged", {"name": "dbg", "image": IMAGE, "securityContext": {"privileged": True}}),
    ("eph-bare", {"name": "dbg", "image": IMAGE}),
    ("eph-hardened", {"name": "dbg", "image": IMAGE, "securityContext": _hard_sc()}),
    ("eph-caps", {"name": "dbg", "image": IMAGE, "securityContext": _hard_sc(capabilities={"drop": ["ALL"],
                                                                                          "add": ["SYS_PTRACE"]})}),
]

# -- running ----------------------------------------------------------------------------------------


def ns_name(level: Level, version: str) -> str:
    return f"diff-{level.value}-{version.replace('.', '-')}"


def _psa_warning(warnings: list[str]) -> str:
    return next((w for w in warnings if "PodSecurity" in w), "")


def compare_pod(cluster: Cluster, pod: dict, expect: str, level: Level, version: str, newest: int) -> dict:
    expect = "ok" if expect == "invalid-workloads" else expect
    ns = ns_name(level, version)
    name = pod["metadata"]["name"]
    ev = evaluate_object(pod, level, PolicyVersion.parse(version), newest_minor=newest)
    resp = cluster.submit(pod, ns)
    rec = {"kind": "Pod", "name": name, "ns": ns, "status": resp.status, "expect": expect,
           "predicted": ev.message("violates"), "observed": "", "agree": None}
    if _invalid(rec, resp, expect):
        return rec
    if resp.ok:
        rec["agree"] = ev.allowed and expect == "ok"
        return rec
    observed = resp.message
    rec["observed"] = observed
    want = f'pods "{name}" is forbidden: {ev.message("violates")}' if not ev.allowed else None
    rec["agree"] = resp.status == 403 and observed == want
    return rec


def _invalid(rec: dict, resp, expect: str) -> bool:
    """Record a 400/422 answer (expected or not) on ``rec``; otherwise mark it compared."""
    if resp.status in (400, 422):
        rec["observed"] = resp.message
        rec["agree"] = expect == "invalid"
        rec["class"] = "invalid-expected" if expect == "invalid" else "invalid-unexpected"
        return True
    rec["class"] = "compared"
    return False


def compare_workload(cluster: Cluster, pod: dict, expect: str, level: Level, version: str, newest: int) -> dict:
    expect = "invalid" if expect == "invalid-workloads" else expect
    ns = ns_name(level, version)
    obj = as_kind(pod, "Deployment")
    ev = evaluate_object(obj, level, PolicyVersion.parse(version), newest_minor=newest)
    resp = cluster.submit(obj, ns)
    rec = {"kind": "Deployment", "name": obj["metadata"]["name"], "ns": ns, "status": resp.status,
           "expect": expect, "predicted": ev.message("would violate"), "observed": "", "agree": None}
    if _invalid(rec, resp, expect):
        return rec
    warning = _psa_warning(resp.warnings)
    rec["observed"] = warning or resp.message
    rec["agree"] = resp.ok and warning == ev.message("would violate")
    if rec["agree"] and warning:  # the parser must round-trip what the server says
        parsed = parse_podsecurity_message(warning)
        rec["agree"] = parsed is not None and list(parsed.checks(newest).checks) == ev.ids and not parsed.checks(newest).unknown
    return rec


def compare_ephemeral(cluster: Cluster, target: dict, case: str, container: dict, level: Level, version: str,
                      newest: int) -> dict:
    ns = ns_name(level, version)
    pod = copy.deepcopy(target)
    pod["spec"]["ephemeralContainers"] = [container]
    ev = evaluate_object(pod, level, PolicyVersion.parse(version), newest_minor=newest)
    current = cluster.get("Pod", ns, target["metadata"]["name"]).body
    resp = cluster.add_ephemeral_containers(current, ns, [container])
    name = target["metadata"]["name"]
    rec = {"kind": "Pod/ephemeralcontainers", "name": f"{name}+{case}", "ns": ns, "status": resp.status,
           "expect": "ok", "predicted": ev.message("violates"), "observed": resp.message, "class": "compared"}
    if resp.ok:
        rec["agree"] = ev.allowed
    else:
        rec["agree"] = resp.status == 403 and resp.message == f'pods "{name}" is forbidden: {ev.message("violates")}'
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", default=",".join(VERSIONS))
    ap.add_argument("--json", metavar="FILE", help="write every comparison to FILE")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--k8s-version", metavar="V", help="embedded control plane version (default: the project's)")
    args = ap.parse_args(argv)
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    pods = corpus()
    t0 = time.monotonic()
    with EmbeddedCluster(args.k8s_version, controller_manager=False) as ec:
        cluster = Cluster(ec.kubeconfig)
        info = cluster.server_version()
        server_minor = int("".join(ch for ch in info["minor"] if ch.isdigit()))
        newest = min(server_minor, newest_minor())
        print(f"kube-apiserver {info.get('gitVersion')} (policy latest = v1.{newest}); "
              f"{len(pods)} pods x {len(LEVELS) * len(versions)} namespaces", file=sys.stderr)
        for level in LEVELS:
            for v in versions:
                ns = ns_name(level, v)
                cluster.create_namespace(ns, {
                    "pod-security.kubernetes.io/enforce": level.value, "pod-security.kubernetes.io/enforce-version": v,
                    "pod-security.kubernetes.io/warn": level.value, "pod-security.kubernetes.io/warn-version": v})
                cluster.checked("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
                                ok=(409,))
        jobs = []
        with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
            for level in LEVELS:
                for v in versions:
                    for pod, expect in pods:
                        jobs.append(pool.submit(compare_pod, cluster, pod, expect, level, v, newest))
                        jobs.append(pool.submit(compare_workload, cluster, pod, expect, level, v, newest))
            records = [j.result() for j in jobs]
        # ephemeral containers: a real, compliant target pod per namespace
        target = _hardened("eph-target")
        for level in LEVELS:
            for v in versions:
                resp = cluster.submit(target, ns_name(level, v), dry_run=False)
                if not resp.ok:
                    raise SystemExit(f"creating eph-target in {ns_name(level, v)}: {resp.status} {resp.message}")
                for case, container in EPHEMERAL:
                    records.append(compare_ephemeral(cluster, target, case, container, level, v, newest))
    elapsed = time.monotonic() - t0
    compared = [r for r in records if r["class"] == "compared"]
    disagreements = [r for r in records if not r["agree"]]
    by_kind = {}
    for r in compared:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + 1
    print(f"{len(records)} requests in {elapsed:.0f}s: {len(compared)} compared ({by_kind}), "
          f"{sum(r['class'] == 'invalid-expected' for r in records)} invalid as expected, "
          f"{len(disagreements)} disagreement(s)")
    denied = sum(1 for r in compared if r["kind"] != "Deployment" and r["status"] == 403)
    warned = sum(1 for r in compared if r["kind"] == "Deployment" and r["observed"])
    print(f"  {denied} denials and {warned} warnings matched or compared verbatim")
    for r in disagreements[:60]:
        print(f"DISAGREE {r['ns']} {r['kind']} {r['name']} (status {r['status']}, {r['class']})\n"
              f"  predicted: {r['predicted']}\n  observed:  {r['observed']}")
    if len(disagreements) > 60:
        print(f"... and {len(disagreements) - 60} more")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
