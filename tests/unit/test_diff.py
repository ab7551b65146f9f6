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
