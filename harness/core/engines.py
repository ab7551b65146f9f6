"""The engine seam: which admission engine a run holds to the Pod Security Standards, and how its answers read. Pure.

The corpus, its expectations (``harness.core.expectations``, one pure function) and the verdict
(``harness.core.verdict.judge``) are the same whatever enforces the standard. What differs per
engine is three things, and an ``Engine`` is exactly those:

* **scope**: ``labels(policy, server_minor)``, the namespace labels that put a namespace under the engine at one
  level and mode (PodSecurity: ``pod-security.kubernetes.io/<mode>=<level>``, every other mode pinned, see
  ``Policy.labels``; a ValidatingAdmissionPolicy
  set: the labels its bindings select, with PodSecurity labelled ``privileged`` so that only the
  engine under test answers);
* **classification**: ``observe`` and ``attach_audit`` turn the server's answer and the request's
  audit event into the shared vocabulary (``admitted``, ``warned``, ``denied`` *by this engine*,
  ``denied-other``, ``invalid``, ``error``) with the upstream check ids the engine named;
  ``answer(obs, mode)`` is what of an observation shows the engine acting in a mode (readiness probes);
* **semantics**: ``expectation_minor(server_minor)``, the server minor to derive expectations at
  (PodSecurity: the server's own; the project's VAP set implements ``latest`` of this registry),
  and ``supports(version)``, the policy versions its namespaces can be labelled with.

Installing or selecting the engine in a cluster, waiting until it is in effect, the preflight's
canary and removing it again are the cluster layer's (``harness.cluster.engines``: one driver per
engine, built from the same ``Engine``). A new engine (Kyverno, Gatekeeper: webhooks) is one
``Engine`` here, whose ``observe`` recognises its refusals (``admission webhook "<name>" denied the
request: ...``) and reads check ids out of its messages, plus one driver there.

Engines: ``podsecurity`` (the built-in PodSecurity admission plugin: the default) and ``vap``
(ValidatingAdmissionPolicies: the project's PSS-in-CEL set, ``policies/vap/``, or the user's own,
selected by ``--vap-binding-selector``). May import: ``harness.core`` (answers, checks,
expectations, messages, model, verdict, errors).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Protocol, runtime_checkable

from harness.core.answers import Response
from harness.core.checks import newest_minor
from harness.core.errors import UsageError
from harness.core.expectations import Policy
from harness.core.messages import ParsedViolation, podsecurity_warning
from harness.core.model import LATEST, Level, Mode, Outcome, PolicyVersion
from harness.core.verdict import Observation, attach_audit, attach_audit_vap, observe, observe_vap

__all__ = ["DEFAULT_VAP_SELECTOR", "ENGINES", "PSA_PRIVILEGED", "VAP_LABEL_PREFIX", "Engine", "LabelTemplate",
           "PodSecurityEngine", "VapEngine", "engine_for"]

ENGINES = ("podsecurity", "vap")
#: the label prefix of the project's VAP set: ``vap.pss-harness.io/<mode>: <level>`` (``harness.policy.vap``)
VAP_LABEL_PREFIX = "vap.pss-harness.io/"
DEFAULT_VAP_SELECTOR = VAP_LABEL_PREFIX + "{mode}={level}"
#: PodSecurity labelled privileged (at ``latest``) in every mode: it evaluates nothing, so only the engine under test
#: answers, and no cluster-wide default (level or version) applies
PSA_PRIVILEGED = {k: v for m in Mode for k, v in ((f"pod-security.kubernetes.io/{m.value}", Level.PRIVILEGED.value),
                                                  (f"pod-security.kubernetes.io/{m.value}-version", str(LATEST)))}

_KEY = re.compile(r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@dataclasses.dataclass(frozen=True)
class LabelTemplate:
    """``key=value[,key=value...]`` with ``{level}``, ``{mode}`` and ``{version}`` placeholders: the namespace labels
    a policy set's bindings select, per level, mode (and version)."""

    text: str
    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str, what: str = "--vap-binding-selector") -> "LabelTemplate":
        pairs = []
        for part in [p.strip() for p in str(text).split(",") if p.strip()]:
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"{what} {text!r}: {part!r} is not key=value (e.g. 'example.com/pss-{{mode}}={{level}}')")
            pairs.append((key.strip(), value.strip()))
        if not pairs:
            raise UsageError(f"{what}: empty; give the labels your bindings select, e.g. 'example.com/pss-{{mode}}={{level}}'")
        template = cls(str(text), tuple(pairs))
        for level in Level:
            for mode in Mode:
                try:
                    rendered = template.render(Policy(level, mode, LATEST))
                except (KeyError, IndexError, ValueError) as exc:
                    raise UsageError(f"{what} {text!r}: unknown placeholder {exc} (use {{level}}, {{mode}}, "
                                     "{version})") from None
                bad = [f"{k}={v}" for k, v in rendered.items() if not _KEY.match(k) or not _VALUE.match(v)]
                if bad:
                    raise UsageError(f"{what} {text!r}: {bad[0]} is not a valid label (keys: [prefix/]name, "
                                     "values: up to 63 letters, digits, '-', '_', '.')")
        return template

    def has(self, placeholder: str) -> bool:
        return any("{" + placeholder + "}" in k + v for k, v in self.pairs)

    def render(self, policy: Policy) -> dict[str, str]:
        values = {"level": policy.level.value, "mode": policy.mode.value, "version": str(policy.version)}
        return {k.format(**values): v.format(**values) for k, v in self.pairs}


