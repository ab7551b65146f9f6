"""The fleet report: many clusters' evidence bundles in one sealed, self-contained HTML + JSON report.

    OUT/
        fleet-report.json   {"schema": SCHEMA, "clusters": [...], "frameworks": {...}, "summary": {...}}
        index.html          self-contained (inline CSS and JS, nothing fetched)
        SHA256SUMS          over both; bundle.intoto.jsonl if signed (``pss-harness report verify OUT --key PUB``)

``collect(inputs)`` reads its inputs: evidence bundles (``reports/evidence/<run-id>``, merged
ones too) and fleet directories of ``pss-harness fleet`` (``DIR/fleet.json``: each row's bundle,
and the rows of clusters that could not be checked, with their cause). **Every bundle is
verified before anything in it is used** (``bundle.verify``; with ``key``, its signature too),
and a bundle whose ``SHA256SUMS`` is not the one the fleet recorded after its run is refused as
replaced: one tampered bundle refuses the report, naming every bundle at fault and why. A row's
namespace sweep (``fleet --sweep``) is read from its ``namespaces.json`` only once the file's
SHA-256 is the one the fleet recorded; a changed or missing document refuses the report alike.

``document(clusters)`` is the JSON: per cluster its verdict (``harness.core.fleet``), server
version, fingerprint, counts, failures by class, drift since its previous run (the bundle's
``history.json``: the controls whose status changed), its namespace sweep if it had one (the
verdict is then the worse of both, ``verdicts.fold``), and two matrices:

* **controls**: CIS Kubernetes Benchmark, NSA/CISA and MITRE ATT&CK ids -> status (failed if any
  item mapped to it failed, else passed if any passed, else skipped), names from
  ``harness.corpus.taxonomy``;
* **checks**: check id -> level -> status, over every mode (``record.control_summary``).

A cluster that was not checked has no matrix: its rows read "not checked" with the verdict,
never a status. ``render(doc)`` is the page; ``write(out, doc)`` seals it. The output is
deterministic: the same inputs give the same bytes (``generated`` is the newest input's finish).

Imports: the standard library, ``harness.core``, ``harness.corpus.taxonomy`` and this package's
``record``, ``bundle``, ``html`` (the stylesheet), ``safefs`` and ``signing``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import html as htmllib
import importlib.resources
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

import harness
from harness.core import fleet as verdicts
from harness.core.errors import UsageError
from harness.corpus.taxonomy import ATTACK_NAMES, CIS_TITLES, CIS_VERSION
from harness.reports import bundle, safefs, signing
from harness.reports.html import LEVELS, report_section, stylesheet, summary_cards
from harness.reports.record import CONTROL_ROW, control_summary

__all__ = ["FRAMEWORKS", "INDEX", "REPORT", "SCHEMA", "ClusterInput", "collect", "document", "render", "write"]

SCHEMA = "pss-harness/fleet-report/v1"
REPORT, INDEX = "fleet-report.json", "index.html"
FLEET = "fleet.json"  # pss-harness fleet's summary (harness.cli.fleet)
#: framework key -> (title, the record field holding its ids, id -> name)
FRAMEWORKS = {
    "cis": (f"{CIS_VERSION} (section 5)", "cis", CIS_TITLES),
    "nsa": ("NSA/CISA Kubernetes Hardening Guidance", "nsa", {}),
    "attack": ("MITRE ATT&CK", "attack", ATTACK_NAMES),
}
_ASSETS = importlib.resources.files("harness.reports") / "assets"  #: package data (pyproject.toml)


@dataclasses.dataclass
class ClusterInput:
    """One cluster of the fleet: a verified bundle (``directory``), or a row without one (not checked)."""

    name: str
    directory: Path | None = None
    row: dict | None = None                 #: its row of a fleet summary, if it came from one
    expected_sha256: str | None = None      #: the SHA256SUMS digest the fleet recorded after the run
    sweep: Path | None = None               #: its namespace sweep's namespaces.json (fleet --sweep)


# -- reading the inputs ------------------------------------------------------------------------------

def _fleet_summary(path: Path) -> tuple[Path, dict]:
    file = path / FLEET if path.is_dir() else path
    try:
        doc = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{file}: not a readable fleet summary ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != "pss-harness/fleet/v1" or not isinstance(doc.get("clusters"), list):
        raise UsageError(f"{file}: not a pss-harness fleet summary (schema pss-harness/fleet/v1)")
    return file.parent, doc


def _inputs(paths: Iterable[str | Path]) -> tuple[list[ClusterInput], list[dict]]:
    clusters: list[ClusterInput] = []
    fleets: list[dict] = []
    for given in map(Path, paths):
        if given.is_dir() and (given / bundle.RESULTS).is_file():
            clusters.append(ClusterInput(name="", directory=given))
        elif (given.is_dir() and (given / FLEET).is_file()) or (given.is_file() and given.name.endswith(".json")):
            root, doc = _fleet_summary(given)
            fleets.append(doc)
            for row in doc["clusters"]:
                directory = (root / row["bundle"]) if row.get("bundle") else None
                swept = (row.get("sweep") or {}).get("document")
                clusters.append(ClusterInput(row["context"], directory, row, row.get("bundle_sha256"),
                                             root / swept if swept else None))
        else:
            raise UsageError(f"{given}: neither an evidence bundle (no {bundle.RESULTS}) nor a fleet directory "
                             f"(no {FLEET}); give reports/evidence/<run-id> or the --reports DIR of pss-harness fleet")
    if not clusters:
        raise UsageError("report fleet needs at least one bundle or fleet directory")
    seen: dict[Path, ClusterInput] = {}
    for c in clusters:
        if c.directory is not None:
            where = c.directory.resolve()
            if where in seen:
                raise UsageError(f"bundle {c.directory} is given twice (also as {seen[where].directory}); give each once")
            seen[where] = c
    return clusters, fleets


def _check_sweep(cluster: ClusterInput) -> list[str]:
    """Why ``cluster``'s namespace sweep document cannot be used (empty if it can)."""
    if cluster.sweep is None:
        return []
    try:
        digest = hashlib.sha256(cluster.sweep.read_bytes()).hexdigest()
    except OSError as exc:
        return [f"{cluster.sweep}: the namespace sweep's document cannot be read ({exc.strerror or exc})"]
    want = (cluster.row or {}).get("sweep", {}).get("sha256")
    return [] if digest == want else [f"{cluster.sweep}: not the namespace sweep the fleet recorded (SHA-256 now "
                                      f"{digest}, recorded {want}): the document was replaced"]


