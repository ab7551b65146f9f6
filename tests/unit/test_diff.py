"""Pure parts of the upgrade diff: classification, exit statuses, rendering."""

from __future__ import annotations

import pytest

from harness.core.diff import Observed, classify, compare, exit_status, render_table, summary
from harness.core.model import Mode, Outcome

A, W, D, I = Outcome.ADMITTED, Outcome.WARNED, Outcome.DENIED, Outcome.INVALID


@pytest.mark.parametrize("before,after,kind,mode,want", [
    (Observed(D, ("sysctls",)), Observed(A), "Pod", Mode.ENFORCE, "newly-admitted"),
    (Observed(A), Observed(D, ("sysctls",)), "Pod", Mode.ENFORCE, "newly-denied"),
    (Observed(W, ("procMount",)), Observed(W, ("procMount_restricted",)), "Deployment", Mode.ENFORCE, "checks-changed"),
    (Observed(W, ("procMount",)), Observed(A), "Deployment", Mode.ENFORCE, "newly-admitted"),
    (Observed(A), Observed(W, ("x",)), "Job", Mode.ENFORCE, "newly-denied"),
    (Observed(W, ("x",)), Observed(A), "Pod", Mode.WARN, "outcome-changed"),
    (Observed(A), Observed(I), "Pod", Mode.ENFORCE, "outcome-changed"),
    (Observed(D, ("a",)), Observed(D, ("a",)), "Pod", Mode.ENFORCE, None),
])
def test_classify(before, after, kind, mode, want):
    assert classify(before, after, kind, mode) == want


def keyed(obs):
    return {("scenario", "s", "Pod", "", "baseline", "enforce"): obs}


def describe(key):
    return {"scenario": key[1], "kind": key[2], "name": key[1], "level": key[4], "mode": key[5]}


def test_compare_exit_status_and_table():
    changes = compare(keyed(Observed(D, ("privileged",))), keyed(Observed(A)), describe)
    assert [c.change for c in changes] == ["newly-admitted"]
    assert exit_status(changes) == 3
    doc = {"from": "a", "to": "b", "changes": [c.to_dict() for c in changes], "summary": summary(changes, 1)}
    assert doc["changes"][0]["from"] == {"outcome": "denied", "checks": ["privileged"]}
    text = render_table(doc)
    assert "newly-admitted" in text and "denied (privileged)" in text and "1 newly-admitted (regressions)" in text
    assert exit_status([]) == 0
    assert exit_status(compare(keyed(Observed(A)), keyed(Observed(D)), describe)) == 4


def test_a_diff_becomes_a_section_of_a_sealed_evidence_bundle(tmp_path):
    from harness.reports.bundle import add_diff, verify

    changes = compare(keyed(Observed(D, ("sysctls",))), keyed(Observed(A)), describe)
    doc = {"from": "embedded v1.34.4, policy latest", "to": "embedded v1.37.2, policy latest",
           "changes": [c.to_dict() for c in changes], "summary": summary(changes, 1)}
    add_diff(tmp_path / "b", doc)
    html = (tmp_path / "b" / "index.html").read_text()
    assert 'id="diff"' in html and "Upgrade diff" in html and "newly-admitted" in html and "denied (sysctls)" in html
    assert verify(tmp_path / "b").ok
    (tmp_path / "b" / "diff.json").write_text("{}")
    assert not verify(tmp_path / "b").ok
    with pytest.raises(Exception, match="fails verification"):
        add_diff(tmp_path / "b", doc)


# -- #11.18: a change the Pod Security Standards made on purpose is explained, from data -------------

from pathlib import Path  # noqa: E402

from harness.cli import diff as cli_diff  # noqa: E402
from harness.core import diff as core_diff  # noqa: E402
from harness.core.checks import CHECKS, variant_starts  # noqa: E402
from harness.core.diff import Side, document, explain, groups  # noqa: E402
from harness.core.model import Level  # noqa: E402
from harness.corpus.manifests import read_manifests  # noqa: E402
from harness.policy.versions import boundaries, failing  # noqa: E402

UPGRADE = Path(__file__).resolve().parents[1] / "fixtures" / "upgrade"

