"""The self-contained HTML report rendered from a crafted results.json (no cluster, no browser)."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.reports.html import render

ASSET = Path(__file__).resolve().parents[1] / "assets" / "results-one-failure.json"
HISTORY = {
    "fingerprint": "f" * 32,
    "trend": [{"run_id": "older", "started": "2026-01-01T00:00:00+00:00", "total": 7, "passed": 7, "failed": 0,
               "skipped": 0},
              {"run_id": "fixture1", "started": "2026-11-28T09:38:38+00:00", "total": 7, "passed": 5, "failed": 1,
               "skipped": 1}],
    "previous": {"run_id": "older", "started": "2026-01-01T00:00:00+00:00", "server_version": "v1.36.0"},
    "changes": [{"check": "hostPathVolumes", "level": "baseline", "mode": "enforce", "before": "passed",
                 "after": "failed"}],
}


class _Tree(HTMLParser):
    """Collects start tags with their attributes, and checks that elements nest properly."""

    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


@pytest.fixture
def results() -> dict:
    return json.loads(ASSET.read_text())


@pytest.fixture
def page(results) -> str:
    return render(results, HISTORY)


def parse(page: str) -> _Tree:
    tree = _Tree()
    tree.feed(page)
    assert tree.stack == [], f"unclosed elements {tree.stack}"
    return tree


def test_the_page_is_well_formed_and_fetches_nothing(page):
    tree = parse(page)
    for tag, attrs in tree.tags:
        assert "src" not in attrs, f"<{tag}> loads {attrs['src']}"
        assert not (tag == "link"), "no external stylesheet"
        href = attrs.get("href", "")
        assert not href or href.startswith(("#", "?")), f"<{tag}> links to {href}"
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page  # the CSP forbids any fetch even if a scenario smuggles a URL in


def test_summary_counts_and_the_verdict(page):
    assert 'data-verdict="failed"' in page
    cards = dict((label, value) for value, label in
                 re.findall(r'<div class="v">([^<]*)</div><div class="k">([^<]*)</div>', page))
    assert cards["passed"] == "5" and cards["failed"] == "1" and cards["skipped"] == "1"
    assert cards["attacks refused as owed (enforce)"] == "2 / 3"
    assert "<svg" in page and "baseline \u00b7 enforce" in page


def test_matrix_cells_are_coloured_by_result(page):
    cells = {(m["check"], m["level"], m["mode"]): m["cls"] for m in re.finditer(
        r'<td class="c (?P<cls>\w+)" data-check="(?P<check>[^"]+)" data-level="(?P<level>\w+)" data-mode="(?P<mode>\w+)"',
        page)}
    assert cells[("hostPathVolumes", "baseline", "enforce")] == "failed"
    assert cells[("privileged", "baseline", "enforce")] == "passed"
    assert cells[("hostPathVolumes", "baseline", "audit")] == "skipped"
    assert cells[("(control scenarios)", "privileged", "enforce")] == "passed"


def page_data(page: str) -> dict:
    """The JSON data blob the page's script builds item bodies from."""
    blob = re.search(r'<script type="application/json" id="pss-data">(.*?)</script>', page, re.S).group(1)
    assert "<" not in blob
    return json.loads(blob)


def item_fields(page: str, element_id: str) -> dict:
    index = int(re.search(rf'<details class="item" id="{element_id}" data-i="(\d+)"', page).group(1))
    data = page_data(page)
    return {f: data["strings"][k] for f, k in zip(data["fields"], data["items"][index])}


