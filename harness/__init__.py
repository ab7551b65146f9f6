"""pss-harness: prove that a cluster's PodSecurity admission blocks container-breakout pods.

The public surface; everything else is reachable through its module but may change. Names are
loaded lazily (PEP 562), so ``import harness.policy`` or ``import harness.core`` loads neither
the Kubernetes client nor ``cryptography``.

The packages are the layers, each importing only those below it (``pyproject.toml``'s
import-linter contracts check it in the test suite):

    harness.cli        the command line, one module per command
    harness.plugin     the pytest plugin: hooks, items, evidence written by hooks
    harness.fuzz       differential fuzzing of the offline evaluator against a server
    harness.reports    the evidence record and bundle, history, HTML, redaction
    harness.cluster    the one cluster layer: client, seam, audit reader, namespaces, preflight, submission
    harness.embedded   build (Go modules) and run kube-apiserver, kube-controller-manager and etcd
    harness.corpus     scenario files: loader, coverage, catalog, taxonomy, users' manifests
    harness.policy     the offline PodSecurity evaluator (one module per check) and the PSS value tables
    harness.core       pure vocabulary: kinds, checks, expectations, verdicts, messages, settings
"""

import importlib as _importlib

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "LATEST": "harness.core.model",
    "Level": "harness.core.model",
    "Mode": "harness.core.model",
    "Outcome": "harness.core.model",
    "PolicyVersion": "harness.core.model",
    "AdmissionNotInEffect": "harness.core.errors",
    "BuildError": "harness.core.errors",
    "ClusterError": "harness.core.errors",
    "ClusterPermissionError": "harness.core.errors",
    "ClusterUnreachable": "harness.core.errors",
    "ControlPlaneError": "harness.core.errors",
    "HarnessError": "harness.core.errors",
    "ScenarioError": "harness.core.errors",
    "UsageError": "harness.core.errors",
    "Expectation": "harness.core.expectations",
    "Policy": "harness.core.expectations",
    "expected": "harness.core.expectations",
    "Scenario": "harness.core.scenario",
    "load_corpus": "harness.corpus.scenarios",
    "load_scenario": "harness.corpus.scenarios",
    "evaluate_object": "harness.policy",
    "evaluate_pod": "harness.policy",
    "Cluster": "harness.cluster.client",
    "EmbeddedCluster": "harness.embedded",
    "Exemptions": "harness.embedded",
    "PodSecurityDefaults": "harness.embedded",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
