"""hostNamespaces (baseline, v1.0+): sharing the host namespaces is disallowed.

Restricted fields:
    spec.hostNetwork
    spec.hostPID
    spec.hostIPC
Allowed values: false, undefined/null.

Detail: the ones set, in this fixed order, joined by ``", "``: ``hostNetwork=true, hostPID=true, hostIPC=true``.

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure
from harness.policy._registry import variant
from harness.policy.tables import HOST_NAMESPACE_FIELDS

ID = "hostNamespaces"


@variant(ID, 0)
def host_namespaces_v1_0(meta: dict, spec: dict) -> Failure | None:
    bad = [f"{f}=true" for f in HOST_NAMESPACE_FIELDS if spec.get(f) is True]
    return Failure("host namespaces", ", ".join(bad)) if bad else None
