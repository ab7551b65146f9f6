"""Bind a role to a user and wait until the RBAC authorizer has seen the binding.

The authorizer reads bindings from an informer cache: a request sent right after the
binding's 201 can still be refused. Tests that grant and then act must wait for the grant,
checked the way the server decides it (a SubjectAccessReview for that user).
"""

from __future__ import annotations

from harness.cluster.client import Cluster
from harness.core.polling import PollTimeout, poll

RBAC = "rbac.authorization.k8s.io"


def bind(admin: Cluster, user: str, role: str, *, namespace: str | None = None,
         probe: tuple[str, str] = ("create", "pods"), timeout: float = 30.0) -> None:
    """Bind ClusterRole ``role`` to ``user`` (in ``namespace``, or cluster-wide) and await it."""
    name = f"{role}-{user}"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    body = {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
            "metadata": meta, "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "name": user, "apiGroup": RBAC}]}
    path = (f"/apis/{RBAC}/v1/namespaces/{namespace}/rolebindings" if namespace
            else f"/apis/{RBAC}/v1/clusterrolebindings")
    admin.checked("POST", path, body)
    verb, resource = probe
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": user, "resourceAttributes": {
                  "verb": verb, "resource": resource, **({"namespace": namespace} if namespace else {})}}}
    try:
        poll(lambda: admin.checked("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review),
             until=lambda resp: resp.body.get("status", {}).get("allowed"), timeout=timeout, interval=0.05,
             what=f"the RBAC authorizer to see {role} bound to {user}")
    except PollTimeout:
        raise AssertionError(f"{user} still may not {verb} {resource} {timeout:.0f}s after binding {role}") from None
