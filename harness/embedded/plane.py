"""A real kube-apiserver + etcd + kube-controller-manager, started as local processes.

``EmbeddedCluster`` writes certificates, a token file, the PodSecurity admission configuration
and an audit policy into a private temporary directory, starts the three programs on free
loopback ports, waits until the API server is ready and the controller manager has created the
``default`` ServiceAccount, and writes a kubeconfig. Leaving the ``with`` block (normally, by an
exception, Ctrl-C or SIGTERM) stops exactly the processes it started and removes the directory.
The audit log it configures is a file (``audit_log``); the one reader of audit events is
``harness.cluster.audit.AuditSource``, one layer up.

May import the core, the rest of ``harness.embedded`` (builder, pki), PyYAML and the standard
library; never ``harness.cluster`` (a higher layer) nor the kubernetes client.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

import yaml

from harness.embedded.builder import Binaries, Progress, build, _stderr
from harness.embedded.pki import issue_serving_cert, write_pki
from harness.core.errors import ControlPlaneError, UsageError
from harness.core.polling import PollTimeout, poll

__all__ = ["AUDIT_EVERYTHING", "EmbeddedCluster", "Exemptions", "Identity", "PodSecurityDefaults"]

_LEVELS = ("privileged", "baseline", "restricted")
_live: "set[EmbeddedCluster]" = set()
_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass(frozen=True)
class PodSecurityDefaults:
    """Cluster-wide PodSecurity defaults, used for namespaces without labels (upstream default: privileged)."""

    enforce: str = "privileged"
    enforce_version: str = "latest"
    audit: str = "privileged"
    audit_version: str = "latest"
    warn: str = "privileged"
    warn_version: str = "latest"

    def __post_init__(self) -> None:
        for mode in ("enforce", "audit", "warn"):
            if getattr(self, mode) not in _LEVELS:
                raise UsageError(f"PodSecurity default {mode}={getattr(self, mode)!r}: must be one of {', '.join(_LEVELS)}")

    def as_config(self) -> dict[str, str]:
        return {k.replace("_", "-"): v for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class Exemptions:
    """PodSecurity exemptions written into the AdmissionConfiguration."""

    usernames: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    runtime_classes: tuple[str, ...] = ()

    def as_config(self) -> dict[str, list[str]]:
        return {"usernames": list(self.usernames), "namespaces": list(self.namespaces),
                "runtimeClasses": list(self.runtime_classes)}


@dataclasses.dataclass(frozen=True)
class Identity:
    """A static-token user of the embedded API server."""

    name: str
    token: str = dataclasses.field(repr=False)
    groups: tuple[str, ...] = ()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedCluster:
    """A local Kubernetes control plane; use as a context manager or call ``start()``/``stop()``.

    >>> with EmbeddedCluster() as cluster:          # doctest: +SKIP
    ...     print(cluster.kubeconfig)
    """

    def __init__(
        self,
        k8s_version: str | None = None,
        *,
        defaults: PodSecurityDefaults = PodSecurityDefaults(),
        exemptions: Exemptions = Exemptions(),
        pod_security: bool = True,
        controller_manager: bool = True,
        extra_apiserver_args: Sequence[str] = (),
        audit_policy: dict | None = None,
        ready_timeout: float = 90.0,
        workdir: Path | None = None,
        keep_workdir: bool = False,
        die_with_parent: bool = True,
        progress: Progress = _stderr,
    ):
        self.binaries: Binaries = build(k8s_version, progress=progress)
        self.defaults = defaults
        self.exemptions = exemptions
        self.pod_security = pod_security
        self.controller_manager = controller_manager
        self.extra_apiserver_args = tuple(extra_apiserver_args)
        self.audit_policy = audit_policy  #: None: the default (workload writes at Metadata level)
        self.ready_timeout = ready_timeout
        self.keep_workdir = keep_workdir
        self.die_with_parent = die_with_parent
        self._progress = progress
        self._given_workdir = workdir
        self.workdir: Path | None = None
        self.identities: dict[str, Identity] = {}
        self.ports: dict[str, int] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._old_sigterm = None
        self.started_seconds: float | None = None

    # -- public surface ----------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.binaries.version

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def kubeconfig(self) -> Path:
        return self._path("kubeconfig")

    @property
    def ca_file(self) -> Path:
        return self._path("pki/ca.crt")

    @property
    def etcd_url(self) -> str:
        """etcd's client URL (plain HTTP on loopback; its JSON gateway serves ``/v3/kv/*``)."""
        return f"http://127.0.0.1:{self.ports['etcd']}"

    def serving_cert(self, name: str) -> tuple[Path, Path]:
        """A serving certificate and key for 127.0.0.1 signed by the cluster CA (for a test webhook)."""
        return issue_serving_cert(self._path("pki"), name)

    @property
    def audit_log(self) -> Path:
        """The API server's JSON-lines audit log; read it with ``harness.cluster.audit.AuditSource``."""
        return self._path("audit.log")

    @property
    def admin(self) -> Identity:
        return self.identities["admin"]

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._procs.items()}

    def exited(self) -> dict[str, int]:
        """Components that have exited since start, with their exit status (empty while healthy)."""
        return {name: p.returncode for name, p in self._procs.items() if p.poll() is not None}

    def log_path(self, component: str) -> Path:
        return self._path(f"logs/{component}.log")

    def __enter__(self) -> "EmbeddedCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "EmbeddedCluster":
        """Start etcd, kube-apiserver and kube-controller-manager and wait until they serve."""
        if self._procs:
            raise ControlPlaneError("this EmbeddedCluster is already running")
        self._install_signal_handler()
        _live.add(self)
        t0 = time.monotonic()
        try:
            for attempt in range(3):
                self._prepare_workdir()
                try:
                    self._start_processes()
                    break
                except _PortClash:
                    self._progress("a port was taken meanwhile; retrying with new ports")
                    self._stop_processes()
            else:
                raise ControlPlaneError("could not find free loopback ports after 3 attempts")
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop this cluster's own processes (by PID) and remove its working directory."""
        self._stop_processes()
        if self.workdir and not self.keep_workdir and self._given_workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        _live.discard(self)
        self._restore_signal_handler()

    def stop_apiserver(self, grace: float = 2.0) -> None:
        """Stop kube-apiserver alone (etcd, its data and the controller manager keep running).

        SIGTERM, then SIGKILL after ``grace`` seconds: kube-apiserver v1.37 stops listening at once
        on SIGTERM but takes over 20 s to exit while clients hold watches.
        """
        self._stop_one("kube-apiserver", grace)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port and etcd (after ``stop_apiserver``); wait until ready."""
        if "kube-apiserver" in self._procs:
            raise ControlPlaneError("kube-apiserver is already running")
        if "etcd" not in self._procs:
            raise ControlPlaneError("the cluster has not been started")
        try:
            self._start_apiserver()
        except _PortClash:
            raise ControlPlaneError(f"kube-apiserver could not listen on its port {self.ports['apiserver']} again: "
                                    "another process took it meanwhile") from None

    def restart_apiserver(self, *, defaults: PodSecurityDefaults | None = None,
                          exemptions: Exemptions | None = None, pod_security: bool | None = None,
                          down_for: float = 0.0, grace: float = 2.0) -> float:
        """Restart kube-apiserver alone with a changed AdmissionConfiguration, keeping etcd and its data.

        ``defaults``/``exemptions``/``pod_security`` replace the current ones (None: unchanged);
        the server is down for at least ``down_for`` seconds. Returns the wall-clock time
        (``time.time()``) at which the new kube-apiserver process was started.
        """
        self.stop_apiserver(grace)
        if defaults is not None:
            self.defaults = defaults
        if exemptions is not None:
            self.exemptions = exemptions
        if pod_security is not None:
            self.pod_security = pod_security
        (self._path("admission.yaml")).write_text(yaml.safe_dump(self._admission_config(), sort_keys=False))
        if down_for > 0:
            threading.Event().wait(down_for)
        started = time.time()
        self.start_apiserver()
        return started

    def get(self, path: str, identity: str = "admin", timeout: float = 5.0) -> tuple[int, str]:
        """A raw authenticated GET (for readiness and diagnostics): ``(status, body)``."""
        req = urllib.request.Request(self.server + path,
                                     headers={"Authorization": f"Bearer {self.identities[identity].token}"})
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    # -- preparation ----------------------------------------------------------------

    def _path(self, rel: str) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("the cluster has not been started")
        return self.workdir / rel

    def _prepare_workdir(self) -> None:
        if self._given_workdir is not None:
            self.workdir = Path(self._given_workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
        elif self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="pss-harness-cluster-"))
        wd = self.workdir
        for sub in ("pki", "logs", "etcd", "kcm-certs"):
            (wd / sub).mkdir(exist_ok=True)
        shutil.rmtree(wd / "etcd", ignore_errors=True)
        (wd / "etcd").mkdir(mode=0o700)
        self.ports = {name: _free_port() for name in ("etcd", "etcd-peer", "apiserver", "controller-manager")}
        if not self.identities:
            write_pki(wd / "pki")
            self.identities = {
                "admin": Identity("pss-admin", secrets.token_hex(16), ("system:masters",)),
                "alice": Identity("alice", secrets.token_hex(16), ("pss:users",)),
                "bob": Identity("bob", secrets.token_hex(16), ("pss:users",)),
                "controller-manager": Identity("system:kube-controller-manager", secrets.token_hex(16)),
            }
        tokens = "".join(f'{i.token},{i.name},{i.name},"{",".join(i.groups)}"\n' for i in self.identities.values())
        _write_private(wd / "tokens.csv", tokens)
        (wd / "admission.yaml").write_text(yaml.safe_dump(self._admission_config(), sort_keys=False))
        (wd / "audit-policy.yaml").write_text(yaml.safe_dump(self.audit_policy or _AUDIT_POLICY, sort_keys=False))
        _write_private(wd / "kubeconfig", yaml.safe_dump(self._kubeconfig(["admin", "alice", "bob"]), sort_keys=False))
        _write_private(wd / "controller-manager.kubeconfig",
                       yaml.safe_dump(self._kubeconfig(["controller-manager"]), sort_keys=False))

    def _admission_config(self) -> dict:
        return {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "AdmissionConfiguration",
            "plugins": [{
                "name": "PodSecurity",
                "configuration": {
                    "apiVersion": "pod-security.admission.config.k8s.io/v1",
                    "kind": "PodSecurityConfiguration",
                    "defaults": self.defaults.as_config(),
                    "exemptions": self.exemptions.as_config(),
                },
            }],
        }

    def _kubeconfig(self, who: list[str]) -> dict:
        import base64

        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "pss-embedded", "cluster": {"server": self.server,
                                                              "certificate-authority-data": ca}}],
            "users": [{"name": i, "user": {"token": self.identities[i].token}} for i in who],
            "contexts": [{"name": i, "context": {"cluster": "pss-embedded", "user": i}} for i in who],
            "current-context": who[0],
        }

    # -- processes --------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.log_path(name), "ab")
        try:
            proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
                start_new_session=True, preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        finally:
            log.close()
        self._procs[name] = proc
        return proc

    def _start_processes(self) -> None:
        wd, p, b = self.workdir, self.ports, self.binaries
        etcd_url = f"http://127.0.0.1:{p['etcd']}"
        peer_url = f"http://127.0.0.1:{p['etcd-peer']}"
        self._spawn("etcd", [
            str(b.etcd), "--name=default", f"--data-dir={wd / 'etcd'}", "--unsafe-no-fsync",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}", "--log-level=warn",
        ])
        self._wait("etcd", lambda: _http_ok(f"{etcd_url}/health"), 30)
        self._start_apiserver()
        if self.controller_manager:
            self._spawn("kube-controller-manager", [
                str(b.kube_controller_manager),
                f"--kubeconfig={wd / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={wd / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={wd / 'controller-manager.kubeconfig'}",
                "--bind-address=127.0.0.1", f"--secure-port={p['controller-manager']}",
                f"--cert-dir={wd / 'kcm-certs'}", "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={wd / 'pki/sa.key'}",
                f"--root-ca-file={wd / 'pki/ca.crt'}",
                "--profiling=false",
            ])
            self._wait("kube-controller-manager",
                       lambda: self._quiet_get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
                       self.ready_timeout)

    def _start_apiserver(self) -> None:
        wd, p, b = self.workdir, self.ports, self.binaries
        etcd_url = self.etcd_url
        plugins = ["--enable-admission-plugins=PodSecurity"] if self.pod_security else \
            ["--disable-admission-plugins=PodSecurity"]
        self._spawn("kube-apiserver", [
            str(b.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={p['apiserver']}",
            f"--tls-cert-file={wd / 'pki/apiserver.crt'}", f"--tls-private-key-file={wd / 'pki/apiserver.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={wd / 'pki/sa.pub'}",
            f"--service-account-signing-key-file={wd / 'pki/sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            f"--token-auth-file={wd / 'tokens.csv'}", "--anonymous-auth=false",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            *plugins,
            f"--admission-control-config-file={wd / 'admission.yaml'}",
            f"--audit-policy-file={wd / 'audit-policy.yaml'}", f"--audit-log-path={wd / 'audit.log'}",
            "--audit-log-maxage=0", "--audit-log-maxbackup=0", "--audit-log-maxsize=0",
            "--endpoint-reconciler-type=none", "--enable-priority-and-fairness=false",
            "--profiling=false",
            *self.extra_apiserver_args,
        ])
        self._wait("kube-apiserver", lambda: self._quiet_get("/readyz")[0] == 200, self.ready_timeout,
                   diagnose=lambda: self._quiet_get("/readyz?verbose")[1])

    def _quiet_get(self, path: str) -> tuple[int, str]:
        try:
            return self.get(path, timeout=3)
        except (OSError, urllib.error.URLError) as exc:
            return 0, str(exc)

    def _wait(self, name: str, ready, timeout: float, diagnose=None) -> None:
        proc = self._procs[name]

        def attempt() -> bool:
            if ready():
                return True
            if proc.poll() is not None:
                tail = self._log_tail(name)
                if "address already in use" in tail:
                    raise _PortClash(name)
                raise ControlPlaneError(f"{name} exited with status {proc.returncode} while starting "
                                        f"(log {self.log_path(name)}):\n{tail}")
            return False

        try:
            poll(attempt, timeout=timeout, interval=0.1, what=f"{name} to be ready")
        except PollTimeout:
            detail = f"\n/readyz?verbose:\n{diagnose()}" if diagnose else ""
            raise ControlPlaneError(f"{name} was not ready after {timeout:.0f}s (log {self.log_path(name)}):\n"
                                    f"{self._log_tail(name)}{detail}") from None

    def _log_tail(self, name: str, lines: int = 30) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _stop_one(self, name: str, grace: float = 15.0) -> None:
        proc = self._procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)

    def _stop_processes(self) -> None:
        # reverse start order: the controller manager and API server before etcd
        for name in reversed(list(self._procs)):
            self._stop_one(name)
        self._procs.clear()

    # -- signals ----------------------------------------------------------------------

    def _install_signal_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_system_exit)

    def _restore_signal_handler(self) -> None:
        if self._old_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


@contextlib.contextmanager
def announced_embedded_plane(k8s_version: str | None, progress: Progress = _stderr) -> Iterator[EmbeddedCluster]:
    """A fresh ``EmbeddedCluster`` of ``k8s_version`` (``None``: the default) for a command's ``with`` block:
    ``progress`` is told when it starts and when it is ready (in how many seconds); it stops on leaving."""
    progress(f"starting an embedded control plane ({k8s_version or 'default version'})")
    with EmbeddedCluster(k8s_version, progress=progress) as embedded:
        progress(f"Kubernetes {embedded.version} ready in {embedded.started_seconds:.1f}s")
        yield embedded


class _PortClash(Exception):
    pass


def _raise_system_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@atexit.register
def _stop_all() -> None:
    for cluster in list(_live):
        cluster.stop()


_WORKLOADS = [
    {"group": "", "resources": ["pods", "pods/ephemeralcontainers", "namespaces", "podtemplates",
                                "replicationcontrollers"]},
    {"group": "apps", "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
    {"group": "batch", "resources": ["jobs", "cronjobs"]},
]
_AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "verbs": ["create", "update", "patch"], "resources": _WORKLOADS},
        {"level": "None"},
    ],
}
#: an audit policy recording every request (Metadata level), e.g. to prove what an identity sent
AUDIT_EVERYTHING = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
                    "rules": [{"level": "Metadata"}]}
