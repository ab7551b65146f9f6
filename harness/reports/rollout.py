"""A rollout plan in the evidence bundle: ``rollout.json`` and a self-contained ``rollout.html``.

``add_rollout(directory, doc)`` puts the ``pss-harness rollout --format json`` document into a
bundle (a new one if ``directory`` holds none) as ``rollout.json``, renders it as ``rollout.html``
(inline CSS, no script, nothing fetched; the same document renders the same bytes) and re-seals
``SHA256SUMS`` over every file. An existing bundle that fails verification is refused.

The page holds no pod spec, only names, checks, server warnings and the label commands.

Imports: ``harness.reports.bundle`` and the standard library.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from harness.core.errors import UsageError
from harness.reports.bundle import SUMS, dump_json, verify, write_sums

__all__ = ["ROLLOUT_HTML", "ROLLOUT_JSON", "add_rollout", "render_rollout"]

ROLLOUT_JSON = "rollout.json"
ROLLOUT_HTML = "rollout.html"

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d232a}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;
vertical-align:top}th{background:#f6f8fa}
.ready,.already-at-or-above{background:#dafbe1}.warn-first{background:#fff8c5}
.blocked-by-exemption,.incomplete{background:#ffebe9}
code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#f6f8fa;padding:.5rem;white-space:pre-wrap}
.disagree{color:#cf222e;font-weight:600}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def render_rollout(doc: dict) -> str:
    """The plan as one HTML page."""
    s = doc["summary"]
    counts = ", ".join(f"{n} {_e(plan)}" for plan, n in s["plans"].items() if n) or "no namespace"
    out = ["<!doctype html><html><head><meta charset=\"utf-8\"><title>Rollout plan</title>",
           f"<style>{_CSS}</style></head><body><section id=\"rollout\">",
           f"<h1>Rollout to {_e(doc['target']['policy'])}</h1>",
           f"<p>{_e(doc['cluster'])}. {s['namespaces']} namespace(s): {counts}. "
           f"{s['violating_pods']} violating pod(s), {s['violating_templates']} violating template(s), "
           f"<span class=\"{'disagree' if s['disagreements'] else ''}\">{s['disagreements']} disagreement(s) "
           "between the server and the evaluator</span>.</p>",
           "<table><thead><tr><th>namespace</th><th>plan</th><th>pods violating</th><th>templates violating</th>"
           "<th>top checks</th><th>why</th></tr></thead><tbody>"]
    for ns in doc["namespaces"]:
        v = ns["violations"]
        top = ", ".join(f"{c['check']} ({c['count']})" for c in v["top_checks"][:5]) or "-"
        out.append(f"<tr class=\"{_e(ns['plan'])}\"><td><a href=\"#ns-{_e(ns['namespace'])}\">{_e(ns['namespace'])}</a>"
                   f"</td><td>{_e(ns['plan'])}</td><td>{v['pods']} / {len(ns['pods'])}</td>"
                   f"<td>{v['templates']} / {len(ns['templates'])}</td><td>{_e(top)}</td><td>{_e(ns['why'])}</td></tr>")
    out.append("</tbody></table>")
    for ns in doc["namespaces"]:
        out.append(f"<h2 id=\"ns-{_e(ns['namespace'])}\">{_e(ns['namespace'])}: {_e(ns['plan'])}</h2>")
        out.append(f"<p>{_e(ns['why'])}. Now enforce {_e(ns['current']['enforce'])}, warn {_e(ns['current']['warn'])}, "
                   f"audit {_e(ns['current']['audit'])}. {_e(ns['server_check']['explanation'])}.</p>")
        if ns["fixes"]:
            out.append("<table><thead><tr><th>fix</th><th>when</th><th>checks</th></tr></thead><tbody>")
            for fix in ns["fixes"]:
                out.append(f"<tr><td>{_e(fix['object'])}</td><td>{_e(fix['when'])}</td>"
                           f"<td>{_e(', '.join(fix['checks']))}</td></tr>")
            out.append("</tbody></table>")
        if ns["server"]["warnings"]:
            out.append("<p>The server's answer to the enforce label change (dry-run):</p><pre>"
                       + _e("\n".join(ns["server"]["warnings"])) + "</pre>")
        for note in ns["notes"]:
            out.append(f"<p>Note: {_e(note)}</p>")
        for d in ns["disagreements"]:
            out.append(f"<p class=\"disagree\">Disagreement: {_e(d)}</p>")
        commands = [("now", c) for c in ns["commands"]["now"]] + [("later", c) for c in ns["commands"]["later"]]
        if commands:
            out.append("<pre>" + _e("\n".join(f"# {when}\n{cmd}" for when, cmd in commands)) + "</pre>")
    for phase in ("now", "later"):
        if doc["kustomize"][phase]:
            out.append(f"<h2>Kustomize patch, {phase}</h2><pre>{_e(doc['kustomize'][phase])}</pre>")
    out.append("</section></body></html>\n")
    return "\n".join(out)


def add_rollout(directory: str | Path, doc: dict) -> Path:
    """Write ``rollout.json`` and ``rollout.html`` into the bundle ``directory`` and re-seal it."""
    directory = Path(directory)
    if (directory / SUMS).is_file() and not verify(directory).ok:
        raise UsageError(f"{directory}: the bundle fails verification (pss-harness report verify {directory}); "
                         "refusing to add a rollout plan to it")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ROLLOUT_JSON).write_text(dump_json(json.loads(json.dumps(doc))))
    (directory / ROLLOUT_HTML).write_text(render_rollout(doc))
    return write_sums(directory)
