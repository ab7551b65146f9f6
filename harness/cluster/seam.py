"""The seam between the runner and a cluster: the operations the runtime, the janitor and the preflight use.

``ClusterAPI`` is a ``typing.Protocol``: ``harness.cluster.client.Cluster`` satisfies it (the real
thing, over HTTP), and so does the in-memory fake the unit tests use (``tests/unit/fake_cluster.py``).
``Runtime`` takes any object that does; nothing above this layer needs more than this. Keep it
small: a new operation here is one more thing every stand-in must implement.

May import the core only (``Response``); the protocol names no kubernetes-client type.
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol, runtime_checkable

from harness.core.answers import Response

__all__ = ["ClusterAPI"]


@runtime_checkable
class ClusterAPI(Protocol):
    """What the runner asks of a cluster. Every method answers with plain data or a ``Response``."""

    # -- raw requests: never raise for an HTTP status (``checked`` raises ClusterError unless 2xx/ok)
    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                content_type: str = "application/json") -> Response: ...

    def checked(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                what: str = "", ok: Iterable[int] = ()) -> Response: ...

    # -- objects
    def submit(self, obj: dict, namespace: str, *, dry_run: bool = True) -> Response: ...

    def add_ephemeral_containers(self, pod: dict, namespace: str, containers: list[dict], *,
                                 dry_run: bool = True) -> Response: ...

    def delete(self, kind: str, namespace: str | None, name: str, *, background: bool = True) -> Response: ...

    def events(self, namespace: str) -> list[dict]: ...

    def wait_for(self, kind: str, namespace: str | None, name: str, timeout: float = 60.0) -> dict: ...

    # -- namespaces
    def create_namespace(self, name: str, labels: dict[str, str], *, exist_ok: bool = False) -> Response: ...

    def delete_namespace(self, name: str) -> Response: ...

    def list_namespaces(self, label_selector: str) -> list[dict]: ...

    # -- identity and permissions
    def server_version(self) -> dict: ...

    def whoami(self) -> dict: ...

    def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None,
              subresource: str = "") -> bool: ...
