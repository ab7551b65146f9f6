"""Render a run's ``results.json`` (and its history snapshot) as one self-contained HTML page.

Everything is inline: CSS, a little JavaScript and SVG charts. The page fetches nothing, so it
works from ``file://``, an artefact store or an e-mail attachment. Sections:

The header states the run's status (``run.status``: PASSED, FAILED or INCOMPLETE) and, for a run
that is not a clean pass, why: each incomplete reason and each file that could not be collected.

* **Summary**: figures and a chart of results per level and mode.
* **Matrix**: check x level x mode, coloured by result; a cell filters the scenario list.
* **History**: the trend of the last runs on this cluster and the controls that changed since
  the previous one (from ``history.json``).
* **Controls**: results mapped to CIS Kubernetes Benchmark 5.2.x, NSA/CISA hardening guidance,
  MITRE ATT&CK and the Microsoft threat matrix for Kubernetes, as the scenarios declare them.
* **Scenarios**: one expandable entry per scenario and per item, with expected vs observed, the
  server's message, warnings, audit annotations, the request and the manifest sent.

``?expand=<id>`` (an item's element id, its name such as ``vulnerable-pod[Pod-baseline-enforce-latest]``,
its node id, or a scenario id) opens that entry and scrolls to it. The output is deterministic:
the same input renders the same bytes.

The stylesheet and the script are package data, ``harness/reports/assets/report.css`` and
``report.js`` (read with ``importlib.resources``, so a wheel carries them), inlined into each page.

Imports: the standard library, PyYAML, ``harness.core.model``, ``harness.corpus`` (severities,
framework names) and ``harness.reports.record``; never ``bundle`` or ``history`` (the bundle calls this module).
"""

from __future__ import annotations

import functools
import hashlib
import html
import importlib.resources
import json
import re
from collections import Counter, defaultdict
from typing import Iterable

import yaml

from harness.core.model import Level, Mode
from harness.corpus.scenarios import SEVERITIES
from harness.corpus.taxonomy import ATTACK_NAMES, CIS_TITLES
from harness.reports.record import CONTROL_ROW, Results, control_summary, controls_of

__all__ = ["render", "script", "stylesheet"]

LEVELS = tuple(level.value for level in Level)   #: column order: privileged, baseline, restricted
MODES = tuple(mode.value for mode in Mode)       #: enforce, warn, audit
SEVERITY_ORDER = {severity: rank for rank, severity in enumerate(SEVERITIES)}  #: critical first


_ASSETS = importlib.resources.files("harness.reports") / "assets"  #: package data (pyproject.toml)