def _check_bundle(cluster: ClusterInput, key) -> list[str]:
    """Why ``cluster``'s bundle cannot be used (empty if it can)."""
    d = cluster.directory
    if d is None:
        return []
    if not d.is_dir():
        return [f"{d}: the bundle is missing"]
    problems = [f"{d}: {line}" for line in bundle.verify(d).lines()]
    if problems:
        return problems
    if cluster.expected_sha256 and bundle.sums_digest(d) != cluster.expected_sha256:
        problems.append(f"{d}: SHA256SUMS is not the one the fleet recorded after the run "
                        f"(now {bundle.sums_digest(d)}, recorded {cluster.expected_sha256}): the bundle was replaced")
    if key is not None:
        sig = signing.check(d, key)
        problems += [f"{d}: {p}" for p in sig.problems]
    return problems


def collect(paths: Iterable[str | Path], *, key=None) -> list[dict]:
    """Every cluster of the inputs as a ``document`` entry; refuses (``UsageError``) if any bundle fails its checks."""
    inputs, _ = _inputs(paths)
    refused = {id(c): (_check_bundle(c, key), _check_sweep(c)) for c in inputs}
    bad = [(c, b + w) for c in inputs for b, w in [refused[id(c)]] if b or w]
    if bad:
        listing = "\n".join(f"  {c.name or c.directory}: {'; '.join(p)}" for c, p in bad)
        bundles, sweeps = (sum(bool(refused[id(c)][i]) for c, _ in bad) for i in (0, 1))
        what = " and ".join(t for t in (f"{bundles} bundle(s)" if bundles else "",
                                         f"{sweeps} sweep document(s)" if sweeps else "") if t)
        raise UsageError(f"{what} fail verification; refusing to build a fleet report on them:\n{listing}\n"
                         "Re-run those clusters, or leave their bundles out (pss-harness report verify DIR shows "
                         "what changed)")
    entries = [_entry(c) for c in inputs]
    seen: Counter = Counter()
    for e in entries:  # two runs of one context stay two rows, told apart by run id
        seen[e["name"]] += 1
    for e in entries:
        if seen[e["name"]] > 1:
            e["name"] = f"{e['name']} (run {e['run_id']})"
    return entries


