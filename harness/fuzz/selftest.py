"""The fuzzer's self-test: a deliberately wrong evaluator that a run must catch, shrink and write out.

``planted_bug(evaluate)`` wraps an ``evaluate_object``-shaped function so that one capability in
``capabilities.add`` goes unnoticed. ``tests/unit/test_fuzz.py`` (against a simulated server) and
``tests/integration/test_fuzz_live.py`` (against a real one) pass it to ``harness.fuzz.run`` as
``evaluate=`` and expect a one-change regression scenario.

May import: ``harness.policy`` and ``harness.fuzz.pods``.
"""

from __future__ import annotations

import copy
from typing import Callable

from harness.fuzz.pods import all_containers
from harness.policy import Evaluation, pod_template

__all__ = ["planted_bug"]


def planted_bug(evaluate: Callable[..., Evaluation], ignore_capability: str = "NET_RAW") -> Callable[..., Evaluation]:
    """A deliberately wrong evaluator (``ignore_capability`` in capabilities.add goes unnoticed)."""

    def buggy(obj, level, version, newest_minor=None, **kw):
        obj = copy.deepcopy(obj)
        for c in all_containers(pod_template(obj)[1]):
            caps = (c.get("securityContext") or {}).get("capabilities") or {}
            if "add" in caps:
                caps["add"] = [a for a in caps["add"] if a != ignore_capability]
        return evaluate(obj, level, version, newest_minor, **kw)
    return buggy