# what kube-apiserver v1.37.2 answered for tests/fixtures/upgrade under policy v1.34 and latest
# (tests/integration/test_versions_and_diff.py asserts these against the real server)
SERVER = {
    ("sysctl-slow-start", "baseline"): (Observed(D, ("sysctls",)), Observed(A)),
    ("sysctl-slow-start", "restricted"): (Observed(D, ("sysctls",)), Observed(A)),
    ("userns-root", "baseline"): (Observed(A), Observed(A)),
    ("userns-root", "restricted"): (Observed(D, ("runAsNonRoot", "runAsUser")), Observed(A)),
    ("userns-unmasked", "baseline"): (Observed(W, ("procMount",)), Observed(A)),
    ("userns-unmasked", "restricted"): (Observed(W, ("procMount",)), Observed(W, ("procMount_restricted",))),
    ("privileged-unchanged", "baseline"): (Observed(D, ("privileged",)), Observed(D, ("privileged",))),
    ("privileged-unchanged", "restricted"): (Observed(D, ("privileged",)), Observed(D, ("privileged",))),
}


def upgrade_diff(server=SERVER, before=Side(policy_version="v1.34"), after=Side(), minors=(37, 37)):
    manifests = [m for m in read_manifests([str(UPGRADE)]) if m.pod_bearing]
    keys = dict(cli_diff._keys([], manifests, [Level.BASELINE, Level.RESTRICTED], [Mode.ENFORCE]))
    a = {k: server[(k[3], k[4])][0] for k in keys}
    b = {k: server[(k[3], k[4])][1] for k in keys}
    why = cli_diff.explainer(cli_diff.evaluable([], manifests), before, after, *minors)
    return compare(a, b, cli_diff._describe, why)


def test_the_intended_upgrade_changes_are_expected_and_exit_zero():
    """The regression: every intended v1.35/v1.37 change was a 'regression', so every upgrade exited 3."""
    changes = upgrade_diff()
    assert len(changes) == 5 and all(c.expected for c in changes)
    shown = {(c.key["name"], c.key["level"]): str(c.explanation) for c in changes}
    assert shown == {
        ("sysctl-slow-start", "baseline"): "expected-relaxation (v1.37: sysctls)",
        ("sysctl-slow-start", "restricted"): "expected-relaxation (v1.37: sysctls)",
        ("userns-root", "restricted"): "expected-relaxation (v1.35: runAsNonRoot, runAsUser)",
        ("userns-unmasked", "baseline"): "expected-relaxation (v1.35: procMount)",
        ("userns-unmasked", "restricted"): "expected-change (v1.35: procMount, procMount_restricted)",
    }
    assert exit_status(changes) == 0                            # nothing unexplained
    assert exit_status(changes, include_expected=True) == 3     # --fail-on-expected
    s = summary(changes, 8)
    assert (s["changed"], s["expected"], s["unexplained"], s["newly-admitted"]) == (5, 5, 0, 0)


def test_a_downgrade_is_the_same_changes_the_other_way():
    inverted = {k: (b, a) for k, (a, b) in SERVER.items()}
    changes = upgrade_diff(inverted, Side(), Side(policy_version="v1.34"))
    shown = {(c.key["name"], c.key["level"]): (c.change, str(c.explanation)) for c in changes}
    assert shown[("userns-root", "restricted")] == ("newly-denied", "expected-tightening (v1.35: runAsNonRoot, runAsUser)")
    assert exit_status(changes) == 0 and exit_status(changes, include_expected=True) == 4


def test_a_change_the_standard_did_not_make_is_unexplained_and_sets_the_exit_status():
    server = dict(SERVER)
    server[("privileged-unchanged", "baseline")] = (Observed(D, ("privileged",)), Observed(A))  # PodSecurity off?
    server[("userns-root", "restricted")] = (Observed(D, ("runAsNonRoot", "runAsUser")), Observed(D, ("runAsUser",)))
    changes = upgrade_diff(server)
    unexplained = {(c.key["name"], c.key["level"], c.change) for c in changes if not c.expected}
    assert unexplained == {("privileged-unchanged", "baseline", "newly-admitted"),
                           ("userns-root", "restricted", "checks-changed")}
    assert exit_status(changes) == 3
    doc = document(Side(policy_version="v1.34"), Side(), changes, 8)
    assert doc["summary"]["unexplained"] == 2 and doc["summary"]["newly-admitted"] == 1
    text = render_table(doc)
    unexplained_part = text[text.index("unexplained changes"):text.index("expected changes")]
    assert "privileged-unchanged" in unexplained_part and "sysctl-slow-start" not in unexplained_part
    assert "expected-relaxation (v1.37: sysctls)" in text[text.index("expected changes"):]


def test_the_same_versions_on_two_servers_explain_nothing():
    # 'latest' on v1.34 and on v1.37 servers: the evaluator at 34 and 37, as with pinned labels
    changes = upgrade_diff(before=Side("1.34"), after=Side("1.37"), minors=(34, 37))
    assert all(c.expected for c in changes) and len(changes) == 5
    same = upgrade_diff(before=Side("1.34"), after=Side("1.37", policy_version="v1.34"), minors=(34, 37))
    assert not any(c.expected for c in same)  # both sides evaluate v1.34: nothing the standard changed


