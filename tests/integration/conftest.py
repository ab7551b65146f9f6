"""Integration tests run against a real embedded control plane shared by the session."""

from __future__ import annotations

import pytest

from harness.cluster.client import Cluster
from harness.embedded import EmbeddedCluster


@pytest.fixture(scope="session")
def embedded():
    with EmbeddedCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def admin(embedded) -> Cluster:
    return Cluster(embedded.kubeconfig)
