"""windowsHostProcess (baseline, v1.0+): Windows pods offer the ability to run HostProcess containers,
which enable privileged access to the Windows node; they are forbidden.

Restricted fields:
    spec.securityContext.windowsOptions.hostProcess
    spec.containers[*].securityContext.windowsOptions.hostProcess
    spec.initContainers[*].securityContext.windowsOptions.hostProcess
    spec.ephemeralContainers[*].securityContext.windowsOptions.hostProcess
Allowed values: false, undefined/null.

Detail: ``pod and containers "e", "f" must not set securityContext.windowsOptions.hostProcess=true``.
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, name, pod_sc, setters
from harness.policy._registry import variant

ID = "windowsHostProcess"


def _host_process(sc: dict) -> bool:
    return (sc.get("windowsOptions") or {}).get("hostProcess") is True


@variant(ID, 0)
def windows_host_process_v1_0(meta: dict, spec: dict) -> Failure | None:
    bad = [name(c) for c in containers(spec) if _host_process(container_sc(c))]
    pod_bad = _host_process(pod_sc(spec))
    if not pod_bad and not bad:
        return None
    return Failure("hostProcess",
                   f"{setters(pod_bad, bad)} must not set securityContext.windowsOptions.hostProcess=true")
