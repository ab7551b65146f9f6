"""The desired-state policy file (harness.corpus.namespace_policy) and the findings it yields (harness.core.namespace_rules)."""

from __future__ import annotations

import datetime
import textwrap

import pytest

from harness.core.errors import ScenarioError, UsageError
from harness.core.model import Level, PolicyVersion
from harness.core.namespace_rules import FINDINGS, DesiredState, Rule, evaluate, matching_rules
from harness.core.posture import ClusterFacts, ModePosture, Posture
from harness.corpus.namespace_policy import NamespacePolicyError, load_namespace_policy

GOOD = """\
apiVersion: pss-harness.io/v1
kind: NamespacePolicy
rules:
  - name: tenants
    namespaces: ["team-*", payments]
    exclude: [team-sandbox]
    selector:
      matchLabels: {env: prod}
      matchExpressions:
        - {key: tier, operator: In, values: [web, api]}
        - {key: legacy, operator: DoesNotExist}
    minimum: {enforce: baseline, warn: restricted, audit: restricted}
    version: ">=v1.30"
    defaults: forbidden
    exemptions:
      - kind: runtimeClass
        name: gvisor
        owner: platform@example.com
        reason: sandboxed runtime
        expires: 2027-01-31
      - {kind: namespace, owner: ops@example.com, reason: node agents, expires: "2026-03-01"}
  - name: everything
    namespaces: ["*"]
    minimum: {enforce: privileged}
"""


def write(tmp_path, text: str):
    p = tmp_path / "desired.yaml"
    p.write_text(text)
    return p


def test_a_good_file_loads_every_field(tmp_path):
    state = load_namespace_policy(write(tmp_path, GOOD))
    t, e = state.rules
    assert t.name == "tenants" and t.line == 4 and e.line == 22
    assert t.namespaces == ("team-*", "payments") and t.exclude == ("team-sandbox",)
    assert dict(t.minimum) == {"enforce": Level.BASELINE, "warn": Level.RESTRICTED, "audit": Level.RESTRICTED}
    assert t.version == PolicyVersion(30) and t.defaults is False and e.defaults is True
    assert [(x.kind, x.name, x.expires, x.line) for x in t.exemptions] == [
        ("runtimeClass", "gvisor", datetime.date(2027, 1, 31), 16),
        ("namespace", "*", datetime.date(2026, 3, 1), 21)]
    web = {"env": "prod", "tier": "web"}
    assert t.selects("team-a", web) and not t.selects("team-sandbox", web) and not t.selects("other", web)
    assert not t.selects("team-a", {**web, "legacy": "1"}) and not t.selects("team-a", {"env": "prod", "tier": "db"})
    assert [r.name for r in matching_rules(state, "payments", web)] == ["tenants", "everything"]


@pytest.mark.parametrize("edit, line, words", [
    (("kind: NamespacePolicy", "kind: Policy"), 2, "kind must be 'NamespacePolicy'"),
    (("apiVersion: pss-harness.io/v1", "apiVersion: v2"), 1, "apiVersion must be"),
    (("    defaults: forbidden", "    defaults: sometimes"), 14, "defaults must be allowed or forbidden"),
    (("    version: \">=v1.30\"", "    version: v1.30"), 13, "write latest or >=v1.N"),
    (("{enforce: baseline, warn: restricted, audit: restricted}", "{enforce: strict}"), 12,
     "minimum.enforce 'strict': must be one of"),
    (("{enforce: baseline, warn: restricted, audit: restricted}", "{enforse: baseline}"), 12,
     "minimum.enforse: unknown mode"),
    (("        expires: 2027-01-31", "        expires: next year"), 20, "expires must be a date"),
    (("        owner: platform@example.com\n", ""), 16, "owner is required"),
    (("      - kind: runtimeClass", "      - kind: node"), 16, "exemption kind 'node'"),
    (("        name: gvisor\n", ""), 16, "needs the runtimeClass's name"),
    (("    exclude: [team-sandbox]", "    exlude: [team-sandbox]"), 6, "unknown rule field 'exlude'"),
    (("{key: tier, operator: In, values: [web, api]}", "{key: tier, operator: In}"), 10, "In/NotIn need values"),
    (("{key: tier, operator: In, values: [web, api]}", "{key: tier, operator: Near, values: [a]}"), 10,
     "each needs key and operator"),
    (("  - name: everything", "  - name: tenants"), 22, "rule name 'tenants' is used twice (first at line 4)"),
    (("    namespaces: [\"*\"]\n    minimum: {enforce: privileged}", "    minimum: {enforce: privileged}"), 22,
     "selects no namespace"),
    (("    minimum: {enforce: privileged}", "    minimum: {}"), 24, "minimum must map modes to levels"),
    (("kind: NamespacePolicy", "kind: NamespacePolicy\nextra: 1"), 3, "unknown field 'extra'"),
    (("    namespaces: [\"team-*\", payments]", "    namespaces: [\"team-*\", payments"), None, "YAML syntax error"),
    (("  - name: tenants", "  - name: tenants\n    name: again"), 5, "duplicate key 'name'"),
])
def test_every_mistake_is_one_message_naming_file_and_line(tmp_path, edit, line, words):
    text = GOOD.replace(*edit)
    assert text != GOOD, edit
    p = write(tmp_path, text)
    with pytest.raises(NamespacePolicyError) as info:
        load_namespace_policy(p)
    err = info.value
    assert isinstance(err, ScenarioError) and words in str(err), str(err)
    if line is not None:
        assert err.line == line, str(err)
        assert str(err).startswith(f"{p}:{line}: ")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_namespace_policy(tmp_path / "nope.yaml")
    with pytest.raises(NamespacePolicyError, match="holds one mapping"):
        load_namespace_policy(write(tmp_path, ""))
    with pytest.raises(NamespacePolicyError, match="rules must be a non-empty list"):
        load_namespace_policy(write(tmp_path, "apiVersion: pss-harness.io/v1\nkind: NamespacePolicy\nrules: []\n"))


