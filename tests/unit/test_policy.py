"""The offline evaluator: every check, every variant boundary, message order and format, objects.

Expected strings are the upstream formats. The pods of ``tests/fixtures/golden/differential-pods.yaml``
are confirmed verbatim against kube-apiserver v1.37.2 and v1.34.4 in CI
(``tests/integration/test_golden_differential.py``).
"""

from __future__ import annotations

import copy

import pytest

from harness.core import checks
from harness.core.model import Level, PolicyVersion
from harness.policy import (
    POD_BEARING_KINDS,
    VARIANTS,
    admitted_pod,
    evaluate_object,
    evaluate_pod,
    implementation,
    join_quote,
    pluralize,
    pod_template,
)
from harness.policy._helpers import go_quote
from harness.core.kinds import as_kind

B, R, P = Level.BASELINE, Level.RESTRICTED, Level.PRIVILEGED
LATEST = PolicyVersion.parse("latest")


def v(text: str) -> PolicyVersion:
    return PolicyVersion.parse(text)


def c(name: str, sc: dict | None = None, **fields) -> dict:
    out = {"name": name, "image": "pause", **fields}
    if sc is not None:
        out["securityContext"] = sc
    return out


def hard(**extra) -> dict:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, **extra}


def hardened_spec(**changes) -> dict:
    spec = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [c("app", hard())]}
    spec.update(changes)
    return spec


def pod(spec: dict, annotations: dict | None = None, name: str = "p") -> dict:
    meta = {"name": name}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


# -- per-check table: (check id, minor, metadata, spec, expected (reason, detail) or None) ------------------

AA = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_C = "container.seccomp.security.alpha.kubernetes.io/"

