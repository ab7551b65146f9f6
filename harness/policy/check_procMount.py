"""procMount (baseline): the default /proc masks are set up to reduce attack surface, and should be required.

Restricted fields:
    spec.containers[*].securityContext.procMount
    spec.initContainers[*].securityContext.procMount
    spec.ephemeralContainers[*].securityContext.procMount
Allowed values: undefined/null, ``Default``.

Variants:
    v1.0  strict.
    v1.35 any value is allowed when ``spec.hostUsers`` is set to false (user-namespaced pods).
Overridden at restricted from v1.35 by ``procMount_restricted`` (always strict).
Detail: ``containers "d", "e" must not set securityContext.procMount to "Unmasked"`` (values distinct, sorted).

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, join_quote, name, pluralize, \
    relax_for_user_namespace
from harness.policy._registry import variant
from harness.policy.tables import PROC_MOUNT_ALLOWED

ID = "procMount"


def strict(spec: dict) -> Failure | None:
    """The strict rule, shared with ``procMount_restricted``."""
    bad, values = [], set()
    for c in containers(spec):
        pm = container_sc(c).get("procMount")
        if pm is not None and pm not in PROC_MOUNT_ALLOWED:
            bad.append(name(c))
            values.add(str(pm))
    if not bad:
        return None
    return Failure("procMount", f'{pluralize("container", "containers", len(bad))} {join_quote(bad)} '
                                f"must not set securityContext.procMount to {join_quote(sorted(values))}")


@variant(ID, 0)
def proc_mount_v1_0(meta: dict, spec: dict) -> Failure | None:
    return strict(spec)


@variant(ID, 35)
def proc_mount_v1_35(meta: dict, spec: dict) -> Failure | None:
    if relax_for_user_namespace(spec):
        return None
    return strict(spec)
