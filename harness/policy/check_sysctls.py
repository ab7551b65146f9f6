"""sysctls (baseline): sysctls can disable security mechanisms or affect all containers on a host,
and should be disallowed except for an allowed "safe" subset.

Restricted fields:
    spec.securityContext.sysctls[*].name
Allowed values: the names in ``harness.policy.tables.SYSCTLS_ADDED``, cumulative per policy minor
(v1.0 five ``kernel.shm_rmid_forced``/``net.ipv4.*`` names, more at v1.27, v1.29, v1.32 and v1.37).
One variant is registered per key of that table, so a new minor's sysctls are one table entry (plus
the minor in the registry's ``sysctls`` versions, ``harness.core.checks``).

Reason: ``forbidden sysctls`` (always plural). Detail: the forbidden names in spec order (duplicates
kept), joined by ``", "``, with no quotes.

May import: ``harness.policy._helpers``, ``_registry``, ``tables``.
"""

from __future__ import annotations

from harness.policy._helpers import Failure, pod_sc
from harness.policy._registry import table_variants
from harness.policy.tables import SYSCTLS_ADDED

ID = "sysctls"


def _check(spec: dict, allowed: frozenset[str]) -> Failure | None:
    bad = [str(s.get("name") or "") for s in pod_sc(spec).get("sysctls") or ()
           if isinstance(s, dict) and s.get("name") not in allowed]
    return Failure("forbidden sysctls", ", ".join(bad)) if bad else None


table_variants(ID, SYSCTLS_ADDED, _check)  # one variant per minor that allows more values
