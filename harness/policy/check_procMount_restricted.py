"""procMount_restricted (restricted, v1.35+): the default /proc masks are required, even for
user-namespaced pods.

Restricted fields:
    spec.containers[*].securityContext.procMount
    spec.initContainers[*].securityContext.procMount
    spec.ephemeralContainers[*].securityContext.procMount
Allowed values: undefined/null, ``Default`` (whatever ``spec.hostUsers`` says).

Overrides the baseline ``procMount`` check (which v1.35 relaxes for ``hostUsers: false``).
Reason and detail are the baseline check's:
``procMount (container "c" must not set securityContext.procMount to "Unmasked")``.
"""

from __future__ import annotations

from harness.policy import check_procMount
from harness.policy._helpers import Failure
from harness.policy._registry import variant

ID = "procMount_restricted"


@variant(ID, 35)
def proc_mount_restricted_v1_35(meta: dict, spec: dict) -> Failure | None:
    return check_procMount.strict(spec)