def test_a_failing_item_carries_expected_vs_observed_message_and_manifest(page):
    item = re.search(r'<details class="item" id="i-hostpath-etc-Pod-baseline-enforce-latest".*?</details>', page, re.S)
    assert item, "the failing item is rendered with a stable id"
    html_part = item.group(0)
    assert 'data-result="failed"' in html_part
    # readable without the script: the problems and the cause
    assert "<li>expected denied, observed admitted</li>" in html_part
    assert "PodSecurity exempted this request (audit annotation exempt=namespace)" in html_part
    fields = item_fields(page, "i-hostpath-etc-Pod-baseline-enforce-latest")
    assert fields["exp_outcome"] == "denied" and fields["exp_checks"] == "hostPathVolumes"
    assert fields["obs_outcome"] == "admitted (HTTP 201)"
    assert json.loads(fields["audit"])["annotations"] == {"pod-security.kubernetes.io/exempt": "namespace"}
    assert json.loads(fields["request"])["dryRun"] == "All"
    assert fields["nodeid"].endswith("::hostpath-etc[Pod-baseline-enforce-latest]")
    manifest = page_data(page)["manifests"][fields["manifest"]]
    assert "path: /etc" in manifest and "hostPath:" in manifest
    failing_scenario = re.search(r'<details class="scenario" id="s-hostpath-etc"[^>]*>', page).group(0)
    assert " open" in failing_scenario  # failures are open on arrival


def test_passing_items_carry_their_evidence_in_the_data(page):
    fields = item_fields(page, "i-vulnerable-pod-Pod-baseline-enforce-latest")
    assert 'violates PodSecurity "baseline:latest"' in fields["message"]
    assert fields["obs_checks"] == "hostPathVolumes, privileged" == fields["controls"].replace(" ", ", ")
    warned = item_fields(page, "i-vulnerable-pod-Deployment-baseline-warn-latest")
    assert "would violate PodSecurity" in warned["warnings"]
    skipped = item_fields(page, "i-vulnerable-pod-Pod-baseline-audit-latest")
    assert skipped["skip"].startswith("audit mode needs the cluster's audit log")
    # one manifest per distinct object: the Pod of vulnerable-pod is stored once for its three Pod items
    data = page_data(page)
    assert len(data["manifests"]) == len({json.dumps(r["manifest"], sort_keys=True)
                                          for r in json.loads(ASSET.read_text())["results"] if r["manifest"]})


def test_scenarios_with_failures_come_first(page):
    order = re.findall(r'<details class="scenario" id="s-([^"]+)"', page)
    assert order[0] == "hostpath-etc" and set(order) == {"hostpath-etc", "vulnerable-pod", "hardened-pod"}


def test_controls_map_results_to_cis_nsa_attack_and_ms_matrix(page):
    controls = page[page.index('<section id="controls">'):page.index('<section id="scenarios">')]
    row = re.search(r"<tr><td>5\.2\.12 \u2014 Minimize the admission of HostPath volumes</td>.*?</tr>", controls)
    assert row and 'chip failed' in row.group(0)
    assert re.search(r"<tr><td>5\.2\.2 \u2014 Minimize the admission of privileged containers</td>.*?chip passed", controls)
    assert "T1611 \u2014 Escape to Host" in controls and "MS-TA9011" in controls
    assert "Pod security: no hostPath" in controls


def test_history_shows_the_trend_and_what_changed(page):
    section = page[page.index('<section id="history">'):page.index('<section id="controls">')]
    assert section.count("<rect") >= 4 and "fixture1" in section
    assert "Changed since the previous run older" in section
    assert re.search(r"<td>hostPathVolumes</td><td>baseline</td><td>enforce</td><td><span class=\"chip passed\">"
                     r"passed</span></td><td><span class=\"chip failed\">failed</span>", section)


def test_without_history_the_page_says_so(results):
    assert "No history in this bundle" in render(results, None)


def test_rendering_is_deterministic(results):
    assert render(results, HISTORY) == render(copy.deepcopy(results), HISTORY)


def test_text_from_the_cluster_is_escaped(results):
    results["results"][0]["observed"]["message"] = '<!--<script>alert("x")</script><img src=x onerror=alert(1)>'
    results["results"][0]["manifest"]["metadata"]["annotations"] = {"a": "</script><script>bad()</script>"}
    results["results"][0]["problems"] = ["<b>bold</b> claim"]
    page = render(results, None)
    assert "<script>alert" not in page and "<img src=x" not in page and "<script>bad()" not in page
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in page
    assert page_data(page)["strings"].count('<!--<script>alert("x")</script><img src=x onerror=alert(1)>') == 1
    parse(page)


def test_an_empty_run_renders(results):
    results["results"] = []
    page = render(results, None)
    assert "No items." in page and 'data-verdict="no results"' in page
    parse(page)
