"""seLinuxOptions (baseline): setting a custom SELinux user or role, or a non-container type, is forbidden.

Restricted fields:
    spec.securityContext.seLinuxOptions.type
    spec.containers[*].securityContext.seLinuxOptions.type
    spec.initContainers[*].securityContext.seLinuxOptions.type
    spec.ephemeralContainers[*].securityContext.seLinuxOptions.type
    spec.securityContext.seLinuxOptions.user / .role (and the same on every container)
Allowed values:
    type: undefined/"", ``container_t``, ``container_init_t``, ``container_kvm_t``;
          from v1.31 also ``container_engine_t`` (``harness.policy.tables.SELINUX_TYPES_ADDED``: one
          variant is registered per key of that table)
    user, role: undefined/""
    (``level`` is not checked)

Detail: ``<setters> set forbidden securityContext.seLinuxOptions: <problems>`` where setters are
``pod`` and/or ``container(s) "a", ...`` joined by ``" and "``, and problems are
``type(s) "x", "y"`` (distinct, sorted), ``user may not be set``, ``role may not be set`` joined by ``"; "``.

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, container_sc, containers, join_quote, name, pluralize, pod_sc, setters
from harness.policy._registry import table_variants
from harness.policy.tables import SELINUX_FORBIDDEN_FIELDS, SELINUX_TYPES_ADDED

ID = "seLinuxOptions"


def _check(spec: dict, allowed: frozenset[str]) -> Failure | None:
    types: set[str] = set()
    state = dict.fromkeys(SELINUX_FORBIDDEN_FIELDS, False)

    def bad(sc: dict) -> bool:
        opts = sc.get("seLinuxOptions")
        if opts is None:
            return False
        opts = opts or {}
        ok = True
        t = str(opts.get("type") or "")
        if t not in allowed:
            types.add(t)
            ok = False
        for field in SELINUX_FORBIDDEN_FIELDS:
            if opts.get(field):
                state[field] = True
                ok = False
        return not ok

    pod_bad = bad(pod_sc(spec))
    bad_containers = [name(c) for c in containers(spec) if bad(container_sc(c))]
    if not pod_bad and not bad_containers:
        return None
    problems = []
    if types:
        problems.append(f'{pluralize("type", "types", len(types))} {join_quote(sorted(types))}')
    problems += [f"{field} may not be set" for field in SELINUX_FORBIDDEN_FIELDS if state[field]]
    return Failure("seLinuxOptions", f"{setters(pod_bad, bad_containers)} set forbidden "
                                     f"securityContext.seLinuxOptions: {'; '.join(problems)}")


table_variants(ID, SELINUX_TYPES_ADDED, _check)  # one variant per minor that allows more values
