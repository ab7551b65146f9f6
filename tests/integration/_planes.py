"""Test helpers for modules that start control planes of their own, and for the files they feed them.

``plane_fixtures(**options)`` gives a module its own ``plane`` (an ``EmbeddedCluster(**options)``) and
``admin`` (a ``Cluster`` on it) fixtures, module-scoped, overriding the session's ``admin`` of
``conftest.py``. ``namespace_policy(rules)`` is the text of a ``NamespacePolicy`` file.
"""

from __future__ import annotations

import pytest

from harness.cluster.client import Cluster
from harness.corpus.namespace_policy import API_VERSION, KIND
from harness.embedded import EmbeddedCluster


def plane_fixtures(**options):
    """``plane, admin = plane_fixtures(audit_policy=...)`` at a test module's top: module-scoped fixtures, ``plane``
    an ``EmbeddedCluster(**options)`` stopped after the module, ``admin`` a ``Cluster`` on its kubeconfig, closed."""

    @pytest.fixture(scope="module", name="plane")
    def plane_fixture():
        """This module's own embedded control plane."""
        with EmbeddedCluster(**options) as cluster:
            yield cluster

    @pytest.fixture(scope="module", name="admin")
    def admin_fixture(plane) -> Cluster:
        """A client of this module's plane, as its admin."""
        cluster = Cluster(plane.kubeconfig)
        yield cluster
        cluster.close()

    return plane_fixture, admin_fixture


def namespace_policy(rules: str) -> str:
    """The text of a ``NamespacePolicy`` file (``harness.corpus.namespace_policy``) whose ``rules:`` list is
    ``rules``: YAML list items indented by two spaces, each ending in a newline. Its first rule is on line 4."""
    return f"apiVersion: {API_VERSION}\nkind: {KIND}\nrules:\n{rules}"
