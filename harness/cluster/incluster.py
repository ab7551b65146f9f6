"""Running inside a pod: detect it, and name the ServiceAccount credentials the client will use.

Which cluster a command talks to (the pytest run, ``namespaces``, ``assess``, ``truth``, ``rollout``,
the fuzzer; ``diff``'s sides are explicit, a side without a kubeconfig is an embedded plane):

1. an explicit ``--kubeconfig`` (or ``$PSS_HARNESS_KUBECONFIG``);
2. an explicit ``--k8s-version``: the embedded control plane of that version;
3. **in-cluster** when running in a pod: ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``
   are set (the kubelet sets them in every container) and the ServiceAccount token file exists;
   the connection is made by the ``kubernetes`` client's in-cluster loader
   (``harness.cluster.client.Cluster(in_cluster=...)``), which re-reads the projected token as
   the kubelet rotates it;
4. otherwise the embedded control plane.

``$PSS_HARNESS_IN_CLUSTER`` overrides the detection: ``auto`` (default), ``0``/``never`` (a CI job
that runs in a pod but must test its embedded plane), ``1``/``always`` (fail unless in a pod).
``$PSS_HARNESS_SERVICEACCOUNT_DIR`` moves the token, ``ca.crt`` and ``namespace`` files from
``/var/run/secrets/kubernetes.io/serviceaccount`` (tests point it at a TokenRequest token and the
embedded plane's CA).

May import the core only; the ``kubernetes`` client stays in ``harness.cluster.client``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping

from harness.core.errors import UsageError

__all__ = ["HOST_ENV", "InCluster", "MODE_ENV", "PORT_ENV", "SA_DIR", "SA_DIR_ENV", "detect"]

HOST_ENV, PORT_ENV = "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"
MODE_ENV, SA_DIR_ENV = "PSS_HARNESS_IN_CLUSTER", "PSS_HARNESS_SERVICEACCOUNT_DIR"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_NEVER, _ALWAYS, _AUTO = ("0", "never", "no", "false", "off"), ("1", "always", "yes", "true", "on"), ("", "auto")


@dataclasses.dataclass(frozen=True)
class InCluster:
    """The pod's API server address and its ServiceAccount's files (all plain strings: sent to xdist workers)."""

    host: str
    port: str
    token_file: str
    ca_file: str
    namespace: str | None = None  #: the pod's namespace (the ``namespace`` file), if present

    @property
    def server(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def environ(self) -> dict[str, str]:
        """The two variables the client's loader reads (it is given these, not the process environment)."""
        return {HOST_ENV: self.host, PORT_ENV: self.port}

    def describe(self) -> str:
        ns = f" in namespace {self.namespace}" if self.namespace else ""
        return f"in-cluster (ServiceAccount token{ns}, {self.server})"

    def to_dict(self) -> dict[str, str | None]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "InCluster":
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


def detect(environ: Mapping[str, str] | None = None) -> InCluster | None:
    """The in-cluster target if this process runs in a pod (see the module docstring), else None.

    Raises ``UsageError`` for a bad ``$PSS_HARNESS_IN_CLUSTER``, and when it says ``always`` but
    something a pod has is missing (naming what).
    """
    env = os.environ if environ is None else environ
    mode = env.get(MODE_ENV, "").strip().lower()
    if mode not in _NEVER + _ALWAYS + _AUTO:
        raise UsageError(f"${MODE_ENV}={env.get(MODE_ENV)!r}: write auto (default: in-cluster when running in a pod), "
                         f"0 (never) or 1 (always)")
    if mode in _NEVER:
        return None
    sa_dir = Path(env.get(SA_DIR_ENV) or SA_DIR)
    token, ca, ns = sa_dir / "token", sa_dir / "ca.crt", sa_dir / "namespace"
    host, port = env.get(HOST_ENV, "").strip(), env.get(PORT_ENV, "").strip()
    missing = []
    if not host:
        missing.append(f"${HOST_ENV}")
    if not port:
        missing.append(f"${PORT_ENV}")
    if not token.is_file():
        missing.append(f"{token} (the ServiceAccount token)")
    if missing:
        if mode in _ALWAYS:
            raise UsageError(f"${MODE_ENV}={env.get(MODE_ENV)}: not running in a pod: missing {', '.join(missing)} "
                             f"(set {SA_DIR_ENV} if the token is mounted elsewhere, or give --kubeconfig)")
        return None
    if not ca.is_file():
        raise UsageError(f"in-cluster: {ca} is missing: the ServiceAccount's CA bundle is needed to trust the API "
                         f"server (automountServiceAccountToken, or a projected volume with the kube-root-ca.crt "
                         f"ConfigMap)")
    namespace = None
    try:
        namespace = ns.read_text().strip() or None
    except OSError:
        pass
    return InCluster(host, port, str(token), str(ca), namespace)
