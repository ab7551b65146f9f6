"""sysctls (baseline): sysctls can disable security mechanisms or affect all containers on a host,
and should be disallowed except for an allowed "safe" subset.

Restricted fields:
    spec.securityContext.sysctls[*].name
Allowed values (cumulative):
    v1.0   kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, net.ipv4.tcp_syncookies,
           net.ipv4.ping_group_range, net.ipv4.ip_unprivileged_port_start
    v1.27  + net.ipv4.ip_local_reserved_ports
    v1.29  + net.ipv4.tcp_keepalive_time, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_intvl,
             net.ipv4.tcp_keepalive_probes
    v1.32  + net.ipv4.tcp_rmem, net.ipv4.tcp_wmem
    v1.37  + net.ipv4.tcp_slow_start_after_idle, net.ipv4.tcp_notsent_lowat

Reason: ``forbidden sysctls`` (always plural). Detail: the forbidden names in spec order (duplicates
kept), joined by ``", "``, with no quotes.
"""

from __future__ import annotations

from harness.policy._helpers import Failure, pod_sc
from harness.policy._registry import variant

ID = "sysctls"

ALLOWED_V1_0 = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                          "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"})
ALLOWED_V1_27 = ALLOWED_V1_0 | {"net.ipv4.ip_local_reserved_ports"}
ALLOWED_V1_29 = ALLOWED_V1_27 | {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                                 "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
ALLOWED_V1_32 = ALLOWED_V1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
ALLOWED_V1_37 = ALLOWED_V1_32 | {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}


def _check(spec: dict, allowed: frozenset[str]) -> Failure | None:
    bad = [str(s.get("name") or "") for s in pod_sc(spec).get("sysctls") or ()
           if isinstance(s, dict) and s.get("name") not in allowed]
    return Failure("forbidden sysctls", ", ".join(bad)) if bad else None


@variant(ID, 0)
def sysctls_v1_0(meta: dict, spec: dict) -> Failure | None:
    return _check(spec, ALLOWED_V1_0)


@variant(ID, 27)
def sysctls_v1_27(meta: dict, spec: dict) -> Failure | None:
    return _check(spec, ALLOWED_V1_27)


@variant(ID, 29)
def sysctls_v1_29(meta: dict, spec: dict) -> Failure | None:
    return _check(spec, ALLOWED_V1_29)


@variant(ID, 32)
def sysctls_v1_32(meta: dict, spec: dict) -> Failure | None:
    return _check(spec, ALLOWED_V1_32)


@variant(ID, 37)
def sysctls_v1_37(meta: dict, spec: dict) -> Failure | None:
    return _check(spec, ALLOWED_V1_37)