def _asset(name: str) -> str:
    return _ASSETS.joinpath(name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def stylesheet() -> str:
    """The page's CSS (``assets/report.css``), inlined into every page."""
    return _asset("report.css")


@functools.lru_cache(maxsize=None)
def script() -> str:
    """The page's JavaScript (``assets/report.js``), inlined into every page."""
    return _asset("report.js")


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _item_name(record: dict) -> str:
    return record["nodeid"].rsplit("::", 1)[-1]


def _chip(result: str, text: str | None = None) -> str:
    return f'<span class="chip {_e(result)}">{_e(text or result)}</span>'


def _status(counts: Counter) -> str:
    return "failed" if counts["failed"] else ("passed" if counts["passed"] else "skipped")


def _columns(records: list[dict]) -> list[tuple[str, str]]:
    seen = {(r["policy"]["level"], r["policy"]["mode"]) for r in records}
    cols = [(lv, m) for lv in LEVELS for m in MODES if (lv, m) in seen]
    extra = sorted(seen - set(cols))
    return cols + extra


# -- sections --------------------------------------------------------------------------------

def report_section(section_id: str, title: str, parts: Iterable[str]) -> str:
    """One ``<section>`` of a report page (this one's and the fleet report's): ``id`` (the nav links to
    ``#section_id``), an ``<h2>`` ``title`` and the ``parts`` after it; title and parts are HTML, already escaped."""
    return f'<section id="{section_id}"><h2>{title}</h2>{"".join(parts)}</section>'


def summary_cards(cards: Iterable[tuple[str, object, str]]) -> str:
    """The row of figures atop a Summary section: one card per ``(css class, value, label)``, the class one of
    ``pass``, ``fail``, ``skip`` or ``""``; value and label are escaped here."""
    return ('<div class="cards">'
            + "".join(f'<div class="card {cls}"><div class="v">{_e(value)}</div><div class="k">{_e(label)}</div></div>'
                      for cls, value, label in cards)
            + "</div>")

def _summary(run: dict, records: list[dict], cells: dict) -> str:
    counts = Counter(r["result"] for r in records)
    scenarios = {r["scenario"] for r in records}
    attacks = {r["scenario"] for r in records if r.get("declared_checks")}
    denied = [r for r in records if r["policy"]["mode"] == "enforce" and (r.get("expected") or {}).get("outcome") == "denied"]
    refused = [r for r in denied if (r.get("observed") or {}).get("outcome") == "denied" and r["result"] == "passed"]
    ctrl_pass = sum(1 for c in cells.values() if c["status"] == "passed")
    cards = [
        ("", len(records), "items (scenario \u00d7 kind \u00d7 policy)"),
        ("pass", counts["passed"], "passed"), ("fail", counts["failed"], "failed"), ("skip", counts["skipped"], "skipped"),
        ("", f"{len(attacks)} / {len(scenarios) - len(attacks)}", "attack / control scenarios"),
        ("pass" if len(refused) == len(denied) else "fail", f"{len(refused)} / {len(denied)}",
         "attacks refused as owed (enforce)"),
        ("pass" if ctrl_pass == len(cells) else "fail", f"{ctrl_pass} / {len(cells)}", "controls passing (check \u00d7 level \u00d7 mode)"),
    ]
    return report_section("summary", "Summary", [summary_cards(cards), _bar_chart(records), _meta(run)])


def _status_banner(run: dict) -> str:
    """Under the header: why the run is not a clean pass (incomplete reasons, files not collected)."""
    reasons, errors = run.get("incomplete_reasons") or [], run.get("collection_errors") or []
    if not reasons and not errors:
        return ""
    out = [f'<div class="banner {_e(run.get("status") or "")}" id="run-status"><ul>']
    out += [f"<li><b>Incomplete:</b> {_e(r)}</li>" for r in reasons]
    out += [f"<li><b>Not collected:</b> <code>{_e(e.get('file'))}</code>: {_e(e.get('message'))}</li>" for e in errors]
    out.append("</ul></div>")
    return "".join(out)


def _bar_chart(records: list[dict]) -> str:
    """Horizontal stacked bars: results per level x mode."""
    cols = _columns(records)
    if not cols:
        return '<p class="mute">No items.</p>'
    per = {c: Counter() for c in cols}
    for r in records:
        per[(r["policy"]["level"], r["policy"]["mode"])][r["result"]] += 1
    biggest = max(sum(c.values()) for c in per.values()) or 1
    row_h, label_w, width = 24, 150, 560
    height = row_h * len(cols) + 30
    parts = [f'<svg role="img" aria-label="Results per level and mode" width="{label_w + width + 60}" '
             f'height="{height}" viewBox="0 0 {label_w + width + 60} {height}" xmlns="http://www.w3.org/2000/svg">']
    colour = {"passed": "#2e7d32", "failed": "#c62828", "skipped": "#9e9e9e"}
    for i, col in enumerate(cols):
        y = 6 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" fill="#1d2330">'
                     f'{_e(col[0])} \u00b7 {_e(col[1])}</text>')
        x = float(label_w)
        for outcome in ("passed", "failed", "skipped"):
            n = per[col][outcome]
            if not n:
                continue
            w = width * n / biggest
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{colour[outcome]}">'
                         f'<title>{_e(col[0])} {_e(col[1])}: {n} {outcome}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}" font-size="12" fill="#5b6475">{sum(per[col].values())}</text>')
    parts.append(f'<g transform="translate({label_w},{height - 8})" font-size="11">'
                 '<rect width="10" height="10" y="-9" fill="#2e7d32"/><text x="14">passed</text>'
                 '<rect x="70" width="10" height="10" y="-9" fill="#c62828"/><text x="84">failed</text>'
                 '<rect x="134" width="10" height="10" y="-9" fill="#9e9e9e"/><text x="148">skipped</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _engine_text(run: dict) -> str:
    """The engine under test in words (a bundle from before engines were named is PodSecurity's)."""
    engine = run.get("engine") or {}
    if not engine:
        return "PodSecurity admission (built-in)"
    return f"{engine.get('title')} \u2014 namespaces labelled {engine.get('selector')}"


def _meta(run: dict) -> str:
    ident = run.get("identity") or {}
    opts = run.get("options") or {}
    rows = [
        ("Run", run.get("run_id")), ("Started", run.get("started")), ("Finished", run.get("finished")),
        ("Server version", run.get("server_version")), ("Cluster fingerprint", run.get("cluster_fingerprint")),
        ("Cluster instance", run.get("cluster_instance") if run.get("cluster_instance") != run.get("cluster_fingerprint") else None),
        ("Target", run.get("target")),
        ("Engine", _engine_text(run)),
        ("Runner identity", f"{ident.get('username', '?')} (groups: {', '.join(ident.get('groups') or []) or '-'})"),
        ("Harness version", run.get("harness_version")),
        ("Runner", " \u00b7 ".join(f"{k} {v}" for k, v in sorted((run.get("runner") or {}).items()))),
        ("Corpus SHA-256", f"{run.get('corpus_sha256')} ({len(run.get('scenarios') or {})} scenario files)"),
        ("Options", ", ".join(f"{k}={v if not isinstance(v, list) else ','.join(map(str, v))}"
                              for k, v in sorted(opts.items()) if v not in (None, [], {}, False, ""))),
        ("Exit status", run.get("exit_status")),
    ]
    if run.get("shards"):
        rows.append(("Merged from", "; ".join(f"{s['run_id']} ({s.get('items')} items, SHA256SUMS {str(s.get('bundle_sha256'))[:16]}\u2026)"
                                              for s in run["shards"])))
    cover = run.get("shard_coverage")
    if cover:
        missing = ", ".join(f"{i}/{cover['count']}" for i in cover["missing"])
        rows.append(("Shards", f"{len(cover['present'])} of {cover['count']} merged"
                     + (f"; INCOMPLETE: shard(s) {missing} missing" if missing else "")))
    elif run.get("shard"):
        rows.append(("Shard", f"{run['shard']['index']}/{run['shard']['count']} (from {run['shard'].get('source')})"))
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows if v not in (None, ""))
    return f'<h3>Run metadata</h3><dl class="meta">{body}</dl>'