#: a cell's status: failed (an item failed against the standard) > error (an item got no answer, so the
#: control is not proven either way) > passed > skipped
CELL_STATUSES = ("failed", "error", "passed", "skipped")


def _outcome(record: dict) -> str:
    """An item as a matrix cell counts it: a failure without an answer is ``error``, not ``failed``."""
    if record["result"] == "failed":
        return "error" if verdicts.failure_class(record) == "error" else "failed"
    return record["result"] if record["result"] in ("passed", "failed") else "skipped"


def _status(counts: Counter) -> str:
    return next((s for s in CELL_STATUSES[:-1] if counts[s]), "skipped")


def _controls(records: list[dict]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, (_title, field, _names) in FRAMEWORKS.items():
        groups: dict[str, Counter] = defaultdict(Counter)
        for r in records:
            refs = r.get(field) or []
            for ref in [refs] if isinstance(refs, str) else refs:
                if ref:
                    groups[ref][_outcome(r)] += 1
        out[key] = {ref: _status(c) for ref, c in sorted(groups.items())}
    return out


def _checks(records: list[dict]) -> dict[str, dict[str, str]]:
    by_id = {r["nodeid"]: r for r in records}
    per: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for (check, level, _mode), cell in control_summary(records).items():
        per[(check, level)].update(_outcome(by_id[n]) for n in cell["items"])
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for (check, level), c in sorted(per.items()):
        out[check][level] = _status(c)
    return dict(out)


def _drift(directory: Path) -> dict | None:
    try:
        history = json.loads(safefs.read_bytes(directory, bundle.HISTORY))
    except (OSError, ValueError, safefs.Refused):
        return None
    prev = history.get("previous") if isinstance(history, dict) else None
    if not prev:
        return {"previous": None, "drifted": False, "changes": []}
    changes = [{k: c.get(k) for k in ("check", "level", "mode", "before", "after")} for c in history.get("changes") or []]
    return {"previous": {"run_id": prev.get("run_id"), "started": prev.get("started"),
                         "server_version": prev.get("server_version")},
            "drifted": bool(changes), "changes": changes}


def _sweep(c: ClusterInput) -> dict | None:
    """The row's sweep, re-read from its (checked) document: the fleet row's word is taken only without one."""
    part = (c.row or {}).get("sweep")
    if not part:
        return None
    if c.sweep is None:
        verdict = part.get("verdict") if part.get("verdict") in verdicts.VERDICTS else "error"
        return {**part, "verdict": verdict}
    outcome = verdicts.sweep_outcome(json.loads(c.sweep.read_text()))
    return {**part, **outcome, "document": str(c.sweep), "cause": verdicts.sweep_cause(outcome)}


def _with_sweep(entry: dict, sweep: dict | None, cause: bool = True) -> dict:
    """``entry`` (its corpus run's verdict) with its sweep: the verdict the worse of both, the causes of both."""
    entry["sweep"] = sweep
    if sweep is not None:
        entry["verdict"] = verdicts.fold(entry["corpus_verdict"], sweep["verdict"])
        entry["checked"] = entry["verdict"] not in verdicts.UNCHECKED
        if cause and sweep.get("cause"):
            entry["cause"] = "; ".join(x for x in (entry["cause"], f"namespace sweep: {sweep['cause']}") if x)
    return entry


def _entry(c: ClusterInput) -> dict:
    row = c.row or {}
    sweep = _sweep(c)
    if c.directory is None:  # a fleet row that has no bundle: the cluster was not checked (or sweep only)
        corpus = row.get("corpus_verdict", row.get("verdict"))  # an older fleet.json has no corpus_verdict
        corpus = corpus if corpus in verdicts.VERDICTS else None if sweep else "error"
        return _with_sweep({"name": c.name, "verdict": corpus or "error", "corpus_verdict": corpus,
                            "checked": corpus not in verdicts.UNCHECKED,
                            "cause": row.get("cause"), "run_id": row.get("run_id"),
                            "server_version": row.get("server_version"),
                            "cluster_fingerprint": row.get("cluster_fingerprint"), "started": None, "finished": None,
                            "items": 0, "counts": {}, "failures": {k: 0 for k in verdicts.FAILURE_CLASSES},
                            "bundle": None, "drift": None, "controls": None, "checks": None},
                           sweep, cause=False)  # the row's cause names the sweep's already
    results = bundle.load_results(c.directory)
    run, records = results["run"], results["results"]
    exit_status = run.get("exit_status")
    complete = exit_status in (0, 1, None) and (run.get("shard_coverage") or {}).get("complete", True)
    verdict, failures = verdicts.verdict_of_records(records, complete=complete)
    name = c.name or (run.get("options") or {}).get("context") or (
        f"embedded {run['embedded_k8s_version']}" if run.get("embedded_k8s_version") else run.get("run_id", "?"))
    cause = None
    if verdict == "gap":
        cause = f"{failures['weaker']} item(s) got less than the standard requires"
    elif verdict == "deviation":
        cause = f"{failures['stricter'] + failures['different']} item(s) differ from the standard, none weaker"
    elif verdict == "incomplete":
        cause = (row.get("cause") or ("the merge is missing shards" if not complete and run.get("shard_coverage")
                                      else f"the run ended with exit status {exit_status}" if not complete
                                      else f"{failures['error']} item(s) got no answer" if failures["error"]
                                      else "no item was judged"))
    signed = signing.envelope_keyids(c.directory) if signing.is_signed(c.directory) else []
    entry = {"name": name, "verdict": verdict, "corpus_verdict": verdict, "checked": verdict not in verdicts.UNCHECKED,
             "cause": cause, "run_id": run.get("run_id"), "server_version": run.get("server_version"),
             "cluster_fingerprint": run.get("cluster_fingerprint"), "started": run.get("started"),
             "finished": run.get("finished"), "items": len(records), "counts": dict(sorted(Counter(
                 r["result"] for r in records).items())), "failures": failures,
             "bundle": {"path": str(c.directory), "sha256": bundle.sums_digest(c.directory), "signed_by": signed},
             "drift": _drift(c.directory), "controls": _controls(records), "checks": _checks(records)}
    return _with_sweep(entry, sweep)


# -- the document ------------------------------------------------------------------------------

def document(clusters: list[dict]) -> dict:
    """The fleet report's JSON (``harness/schemas/fleet-report.schema.json``)."""
    by_verdict = {v: sum(1 for c in clusters if c["verdict"] == v) for v in verdicts.VERDICTS}
    parts = [verdicts.row_verdicts(c) for c in clusters]
    versions: dict[str, list[str]] = defaultdict(list)
    for c in clusters:
        if c["server_version"]:
            versions[c["server_version"]].append(c["name"])
    used = {key: sorted({ref for c in clusters for ref in (c["controls"] or {}).get(key, {})}, key=_ref_key)
            for key in FRAMEWORKS}
    finished = sorted(c["finished"] for c in clusters if c.get("finished"))
    return {
        "schema": SCHEMA,
        "generated": finished[-1] if finished else None,
        "harness_version": harness.__version__,
        "clusters": clusters,
        "frameworks": {key: {"title": title, "names": {ref: names.get(ref, ref) for ref in used[key]}}
                       for key, (title, _field, names) in FRAMEWORKS.items()},
        "summary": {"clusters": len(clusters), "verdicts": by_verdict,
                    "findings": sum(any(v in verdicts.FINDINGS for v in p) for p in parts),
                    "unchecked": sum(any(v in verdicts.UNCHECKED for v in p) for p in parts),
                    "exit_status": verdicts.exit_status(v for p in parts for v in p),
                    "server_versions": {v: sorted(n) for v, n in sorted(versions.items())},
                    "drifted": sorted(c["name"] for c in clusters if (c.get("drift") or {}).get("drifted"))},
    }


def _ref_key(ref: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", ref)]


# -- the page ----------------------------------------------------------------------------------

def _e(value) -> str:
    return htmllib.escape("" if value is None else str(value), quote=True)


@functools.lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return _ASSETS.joinpath(name).read_text(encoding="utf-8")


_VERDICT_CLASS = {"passed": "passed", "gap": "failed", "deviation": "changed", "not-enforced": "failed",
                  "off-policy": "failed"}


def _chip(verdict: str) -> str:
    return f'<span class="chip {_VERDICT_CLASS.get(verdict, "unchecked")}" data-verdict="{_e(verdict)}">{_e(verdict)}</span>'


def _cell(status: str | None, title: str) -> str:
    if status is None:
        return '<td class="c none" title="not tested in this run">\u2013</td>'
    mark = {"passed": "\u2713", "failed": "\u2717", "error": "?", "skipped": "\u2013"}[status]
    css = "unchecked" if status == "error" else status
    what = "no answer (not proven either way)" if status == "error" else status
    return f'<td class="c {css}" data-status="{status}" title="{_e(title)}: {what}">{mark}</td>'


def _not_checked(c: dict, span: int) -> str:
    if c.get("corpus_verdict") is None and c.get("sweep"):
        return (f'<td class="c none" colspan="{span}" data-status="not-run">no corpus run: namespace sweep only '
                '(see Namespaces)</td>')
    return (f'<td class="c unchecked" colspan="{span}" data-status="not-checked" title="{_e(c.get("cause") or "")}">'
            f'not checked: {_e(c["verdict"])} (see Clusters)</td>')


def _row_head(c: dict) -> str:
    return f'<th class="cl"><a href="#c-{_e(_slug(c["name"]))}">{_e(c["name"])}</a> {_chip(c["verdict"])}</th>'


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _summary(doc: dict) -> str:
    s = doc["summary"]
    cards = [("", s["clusters"], "clusters"), ("pass", s["verdicts"]["passed"], "passed"),
             ("fail" if s["findings"] else "pass", s["findings"], "with a finding (gap, deviation, not-enforced, "
                                                                   "off-policy)"),
             ("skip" if s["unchecked"] else "pass", s["unchecked"], "not checked (unreachable, refused, ...)"),
             ("fail" if s["drifted"] else "", len(s["drifted"]), "drifted since their previous run")]
    out = [summary_cards(cards)]
    out.append("<p>" + ", ".join(f"{n} {_e(v)}" for v, n in s["verdicts"].items() if n)
               + f". Exit status of <code>pss-harness fleet</code> for these verdicts: {s['exit_status']}.</p>")
    out.append('<p class="mute">passed: every item judged and passed. gap: something was admitted (or not warned '
               'about, or not audited) that the standard refuses. deviation: items failed, none weaker (stricter, '
               'other checks). not-enforced: PodSecurity is not in effect (the preflight canary was admitted). '
               'off-policy: the namespace sweep found namespaces that do not meet the namespace policy. '
               'incomplete, unreachable, refused, error: the cluster (its run or its sweep) was not checked; never '
               'read as passed. With a sweep, a cluster shows the worse of its two verdicts.</p>')
    return report_section("summary", "Summary", out)


def _clusters(doc: dict) -> str:
    out = ['<div class="filters"><label>verdict <select id="fverdict">'
           '<option value="all">all</option>' + "".join(f'<option value="{v}">{v}</option>' for v in verdicts.VERDICTS)
           + '</select></label><span id="fnote" class="mute"></span></div>'
           '<table class="clusters"><thead><tr><th>cluster</th><th>verdict</th><th>server</th><th>items</th>'
           '<th>passed</th><th>failed</th><th>skipped</th><th>failures (weaker / stricter / different / error)</th>'
           '<th>namespaces (sweep)</th><th>drift</th><th>run</th><th>evidence</th><th>cause</th></tr></thead><tbody>']
    for c in doc["clusters"]:
        counts, f = c["counts"], c["failures"]
        drift = c.get("drift")
        drift_text = ("-" if drift is None else "first run" if not drift["previous"] else
                      f"{len(drift['changes'])} control(s) changed since {drift['previous']['run_id']}" if drift["drifted"]
                      else f"none since {drift['previous']['run_id']}")
        b = c.get("bundle")
        evidence = (f'<code title="{_e(b["path"])}">SHA256SUMS {_e(b["sha256"][:16])}\u2026</code>'
                    + (f' signed ({_e(", ".join(k[:12] for k in b["signed_by"]))})' if b["signed_by"] else "")) if b else "none"
        out.append(f'<tr id="c-{_e(_slug(c["name"]))}" data-verdict="{_e(c["verdict"])}"><th>{_e(c["name"])}</th>'
                   f'<td>{_chip(c["verdict"])}</td><td>{_e(c["server_version"] or "-")}</td><td>{c["items"]}</td>'
                   f'<td>{counts.get("passed", 0)}</td><td>{counts.get("failed", 0)}</td><td>{counts.get("skipped", 0)}</td>'
                   f'<td>{f["weaker"]} / {f["stricter"]} / {f["different"]} / {f["error"]}</td>'
                   f'<td>{_sweep_cell(c.get("sweep"))}</td>'
                   f'<td class="{"failed" if drift and drift["drifted"] else ""}">{_e(drift_text)}</td>'
                   f'<td>{_e(c["run_id"] or "-")}</td><td>{evidence}</td><td>{_e(c["cause"] or "")}</td></tr>')
    out.append("</tbody></table>")
    return report_section("clusters", "Clusters", out)


def _sweep_cell(sweep: dict | None) -> str:
    if sweep is None:
        return '<span class="mute">not swept</span>'
    figures = f' {len(sweep["admitting"])}/{sweep["namespaces"]} admit' if sweep.get("document") else ""
    return f'{_chip(sweep["verdict"])}<span data-sweep="{_e(sweep["verdict"])}">{_e(figures)}</span>'


def _namespaces(doc: dict) -> str:
    """Per cluster, what its namespace sweep proved: which namespaces would admit the breakout pod."""
    swept = [c for c in doc["clusters"] if c.get("sweep")]
    out = ['<p class="mute">From each cluster\'s namespace sweep (<code>pss-harness fleet --sweep</code>: '
           'server-side dry runs in every namespace but the harness\'s own). <em>admit</em>: the effective enforce, '
           'proven by behaviour, would admit the breakout pod (exempt, no PodSecurity, or privileged, by label or by '
           'the cluster\'s defaults); judged only against a namespace policy.</p>'
           '<table class="sweeps"><thead><tr><th>cluster</th><th>sweep</th><th>swept</th><th>admit the breakout pod'
           '</th><th>exempt by name</th><th>not proven</th><th>findings (policy)</th><th>document</th></tr></thead>'
           '<tbody>']
    for c in swept:
        w = c["sweep"]
        findings = ("no policy" if not w["policy"] else
                    ", ".join(f"{k} {n}" for k, n in w["by_finding"].items()) or "none")
        document = (f'<code title="{_e(w["document"])}">SHA-256 {_e(w["sha256"][:16])}\u2026</code>' if w["document"]
                    else _e(w["cause"] or "none"))
        out.append(f'<tr data-verdict="{_e(c["verdict"])}" data-swept="{_e(c["name"])}">{_row_head(c)}'
                   f'<td>{_chip(w["verdict"])}</td><td>{w["namespaces"] if w["document"] else "-"}</td>'
                   f'<td class="{"failed" if w["admitting"] else ""}" data-admitting="{_e(",".join(w["admitting"]))}">'
                   f'{_e(", ".join(w["admitting"]) or "none")}</td>'
                   f'<td data-exempt="{_e(",".join(w["exempt"]))}">{_e(", ".join(w["exempt"]) or "none")}</td>'
                   f'<td class="{"unchecked" if w["unproven"] else ""}">{_e(", ".join(w["unproven"]) or "none")}</td>'
                   f'<td class="{"failed" if w["findings"] else ""}">{_e(findings)}</td><td>{document}</td></tr>')
    out.append("</tbody></table>")
    return report_section("namespaces", "Namespaces: which would admit a breakout pod", out)


def _control_matrix(doc: dict) -> str:
    out = ['<p class="mute">A control passes on a cluster only '
           'if every item mapped to it passed there (\u2713 passed, \u2717 failed, ? an item got no answer, \u2013 '
           'skipped or not tested). '
           'Hover a heading for its name.</p>']
    for key, fw in doc["frameworks"].items():
        refs = list(fw["names"])
        out.append(f'<h3>{_e(fw["title"])}</h3>')
        if not refs:
            out.append('<p class="mute">No scenario of these runs declares a reference here.</p>')
            continue
        out.append(f'<table class="matrix fleet" data-framework="{key}"><thead><tr><th>cluster</th>'
                   + "".join(f'<th class="ref" title="{_e(fw["names"][r])}">{_e(r if key != "nsa" else _short(r))}</th>'
                             for r in refs) + "</tr></thead><tbody>")
        for c in doc["clusters"]:
            cells = (_not_checked(c, len(refs)) if c["controls"] is None else
                     "".join(_cell(c["controls"][key].get(r), f'{c["name"]} / {r}') for r in refs))
            out.append(f'<tr data-verdict="{_e(c["verdict"])}">{_row_head(c)}{cells}</tr>')
        out.append("</tbody></table>")
        named = [(r, fw["names"][r]) for r in refs if fw["names"][r] != r]
        if named:
            out.append('<p class="legend mute">' + "; ".join(f"{_e(r)}: {_e(n)}" for r, n in named) + "</p>")
    return report_section("controls", "Cluster \u00d7 control", out)


def _short(ref: str) -> str:
    return ref.split(":", 1)[-1].strip()[:28]


def _check_matrix(doc: dict) -> str:
    checks = sorted({k for c in doc["clusters"] for k in (c["checks"] or {})}, key=lambda k: (k == CONTROL_ROW, k.lower()))
    levels = [lv for lv in LEVELS if any(lv in (c["checks"] or {}).get(k, {}) for c in doc["clusters"] for k in checks)]
    cols = [(k, lv) for k in checks for lv in levels if any(lv in (c["checks"] or {}).get(k, {}) for c in doc["clusters"])]
    title = "Cluster \u00d7 check \u00d7 level"
    out = ['<p class="mute">Each cell: every item that is '
           'evidence for the check at that level, over all modes and kinds.</p>']
    if not cols:
        sweep_only = all(c.get("corpus_verdict") is None and c.get("sweep") for c in doc["clusters"])
        out.append('<p class="mute">No corpus run: namespace sweep only (see Namespaces).</p>' if sweep_only else
                   '<p class="mute">No cluster was checked.</p>')
        return report_section("checks", title, out)
    spans: list[list] = []
    for k, _lv in cols:
        if not spans or spans[-1][0] != k:
            spans.append([k, 0])
        spans[-1][1] += 1
    out.append('<table class="matrix fleet checks"><thead><tr><th rowspan="2">cluster</th>'
               + "".join(f'<th colspan="{n}">{_e(k)}</th>' for k, n in spans) + "</tr><tr>"
               + "".join(f'<th title="{_e(lv)}">{_e(lv[0].upper())}</th>' for _k, lv in cols) + "</tr></thead><tbody>")
    for c in doc["clusters"]:
        cells = (_not_checked(c, len(cols)) if c["checks"] is None else
                 "".join(_cell(c["checks"].get(k, {}).get(lv), f'{c["name"]} / {k} / {lv}') for k, lv in cols))
        out.append(f'<tr data-verdict="{_e(c["verdict"])}">{_row_head(c)}{cells}</tr>')
    out.append('</tbody></table><p class="legend mute">P privileged, B baseline, R restricted.</p>')
    return report_section("checks", title, out)


def _drift_section(doc: dict) -> str:
    out = ['<p class="mute">From each bundle\'s '
           'history (the run before it on the same cluster, by fingerprint).</p>']
    drifted = [c for c in doc["clusters"] if (c.get("drift") or {}).get("drifted")]
    if not drifted:
        out.append("<p>No cluster's controls changed status since its previous run.</p>")
    for c in drifted:
        d = c["drift"]
        out.append(f'<h3 data-drifted="{_e(c["name"])}">{_e(c["name"])}: {len(d["changes"])} control(s) changed since run '
                   f'{_e(d["previous"]["run_id"])} ({_e(d["previous"]["started"])}, server {_e(d["previous"]["server_version"])})</h3>'
                   '<table><thead><tr><th>check</th><th>level</th><th>mode</th><th>before</th><th>now</th></tr></thead><tbody>')
        for ch in d["changes"]:
            out.append(f'<tr><td>{_e(ch["check"])}</td><td>{_e(ch["level"])}</td><td>{_e(ch["mode"])}</td>'
                       f'<td class="{_e(ch["before"])}">{_e(ch["before"])}</td><td class="{_e(ch["after"])}">{_e(ch["after"])}</td></tr>')
        out.append("</tbody></table>")
    never = [c["name"] for c in doc["clusters"] if c.get("checked") and (c.get("drift") or {}).get("previous") is None]
    if never:
        out.append(f'<p class="mute">No earlier run to compare with: {_e(", ".join(never))}.</p>')
    return report_section("drift", "Drift since the previous run", out)


def _versions(doc: dict) -> str:
    out = ['<table><thead><tr><th>version</th><th>clusters</th></tr>'
           '</thead><tbody>']
    for version, names in doc["summary"]["server_versions"].items():
        out.append(f"<tr><td>{_e(version)}</td><td>{_e(', '.join(names))}</td></tr>")
    unknown = [c["name"] for c in doc["clusters"] if not c["server_version"]]
    if unknown:
        out.append(f'<tr><td class="mute">unknown (not reached)</td><td>{_e(", ".join(unknown))}</td></tr>')
    out.append("</tbody></table>")
    return report_section("versions", "Server versions", out)


def render(doc: dict) -> str:
    """The fleet report as one self-contained HTML page."""
    s = doc["summary"]
    title = f"PodSecurity admission fleet report \u2014 {s['clusters']} cluster(s)"
    verdict = "findings" if s["findings"] else ("unchecked" if s["unchecked"] else "passed")
    swept = any(c.get("sweep") for c in doc["clusters"])
    data = json.dumps({"clusters": [{"name": c["name"], "verdict": c["verdict"]} for c in doc["clusters"]]},
                      separators=(",", ":"), sort_keys=True).replace("<", "\\u003c")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)}</title><style>\n{stylesheet()}{_asset('fleet.css')}</style></head>"
        f"<body data-verdict=\"{verdict}\">",
        f"<header><h1>{_e(title)}</h1><div class=\"sub\">{s['verdicts']['passed']} passed \u00b7 {s['findings']} with a "
        f"finding \u00b7 {s['unchecked']} not checked \u00b7 {len(s['drifted'])} drifted \u00b7 generated from the "
        f"bundles' results ({_e(doc.get('generated'))})</div></header>",
        "<nav><a href=\"#summary\">Summary</a><a href=\"#clusters\">Clusters</a>"
        + ("<a href=\"#namespaces\">Namespaces</a>" if swept else "") +
        "<a href=\"#controls\">Controls</a>"
        "<a href=\"#checks\">Checks</a><a href=\"#drift\">Drift</a><a href=\"#versions\">Versions</a></nav><main>",
        _summary(doc), _clusters(doc), _namespaces(doc) if swept else "", _control_matrix(doc), _check_matrix(doc),
        _drift_section(doc), _versions(doc),
        "</main><footer>Generated by pss-harness from verified evidence bundles. Check this report's integrity with "
        "<code>pss-harness report verify DIR</code>; every cluster's bundle with the same command.</footer>",
        f'<script type="application/json" id="fleet-data">{data}</script>',
        f"<script>\n{_asset('fleet.js')}</script></body></html>\n",
    ])


def write(out: str | Path, doc: dict, *, sign_key=None) -> Path:
    """Write ``fleet-report.json``, ``index.html`` and ``SHA256SUMS`` into a new directory ``out``; sign if asked."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not empty; write the fleet report into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    safefs.write_text(out, REPORT, json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    safefs.write_text(out, INDEX, render(doc))
    sums = bundle.write_sums(out)
    s = doc["summary"]
    signing.seal(out, sign_key, {"run_id": "fleet-" + bundle.sums_digest(out)[:12], "finished": doc.get("generated"),
                                 "harness_version": doc.get("harness_version"),
                                 "counts": {v: n for v, n in s["verdicts"].items() if n}, "items": s["clusters"]})
    return sums