# -- findings ---------------------------------------------------------------------------------------

FACTS = ClusterFacts(plugin="loaded", runner="me", runner_exempt=False, audit_source=True, newest_minor=37,
                     runtime_classes=("gvisor",), exempt_runtime_classes={"gvisor": True},
                     runtime_class_evidence={"gvisor": "admitted silently"})
TODAY = datetime.date(2026, 6, 1)


def mp(text: str, source: str = "label", confirmed=None) -> ModePosture:
    if text in ("none", "unknown"):
        return ModePosture(text, source=source, evidence=f"{text} because")
    level, _, version = text.partition(":")
    return ModePosture("proven", level, version or None, source, "probe", version_confirmed=confirmed)


def posture(enforce="baseline:latest", warn="restricted:latest", audit="restricted:latest", *, source="label",
            exempt=(), probe="ok", mutated=(), agree=None) -> Posture:
    return Posture("team-a", {"env": "prod"}, mp(enforce, source), mp(warn), mp(audit), tuple(exempt), probe,
                   "webhook w does not support dry run" if probe != "ok" else "", tuple(mutated), agree)


def ids(rule: Rule, p: Posture, facts: ClusterFacts = FACTS) -> list[str]:
    out = [f.id for f in evaluate(rule, p, facts, TODAY)]
    assert all(i in FINDINGS for i in out)
    return out


@pytest.fixture
def rules(tmp_path) -> dict[str, Rule]:
    return {r.name: r for r in load_namespace_policy(write(tmp_path, GOOD)).rules}


def test_a_posture_that_meets_the_rule_has_no_findings(rules):
    assert ids(rules["tenants"], posture(exempt=("runtimeClass:gvisor",))) == []


@pytest.mark.parametrize("kw, want", [
    ({"enforce": "privileged"}, ["weaker-than-required"]),
    ({"enforce": "baseline:latest", "source": "default"}, ["unlabelled-default-only"]),
    ({"enforce": "baseline:v1.24"}, ["version-pinned-below"]),
    ({"enforce": "baseline:v1.30"}, []),
    ({"audit": "unknown"}, ["audit-unknown"]),
    ({"warn": "unknown"}, ["warn-unknown"]),
    ({"enforce": "unknown", "warn": "unknown", "audit": "unknown", "probe": "unprobeable"}, ["unprobeable"]),
    ({"mutated": ("spec.containers[0].securityContext",)}, ["mutated-by-webhook"]),
    ({"agree": False}, ["labels-disagree"]),
    ({"exempt": ("runtimeClass:kata",)}, ["exempt-runtime-class"]),
])
def test_findings_have_stable_ids(rules, kw, want):
    assert ids(rules["tenants"], posture(**kw)) == want


def test_exemptions_need_a_live_entry(rules):
    exempt = posture("none", "none", "none", exempt=("namespace",))
    assert [f.id for f in evaluate(rules["tenants"], exempt, FACTS, datetime.date(2026, 3, 1))] == []  # inclusive
    late = evaluate(rules["tenants"], exempt, FACTS, TODAY)
    assert [f.id for f in late] == ["exemption-expired"]
    assert "expired on 2026-03-01" in late[0].message and "ops@example.com" in late[0].message
    assert f"{rules['tenants'].path}:21" in late[0].message
    assert ids(rules["everything"], exempt) == ["exempt-namespace"]


def test_cluster_wide_findings_come_first_and_alone(rules):
    disabled = ClusterFacts(plugin="disabled", plugin_evidence="accepted an invalid level")
    assert ids(rules["tenants"], posture(), disabled) == ["plugin-disabled"]
    exempt_runner = ClusterFacts(plugin="loaded", runner="bob", runner_exempt=True, runner_evidence="exempt=user")
    assert ids(rules["tenants"], posture(), exempt_runner) == ["runner-exempt"]


def test_findings_map_to_cis_and_nsa(rules):
    (f,) = evaluate(rules["tenants"], posture(enforce="privileged"), FACTS, TODAY)
    assert f.cis[0] == "5.2.1" and "5.2.2" in f.cis and f.nsa.startswith("Kubernetes Pod security")
    d = f.to_dict()
    assert d["severity"] == "high" and d["mode"] == "enforce" and d["rule"] == "tenants"
    assert DesiredState("x", (rules["tenants"],)).rules[0].to_dict()["version"] == ">=v1.30"


def test_every_finding_id_is_documented_in_the_readme_and_the_schema():
    import json
    from pathlib import Path

    from harness.core.resources import schema_path

    schema = json.loads(schema_path("namespaces").read_text())
    assert sorted(schema["$defs"]["finding_id"]["enum"]) == sorted(FINDINGS)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [i for i in FINDINGS if f"`{i}`" not in readme]
    assert not missing, missing


def test_the_readme_example_policy_loads(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- namespace-policy-example -->", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    state = load_namespace_policy(write(tmp_path, textwrap.dedent(block)))
    assert len(state.rules) >= 2
