"""The preflight: before any item runs, prove the target can be tested and PodSecurity is in effect.

``run_preflight`` reads the server version and the runner identity (SelfSubjectReview), asks the
API server for every permission a run needs (SelfSubjectAccessReview; a missing one raises
``ClusterPermissionError`` listing all of them and the fix), then sends the canary: a privileged
pod into a namespace labelled ``enforce=restricted``. PodSecurity must refuse it (on the exact form
of its denial, and, when the audit log is read, with the audit event's ``enforce-policy``
annotation naming the policy: ``harness.core.verdict``); if it is
admitted, ``AdmissionNotInEffect`` says why when the audit event tells (``exempt=...``), and a
refusal by something else is a ``ClusterError``.

May import the core, ``harness.cluster.seam``, ``harness.cluster.audit`` and
``harness.cluster.namespaces``; it talks to the cluster only through the ``ClusterAPI`` protocol.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from harness.cluster.audit import AuditSource
from harness.cluster.namespaces import PROBE_POD
from harness.cluster.seam import ClusterAPI
from harness.core.errors import AdmissionNotInEffect, ClusterError, ClusterPermissionError
from harness.core.model import Outcome
from harness.core.verdict import attach_audit, observe

__all__ = ["Preflight", "RUNNER_PERMISSIONS", "canary", "missing_permissions", "parse_minor", "run_preflight"]

EXEMPT_ANNOTATION = "pod-security.kubernetes.io/exempt"

# (verb, group, resource, subresource): what a run needs (rbac/pss-harness-runner.yaml grants it)
RUNNER_PERMISSIONS = [
    ("create", "", "namespaces", ""), ("delete", "", "namespaces", ""), ("list", "", "namespaces", ""),
    ("get", "", "serviceaccounts", ""),
    ("create", "", "pods", ""), ("delete", "", "pods", ""), ("update", "", "pods", "ephemeralcontainers"),
    ("create", "", "podtemplates", ""), ("create", "", "replicationcontrollers", ""),
    ("create", "apps", "deployments", ""), ("create", "apps", "replicasets", ""),
    ("create", "apps", "statefulsets", ""), ("create", "apps", "daemonsets", ""),
    ("create", "batch", "jobs", ""), ("create", "batch", "cronjobs", ""),
]


@dataclasses.dataclass
class Preflight:
    """What the preflight found, for the report header and the evidence."""

    server_version: str
    server_minor: int
    identity: str
    groups: list[str]
    missing: list[str]


def parse_minor(info: dict) -> int:
    """The minor version of a ``/version`` answer (``"37+"`` on some distributions: digits only)."""
    return int("".join(ch for ch in info.get("minor", "0") if ch.isdigit()) or 0)


def missing_permissions(cluster: ClusterAPI, mapped_namespaces: list[str]) -> list[str]:
    """The permissions of ``RUNNER_PERMISSIONS`` the runner lacks, as ``verb resource[/sub][ (group)]``.

    With mapped namespaces (``--psa-namespace-map``) the namespace permissions are not needed and
    the others are asked for in each mapped namespace.
    """
    missing = []
    for verb, group, resource, sub in RUNNER_PERMISSIONS:
        if mapped_namespaces and resource == "namespaces":
            continue
        if not all(cluster.can_i(verb, resource, group, namespace=ns, subresource=sub)
                   for ns in (mapped_namespaces or [None])):
            missing.append(f"{verb} {resource}{'/' + sub if sub else ''}{' (' + group + ')' if group else ''}")
    return missing


def run_preflight(cluster: ClusterAPI, *, mapped_namespaces: list[str], server_minor: int,
                  canary_namespace: Callable[[], str], audit: AuditSource | None,
                  extra_permissions: list[tuple[str, str, str, str]] = (),
                  before_canary: Callable[[], None] | None = None,
                  canary_check: Callable[..., None] | None = None) -> Preflight:
    """Version, identity, RBAC (SelfSubjectAccessReview) and the enforcement canary.

    ``extra_permissions``, ``before_canary`` and ``canary_check`` are the engine's (``harness.cluster.engines``):
    the cluster-scoped permissions it needs to install itself, its installation (after the RBAC
    check, before the canary) and its canary (default: PodSecurity's, ``canary``).
    """
    info = cluster.server_version()
    who = cluster.whoami()
    missing = missing_permissions(cluster, mapped_namespaces)
    engine_missing = [f"{verb} {resource} ({group})" for verb, group, resource, sub in extra_permissions
                      if not cluster.can_i(verb, resource, group, subresource=sub)]
    missing += engine_missing
    if missing:
        raise ClusterPermissionError(
            f"the runner identity {who['username']!r} lacks {len(missing)} permission(s): "
            f"{'; '.join(missing)}.\nFix: kubectl apply -f rbac/pss-harness-runner.yaml and bind the ClusterRole "
            f"'pss-harness-runner' to {who['username']!r} (see the README's 'Least privilege' section), or run as an identity that has it."
            + ("\nThe engine under test installs cluster-scoped objects: also bind rbac/pss-harness-vap-installer.yaml's "
               "ClusterRole 'pss-harness-vap-installer', or install policies/vap/ yourself and pass "
               "--vap-binding-selector 'vap.pss-harness.io/{mode}={level}'." if engine_missing else ""))
    pf = Preflight(info.get("gitVersion", "?"), server_minor, who["username"], who["groups"], missing)
    if before_canary is not None:
        before_canary()
    (canary_check or canary)(cluster, canary_namespace(), audit=audit, server_minor=server_minor)
    return pf


def canary(cluster: ClusterAPI, namespace: str, *, audit: AuditSource | None, server_minor: int) -> None:
    """Fail at once if ``namespace`` (labelled enforce=restricted) admits a privileged pod."""
    resp = cluster.submit(PROBE_POD, namespace)
    obs = observe(resp, server_minor)
    if obs.outcome is Outcome.DENIED and audit is not None and resp.audit_id:
        attach_audit(obs, audit.find(resp.audit_id, timeout=2), server_minor)  # a copy of the form is not enough
    if obs.outcome is Outcome.DENIED:
        return
    if obs.outcome in (Outcome.ADMITTED, Outcome.WARNED):
        event = audit.find(resp.audit_id, timeout=2) if audit and resp.audit_id else None
        exempt = ((event or {}).get("annotations") or {}).get(EXEMPT_ANNOTATION)
        cause = (f"the audit event says the request was exempt (exempt={exempt}): remove the "
                 f"{exempt} exemption from the PodSecurity AdmissionConfiguration" if exempt else
                 "is the PodSecurity admission plugin disabled (--disable-admission-plugins=PodSecurity), "
                 "or is the namespace or the runner identity exempt in the AdmissionConfiguration?")
        raise AdmissionNotInEffect(
            f"PodSecurity admission is not in effect: namespace {namespace} is labelled "
            f"pod-security.kubernetes.io/enforce=restricted, yet a privileged pod was admitted "
            f"(HTTP {resp.status}); {cause}")
    raise ClusterError(f"the canary pod in {namespace} was refused by something other than PodSecurity "
                       f"({obs.outcome}, HTTP {resp.status}): {obs.message}"
                       + (f" ({obs.attribution})" if obs.attribution else ""))
