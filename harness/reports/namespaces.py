"""The evidence bundle's "Namespaces" section: a namespace sweep's document, and a page rendering it.

``add_namespaces(directory, doc)`` puts ``namespaces.json`` (the ``pss-harness namespaces
--format json`` document, redacted) and ``namespaces.html`` (self-contained: namespace x mode
posture, findings mapped to CIS 5.2.x and NSA/CISA, and per namespace the proof requests and the
server's answers) into a bundle directory — a new bundle if it holds none — and seals it again
(``SHA256SUMS`` over every file, so ``pss-harness report verify`` covers the section).

May import ``harness.core`` and the rest of ``harness.reports``.
"""

from __future__ import annotations

import datetime
import html
import json
from pathlib import Path

from harness.core.errors import UsageError
from harness.reports import bundle
from harness.reports.redact import default_redactor

__all__ = ["NAMESPACES_HTML", "NAMESPACES_JSON", "add_namespaces", "render"]

NAMESPACES_JSON = "namespaces.json"
NAMESPACES_HTML = "namespaces.html"

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;
vertical-align:top;font-size:.9rem}th{background:#f0f0f0}.proven{background:#e7f6e7}.none{background:#fde2e2}
.unknown{background:#fff4cc}.bad{color:#a40000;font-weight:600}pre{white-space:pre-wrap;font-size:.8rem;
background:#f7f7f7;padding:.5rem}details{margin:.25rem 0}code{font-size:.85rem}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _cell(mode: dict) -> str:
    title = mode["evidence"] + (f" (source: {mode['source']})" if mode.get("source") else "")
    return f'<td class="{_e(mode["state"])}" title="{_e(title)}">{_e(mode["text"])}</td>'


def render(doc: dict) -> str:
    """The section as one self-contained HTML page (no network fetches, no scripts)."""
    c, s = doc["cluster"], doc["summary"]
    runner = c["runner"]
    rc = ", ".join(f"{r['name']}: {'exempt' if r['exempt'] else 'not exempt' if r['exempt'] is False else 'unknown'}"
                   for r in c["runtime_classes"]) or ("none" if c["runtime_classes_listed"] else "not listable")
    by_ns: dict[str, list[dict]] = {}
    for f in doc["findings"]:
        by_ns.setdefault(f["namespace"], []).append(f)
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Namespaces — pss-harness</title>"
           f"<style>{_CSS}</style></head><body>",
           "<h1>Namespaces: effective Pod Security enforcement</h1>",
           f"<p>Target {_e(doc['target'])} (Kubernetes {_e(doc['server_version'])}); swept "
           f"{s['namespaces']} namespace(s) in {s['elapsed_s']} s with {doc['requests']['total']} requests "
           f"({doc['requests']['reads']} reads, {doc['requests']['dry_run_writes']} server-side dry runs, "
           f"{doc['requests']['other']} other).</p>",
           "<table><tr><th>PodSecurity plugin</th><td>" + _e(c["plugin"]["state"]) + "</td><td>"
           + _e(c["plugin"]["evidence"]) + "</td></tr>"
           f"<tr><th>runner</th><td>{_e(runner['username'])}: "
           f"{'EXEMPT' if runner['exempt'] else 'not exempt' if runner['exempt'] is False else 'unknown'}</td>"
           f"<td>{_e(runner['evidence'])}</td></tr>"
           f"<tr><th>RuntimeClasses</th><td colspan=2>{_e(rc)}</td></tr>"
           f"<tr><th>audit source</th><td colspan=2>{'yes' if c['audit_source'] else 'no: audit is unknown'}</td></tr>"
           "</table>"]
    if doc["policy"] is not None:
        out.append(f"<h2>Findings against {_e(doc['policy']['path'])}</h2>"
                   f"<p>{s['results_passed']}/{s['results']} namespace × rule passed; {s['findings']} finding(s).</p>")
        if doc["findings"]:
            out.append("<table><tr><th>finding</th><th>severity</th><th>namespace</th><th>rule</th><th>mode</th>"
                       "<th>CIS</th><th>NSA/CISA</th><th>detail</th></tr>")
            for f in doc["findings"]:
                out.append(f"<tr><td class=bad>{_e(f['id'])}</td><td>{_e(f['severity'])}</td><td>{_e(f['namespace'])}"
                           f"</td><td>{_e(f['rule'])}</td><td>{_e(f['mode'] or '')}</td><td>{_e(', '.join(f['cis']))}"
                           f"</td><td>{_e(f['nsa'])}</td><td>{_e(f['message'])}</td></tr>")
            out.append("</table>")
    out.append("<h2>Posture per namespace and mode</h2><table><tr><th>namespace</th><th>enforce</th><th>warn</th>"
               "<th>audit</th><th>source</th><th>exempt</th><th>probe</th><th>findings</th></tr>")
    for n in doc["namespaces"]:
        fs = sorted({f["id"] for f in by_ns.get(n["namespace"], [])})
        out.append(f"<tr><td><a href='#ns-{_e(n['namespace'])}'>{_e(n['namespace'])}</a></td>{_cell(n['enforce'])}"
                   f"{_cell(n['warn'])}{_cell(n['audit'])}<td>{_e(n['source'])}</td>"
                   f"<td>{_e(', '.join(n['exempt']) or 'none')}</td>"
                   f"<td>{_e(n['probe']['state'])}{(': ' + _e(n['probe']['reason'])) if n['probe']['reason'] else ''}"
                   f"</td><td class='{'bad' if fs else ''}'>{_e(', '.join(fs))}</td></tr>")
    out.append("</table><h2>Proof: the requests sent and the server's answers</h2>")
    for n in doc["namespaces"]:
        notes = "".join(f"<li>{_e(x)}</li>" for x in n["notes"])
        modes = "".join(f"<li>{m}: <b>{_e(n[m]['text'])}</b> — {_e(n[m]['evidence'])}</li>"
                        for m in ("enforce", "warn", "audit"))
        proofs = "".join(f"<details><summary>{_e(a['probe'])}: {_e(a['request']['method'])} "
                         f"{_e(a['request']['path'])}?dryRun=All → {a['answer']['status']} "
                         f"{_e(a['answer']['reason'])}</summary><pre>{_e(json.dumps(a, indent=2))}</pre></details>"
                         for a in n.get("evidence", []))
        mutated = (f"<details><summary>the pod the server returned (changed by a webhook)</summary><pre>"
                   f"{_e(json.dumps(n['mutated_pod'], indent=2))}</pre></details>") if n.get("mutated_pod") else ""
        out.append(f"<h3 id='ns-{_e(n['namespace'])}'>{_e(n['namespace'])}</h3><ul>{modes}{notes}</ul>{proofs}{mutated}")
    out.append("</body></html>")
    return "\n".join(out)


def add_namespaces(directory: str | Path, doc: dict) -> Path:
    """Add (or replace) the Namespaces section of the bundle at ``directory`` and seal it again."""
    directory = Path(directory)
    doc = default_redactor().scrub(doc)
    if (directory / bundle.SUMS).exists():
        if not bundle.verify(directory).ok:
            raise UsageError(f"{directory}: the bundle fails verification; refusing to add a Namespaces section to it")
    elif not (directory / "results.json").exists():
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        results = {"schema": bundle.SCHEMA,
                   "run": {"run_id": "namespaces", "started": now, "finished": now,
                           "server_version": doc.get("server_version"), "cluster_fingerprint": "n/a"},
                   "results": []}
        bundle.write_bundle(directory, results)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / NAMESPACES_JSON).write_text(json.dumps(doc, indent=2) + "\n")
    (directory / NAMESPACES_HTML).write_text(render(doc))
    bundle.write_sums(directory)
    return directory
