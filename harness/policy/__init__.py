"""The offline Pod Security evaluator: the 19 upstream checks of ``k8s.io/pod-security-admission``
re-implemented in pure Python from their documented semantics, one module per check.

    evaluate_pod(metadata, spec, level, version)   -> Evaluation
    evaluate_object(obj, level, version)           -> Evaluation   (Pod or any of the 8 workload kinds)
    Evaluation.allowed / .results / .message("violates" | "would violate")

Nothing here does I/O or imports a Kubernetes client. Every check module states its spec in its
docstring; ``harness.core.checks`` is the registry they are validated against at import.
``harness.policy.tables`` holds the PSS value tables (capabilities, sysctls per minor, volume
types, SELinux types, seccomp/AppArmor values, ...) that the checks, ``harness.corpus.coverage``
and ``harness.fuzz`` all read.

May import: ``harness.core`` only (and the standard library): no pytest, no I/O library.
"""

from harness.policy import (  # noqa: F401  (imported to register their variants)
    check_allowPrivilegeEscalation,
    check_appArmorProfile,
    check_capabilities_baseline,
    check_capabilities_restricted,
    check_hostNamespaces,
    check_hostPathVolumes,
    check_hostPorts,
    check_hostProbesAndHostLifecycle,
    check_privileged,
    check_procMount,
    check_procMount_restricted,
    check_restrictedVolumes,
    check_runAsNonRoot,
    check_runAsUser,
    check_seccompProfile_baseline,
    check_seccompProfile_restricted,
    check_seLinuxOptions,
    check_sysctls,
    check_windowsHostProcess,
)
from harness.policy._helpers import Failure, join_quote, pluralize
from harness.policy._registry import VARIANTS, implementation, validate
from harness.policy.evaluator import UNKNOWN_FORBIDDEN_REASON, CheckFailure, Evaluation, evaluate_object, evaluate_pod
from harness.policy.objects import POD_BEARING_KINDS, NotPodBearing, admitted_pod, pod_template

validate()

__all__ = [
    "POD_BEARING_KINDS",
    "UNKNOWN_FORBIDDEN_REASON",
    "VARIANTS",
    "CheckFailure",
    "Evaluation",
    "Failure",
    "NotPodBearing",
    "admitted_pod",
    "evaluate_object",
    "evaluate_pod",
    "implementation",
    "join_quote",
    "pluralize",
    "pod_template",
]