def test_explain_is_decided_by_the_predictions():
    f34, f37 = frozenset({"sysctls"}), frozenset()
    assert explain(Observed(D, ("sysctls",)), Observed(A), Observed(D, ("sysctls",)), Observed(A), f34, f37,
                   lambda checks: (37,)).to_dict() == {
        "label": "expected-relaxation", "checks": ["sysctls"], "versions": ["v1.37"],
        "text": "expected-relaxation (v1.37: sysctls)"}
    assert explain(Observed(D, ("sysctls",)), Observed(A), Observed(D, ("sysctls",)), Observed(D, ("sysctls",)),
                   f34, f34) is None  # the evaluator says nothing changes
    assert explain(Observed(A), Observed(D, ("x",)), Observed(A), Observed(D, ("x",)), frozenset(),
                   frozenset({"x"})).label == "expected-tightening"


def test_the_registry_and_the_evaluator_find_the_boundaries():
    assert variant_starts(["sysctls"], 26, 37) == [27, 29, 32, 37] == [v for v in CHECKS["sysctls"].versions if v > 26]
    assert variant_starts(["procMount", "procMount_restricted"], 34, 37) == [35]
    assert variant_starts(["hostProbesAndHostLifecycle"], 30, 37) == [34] and variant_starts(["nope"], 0, 99) == []
    objects = {m.name: m.obj for m in read_manifests([str(UPGRADE)]) if m.pod_bearing}
    slow_start = objects["sysctl-slow-start"]
    assert failing(slow_start, Level.BASELINE, 36) == {"sysctls"} and failing(slow_start, Level.BASELINE, 37) == set()
    # of the sysctls variants at 27, 29, 32 and 37, only 37 changes this pod's answer
    assert boundaries(slow_start, Level.BASELINE, 26, 37, {"sysctls"}) == (37,)
    assert boundaries(slow_start, Level.BASELINE, 37, 26, {"sysctls"}) == (37,)
    assert boundaries(objects["userns-root"], Level.RESTRICTED, 34, 37, {"runAsNonRoot", "runAsUser"}) == (35,)


def test_identical_changes_across_kinds_are_one_group_and_one_row():
    o = {("scenario", "s", kind, "", "baseline", "enforce"): Observed(D if kind == "Pod" else W, ("sysctls",))
         for kind in ("Pod", "Deployment", "Job")}
    after = {k: Observed(A) for k in o}
    changes = compare(o, after, describe)
    doc = document(Side(policy_version="v1.34"), Side(), changes, 3)
    assert len(doc["changes"]) == 3  # one entry per kind stays
    assert [(g["scenario"], g["kinds"], g["change"]) for g in doc["groups"]] == [
        ("s", ["Deployment", "Job"], "newly-admitted"), ("s", ["Pod"], "newly-admitted")]  # other observations
    assert groups(doc["changes"]) == doc["groups"]
    rows = [line for line in render_table(doc).splitlines() if line.startswith("newly-admitted")]
    assert len(rows) == 2 and rows[0].rstrip().endswith("Deployment, Job")
    from harness.core.kinds import WORKLOAD_KINDS

    workloads = {("scenario", "s", kind, "", "baseline", "enforce"): Observed(W, ("sysctls",)) for kind in WORKLOAD_KINDS}
    doc = document(Side(policy_version="v1.34"), Side(), compare(workloads, {k: Observed(A) for k in workloads},
                                                                describe), 8)
    assert len(doc["groups"]) == 1 and "  8 workload kinds" in render_table(doc)


def test_the_table_fits_the_terminal():
    changes = upgrade_diff()
    text = render_table(document(Side(policy_version="v1.34"), Side(), changes, 8), 80)
    table = [line for line in text.splitlines() if line.startswith(("CHANGE ", *core_diff.CHANGE_CLASSES))]
    assert len(table) == 6 and all(len(line) <= 80 for line in table), table
    assert table[0].split() == ["CHANGE", "SUBJECT", "LEVEL", "MODE", "FROM", "TO", "KINDS"]  # the header whole
    assert "  └ expected-relaxation (v1.35: runAsNonRoot, runAsUser): denied (runAsNonRoot, runAsUser) → admitted" \
        in text.splitlines()
    assert core_diff.EXPLANATION_LABELS == ("expected-relaxation", "expected-tightening", "expected-change")
