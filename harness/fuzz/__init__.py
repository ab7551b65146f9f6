"""harness.fuzz: differential fuzzing of the offline evaluator (``harness.policy``) against a real kube-apiserver.

Generated valid pods, mutated one field at a time, are sent by server-side dry-run at several
levels and policy versions; the server's every answer must equal the evaluator's prediction, text
for text. Disagreements are shrunk by Hypothesis and written as regression scenarios. The VAP
target (``run_vap``, ``--target vap``) holds the PSS-in-CEL ValidatingAdmissionPolicy set to
PodSecurity on the same server in the same way.

The modules, each importing only those above it in this list (and lower layers of ``harness``):

    pods          pod-editing primitives: image, securityContext accessors, profiles, example volume sources
    operators     the 28 mutation operators and the checks and versions each declares it trips
    strategies    Hypothesis strategies for valid pods, the validity fixups, FuzzCase and fuzz_cases
    findings      Finding (one request that disagrees) and Disagreement (per signature)
    regressions   shrunk disagreements -> scenarios/regressions/<id>.yaml (the server's answers)
    selftest      planted_bug: a deliberately wrong evaluator a run must catch
    driver        Fuzzer (batched dry-run comparison through a Runtime), FuzzReport, run, main
    vap           the VAP target: the PSS-in-CEL set (policies/vap/) against PodSecurity, run_vap

``python -m harness.fuzz`` runs ``driver.main``. The value tables behind the operators and the
strategies are ``harness.policy.tables``; texts are parsed by ``harness.core.messages`` only.

May import (the package): ``hypothesis``, ``yaml``, ``harness.core``, ``harness.policy``,
``harness.corpus`` and ``harness.cluster``; never ``pytest`` or the Kubernetes client directly.
"""

from harness.fuzz.driver import Fuzzer, FuzzReport, main, run
from harness.fuzz.findings import Disagreement, Finding
from harness.fuzz.operators import OPERATORS, Mutation, Operator, operators_for
from harness.fuzz.pods import IMAGE
from harness.fuzz.regressions import DEFAULT_REGRESSIONS, derive_checks, range_text, write_regression
from harness.fuzz.selftest import planted_bug
from harness.fuzz.strategies import SPREAD, FuzzCase, base_pods, fixup, fuzz_cases, hardened_pod, mutations
from harness.fuzz.vap import VapFuzzer, run_vap

__all__ = [
    "DEFAULT_REGRESSIONS",
    "IMAGE",
    "OPERATORS",
    "SPREAD",
    "Disagreement",
    "Finding",
    "FuzzCase",
    "FuzzReport",
    "Fuzzer",
    "Mutation",
    "Operator",
    "VapFuzzer",
    "base_pods",
    "derive_checks",
    "fixup",
    "fuzz_cases",
    "hardened_pod",
    "main",
    "mutations",
    "operators_for",
    "planted_bug",
    "range_text",
    "run",
    "run_vap",
    "write_regression",
]
