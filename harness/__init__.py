"""pss-harness: prove that a cluster's PodSecurity admission blocks container-breakout pods.

The public surface; everything else is reachable through its module but may change.
"""

from harness.client import Cluster
from harness.embedded import EmbeddedCluster, Exemptions, PodSecurityDefaults
from harness.errors import (
    AdmissionNotInEffect,
    BuildError,
    ClusterError,
    ClusterPermissionError,
    ClusterUnreachable,
    ControlPlaneError,
    HarnessError,
    ScenarioError,
    UsageError,
)
from harness.expectations import Expectation, Policy, expected
from harness.model import LATEST, Level, Mode, Outcome, PolicyVersion
from harness.policy import evaluate_object, evaluate_pod
from harness.scenarios import Scenario, load_corpus, load_scenario

__version__ = "0.1.0"

__all__ = [
    "LATEST",
    "AdmissionNotInEffect",
    "BuildError",
    "Cluster",
    "ClusterError",
    "ClusterPermissionError",
    "ClusterUnreachable",
    "ControlPlaneError",
    "EmbeddedCluster",
    "Exemptions",
    "Expectation",
    "HarnessError",
    "Level",
    "Mode",
    "Outcome",
    "PodSecurityDefaults",
    "Policy",
    "PolicyVersion",
    "Scenario",
    "ScenarioError",
    "UsageError",
    "evaluate_object",
    "evaluate_pod",
    "expected",
    "load_corpus",
    "load_scenario",
]