CHECK_CASES = [
    # privileged
    ("privileged-unset", "privileged", 0, {}, {"containers": [c("a")]}, None),
    ("privileged-false", "privileged", 0, {}, {"containers": [c("a", {"privileged": False})]}, None),
    ("privileged-one", "privileged", 0, {}, {"containers": [c("a", {"privileged": True})]},
     ("privileged", 'container "a" must not set securityContext.privileged=true')),
    ("privileged-visit-order", "privileged", 37, {},
     {"ephemeralContainers": [c("e", {"privileged": True})], "containers": [c("b", {"privileged": True}), c("ok")],
      "initContainers": [c("i", {"privileged": True})]},
     ("privileged", 'containers "i", "b", "e" must not set securityContext.privileged=true')),
    # hostNamespaces
    ("hostns-none", "hostNamespaces", 0, {}, {"hostNetwork": False, "containers": [c("a")]}, None),
    ("hostns-network", "hostNamespaces", 0, {}, {"hostNetwork": True}, ("host namespaces", "hostNetwork=true")),
    ("hostns-fixed-order", "hostNamespaces", 0, {}, {"hostIPC": True, "hostPID": True, "hostNetwork": True},
     ("host namespaces", "hostNetwork=true, hostPID=true, hostIPC=true")),
    ("hostns-ipc", "hostNamespaces", 0, {}, {"hostIPC": True}, ("host namespaces", "hostIPC=true")),
    # hostPathVolumes
    ("hostpath-none", "hostPathVolumes", 0, {}, {"volumes": [{"name": "e", "emptyDir": {}}]}, None),
    ("hostpath-one", "hostPathVolumes", 0, {}, {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]},
     ("hostPath volumes", 'volume "h"')),
    ("hostpath-two", "hostPathVolumes", 0, {},
     {"volumes": [{"name": "b", "hostPath": {"path": "/"}}, {"name": "e", "emptyDir": {}},
                  {"name": "a", "hostPath": {"path": "/x"}}]},
     ("hostPath volumes", 'volumes "b", "a"')),
    # hostPorts
    ("hostport-zero", "hostPorts", 0, {}, {"containers": [c("a", ports=[{"containerPort": 80, "hostPort": 0}])]}, None),
    ("hostport-unset", "hostPorts", 0, {}, {"containers": [c("a", ports=[{"containerPort": 80}])]}, None),
    ("hostport-one", "hostPorts", 0, {}, {"containers": [c("a", ports=[{"containerPort": 80, "hostPort": 80}])]},
     ("hostPort", 'container "a" uses hostPort 80')),
    ("hostport-string-sorted", "hostPorts", 0, {},
     {"initContainers": [c("i", ports=[{"hostPort": 9}])],
      "containers": [c("a", ports=[{"hostPort": 10}, {"hostPort": 8080}, {"hostPort": 10}]), c("b")]},
     ("hostPort", 'containers "i", "a" use hostPorts 10, 8080, 9')),
    ("hostport-one-container-many", "hostPorts", 0, {},
     {"containers": [c("web", ports=[{"hostPort": 80}, {"hostPort": 443}])]},
     ("hostPort", 'container "web" uses hostPorts 443, 80')),
    # capabilities_baseline
    ("capsb-allowed", "capabilities_baseline", 0, {},
     {"containers": [c("a", {"capabilities": {"add": ["CHOWN", "KILL", "NET_BIND_SERVICE", "SYS_CHROOT"]}})]}, None),
    ("capsb-drop-only", "capabilities_baseline", 0, {}, {"containers": [c("a", {"capabilities": {"drop": ["ALL"]}})]}, None),
    ("capsb-one", "capabilities_baseline", 0, {}, {"containers": [c("a", {"capabilities": {"add": ["NET_ADMIN"]}})]},
     ("non-default capabilities", 'container "a" must not include "NET_ADMIN" in securityContext.capabilities.add')),
    ("capsb-case-prefix-all", "capabilities_baseline", 0, {},
     {"containers": [c("a", {"capabilities": {"add": ["chown", "CAP_CHOWN"]}}),
                     c("b", {"capabilities": {"add": ["ALL", "CHOWN", "chown"]}})]},
     ("non-default capabilities",
      'containers "a", "b" must not include "ALL", "CAP_CHOWN", "chown" in securityContext.capabilities.add')),
    # appArmorProfile
    ("aa-runtime-default", "appArmorProfile", 0, {},
     {"securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
      "containers": [c("a", {"appArmorProfile": {"type": "Localhost", "localhostProfile": "x"}})]}, None),
    ("aa-pod", "appArmorProfile", 0, {}, {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
     ("forbidden AppArmor profile", 'pod must not set AppArmor profile type to "Unconfined"')),
    ("aa-containers", "appArmorProfile", 0, {},
     {"containers": [c("a", {"appArmorProfile": {"type": "Unconfined"}}), c("b", {"appArmorProfile": {"type": "Unconfined"}})]},
     ("forbidden AppArmor profile", 'containers "a", "b" must not set AppArmor profile type to "Unconfined"')),
    ("aa-annotations-ok", "appArmorProfile", 0,
     {"annotations": {AA + "a": "runtime/default", AA + "b": "localhost/p", AA + "c": "", "other": "unconfined"}},
     {"containers": [c("a")]}, None),
    ("aa-annotation", "appArmorProfile", 0, {"annotations": {AA + "x": "unconfined"}}, {},
     ("forbidden AppArmor profile",
      'annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/x="unconfined""')),
    ("aa-annotation-any-suffix-plural", "appArmorProfile", 0,
     {"annotations": {AA + "z": "unconfined", AA + "nosuch": 'a"b'}}, {},
     ("forbidden AppArmor profiles",
      'annotations must not set AppArmor profile type to '
      '"container.apparmor.security.beta.kubernetes.io/nosuch="a\\"b"", '
      '"container.apparmor.security.beta.kubernetes.io/z="unconfined""')),
    ("aa-all-setters", "appArmorProfile", 0, {"annotations": {AA + "b": "unconfined"}},
     {"securityContext": {"appArmorProfile": {"type": "Unconfined"}},
      "containers": [c("a", {"appArmorProfile": {"type": "Unconfined"}}), c("b")]},
     ("forbidden AppArmor profiles",
      'pod and container "a" and annotation must not set AppArmor profile type to "Unconfined", '
      '"container.apparmor.security.beta.kubernetes.io/b="unconfined""')),
    # seLinuxOptions
    ("selinux-ok", "seLinuxOptions", 0, {},
     {"securityContext": {"seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"}},
      "containers": [c("a", {"seLinuxOptions": {"type": "container_init_t"}}), c("b", {"seLinuxOptions": {"type": "container_kvm_t"}})]},
     None),
    ("selinux-engine-v1.30", "seLinuxOptions", 30, {}, {"containers": [c("a", {"seLinuxOptions": {"type": "container_engine_t"}})]},
     ("seLinuxOptions", 'container "a" set forbidden securityContext.seLinuxOptions: type "container_engine_t"')),
    ("selinux-engine-v1.31", "seLinuxOptions", 31, {}, {"containers": [c("a", {"seLinuxOptions": {"type": "container_engine_t"}})]},
     None),
    ("selinux-everything", "seLinuxOptions", 37, {},
     {"securityContext": {"seLinuxOptions": {"user": "u", "role": "r"}},
      "containers": [c("e", {"seLinuxOptions": {"type": "foo"}}), c("f", {"seLinuxOptions": {"type": "bar", "role": "r"}}),
                     c("g", {"seLinuxOptions": {"type": "foo"}})]},
     ("seLinuxOptions", 'pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: '
                        'types "bar", "foo"; user may not be set; role may not be set')),
    ("selinux-user-only", "seLinuxOptions", 0, {}, {"containers": [c("a", {"seLinuxOptions": {"user": "u"}})]},
     ("seLinuxOptions", 'container "a" set forbidden securityContext.seLinuxOptions: user may not be set')),
    # procMount (baseline)
    ("procmount-default", "procMount", 0, {}, {"containers": [c("a", {"procMount": "Default"})]}, None),
    ("procmount-unmasked", "procMount", 0, {}, {"containers": [c("a", {"procMount": "Unmasked"}), c("b", {"procMount": "Unmasked"})]},
     ("procMount", 'containers "a", "b" must not set securityContext.procMount to "Unmasked"')),
    ("procmount-v1.34-userns-strict", "procMount", 34, {},
     {"hostUsers": False, "containers": [c("a", {"procMount": "Unmasked"})]},
     ("procMount", 'container "a" must not set securityContext.procMount to "Unmasked"')),
    ("procmount-v1.35-userns-relaxed", "procMount", 35, {},
     {"hostUsers": False, "containers": [c("a", {"procMount": "Unmasked"})]}, None),
    ("procmount-v1.35-hostusers-true", "procMount", 35, {},
     {"hostUsers": True, "containers": [c("a", {"procMount": "Unmasked"})]},
     ("procMount", 'container "a" must not set securityContext.procMount to "Unmasked"')),
    ("procmount-v1.35-hostusers-unset", "procMount", 35, {}, {"containers": [c("a", {"procMount": "Unmasked"})]},
     ("procMount", 'container "a" must not set securityContext.procMount to "Unmasked"')),
    # procMount_restricted
    ("procmount-restricted-userns-strict", "procMount_restricted", 35, {},
     {"hostUsers": False, "containers": [c("a", {"procMount": "Unmasked"})]},
     ("procMount", 'container "a" must not set securityContext.procMount to "Unmasked"')),
    ("procmount-restricted-default", "procMount_restricted", 37, {}, {"containers": [c("a", {"procMount": "Default"})]}, None),
    # seccompProfile_baseline v1.0 (annotations)
    ("seccompb-v1.0-ok", "seccompProfile_baseline", 0,
     {"annotations": {SECCOMP_POD: "runtime/default", SECCOMP_C + "a": "docker/default", SECCOMP_C + "b": "localhost/x"}},
     {"containers": [c("a"), c("b")]}, None),
    ("seccompb-v1.0-pod", "seccompProfile_baseline", 0, {"annotations": {SECCOMP_POD: "unconfined"}}, {"containers": [c("a")]},
     ("seccompProfile", 'forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined"')),
    ("seccompb-v1.0-sorted-existing-containers", "seccompProfile_baseline", 18,
     {"annotations": {SECCOMP_C + "b": "unconfined", SECCOMP_C + "a": "bogus", SECCOMP_C + "gone": "unconfined",
                      SECCOMP_POD: "unconfined"}},
     {"containers": [c("b")], "ephemeralContainers": [c("a")]},
     ("seccompProfile", 'forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="bogus", '
                        'container.seccomp.security.alpha.kubernetes.io/b="unconfined", '
                        'seccomp.security.alpha.kubernetes.io/pod="unconfined"')),
    ("seccompb-v1.0-ignores-fields", "seccompProfile_baseline", 18, {},
     {"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [c("a")]}, None),
    # seccompProfile_baseline v1.19 (fields)
    ("seccompb-v1.19-ignores-annotations", "seccompProfile_baseline", 19, {"annotations": {SECCOMP_POD: "unconfined"}},
     {"containers": [c("a")]}, None),
    ("seccompb-v1.19-unset-ok", "seccompProfile_baseline", 19, {}, {"containers": [c("a")]}, None),
    ("seccompb-v1.19-pod-and-containers", "seccompProfile_baseline", 19, {},
     {"securityContext": {"seccompProfile": {"type": "Unconfined"}},
      "containers": [c("a", {"seccompProfile": {"type": "Unconfined"}}), c("b", {"seccompProfile": {"type": "RuntimeDefault"}})]},
     ("seccompProfile", 'pod and container "a" must not set securityContext.seccompProfile.type to "Unconfined"')),
    # sysctls
    ("sysctls-v1.0-ok", "sysctls", 0, {},
     {"securityContext": {"sysctls": [{"name": n} for n in ("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                                                            "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
                                                            "net.ipv4.ip_unprivileged_port_start")]}}, None),
    ("sysctls-order-kept", "sysctls", 37, {},
     {"securityContext": {"sysctls": [{"name": "net.core.somaxconn"}, {"name": "kernel.shm_rmid_forced"},
                                      {"name": "kernel.msgmax"}]}},
     ("forbidden sysctls", "net.core.somaxconn, kernel.msgmax")),
    ("sysctls-v1.26-reserved", "sysctls", 26, {}, {"securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_reserved_ports"}]}},
     ("forbidden sysctls", "net.ipv4.ip_local_reserved_ports")),
    ("sysctls-v1.27-reserved", "sysctls", 27, {}, {"securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_reserved_ports"}]}},
     None),
    ("sysctls-v1.28-keepalive", "sysctls", 28, {}, {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_keepalive_time"}]}},
     ("forbidden sysctls", "net.ipv4.tcp_keepalive_time")),
    ("sysctls-v1.29-keepalive", "sysctls", 29, {},
     {"securityContext": {"sysctls": [{"name": n} for n in ("net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                                                            "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes")]}},
     None),
    ("sysctls-v1.31-rmem", "sysctls", 31, {}, {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem"}, {"name": "net.ipv4.tcp_wmem"}]}},
     ("forbidden sysctls", "net.ipv4.tcp_rmem, net.ipv4.tcp_wmem")),
    ("sysctls-v1.32-rmem", "sysctls", 32, {}, {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem"}, {"name": "net.ipv4.tcp_wmem"}]}},
     None),
    ("sysctls-v1.36-slow-start", "sysctls", 36, {},
     {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_slow_start_after_idle"}, {"name": "net.ipv4.tcp_notsent_lowat"}]}},
     ("forbidden sysctls", "net.ipv4.tcp_slow_start_after_idle, net.ipv4.tcp_notsent_lowat")),
    ("sysctls-v1.37-slow-start", "sysctls", 37, {},
     {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_slow_start_after_idle"}, {"name": "net.ipv4.tcp_notsent_lowat"}]}},
     None),
    # windowsHostProcess
    ("hostprocess-false", "windowsHostProcess", 0, {}, {"securityContext": {"windowsOptions": {"hostProcess": False}}}, None),
    ("hostprocess-pod-and-containers", "windowsHostProcess", 0, {},
     {"securityContext": {"windowsOptions": {"hostProcess": True}},
      "containers": [c("e", {"windowsOptions": {"hostProcess": True}}), c("f", {"windowsOptions": {"hostProcess": True}})]},
     ("hostProcess", 'pod and containers "e", "f" must not set securityContext.windowsOptions.hostProcess=true')),
    ("hostprocess-container", "windowsHostProcess", 0, {}, {"containers": [c("e", {"windowsOptions": {"hostProcess": True}})]},
     ("hostProcess", 'container "e" must not set securityContext.windowsOptions.hostProcess=true')),
    # hostProbesAndHostLifecycle
    ("probes-no-host", "hostProbesAndHostLifecycle", 34, {},
     {"containers": [c("a", livenessProbe={"httpGet": {"port": 80, "host": ""}}, readinessProbe={"grpc": {"port": 1}})]}, None),
    ("probes-sorted", "hostProbesAndHostLifecycle", 34, {},
     {"initContainers": [c("z", restartPolicy="Always", startupProbe={"tcpSocket": {"host": "::1", "port": 1}})],
      "containers": [c("a", livenessProbe={"httpGet": {"host": "8.8.8.8", "port": 80}},
                       lifecycle={"preStop": {"tcpSocket": {"host": "127.0.0.1", "port": 1}},
                                  "postStart": {"httpGet": {"host": "8.8.8.8", "port": 1}}})]},
     ("probe or lifecycle host", 'containers "a", "z" use probe or lifecycle hosts "127.0.0.1", "8.8.8.8", "::1"')),
    ("probes-one-host", "hostProbesAndHostLifecycle", 37, {},
     {"containers": [c("a", readinessProbe={"tcpSocket": {"host": "bad.host", "port": 1}})]},
     ("probe or lifecycle host", 'container "a" uses probe or lifecycle host "bad.host"')),
    # allowPrivilegeEscalation
    ("ape-false", "allowPrivilegeEscalation", 8, {}, {"containers": [c("a", {"allowPrivilegeEscalation": False})]}, None),
    ("ape-unset-and-true", "allowPrivilegeEscalation", 8, {},
     {"containers": [c("a"), c("b", {"allowPrivilegeEscalation": True}), c("ok", {"allowPrivilegeEscalation": False})]},
     ("allowPrivilegeEscalation != false", 'containers "a", "b" must set securityContext.allowPrivilegeEscalation=false')),
    ("ape-windows-v1.24", "allowPrivilegeEscalation", 24, {}, {"os": {"name": "windows"}, "containers": [c("a")]},
     ("allowPrivilegeEscalation != false", 'container "a" must set securityContext.allowPrivilegeEscalation=false')),
    ("ape-windows-v1.25", "allowPrivilegeEscalation", 25, {}, {"os": {"name": "windows"}, "containers": [c("a")]}, None),
    ("ape-linux-v1.25", "allowPrivilegeEscalation", 25, {}, {"os": {"name": "linux"}, "containers": [c("a")]},
     ("allowPrivilegeEscalation != false", 'container "a" must set securityContext.allowPrivilegeEscalation=false')),
    # capabilities_restricted
    ("capsr-ok", "capabilities_restricted", 22, {},
     {"containers": [c("a", {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})]}, None),
    ("capsr-no-context", "capabilities_restricted", 22, {}, {"containers": [c("a"), c("b", {"capabilities": {}})]},
     ("unrestricted capabilities", 'containers "a", "b" must set securityContext.capabilities.drop=["ALL"]')),
    ("capsr-lowercase-all", "capabilities_restricted", 22, {}, {"containers": [c("a", {"capabilities": {"drop": ["all"]}})]},
     ("unrestricted capabilities", 'container "a" must set securityContext.capabilities.drop=["ALL"]')),
    ("capsr-two-clauses", "capabilities_restricted", 22, {},
     {"containers": [c("a", {"capabilities": {"drop": ["NET_RAW"]}}), c("b"),
                     c("c", {"capabilities": {"drop": ["ALL"], "add": ["SYS_TIME", "CHOWN", "NET_BIND_SERVICE"]}}),
                     c("d", {"capabilities": {"add": ["CHOWN"]}})]},
     ("unrestricted capabilities", 'containers "a", "b", "d" must set securityContext.capabilities.drop=["ALL"]; '
                                   'containers "c", "d" must not include "CHOWN", "SYS_TIME" in securityContext.capabilities.add')),
    ("capsr-windows-v1.24", "capabilities_restricted", 24, {}, {"os": {"name": "windows"}, "containers": [c("a")]},
     ("unrestricted capabilities", 'container "a" must set securityContext.capabilities.drop=["ALL"]')),
    ("capsr-windows-v1.25", "capabilities_restricted", 25, {}, {"os": {"name": "windows"}, "containers": [c("a")]}, None),
    # restrictedVolumes
    ("volumes-allowed", "restrictedVolumes", 0, {},
     {"volumes": [{"name": n, k: {}} for n, k in [("a", "configMap"), ("b", "csi"), ("c", "downwardAPI"), ("d", "emptyDir"),
                                                   ("e", "ephemeral"), ("f", "image"), ("g", "persistentVolumeClaim"),
                                                   ("h", "projected"), ("i", "secret")]] + [{"name": "nosource"}]}, None),
    ("volumes-one", "restrictedVolumes", 0, {}, {"volumes": [{"name": "v", "hostPath": {"path": "/"}}]},
     ("restricted volume types", 'volume "v" uses restricted volume type "hostPath"')),
    ("volumes-types-sorted", "restrictedVolumes", 0, {},
     {"volumes": [{"name": "n", "nfs": {}}, {"name": "ok", "secret": {}}, {"name": "h", "hostPath": {}},
                  {"name": "g", "gitRepo": {}}, {"name": "h2", "hostPath": {}}]},
     ("restricted volume types", 'volumes "n", "h", "g", "h2" use restricted volume types "gitRepo", "hostPath", "nfs"')),
    *[(f"volumes-{t}", "restrictedVolumes", 0, {}, {"volumes": [{"name": "v", t: {}}]},
       ("restricted volume types", f'volume "v" uses restricted volume type "{t}"'))
      for t in ("gcePersistentDisk", "awsElasticBlockStore", "iscsi", "glusterfs", "rbd", "flexVolume", "cinder", "cephfs",
                "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
                "portworxVolume", "scaleIO", "storageos")],
    # runAsNonRoot
    ("ranr-pod-true", "runAsNonRoot", 0, {}, {"securityContext": {"runAsNonRoot": True}, "containers": [c("a"), c("b")]}, None),
    ("ranr-every-container", "runAsNonRoot", 0, {},
     {"containers": [c("a", {"runAsNonRoot": True})], "initContainers": [c("i", {"runAsNonRoot": True})]}, None),
    ("ranr-implicit", "runAsNonRoot", 0, {}, {"containers": [c("a", {"runAsNonRoot": True}), c("b"), c("c", {"runAsUser": 1000})]},
     ("runAsNonRoot != true", 'pod or containers "b", "c" must set securityContext.runAsNonRoot=true')),
    ("ranr-explicit-precedence", "runAsNonRoot", 0, {},
     {"securityContext": {"runAsNonRoot": False}, "containers": [c("a", {"runAsNonRoot": False}), c("b")]},
     ("runAsNonRoot != true", 'pod and container "a" must not set securityContext.runAsNonRoot=false')),
    ("ranr-container-false-overrides-pod", "runAsNonRoot", 0, {},
     {"securityContext": {"runAsNonRoot": True}, "containers": [c("a", {"runAsNonRoot": False}), c("b")]},
     ("runAsNonRoot != true", 'container "a" must not set securityContext.runAsNonRoot=false')),
    ("ranr-v1.34-userns-strict", "runAsNonRoot", 34, {}, {"hostUsers": False, "containers": [c("a")]},
     ("runAsNonRoot != true", 'pod or container "a" must set securityContext.runAsNonRoot=true')),
    ("ranr-v1.35-userns-relaxed", "runAsNonRoot", 35, {},
     {"hostUsers": False, "securityContext": {"runAsNonRoot": False}, "containers": [c("a")]}, None),
    ("ranr-windows-not-exempt", "runAsNonRoot", 37, {}, {"os": {"name": "windows"}, "containers": [c("a")]},
     ("runAsNonRoot != true", 'pod or container "a" must set securityContext.runAsNonRoot=true')),
    # runAsUser
    ("rau-nonzero", "runAsUser", 23, {}, {"securityContext": {"runAsUser": 1000}, "containers": [c("a", {"runAsUser": 1})]}, None),
    ("rau-pod-zero", "runAsUser", 23, {}, {"securityContext": {"runAsUser": 0}, "containers": [c("a", {"runAsUser": 1000})]},
     ("runAsUser=0", "pod must not set runAsUser=0")),
    ("rau-pod-and-containers", "runAsUser", 23, {},
     {"securityContext": {"runAsUser": 0}, "containers": [c("a", {"runAsUser": 0}), c("b", {"runAsUser": 0})]},
     ("runAsUser=0", 'pod and containers "a", "b" must not set runAsUser=0')),
    ("rau-false-is-not-zero", "runAsUser", 23, {}, {"containers": [c("a", {"runAsUser": False})]}, None),
    ("rau-v1.34-userns-strict", "runAsUser", 34, {}, {"hostUsers": False, "containers": [c("a", {"runAsUser": 0})]},
     ("runAsUser=0", 'container "a" must not set runAsUser=0')),
    ("rau-v1.35-userns-relaxed", "runAsUser", 35, {}, {"hostUsers": False, "containers": [c("a", {"runAsUser": 0})]}, None),
    # seccompProfile_restricted
    ("seccompr-pod", "seccompProfile_restricted", 19, {}, {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                                                          "containers": [c("a")]}, None),
    ("seccompr-per-container", "seccompProfile_restricted", 19, {},
     {"containers": [c("a", {"seccompProfile": {"type": "RuntimeDefault"}}), c("b", {"seccompProfile": {"type": "Localhost"}})]},
     None),
    ("seccompr-implicit", "seccompProfile_restricted", 19, {},
     {"containers": [c("a", {"seccompProfile": {"type": "RuntimeDefault"}}), c("b"), c("c")]},
     ("seccompProfile", 'pod or containers "b", "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')),
    ("seccompr-explicit-precedence", "seccompProfile_restricted", 19, {},
     {"securityContext": {"seccompProfile": {"type": "Unconfined"}},
      "containers": [c("a", {"seccompProfile": {"type": "Localhost"}}), c("b", {"seccompProfile": {"type": "Unconfined"}}), c("d")]},
     ("seccompProfile", 'pod and container "b" must not set securityContext.seccompProfile.type to "Unconfined"')),
    ("seccompr-container-unconfined-under-good-pod", "seccompProfile_restricted", 19, {},
     {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}, "containers": [c("a", {"seccompProfile": {"type": "Unconfined"}})]},
     ("seccompProfile", 'container "a" must not set securityContext.seccompProfile.type to "Unconfined"')),
    ("seccompr-windows-v1.24", "seccompProfile_restricted", 24, {}, {"os": {"name": "windows"}, "containers": [c("a")]},
     ("seccompProfile", 'pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')),
    ("seccompr-windows-v1.25", "seccompProfile_restricted", 25, {}, {"os": {"name": "windows"}, "containers": [c("a")]}, None),
]


@pytest.mark.parametrize("check_id, minor, meta, spec, expected", [row[1:] for row in CHECK_CASES],
                         ids=[row[0] for row in CHECK_CASES])
def test_check(check_id, minor, meta, spec, expected):
    fn = implementation(check_id, minor)
    assert fn is not None
    got = fn(meta, spec)
    if expected is None:
        assert got is None, f"expected allowed, got {got}"
    else:
        assert got is not None, "expected a failure, got allowed"
        assert (got.reason, got.detail) == expected


def test_every_check_is_tabled():
    assert {row[1] for row in CHECK_CASES} == set(checks.CHECKS)


def test_variants_match_the_registry():
    assert {cid: tuple(sorted(vs)) for cid, vs in VARIANTS.items()} == {c.id: c.versions for c in checks.CHECKS.values()}


@pytest.mark.parametrize("check_id, minor, variant", [
    ("seccompProfile_baseline", 0, 0), ("seccompProfile_baseline", 18, 0), ("seccompProfile_baseline", 19, 19),
    ("sysctls", 26, 0), ("sysctls", 27, 27), ("sysctls", 30, 29), ("sysctls", 36, 32), ("sysctls", 37, 37),
    ("allowPrivilegeEscalation", 7, None), ("allowPrivilegeEscalation", 8, 8), ("allowPrivilegeEscalation", 25, 25),
    ("runAsUser", 22, None), ("runAsUser", 23, 23), ("runAsUser", 35, 35),
    ("hostProbesAndHostLifecycle", 33, None), ("hostProbesAndHostLifecycle", 34, 34),
])
def test_variant_selection(check_id, minor, variant):
    fn = implementation(check_id, minor)
    assert fn is (None if variant is None else VARIANTS[check_id][variant])


# -- evaluator: order, overrides, levels, versions -------------------------------------------------------

def bare() -> dict:
    return {"containers": [c("c")]}


def test_restricted_latest_unhardened_message_exact():
    ev = evaluate_pod({}, bare(), R, LATEST)
    assert ev.message() == (
        'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set '
        'securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set '
        'securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set '
        'securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set '
        'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
    assert ev.message("would violate").startswith('would violate PodSecurity "restricted:latest": allowPrivilegeEscalation')
    assert not ev.allowed
    assert ev.ids == ["allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted"]
    assert ev.minor == checks.newest_minor()


def test_allowed_has_empty_message():
    ev = evaluate_pod({}, hardened_spec(), R, LATEST)
    assert ev.allowed and ev.results == () and ev.message() == ""


@pytest.mark.parametrize("version, ids", [
    ("v1.0", ["runAsNonRoot"]),
    ("v1.7", ["runAsNonRoot"]),
    ("v1.8", ["allowPrivilegeEscalation", "runAsNonRoot"]),
    ("v1.19", ["allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile_restricted"]),
    ("v1.22", ["allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted"]),
    ("latest", ["allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted"]),
])
def test_restricted_minimum_versions(version, ids):
    assert evaluate_pod({}, bare(), R, v(version)).ids == ids


def test_baseline_ids_before_restricted_ids():
    spec = {"hostNetwork": True, "securityContext": {"runAsUser": 0, "sysctls": [{"name": "kernel.msgmax"}]},
            "containers": [c("c", {"privileged": True})], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
    ev = evaluate_pod({}, spec, R, LATEST)
    assert ev.ids == ["hostNamespaces", "privileged", "sysctls", "allowPrivilegeEscalation", "capabilities_restricted",
                      "restrictedVolumes", "runAsNonRoot", "runAsUser", "seccompProfile_restricted"]
    baseline = evaluate_pod({}, spec, B, LATEST)
    assert baseline.ids == ["hostNamespaces", "hostPathVolumes", "privileged", "sysctls"]


@pytest.mark.parametrize("version, expected", [
    ("v1.21", ("capabilities_baseline", "non-default capabilities")),
    ("v1.22", ("capabilities_restricted", "unrestricted capabilities")),
])
def test_capabilities_override_boundary(version, expected):
    spec = hardened_spec(containers=[c("a", {"allowPrivilegeEscalation": False, "capabilities": {"add": ["NET_ADMIN"]}})])
    ev = evaluate_pod({}, spec, R, v(version))
    assert [(r.id, r.reason) for r in ev.results] == [expected]


def test_hostpath_is_restricted_volume_at_restricted():
    spec = hardened_spec(volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    assert [str(r) for r in evaluate_pod({}, spec, R, v("v1.0")).results] == [
        'restricted volume types (volume "h" uses restricted volume type "hostPath")']
    assert [str(r) for r in evaluate_pod({}, spec, B, v("v1.0")).results] == ['hostPath volumes (volume "h")']


@pytest.mark.parametrize("version, ids", [
    ("v1.18", ["seccompProfile_baseline"]),  # restricted before v1.19 runs the annotation check
    ("v1.19", []),                            # then annotations are ignored; the pod-level field is valid
])
def test_seccomp_annotation_at_restricted(version, ids):
    spec = hardened_spec()
    assert evaluate_pod({"annotations": {SECCOMP_POD: "unconfined"}}, spec, R, v(version)).ids == ids


@pytest.mark.parametrize("level, version, ids", [
    (B, "v1.34", ["procMount"]), (B, "v1.35", []), (B, "latest", []),
    (R, "v1.34", ["procMount"]), (R, "v1.35", ["procMount_restricted"]), (R, "latest", ["procMount_restricted"]),
])
def test_procmount_user_namespace_relaxation(level, version, ids):
    spec = hardened_spec(hostUsers=False, containers=[c("app", hard(procMount="Unmasked"))])
    ev = evaluate_pod({}, spec, level, v(version))
    assert ev.ids == ids
    if ids:
        assert ev.results[0].reason == "procMount"


@pytest.mark.parametrize("version, ids", [
    ("v1.34", ["runAsNonRoot", "runAsUser"]), ("v1.35", []),
])
def test_run_as_user_namespace_relaxation(version, ids):
    spec = hardened_spec(hostUsers=False, securityContext={"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}})
    assert evaluate_pod({}, spec, R, v(version)).ids == ids


@pytest.mark.parametrize("version, ids", [
    ("v1.24", ["allowPrivilegeEscalation", "capabilities_restricted", "seccompProfile_restricted"]),
    ("v1.25", []),
])
def test_windows_restricted_boundary(version, ids):
    spec = {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}, "containers": [c("c")]}
    assert evaluate_pod({}, spec, R, v(version)).ids == ids


@pytest.mark.parametrize("version, ids", [("v1.33", []), ("v1.34", ["hostProbesAndHostLifecycle"])])
def test_host_probes_start_at_v1_34(version, ids):
    spec = hardened_spec(containers=[c("app", hard(), livenessProbe={"httpGet": {"host": "1.2.3.4", "port": 1}})])
    assert evaluate_pod({}, spec, B, v(version)).ids == ids


def test_privileged_level_runs_nothing():
    spec = {"hostNetwork": True, "containers": [c("c", {"privileged": True})]}
    ev = evaluate_pod({}, spec, P, v("v1.99"))
    assert ev.allowed and ev.message() == "" and ev.policy == "privileged:v1.99"


@pytest.mark.parametrize("label, newest, minor, shown", [
    ("latest", None, 37, "restricted:latest"),
    ("v1.99", None, 37, "restricted:v1.99"),
    ("latest", 35, 35, "restricted:latest"),
    ("v1.36", 35, 35, "restricted:v1.36"),
    ("v1.30", 35, 30, "restricted:v1.30"),
    ("latest", 99, 37, "restricted:latest"),
])
def test_version_clamping_keeps_label_text(label, newest, minor, shown):
    ev = evaluate_pod({}, bare(), R, v(label), newest_minor=newest)
    assert ev.minor == minor
    assert ev.message().startswith(f'violates PodSecurity "{shown}": ')


def test_clamping_changes_the_result():
    spec = hardened_spec(securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                          "sysctls": [{"name": "net.ipv4.tcp_notsent_lowat"}]})
    assert evaluate_pod({}, spec, B, LATEST, newest_minor=37).allowed
    assert evaluate_pod({}, spec, B, LATEST, newest_minor=36).message() == \
        'violates PodSecurity "baseline:latest": forbidden sysctls (net.ipv4.tcp_notsent_lowat)'


def test_string_arguments_accepted():
    assert evaluate_pod({}, bare(), "restricted", "v1.0").ids == ["runAsNonRoot"]


def test_inputs_not_modified():
    spec = hardened_spec(hostNetwork=True, containers=[c("app", hard(), ports=[{"containerPort": 80}])])
    obj = pod(spec, {AA + "app": "unconfined"})
    before = copy.deepcopy(obj)
    evaluate_object(obj, B, LATEST)
    assert obj == before


# -- objects: kinds, templates, server mutations --------------------------------------------------------

SPEC = {"hostPID": True, "containers": [c("c")]}


@pytest.mark.parametrize("kind", sorted(POD_BEARING_KINDS))
def test_every_pod_bearing_kind(kind):
    obj = as_kind(pod(SPEC, {AA + "c": "unconfined"}, name="w"), kind)
    ev = evaluate_object(obj, B, LATEST)
    assert ev.evaluated and ev.kind == kind
    assert [str(r) for r in ev.results][-1] == "host namespaces (hostPID=true)"
    # only a Pod gets the annotation copied into the container's field (so: two bad values, plural)
    assert ev.results[0].reason == ("forbidden AppArmor profiles" if kind == "Pod" else "forbidden AppArmor profile")


@pytest.mark.parametrize("obj, where", [
    ({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"annotations": {SECCOMP_POD: "unconfined"}},
                                                                         "spec": SPEC}}}}}, "cronjob"),
    ({"kind": "PodTemplate", "template": {"metadata": {"annotations": {SECCOMP_POD: "unconfined"}}, "spec": SPEC}}, "podtemplate"),
    ({"kind": "Deployment", "metadata": {"annotations": {SECCOMP_POD: "runtime/default"}},
      "spec": {"template": {"metadata": {"annotations": {SECCOMP_POD: "unconfined"}}, "spec": SPEC}}}, "deployment"),
])
def test_template_metadata_is_what_counts(obj, where):
    ev = evaluate_object(obj, B, v("v1.18"))
    assert ev.ids == ["hostNamespaces", "seccompProfile_baseline"], where
    assert str(ev.results[1]) == 'seccompProfile (forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined")'


@pytest.mark.parametrize("obj, fragment", [
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, "kind 'ConfigMap' has no pod template"),
    ({"kind": "Deployment", "spec": {"replicas": 1}}, "Deployment has no spec.template"),
    ({"kind": "CronJob", "spec": {"jobTemplate": {}}}, "CronJob has no spec.jobTemplate.spec.template"),
    ({"kind": "PodTemplate"}, "PodTemplate has no template"),
    ({"metadata": {}}, "kind None has no pod template"),
    ("not a mapping", "expected a mapping, got str"),
])
def test_not_pod_bearing(obj, fragment):
    ev = evaluate_object(obj, R, LATEST)
    assert not ev.evaluated and ev.allowed and ev.results == ()
    assert ev.skipped.startswith("not a pod-bearing object: ") and fragment in ev.skipped


def test_pod_template_extraction():
    meta, spec = pod_template({"kind": "Job", "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": SPEC}}})
    assert meta == {"labels": {"a": "b"}} and spec == SPEC
    meta, spec = pod_template({"kind": "Pod", "metadata": {"name": "x"}})
    assert meta == {"name": "x"} and spec == {}


def test_host_network_pod_gets_host_ports_but_template_does_not():
    spec = hardened_spec(hostNetwork=True, containers=[c("app", hard(), ports=[{"containerPort": 8080}])])
    as_pod = evaluate_object(pod(spec, name="hostnet-ports"), B, LATEST)
    assert as_pod.message() == ('violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), '
                                'hostPort (container "app" uses hostPort 8080)')
    as_deployment = evaluate_object(as_kind(pod(spec, name="hostnet-ports"), "Deployment"), B, LATEST)
    assert as_deployment.message("would violate") == \
        'would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)'
    raw = evaluate_object(pod(spec), B, LATEST, server_mutations=False)
    assert raw.ids == ["hostNamespaces"]


def test_apparmor_annotation_copied_into_pod_field():
    # confirmed against kube-apiserver (tests/integration/test_golden_differential.py, aa-annot-unconfined)
    obj = pod(hardened_spec(), {AA + "app": "unconfined"})
    assert evaluate_object(obj, B, LATEST).message() == (
        'violates PodSecurity "baseline:latest": forbidden AppArmor profiles (container "app" and annotation must not '
        'set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/app="unconfined"")')
    assert evaluate_object(as_kind(obj, "ReplicaSet"), B, LATEST).message() == (
        'violates PodSecurity "baseline:latest": forbidden AppArmor profile (annotation must not set AppArmor profile '
        'type to "container.apparmor.security.beta.kubernetes.io/app="unconfined"")')


@pytest.mark.parametrize("annotation, pod_profile, container_profile, copied", [
    ("unconfined", None, None, {"type": "Unconfined"}),
    ("runtime/default", None, None, {"type": "RuntimeDefault"}),
    ("localhost/p", None, None, {"type": "Localhost", "localhostProfile": "p"}),
    ("localhost/", None, None, None),                      # invalid: not copied
    ("", None, None, None),
    ("unconfined", {"type": "Unconfined"}, None, None),   # equal to the pod-level profile: not copied
    ("unconfined", {"type": "RuntimeDefault"}, None, {"type": "Unconfined"}),
    ("unconfined", None, {"type": "RuntimeDefault"}, {"type": "RuntimeDefault"}),  # the field wins
])
def test_admitted_pod_apparmor(annotation, pod_profile, container_profile, copied):
    sc = {"appArmorProfile": pod_profile} if pod_profile else {}
    csc = {"appArmorProfile": container_profile} if container_profile else None
    spec = {"securityContext": sc, "containers": [c("a", csc)]}
    _, out = admitted_pod({"annotations": {AA + "a": annotation}}, spec)
    assert (out["containers"][0].get("securityContext") or {}).get("appArmorProfile") == copied


def test_admitted_pod_windows_skips_apparmor_copy():
    spec = {"os": {"name": "windows"}, "containers": [c("a")]}
    _, out = admitted_pod({"annotations": {AA + "a": "unconfined"}}, spec)
    assert "securityContext" not in out["containers"][0]


def test_admitted_pod_host_ports_only_for_containers_and_init():
    spec = {"hostNetwork": True, "initContainers": [c("i", ports=[{"containerPort": 1}])],
            "containers": [c("a", ports=[{"containerPort": 2, "hostPort": 0}, {"containerPort": 3, "hostPort": 30}])]}
    _, out = admitted_pod({}, spec)
    assert [p["hostPort"] for p in out["initContainers"][0]["ports"]] == [1]
    assert [p["hostPort"] for p in out["containers"][0]["ports"]] == [2, 30]
    assert "hostPort" not in spec["initContainers"][0]["ports"][0]  # input untouched


# -- helpers --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("items, text", [([], ""), (["a"], '"a"'), (["a", "b"], '"a", "b"'), (['x="y"'], '"x="y""')])
def test_join_quote(items, text):
    assert join_quote(items) == text


@pytest.mark.parametrize("n, word", [(0, "containers"), (1, "container"), (2, "containers")])
def test_pluralize(n, word):
    assert pluralize("container", "containers", n) == word


@pytest.mark.parametrize("raw, quoted", [
    ("unconfined", '"unconfined"'), ('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), ("tab\there", '"tab\\there"'),
    ("\x01", '"\\x01"'), ("é", '"é"'), ("\u200b", '"\\u200b"'),
])
def test_go_quote(raw, quoted):
    assert go_quote(raw) == quoted


def test_malformed_input_does_not_crash():
    spec = {"containers": [None, {"name": "a", "securityContext": None, "ports": None}], "volumes": [None, {"name": "v"}],
            "securityContext": None, "initContainers": None}
    ev = evaluate_pod(None, spec, R, LATEST)
    assert ev.ids == ["allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted"]
    assert evaluate_pod({}, {}, R, LATEST).allowed


# -- the value tables (harness.policy.tables): one source for the checks, coverage and the fuzzer ---------------


def test_growing_tables_register_one_variant_per_minor_and_allow_what_the_table_says():
    from harness.policy import tables

    for check_id, added, allowed_at, value_of in (
            ("sysctls", tables.SYSCTLS_ADDED, tables.allowed_sysctls,
             lambda n: {"securityContext": {"sysctls": [{"name": n, "value": "1"}]}, "containers": [c("a")]}),
            ("seLinuxOptions", tables.SELINUX_TYPES_ADDED, tables.allowed_selinux_types,
             lambda t: {"securityContext": {"seLinuxOptions": {"type": t}}, "containers": [c("a")]})):
        assert sorted(VARIANTS[check_id]) == sorted(added) == list(checks.CHECKS[check_id].versions)
        for since, names in added.items():
            assert names <= allowed_at(since) and (since == 0 or not names & allowed_at(since - 1))
            for n in names:
                assert tables.allowed_since(added, n) == since
                assert since == 0 or check_id in evaluate_pod({}, value_of(n), B, v(f"v1.{since - 1}")).ids
                assert check_id not in evaluate_pod({}, value_of(n), B, v(f"v1.{since}")).ids
    assert tables.allowed_since(tables.SYSCTLS_ADDED, "kernel.msgmax") is None


def test_a_table_minor_the_registry_does_not_list_is_refused_naming_the_fix(monkeypatch):
    from harness.policy import _registry

    monkeypatch.setitem(VARIANTS, "sysctls", {**VARIANTS["sysctls"], 99: VARIANTS["sysctls"][37]})
    with pytest.raises(RuntimeError, match=r"sysctls: variants \[0, 27, 29, 32, 37, 99\] != registry "
                                           r"\[0, 27, 29, 32, 37\] \(make the versions of 'sysctls' in "
                                           r"harness/core/checks.py list"):
        _registry.validate()


def test_coverage_and_the_fuzzer_read_the_same_tables():
    """A value added to a table reaches the corpus coverage reading and the fuzzer's operators unedited."""
    from harness.corpus.coverage import findings
    from harness.fuzz import OPERATORS
    from harness.policy import tables

    newest = checks.newest_minor()
    assert set(OPERATORS["sysctl"].args) >= tables.allowed_sysctls(newest)
    assert set(OPERATORS["restricted_volume"].args) | {"hostPath"} == set(tables.RESTRICTED_VOLUME_TYPES)
    assert set(OPERATORS["allowed_volume"].args) - {""} == set(tables.ALLOWED_VOLUME_TYPES)
    assert set(OPERATORS["host_namespace"].args) == set(tables.HOST_NAMESPACE_FIELDS)
    for name in sorted(tables.allowed_sysctls(newest)) + ["kernel.msgmax"]:
        since = tables.allowed_since(tables.SYSCTLS_ADDED, name)
        pod = {"metadata": {}, "spec": {"securityContext": {"sysctls": [{"name": name}]}, "containers": []}}
        for minor in range(newest + 1):
            forbidden = [f.forbidden for f in findings(pod, minor) if f.check == "sysctls"]
            assert forbidden == [since is None or minor < since], (name, minor)