@runtime_checkable
class Engine(Protocol):
    """What the core needs of an admission engine under test (see the module docstring)."""

    name: str

    def labels(self, policy: Policy, server_minor: int | None = None) -> dict[str, str]: ...

    def observe(self, resp: Response, server_minor: int, policy: Policy) -> Observation: ...

    def attach_audit(self, obs: Observation, event: dict | None, server_minor: int, policy: Policy) -> None: ...

    def answer(self, obs: Observation, mode: Mode, server_minor: int) -> ParsedViolation | None: ...

    def expectation_minor(self, server_minor: int) -> int: ...

    def supports(self, version: PolicyVersion) -> bool: ...

    def describe(self) -> dict: ...


class PodSecurityEngine:
    """The built-in PodSecurity admission plugin (the default engine)."""

    name = "podsecurity"

    def labels(self, policy: Policy, server_minor: int | None = None) -> dict[str, str]:
        return policy.labels(server_minor)  # every mode pinned: no cluster default applies

    def observe(self, resp: Response, server_minor: int, policy: Policy) -> Observation:
        return observe(resp, server_minor)

    def attach_audit(self, obs: Observation, event: dict | None, server_minor: int, policy: Policy) -> None:
        attach_audit(obs, event, server_minor)

    def answer(self, obs: Observation, mode: Mode, server_minor: int) -> ParsedViolation | None:
        if mode is Mode.ENFORCE:
            return obs.violation if obs.outcome is Outcome.DENIED else None
        if mode is Mode.WARN:
            return next((v for v in (podsecurity_warning(w, server_minor) for w in obs.warnings) if v), None)
        return obs.audit_violation

    def expectation_minor(self, server_minor: int) -> int:
        return server_minor

    def supports(self, version: PolicyVersion) -> bool:
        return True

    def describe(self) -> dict:
        return {"name": self.name, "title": "PodSecurity admission (built-in)", "policy_set": None,
                "selector": "pod-security.kubernetes.io/{mode}={level}, {mode}-version={version}"}


class VapEngine:
    """A ValidatingAdmissionPolicy set: the project's (``owned``: its policy names) or the user's (any policy)."""

    name = "vap"

    def __init__(self, selector: LabelTemplate | None = None, *, owned: frozenset[str] | None = None,
                 policy_set: str = "pss-harness"):
        self.selector = selector or LabelTemplate.parse(DEFAULT_VAP_SELECTOR)
        self.owned = owned
        self.policy_set = policy_set  #: ``pss-harness`` (policies/vap/, installed per run) or ``user``

    def owns(self, policy_name: str) -> bool:
        return self.owned is None or policy_name in self.owned

    def labels(self, policy: Policy, server_minor: int | None = None) -> dict[str, str]:
        return {**PSA_PRIVILEGED, **self.selector.render(policy)}

    def observe(self, resp: Response, server_minor: int, policy: Policy) -> Observation:
        return observe_vap(resp, server_minor, policy, self.owns)

    def attach_audit(self, obs: Observation, event: dict | None, server_minor: int, policy: Policy) -> None:
        attach_audit_vap(obs, event, server_minor, policy, self.owns)

    def answer(self, obs: Observation, mode: Mode, server_minor: int) -> ParsedViolation | None:
        if mode is Mode.ENFORCE:
            return obs.violation if obs.outcome is Outcome.DENIED else None
        if mode is Mode.WARN:
            return obs.violation if obs.outcome is Outcome.WARNED else None
        return obs.audit_violation

    def expectation_minor(self, server_minor: int) -> int:
        return newest_minor()  # the set implements latest as this registry knows it, on any server

    def supports(self, version: PolicyVersion) -> bool:
        return version.is_latest or self.selector.has("version")

    def describe(self) -> dict:
        title = ("ValidatingAdmissionPolicy: the pss-harness PSS-in-CEL set (policies/vap/)" if self.owned is not None
                 else "ValidatingAdmissionPolicy: the user's set (--vap-binding-selector)")
        return {"name": self.name, "title": title, "policy_set": self.policy_set, "selector": self.selector.text}


def engine_for(name: str, *, selector: str | None = None, owned: frozenset[str] | None = None) -> Engine:
    """The engine called ``name`` (``--psa-engine``); ``selector``: the user's VAP binding labels."""
    if name == "podsecurity":
        if selector:
            raise UsageError("--vap-binding-selector needs --psa-engine vap")
        return PodSecurityEngine()
    if name == "vap":
        if selector:
            return VapEngine(LabelTemplate.parse(selector), owned=None, policy_set="user")
        return VapEngine(owned=owned, policy_set="pss-harness")
    raise UsageError(f"--psa-engine {name!r}: one of {', '.join(ENGINES)}")