def _engine_short(run: dict) -> str:
    engine = run.get("engine") or {}
    if engine.get("name") in (None, "podsecurity"):
        return "PodSecurity admission"
    return f"ValidatingAdmissionPolicy set ({'pss-harness' if engine.get('policy_set') == 'pss-harness' else 'yours'})"


def _matrix(records: list[dict], cells: dict, run: dict | None = None) -> str:
    cols = _columns(records)
    checks = sorted({k[0] for k in cells}, key=lambda c: (c == CONTROL_ROW, c.lower()))
    out = [f'<p class="engine">Engine under test: <strong>{_e(_engine_text(run or {}))}</strong></p>',
           '<p class="mute">Each cell counts the items that are evidence for the check under that level and mode '
           '(passed/total). Green: all passed; red: at least one failed; grey: only skipped. Click a cell to list its items.</p>',
           '<table class="matrix"><thead><tr><th rowspan="2">check</th>']
    levels = []
    for lv, _m in cols:
        if not levels or levels[-1][0] != lv:
            levels.append([lv, 0])
        levels[-1][1] += 1
    out += [f'<th colspan="{n}">{_e(lv)}</th>' for lv, n in levels]
    out.append("</tr><tr>" + "".join(f"<th>{_e(m)}</th>" for _lv, m in cols) + "</tr></thead><tbody>")
    for check in checks:
        out.append(f"<tr><th>{_e(check)}</th>")
        for lv, m in cols:
            cell = cells.get((check, lv, m))
            if not cell:
                out.append('<td class="c none">\u2013</td>')
                continue
            total = cell["passed"] + cell["failed"] + cell["skipped"]
            out.append(f'<td class="c {cell["status"]}" data-check="{_e(check)}" data-level="{_e(lv)}" data-mode="{_e(m)}" '
                       f'title="{_e(check)} / {_e(lv)} / {_e(m)}: {cell["passed"]} passed, {cell["failed"]} failed, '
                       f'{cell["skipped"]} skipped">{cell["passed"]}/{total}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return report_section("matrix", "Check \u00d7 level \u00d7 mode", out)


def _trend_svg(trend: list[dict], current: str) -> str:
    if not trend:
        return ""
    w_bar, gap, height, top = 26, 10, 150, 12
    biggest = max(max(t.get("total") or 0 for t in trend), 1)
    width = len(trend) * (w_bar + gap) + 60
    parts = [f'<svg role="img" aria-label="Trend of the last runs" width="{width}" height="{height + 60}" '
             f'viewBox="0 0 {width} {height + 60}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="40" y1="{top + height}" x2="{width}" y2="{top + height}" stroke="#d8dde6"/>',
             f'<text x="34" y="{top + 8}" text-anchor="end" font-size="10" fill="#5b6475">{biggest}</text>',
             f'<text x="34" y="{top + height}" text-anchor="end" font-size="10" fill="#5b6475">0</text>']
    for i, t in enumerate(trend):
        x = 44 + i * (w_bar + gap)
        y = top + height
        for outcome, colour in (("passed", "#2e7d32"), ("failed", "#c62828"), ("skipped", "#9e9e9e")):
            n = t.get(outcome) or 0
            h = height * n / biggest
            if n:
                y -= h
                parts.append(f'<rect x="{x}" y="{y:.1f}" width="{w_bar}" height="{h:.1f}" fill="{colour}">'
                             f'<title>{_e(t["run_id"])} {_e(t.get("started"))}: {n} {outcome}</title></rect>')
        if t["run_id"] == current:
            parts.append(f'<rect x="{x - 2}" y="{top - 2}" width="{w_bar + 4}" height="{height + 4}" fill="none" '
                         f'stroke="#1f4e8c" stroke-width="2"/>')
        if t.get("status") == "incomplete":
            parts.append(f'<text x="{x + w_bar / 2}" y="{top + height - 3}" text-anchor="middle" font-size="10" '
                         f'fill="#fff"><title>{_e(t["run_id"])}: incomplete (never the previous run)</title>i</text>')
        if t.get("failed"):
            parts.append(f'<text x="{x + w_bar / 2}" y="{y - 3:.1f}" text-anchor="middle" font-size="10" '
                         f'fill="#c62828">{t["failed"]}</text>')
        parts.append(f'<text transform="translate({x + w_bar / 2},{top + height + 8}) rotate(60)" font-size="10" '
                     f'fill="#5b6475">{_e(t["run_id"][:10])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _history(history: dict | None, run: dict) -> str:
    title = "History on this cluster"
    if not history:
        return report_section("history", title, [
            '<p class="mute">No history in this bundle (the run was not recorded in a history store, or the bundle '
            'was merged; <code>pss-harness report build DIR --history reports/history.sqlite</code> adds it).</p>'])
    trend = history.get("trend") or []
    out = []
    out.append(f'<p class="mute">Last {len(trend)} run(s) on cluster fingerprint {_e(history.get("fingerprint"))} '
               f'(stacked: passed, failed, skipped; this run outlined; "i": incomplete, never compared with).</p>')
    out.append(_trend_svg(trend, run.get("run_id", "")))
    prev = history.get("previous")
    if not prev:
        out.append("<p>No earlier complete run on this cluster: nothing to compare with.</p>")
    else:
        changes = history.get("changes") or []
        out.append(f'<h3>Changed since the previous run {_e(prev["run_id"])} ({_e(prev.get("started"))}, '
                   f'server {_e(prev.get("server_version"))})</h3>')
        out.append('<p class="mute">Only cells both runs observed (passed or failed in each) are compared.</p>')
        if not changes:
            out.append("<p>No control changed status.</p>")
        else:
            out.append(_cells_table(changes))
        selection = history.get("selection") or {}
        for key, text in (("not_run", "not run this time (the previous run observed them)"),
                          ("new", "new this time (the previous run did not observe them)")):
            cells = selection.get(key) or []
            if cells:
                out.append(f'<details class="selection" id="selection-{key.replace("_", "-")}"><summary>Selection changed: '
                           f'{len(cells)} cell(s) {_e(text)}</summary>{_cells_table(cells)}</details>')
    return report_section("history", title, out)


def _cells_table(cells: list[dict]) -> str:
    out = ["<table><thead><tr><th>check</th><th>level</th><th>mode</th><th>before</th><th>now</th></tr></thead><tbody>"]
    for c in cells:
        out.append(f"<tr><td>{_e(c['check'])}</td><td>{_e(c['level'])}</td><td>{_e(c['mode'])}</td>"
                   f"<td>{_chip(c['before'])}</td><td>{_chip(c['after'])}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _controls(records: list[dict]) -> str:
    frameworks = [
        ("CIS Kubernetes Benchmark (section 5: policies)", "cis", CIS_TITLES),
        ("NSA/CISA Kubernetes Hardening Guidance", "nsa", {}),
        ("MITRE ATT&CK", "attack", ATTACK_NAMES),
        ("Microsoft threat matrix for Kubernetes", "ms_matrix", {}),
    ]
    out = ['<p class="mute">Results grouped by the framework references '
           'each scenario declares. A control passes only if every item of every scenario mapped to it passed.</p>']
    for title, field, names in frameworks:
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in records:
            refs = r.get(field) or []
            for ref in [refs] if isinstance(refs, str) else refs:
                if ref:
                    groups[ref].append(r)
        out.append(f"<h3>{_e(title)}</h3>")
        if not groups:
            out.append('<p class="mute">No scenario in this run declares a reference here.</p>')
            continue
        out.append("<table><thead><tr><th>reference</th><th>scenarios</th><th>passed</th><th>failed</th>"
                   "<th>skipped</th><th>status</th></tr></thead><tbody>")
        for ref in sorted(groups, key=_ref_key):
            rs = groups[ref]
            c = Counter(r["result"] for r in rs)
            label = f"{ref} \u2014 {names[ref]}" if ref in names else ref
            scen = ", ".join(f'<a href="#s-{_e(_slug(s))}">{_e(s)}</a>' for s in sorted({r["scenario"] for r in rs}))
            out.append(f"<tr><td>{_e(label)}</td><td>{scen}</td><td>{c['passed']}</td><td>{c['failed']}</td>"
                       f"<td>{c['skipped']}</td><td>{_chip(_status(c))}</td></tr>")
        out.append("</tbody></table>")
    return report_section("controls", "Controls", out)


def _ref_key(ref: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", ref)]


def _yaml(obj) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(obj, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _kv(rows: list[tuple[str, str]]) -> str:
    return '<div class="kv">' + "".join(f"<div>{_e(k)}</div><div>{v}</div>" for k, v in rows) + "</div>"


#: per-item fields in the page's data blob; the script builds an item's body from them when it is opened
ITEM_FIELDS = ("nodeid", "exp_outcome", "exp_checks", "exp_audit", "exp_reason", "obs_outcome", "obs_checks",
               "obs_policy", "obs_audit", "message", "warnings", "audit", "request", "namespace", "started",
               "finished", "skip", "manifest", "controls")


class _Strings:
    """An interning table: the data blob stores each distinct string once and items refer to it by index."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}
        self.values: list[str] = [""]

    def __call__(self, value) -> int:
        text = "" if value is None else str(value)
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.values)
            self.values.append(text)
        return found


def _item_data(r: dict, strings: _Strings, manifest_key: str) -> list[int]:
    exp, obs = r.get("expected") or {}, r.get("observed") or {}
    audit = None
    if obs.get("audit_annotations") is not None:
        audit = json.dumps({"auditID": obs.get("audit_id"), "annotations": obs.get("audit_annotations")}, indent=1,
                           sort_keys=True)
    fields = {
        "nodeid": r["nodeid"], "exp_outcome": exp.get("outcome"), "exp_checks": ", ".join(exp.get("checks") or []),
        "exp_audit": ", ".join(exp.get("audit_checks") or []), "exp_reason": exp.get("reason"),
        "obs_outcome": f"{obs.get('outcome')} (HTTP {obs.get('status')})" if obs else "",
        "obs_checks": ", ".join(obs.get("checks") or []), "obs_policy": (obs.get("violation") or {}).get("policy"),
        "obs_audit": ", ".join((obs.get("audit_violation") or {}).get("checks") or []),
        "message": obs.get("message"), "warnings": "\n".join(obs.get("warnings") or []), "audit": audit,
        "request": json.dumps(r["request"], indent=1, sort_keys=True) if r.get("request") else None,
        "namespace": r.get("namespace"), "started": r.get("started"), "finished": r.get("finished"),
        "skip": r.get("skip_reason"), "manifest": manifest_key,
        "controls": " ".join(r.get("controls") or controls_of(r)),
    }
    return [strings(fields[f]) for f in ITEM_FIELDS]


def _item(record: dict, ident: str, index: int) -> str:
    """The item's summary line; its body is built by the script from the data blob when opened.

    A failed item also carries its problems (and an exemption cause) in the HTML itself, so the
    essential finding is readable where scripts are blocked (some artefact viewers' CSP).
    """
    exp, obs = record.get("expected") or {}, record.get("observed") or {}
    pol = record["policy"]
    summary = (f'{_chip(record["result"])} <b>{_e(record["kind"])}</b> in '
               f'{_e(pol["level"])}-{_e(pol["mode"])}-{_e(pol["version"])} — '
               f'expected <b>{_e(exp.get("outcome", "?"))}</b>, observed <b>{_e(obs.get("outcome", "?"))}</b>'
               f' <span class="mute">({_e(record.get("duration"))} s)</span>')
    out = [f'<details class="item" id="{_e(ident)}" data-i="{index}" data-name="{_e(_item_name(record))}" '
           f'data-result="{_e(record["result"])}" data-level="{_e(pol["level"])}" data-mode="{_e(pol["mode"])}">'
           f'<summary>{summary}</summary>']
    if record["result"] == "failed":
        out.append('<div class="static">')
        if record.get("problems"):
            out.append('<ul class="problems">' + "".join(f"<li>{_e(p)}</li>" for p in record["problems"]) + "</ul>")
        exempt = (obs.get("audit_annotations") or {}).get("pod-security.kubernetes.io/exempt")
        if exempt:
            out.append(f'<p class="problems"><b>Cause:</b> PodSecurity exempted this request (audit annotation '
                       f'exempt={_e(exempt)}); check the {_e(exempt)} exemptions of the cluster\'s PodSecurity '
                       f'AdmissionConfiguration.</p>')
        out.append("</div>")
    out.append('<div class="body"><noscript>The details need JavaScript; every field is in results.json.</noscript>'
               "</div></details>")
    return "".join(out)


def _scenarios(records: list[dict], full=None) -> tuple[str, str]:
    """The drill-down section, and the data blob (interned strings, per-item fields, distinct manifests).

    ``full(record)``: the full record of each of ``records`` where they are slim (``harness.reports.store``):
    the per-item parts read it, one item at a time.
    """
    by_scenario: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_scenario[r["scenario"]].append(r)
    strings = _Strings()
    manifests: dict[str, str] = {}
    manifest_keys: dict[str, str] = {}
    items: list[list[int]] = []
    used_ids: set[str] = set()

    def order(sid: str):
        rs = by_scenario[sid]
        return (0 if any(r["result"] == "failed" for r in rs) else 1,
                SEVERITY_ORDER.get(rs[0].get("severity"), 9), sid)

    out = ['<p class="focusnote mute">Showing one entry (<code>?focus=1</code>); '
           '<a href="?">show the whole report</a>.</p><div class="filters">'
           '<label>result <select id="fresult"><option value="all">all</option><option value="failed">failed</option>'
           '<option value="passed">passed</option><option value="skipped">skipped</option></select></label>'
           '<label>search <input id="ftext" type="search" placeholder="scenario, kind, check, level"></label>'
           '<button id="openfailed" type="button">expand all failures</button>'
           '<span id="cellnote" class="mute"></span><button id="clearcell" type="button" class="hidden">show all cells</button></div>']
    for sid in sorted(by_scenario, key=order):
        rs = sorted(by_scenario[sid], key=lambda r: (r["result"] != "failed", LEVELS.index(r["policy"]["level"])
                                                    if r["policy"]["level"] in LEVELS else 9,
                                                    MODES.index(r["policy"]["mode"]) if r["policy"]["mode"] in MODES else 9,
                                                    r["policy"]["version"], r["kind"]))
        first = rs[0]
        c = Counter(r["result"] for r in rs)
        status = _status(c)
        sev = first.get("severity") or ""
        refs = " ".join(first.get("attack") or []) + " " + " ".join(f"CIS {x}" for x in first.get("cis") or [])
        search = " ".join([sid, first.get("title") or "", " ".join(first.get("declared_checks") or []), refs]).lower()
        out.append(f'<details class="scenario" id="s-{_e(_slug(sid))}" data-scenario="{_e(sid)}" data-search="{_e(search)}"'
                   f'{" open" if status == "failed" else ""}><summary>{_chip(status)} {_e(sid)} — {_e(first.get("title"))} '
                   f'<span class="chip sev {_e(sev)}">{_e(sev)}</span> <span class="mute">{c["passed"]} passed, '
                   f'{c["failed"]} failed, {c["skipped"]} skipped</span></summary><div class="body">')
        rows = [("must be denied from", _e(first.get("level") or "never (control: every level admits it)")),
                ("declared checks", _e(", ".join(first.get("declared_checks") or []) or "-")),
                ("attacker gains", _e(first.get("gain") or "-")),
                ("ATT&CK / MS matrix", _e(", ".join([*(first.get("attack") or []), *(first.get("ms_matrix") or [])]) or "-")),
                ("CIS / NSA", _e(", ".join(first.get("cis") or []) + (" · " + first["nsa"] if first.get("nsa") else "") or "-")),
                ("scenario file", _e(f'{first.get("file")}' + (f' (sha256 {first["scenario_sha256"][:16]}…)'
                                                                if first.get("scenario_sha256") else "")))]
        out.append(_kv(rows))
        for r in rs:
            if full is not None:
                r = full(r)
            ident = "i-" + _slug(_item_name(r))
            n = 2
            while ident in used_ids:
                ident, n = f"i-{_slug(_item_name(r))}-{n}", n + 1
            used_ids.add(ident)
            key = ""
            if r.get("manifest") is not None:
                canonical = json.dumps(r["manifest"], sort_keys=True)
                key = manifest_keys.get(canonical, "")
                if not key:
                    key = manifest_keys[canonical] = hashlib.sha256(canonical.encode()).hexdigest()[:16]
                    manifests[key] = _yaml(r["manifest"])
            out.append(_item(r, ident, len(items)))
            items.append(_item_data(r, strings, key))
        out.append("</div></details>")
    blob = json.dumps({"fields": ITEM_FIELDS, "strings": strings.values, "items": items,
                       "manifests": dict(sorted(manifests.items()))}, separators=(",", ":"), ensure_ascii=False)
    # no "<" at all inside the script element: neither "</script" nor "<!--" can end or confuse it
    data = '<script type="application/json" id="pss-data">' + blob.replace("<", "\\u003c") + "</script>"
    return report_section("scenarios", "Scenarios", out), data


_CHANGE_CLASS = {"newly-admitted": "failed", "newly-denied": "changed", "checks-changed": "skipped",
                 "outcome-changed": "skipped"}


def _diff(diff: dict | None) -> str:
    """The pre-upgrade regression check (``pss-harness diff --bundle``), if the bundle holds one."""
    if not diff:
        return ""
    s = diff.get("summary", {})
    regressions = _chip("failed", f"{s.get('newly-admitted', 0)} newly-admitted (regressions)")
    breakage = _chip("changed", f"{s.get('newly-denied', 0)} newly-denied (breakage)")
    out = [f'<p>From <b>{_e(diff.get("from"))}</b> to <b>{_e(diff.get("to"))}</b>: {_e(s.get("compared", 0))} compared, '
           f'{_e(s.get("changed", 0))} changed: {regressions} {breakage} '
           f'{_e(s.get("checks-changed", 0))} checks-changed, {_e(s.get("outcome-changed", 0))} outcome-changed.</p>']
    if diff.get("changes"):
        out.append('<table class="diff"><thead><tr><th>change</th><th>subject</th><th>kind</th><th>level</th>'
                   '<th>mode</th><th>from</th><th>to</th></tr></thead><tbody>')
        for c in diff["changes"]:
            subject = c.get("scenario") or f'{c.get("source")}#{c.get("index")} {c.get("name", "")}'
            fmt = lambda o: o["outcome"] + (f' ({", ".join(o["checks"])})' if o.get("checks") else "")
            out.append(f'<tr><td>{_chip(_CHANGE_CLASS.get(c["change"], "skipped"), c["change"])}</td>'
                       f'<td>{_e(subject)}</td><td>{_e(c["kind"])}</td><td>{_e(c["level"])}</td><td>{_e(c["mode"])}</td>'
                       f'<td>{_e(fmt(c["from"]))}</td><td>{_e(fmt(c["to"]))}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append('<p class="mute">Nothing changes between the two sides.</p>')
    return report_section("diff", "Upgrade diff", out)


def render(results: Results, history: dict | None = None, diff: dict | None = None, *, full=None) -> str:
    """The whole page for one ``results.json`` content (optional history snapshot and upgrade diff).

    ``full``: see ``_scenarios`` (the records are slim, and ``full`` reads each one's details).
    """
    run, records = results.get("run") or {}, results.get("results") or []
    cells = control_summary(records)
    for c in cells.values():
        c.pop("items", None)
    counts = Counter(r["result"] for r in records)
    if run.get("status"):
        verdict = str(run["status"]).upper()
    else:  # a bundle written before runs had a status
        verdict = "FAILED" if counts["failed"] else ("PASSED" if counts["passed"] else "NO RESULTS")
    scenarios, data = _scenarios(records, full)
    title = f"{_engine_short(run)} evidence \u2014 run {run.get('run_id', '?')}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)}</title><style>\n{stylesheet()}</style></head><body data-verdict=\"{verdict.lower()}\">",
        f"<header><h1>{_e(title)}</h1><div class=\"sub\">{_e(verdict)} \u00b7 {len(records)} items \u00b7 engine "
        f"{_e(_engine_short(run))} \u00b7 server "
        f"{_e(run.get('server_version'))} \u00b7 cluster {_e(run.get('cluster_fingerprint'))} \u00b7 "
        f"{_e(run.get('started'))} \u2192 {_e(run.get('finished'))}</div>{_status_banner(run)}</header>",
        "<nav><a href=\"#summary\">Summary</a><a href=\"#matrix\">Matrix</a><a href=\"#history\">History</a>"
        "<a href=\"#controls\">Controls</a><a href=\"#scenarios\">Scenarios</a>"
        + ("<a href=\"#diff\">Upgrade diff</a>" if diff else "") + "</nav><main>",
        _summary(run, records, cells), _diff(diff), _matrix(records, cells, run), _history(history, run), _controls(records), scenarios,
        "</main><footer>Generated by pss-harness from results.json. Check the bundle's integrity with "
        "<code>pss-harness report verify DIR</code> (or <code>sha256sum -c SHA256SUMS</code>).</footer>",
        data, f"<script>\n{script()}</script></body></html>\n",
    ])
