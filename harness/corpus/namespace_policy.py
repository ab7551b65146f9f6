"""Load a desired-state namespace policy file (YAML) for ``pss-harness namespaces --policy``.

    apiVersion: pss-harness.io/v1
    kind: NamespacePolicy
    rules:
      - name: tenants                      # unique; names the finding's rule
        namespaces: ["team-*", payments]   # names or globs (at least one of namespaces / selector)
        exclude: [team-sandbox]            # optional names or globs
        selector:                          # optional Kubernetes label selector
          matchLabels: {env: prod}
          matchExpressions: [{key: tier, operator: In, values: [web, api]}]
        minimum: {enforce: baseline, warn: restricted, audit: restricted}
        version: latest                    # or ">=v1.30" (optional)
        defaults: forbidden                # allowed (default): may the cluster's defaults satisfy the rule
        exemptions:                        # exemptions the rule accepts, each with owner, reason, expiry
          - {kind: runtimeClass, name: gvisor, owner: platform@example.com,
             reason: sandboxed runtime, expires: 2027-01-31}

Every problem is one ``NamespacePolicyError`` naming the file, the line and the fix. It may
import ``harness.core`` and PyYAML.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import yaml

from harness.core.errors import ScenarioError, UsageError
from harness.core.model import Level, PolicyVersion
from harness.core.namespace_rules import AllowedExemption, DesiredState, LabelSelector, Rule
from harness.corpus.yaml_lines import LineLoader

__all__ = ["API_VERSION", "KIND", "NamespacePolicyError", "load_namespace_policy"]

API_VERSION = "pss-harness.io/v1"
KIND = "NamespacePolicy"
_TOP = {"apiVersion", "kind", "rules"}
_RULE = {"name", "namespaces", "exclude", "selector", "minimum", "version", "defaults", "exemptions"}
_EXEMPTION = {"kind", "name", "owner", "reason", "expires"}
_EXEMPTION_KINDS = ("namespace", "runtimeClass", "user")
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_MIN_VERSION = re.compile(r"^>=\s*(v1\.\d+)$")


class NamespacePolicyError(ScenarioError):
    """A namespace policy file is malformed; the message starts with ``path:line``."""


def _keys(d: dict) -> list:
    return [k for k in d if k != "__lines__"]


def load_namespace_policy(path: str | Path) -> DesiredState:
    """Load and validate a policy file; raise ``NamespacePolicyError`` naming the file, line and problem."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"--policy {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NamespacePolicyError(where, f"cannot read: {exc}") from None
    try:
        docs = [d for d in yaml.load_all(text, Loader=LineLoader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        raise NamespacePolicyError(where, f"YAML syntax error: {getattr(exc, 'problem', None) or exc}",
                                   mark.line + 1 if mark else None) from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise NamespacePolicyError(where, f"a namespace policy file holds one mapping (apiVersion: {API_VERSION}, "
                                          f"kind: {KIND}, rules: [...]), found {len(docs)} document(s)", 1)
    doc = docs[0]

    def fail(problem: str, d: dict | None = None, key: str | None = None) -> NamespacePolicyError:
        lines = (d or {}).get("__lines__", {})
        return NamespacePolicyError(where, problem, lines.get(key) or lines.get("__self__"))

    for key in _keys(doc):
        if key not in _TOP:
            raise fail(f"unknown field {key!r} (known: {', '.join(sorted(_TOP))})", doc, key)
    if doc.get("apiVersion") != API_VERSION:
        raise fail(f"apiVersion must be {API_VERSION!r}, found {doc.get('apiVersion')!r}", doc, "apiVersion")
    if doc.get("kind") != KIND:
        raise fail(f"kind must be {KIND!r}, found {doc.get('kind')!r}", doc, "kind")
    rules_raw = doc.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise fail("rules must be a non-empty list of rules", doc, "rules")
    rules, seen = [], {}
    for raw in rules_raw:
        if not isinstance(raw, dict):
            raise fail(f"each rule must be a mapping, found {_short(raw)}", doc, "rules")
        rule = _rule(raw, where, fail)
        if rule.name in seen:
            raise fail(f"rule name {rule.name!r} is used twice (first at line {seen[rule.name]}); names must be unique",
                       raw, "name")
        seen[rule.name] = rule.line
        rules.append(rule)
    return DesiredState(where, tuple(rules))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _strings(d: dict, key: str, fail) -> tuple[str, ...]:
    value = d.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail(f"{key} must be a list of names or globs, found {_short(value)}", d, key)
    return tuple(value)


def _rule(raw: dict, where: str, fail) -> Rule:
    for key in _keys(raw):
        if key not in _RULE:
            raise fail(f"unknown rule field {key!r} (known: {', '.join(sorted(_RULE))})", raw, key)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise fail(f"rule name must be a short identifier (letters, digits, '-', '_', '.'), found {_short(name)}",
                   raw, "name" if "name" in raw else None)
    namespaces = _strings(raw, "namespaces", fail)
    exclude = _strings(raw, "exclude", fail)
    selector = _selector(raw, fail) if "selector" in raw else None
    if not namespaces and selector is None:
        raise fail(f"rule {name!r} selects no namespace: give namespaces (names or globs, e.g. ['*']) or a selector",
                   raw, "name")
    minimum = {}
    m = raw.get("minimum")
    if not isinstance(m, dict) or not _keys(m):
        raise fail(f"rule {name!r}: minimum must map modes to levels, e.g. {{enforce: baseline}}", raw,
                   "minimum" if "minimum" in raw else "name")
    for mode in _keys(m):
        if mode not in ("enforce", "warn", "audit"):
            raise fail(f"rule {name!r}: minimum.{mode}: unknown mode (known: enforce, warn, audit)", m, mode)
        try:
            minimum[mode] = Level.parse(str(m[mode]), f"minimum.{mode}")
        except UsageError as exc:
            raise fail(f"rule {name!r}: {exc}", m, mode) from None
    version = None
    if "version" in raw:
        text = str(raw["version"]).strip()
        mv = _MIN_VERSION.match(text)
        if text == "latest":
            version = PolicyVersion.parse("latest")
        elif mv:
            version = PolicyVersion.parse(mv.group(1))
        else:
            raise fail(f"rule {name!r}: version {text!r}: write latest or >=v1.N (e.g. '>=v1.30')", raw, "version")
    defaults = raw.get("defaults", "allowed")
    if defaults not in ("allowed", "forbidden"):
        raise fail(f"rule {name!r}: defaults must be allowed or forbidden, found {_short(defaults)}", raw, "defaults")
    exemptions = []
    ex = raw.get("exemptions", [])
    if not isinstance(ex, list):
        raise fail(f"rule {name!r}: exemptions must be a list", raw, "exemptions")
    for e in ex:
        if not isinstance(e, dict):
            raise fail(f"rule {name!r}: each exemption is a mapping with kind, name, owner, reason, expires", raw,
                       "exemptions")
        exemptions.append(_exemption(name, e, fail))
    return Rule(name, namespaces, exclude, selector, minimum, version, defaults == "allowed", tuple(exemptions),
                where, raw["__lines__"]["__self__"])


def _selector(raw: dict, fail) -> LabelSelector:
    sel = raw["selector"]
    if not isinstance(sel, dict):
        raise fail("selector must be a label selector mapping (matchLabels, matchExpressions)", raw, "selector")
    for key in _keys(sel):
        if key not in ("matchLabels", "matchExpressions"):
            raise fail(f"selector: unknown field {key!r} (known: matchExpressions, matchLabels)", sel, key)
    labels = sel.get("matchLabels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, (str, int, float, bool)) for k, v in labels.items()
                                               if k != "__lines__"):
        raise fail("selector.matchLabels must map label keys to values", sel, "matchLabels")
    exprs = []
    raw_exprs = sel.get("matchExpressions", [])
    if not isinstance(raw_exprs, list):
        raise fail("selector.matchExpressions must be a list", sel, "matchExpressions")
    for e in raw_exprs:
        if not isinstance(e, dict) or not isinstance(e.get("key"), str) or e.get("operator") not in _OPERATORS:
            raise fail(f"selector.matchExpressions: each needs key and operator ({', '.join(_OPERATORS)})",
                       e if isinstance(e, dict) else sel, "operator" if isinstance(e, dict) else "matchExpressions")
        values = e.get("values", [])
        if not isinstance(values, list) or (e["operator"] in ("In", "NotIn")) != bool(values):
            raise fail(f"selector.matchExpressions {e['key']}: In/NotIn need values, Exists/DoesNotExist take none",
                       e, "values" if "values" in e else "operator")
        exprs.append((e["key"], e["operator"], tuple(str(v) for v in values)))
    if not _keys(labels) and not exprs:
        raise fail("selector is empty: give matchLabels or matchExpressions (or select by namespaces: ['*'])",
                   raw, "selector")
    return LabelSelector({k: str(v) for k, v in labels.items() if k != "__lines__"}, tuple(exprs))


def _exemption(rule: str, e: dict, fail) -> AllowedExemption:
    for key in _keys(e):
        if key not in _EXEMPTION:
            raise fail(f"rule {rule!r}: exemption: unknown field {key!r} (known: {', '.join(sorted(_EXEMPTION))})",
                       e, key)
    for key in ("kind", "owner", "reason", "expires"):
        if key not in e:
            raise fail(f"rule {rule!r}: exemption: {key} is required (every exemption has a kind, an owner, a reason "
                       "and an expiry date)", e)
    kind = e["kind"]
    if kind not in _EXEMPTION_KINDS:
        raise fail(f"rule {rule!r}: exemption kind {kind!r}: must be one of {', '.join(_EXEMPTION_KINDS)}", e, "kind")
    name = e.get("name", "*" if kind == "namespace" else None)
    if not isinstance(name, str) or not name:
        raise fail(f"rule {rule!r}: a {kind} exemption needs the {kind}'s name", e, "name" if "name" in e else "kind")
    for key in ("owner", "reason"):
        if not isinstance(e[key], str) or not e[key].strip():
            raise fail(f"rule {rule!r}: exemption {key} must be a non-empty string", e, key)
    expires = e["expires"]
    if isinstance(expires, datetime.datetime):
        expires = expires.date()
    elif isinstance(expires, str):
        try:
            expires = datetime.date.fromisoformat(expires.strip())
        except ValueError:
            expires = None
    if not isinstance(expires, datetime.date):
        raise fail(f"rule {rule!r}: exemption expires must be a date (YYYY-MM-DD), found {_short(e['expires'])}",
                   e, "expires")
    return AllowedExemption(kind, name, e["owner"].strip(), e["reason"].strip(), expires, e["__lines__"]["__self__"])
