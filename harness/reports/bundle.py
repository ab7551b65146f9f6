"""The evidence bundle: ``results.json``, ``history.json``, ``index.html`` and ``SHA256SUMS`` in one directory.

    reports/evidence/<run-id>/
        results.json    {"schema", "run": {...metadata...}, "results": [one record per item]}
        history.json    trend of the last runs on this cluster and the controls that changed
        diff.json       an upgrade diff (``pss-harness diff --bundle``), if one was added
        index.html      self-contained report (inline CSS, JS and SVG; no network)
        SHA256SUMS      "<sha256>  <path>" for every other file (``sha256sum -c SHA256SUMS`` works)
        bundle.intoto.jsonl  if signed: a DSSE envelope of an in-toto statement over every file (``signing``)

``verify`` detects every changed, added and removed file; ``build`` regenerates the HTML and the
sums from ``results.json``; ``merge`` joins the bundles of several shards of one run into a new
bundle, after verifying each; each of them signs the result when given a key (``sign_key``) and
otherwise drops a signature that no longer applies. ``verify`` and ``write_sums`` read only
regular files inside the bundle (``safefs``): a symbolic link, FIFO, device or socket is refused
and named, never followed or opened. Nothing here needs pytest or a cluster. What a record holds is
``harness.reports.record`` (and ``harness/schemas/results.schema.json``).

Imports: the standard library, ``harness.core``, and ``record``, ``history``, ``html``, ``safefs``
and ``signing`` of this package (the bundle is the top of the reports package).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Iterable, Iterator

from harness.core.errors import UsageError
from harness.core.shard import coverage
from harness.reports import history as hist
from harness.reports.html import render
from harness.reports.record import SCHEMA, Results, corpus_digest, merge_status, result_counts, results_document
from harness.reports import safefs
from harness.reports import signing

__all__ = [
    "DIFF",
    "HISTORY",
    "INDEX",
    "RESULTS",
    "SUMS",
    "Verification",
    "add_diff",
    "build",
    "dump_json",
    "dump_results",
    "load_results",
    "merge",
    "results_chunks",
    "sign",
    "sums_digest",
    "verify",
    "write_bundle",
    "write_sums",
]

RESULTS, HISTORY, INDEX, SUMS = "results.json", "history.json", "index.html", "SHA256SUMS"
DIFF = "diff.json"  # an upgrade diff (pss-harness diff --bundle), shown as its own section
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


# -- reading and writing JSON --------------------------------------------------------------

def load_results(directory: str | Path) -> Results:
    """The ``results.json`` of a bundle directory (or the file itself), checked for its shape."""
    path = Path(directory)
    path = path / RESULTS if path.is_dir() else path
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give an evidence directory such as reports/evidence/<run-id>") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable results.json ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("run"), dict) or not isinstance(data.get("results"), list):
        raise UsageError(f"{path}: not a pss-harness results.json (needs 'run' and 'results')")
    return data


def dump_json(data) -> str:
    """Indented JSON with sorted keys (``history.json``, ``diff.json``)."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def dump_results(results: Results) -> str:
    """``results.json`` text: the metadata indented, then one item record per line (grep- and diff-friendly)."""
    lines = [json.dumps(r, sort_keys=True, ensure_ascii=False).encode("utf-8") for r in results.get("results", [])]
    return b"".join(results_chunks(results, lines)).decode("utf-8")


def results_chunks(results: Results, lines: Iterable[bytes]) -> Iterator[bytes]:
    """``dump_results``' text as it is written, from each record's JSON line (``json.dumps(r, sort_keys=True,
    ensure_ascii=False)``, UTF-8): a ``RecordStore``'s lines go out without being decoded or held."""
    head = {k: v for k, v in results.items() if k != "results"}
    text = json.dumps(head, indent=1, sort_keys=True, ensure_ascii=False)
    yield (text[:-1].rstrip() + ',\n "results": [\n').encode("utf-8")
    first = True
    for line in lines:
        if not first:
            yield b",\n"
        yield line
        first = False
    yield (("" if first else "\n") + "]\n}\n").encode("utf-8")


# -- SHA256SUMS ------------------------------------------------------------------------------

def _sealed(listing: safefs.Listing) -> list[str]:
    """The files ``SHA256SUMS`` lists: every regular file but itself and the signature envelope."""
    return [rel for rel in listing.files if rel not in (SUMS, signing.ENVELOPE)]


def write_sums(directory: str | Path) -> Path:
    """Write ``SHA256SUMS`` over every other file under ``directory`` (sha256sum's format).

    Refuses (``UsageError`` naming each) if the directory holds a link, FIFO, device or socket.
    """
    directory = Path(directory)
    listing = safefs.walk(directory)
    if listing.refused:
        raise UsageError(f"{directory}: refusing to write {SUMS} over entries that are not regular files: "
                         + "; ".join(map(str, listing.refused)) + " (remove them)")
    lines = [f"{safefs.sha256(directory, rel)}  {rel}\n" for rel in _sealed(listing)]
    return safefs.write_text(directory, SUMS, "".join(lines))


def sums_digest(directory: str | Path) -> str:
    """SHA-256 of ``SHA256SUMS``: one value that pins the whole bundle (kept in the history store)."""
    return safefs.sha256(directory, SUMS)


@dataclasses.dataclass(frozen=True)
class Verification:
    """What ``verify`` found; ``ok`` only if nothing changed, appeared or disappeared."""

    directory: Path
    checked: int = 0
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    malformed: tuple[str, ...] = ()   #: SHA256SUMS lines that cannot be read, or a missing SHA256SUMS
    refused: tuple[str, ...] = ()     #: entries that are not regular files (links, FIFOs, devices), never read

    @property
    def ok(self) -> bool:
        return not (self.changed or self.added or self.removed or self.malformed or self.refused)

    def lines(self) -> list[str]:
        """One line per problem, naming the file."""
        return ([f"changed: {p}" for p in self.changed] + [f"added: {p}" for p in self.added]
                + [f"removed: {p}" for p in self.removed] + [f"malformed: {p}" for p in self.malformed]
                + [f"refused: {p}" for p in self.refused])


def verify(directory: str | Path) -> Verification:
    """Compare every file under ``directory`` with ``SHA256SUMS``; never follow a link or open a non-file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    listing = safefs.walk(directory)
    refused = [str(r) for r in listing.refused]
    refused_paths = {r.path for r in listing.refused}
    if SUMS not in listing.files:
        missing = () if SUMS in refused_paths else (f"{SUMS} is missing: nothing to verify against",)
        return Verification(directory, malformed=missing, refused=tuple(refused))
    try:
        text = safefs.read_bytes(directory, SUMS).decode("utf-8", errors="replace")
    except (safefs.Refused, OSError) as exc:
        return Verification(directory, refused=(*refused, f"{SUMS} ({exc})"))
    listed: dict[str, str] = {}
    malformed = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _SUM_LINE.match(line)
        escape = safefs.escape_reason(m.group(2)) if m else None
        if not m or escape:
            malformed.append(f"{SUMS} line {n}: {line[:120]!r}" + (f" ({escape})" if escape else ""))
            continue
        listed[m.group(2)] = m.group(1)
    present = set(_sealed(listing))
    changed = []
    for p in sorted(set(listed) & present):
        try:
            if safefs.sha256(directory, p) != listed[p]:
                changed.append(p)
        except (safefs.Refused, OSError) as exc:  # replaced since the listing
            refused.append(f"{p} ({exc})")

    def under_refused(p: str) -> bool:  # named already as refused (itself, or a link it lies under)
        parts = p.split("/")
        return any("/".join(parts[:i]) in refused_paths for i in range(1, len(parts) + 1))

    removed = sorted(p for p in set(listed) - present if not under_refused(p))
    return Verification(directory, len(listed), tuple(changed), tuple(sorted(present - set(listed))),
                        tuple(removed), tuple(malformed), tuple(refused))


# -- writing, building, merging --------------------------------------------------------------

def write_bundle(directory: str | Path, results: Results, history: dict | None = None,
                 diff: dict | None = None, sign_key=None, store=None) -> Path:
    """Write ``results.json``, ``history.json`` and ``diff.json`` (if given), ``index.html`` and ``SHA256SUMS``.

    Then sign the bundle with ``sign_key`` (an Ed25519 private key or its PEM file), or without
    one remove a signature left from before (it no longer covers these files). With ``store``
    (a ``harness.reports.store.RecordStore``), ``results["results"]`` are its slim records and
    the full ones are streamed from it: the same files, without the run held in memory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    results = dict(results, schema=results.get("schema", SCHEMA))
    if store is None:
        safefs.write_text(directory, RESULTS, dump_results(results))  # replaces a planted link, never writes through it
    else:
        safefs.write_chunks(directory, RESULTS, results_chunks(results, store.lines()))
    if history is not None:
        safefs.write_text(directory, HISTORY, dump_json(history))
    if diff is not None:
        safefs.write_text(directory, DIFF, dump_json(diff))
    else:
        diff = _load_json(directory / DIFF)
    safefs.write_text(directory, INDEX, render(results, history, diff, full=store.record if store is not None else None))
    sums = write_sums(directory)
    signing.seal(directory, sign_key, results["run"])
    return sums


def _load_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def add_diff(directory: str | Path, diff: dict, *, sign_key=None) -> Path:
    """Put an upgrade diff into a bundle (a new one if ``directory`` holds none) and re-seal it."""
    directory = Path(directory)
    _refuse_unsafe(directory, "add a diff to")
    if (directory / RESULTS).is_file():
        if (directory / SUMS).is_file() and not verify(directory).ok:
            raise UsageError(f"{directory}: the bundle fails verification; refusing to add a diff to it")
        results = load_results(directory)
    else:
        results = {"run": {"run_id": "diff", "started": diff.get("started"), "finished": diff.get("finished"),
                           "server_version": diff.get("to"), "cluster_fingerprint": "n/a"}, "results": []}
    return write_bundle(directory, results, _load_history(directory), diff, sign_key=sign_key)


def _refuse_unsafe(directory: Path, doing: str) -> None:
    """Refuse to read or rewrite a bundle holding links, FIFOs or devices (reading one could hang or leave it)."""
    refused = safefs.walk(directory).refused if directory.is_dir() else ()
    if refused:
        raise UsageError(f"{directory}: holds entries that are not regular files ({'; '.join(map(str, refused))}); "
                         f"refusing to {doing} it")


def _load_history(directory: Path) -> dict | None:
    try:
        return json.loads((directory / HISTORY).read_text())
    except (OSError, ValueError):
        return None


def build(directory: str | Path, *, history_db: str | Path | None = None, force: bool = False,
          sign_key=None) -> Path:
    """Regenerate ``index.html`` (and ``history.json`` from ``history_db``) and ``SHA256SUMS``.

    Refuses if ``results.json`` or ``history.json`` no longer match an existing ``SHA256SUMS``
    (rebuilding would launder the change) unless ``force``.
    """
    directory = Path(directory)
    _refuse_unsafe(directory, "rebuild")
    results = load_results(directory)
    if (directory / SUMS).is_file() and not force:
        v = verify(directory)
        tampered = [p for p in (*v.changed, *v.removed, *v.malformed) if p in (RESULTS, HISTORY) or p.startswith(SUMS)]
        if tampered:
            raise UsageError(f"{directory}: {', '.join(tampered)} no longer match {SUMS}; refusing to rebuild "
                             "over a changed bundle (pss-harness report verify shows what changed; --force overrides)")
    snapshot = _load_history(directory)
    if history_db:
        run = results["run"]
        snapshot = hist.snapshot(history_db, run["run_id"], hist.history_key(run))
    return write_bundle(directory, results, snapshot, sign_key=sign_key)


def merge(out: str | Path, directories: Iterable[str | Path], *, check: bool = True, sign_key=None,
          allow_incomplete: bool = False) -> Path:
    """Join the bundles of several shards of one run into a new bundle at ``out``.

    Each shard is verified first (``check``). The shards must come from one cluster and one
    corpus (no scenario id with two file digests), and no item may appear in two shards. Shards
    of a sharded run (``run.shard``) must all split it the same way, each index once, and every
    index must be there unless ``allow_incomplete`` (then ``run.shard_coverage`` names the missing
    ones). The merged run's status is failed if a shard's is, else incomplete if a shard's is (or
    a shard is missing). The merged run lists its shards (run id, times, digest of each shard's
    ``SHA256SUMS``); its history view is left out (``build --history DB`` adds one).
    """
    directories = [Path(d) for d in directories]
    if not directories:
        raise UsageError("report merge needs at least one evidence directory to merge")
    shards = []
    for d in directories:
        if check:
            v = verify(d)
            if not v.ok:
                raise UsageError(f"shard {d} fails verification ({'; '.join(v.lines())}); "
                                 "merge only intact bundles (or pass --no-verify)")
        shards.append((d, load_results(d)))
    runs = [s["run"] for _, s in shards]
    cover = coverage((str(d), s["run"].get("shard")) for d, s in shards)
    if cover is not None and cover.missing and not allow_incomplete:
        raise UsageError(f"shard(s) {', '.join(f'{i}/{cover.count}' for i in cover.missing)} of the run are missing "
                         f"(given: {', '.join(f'{i}/{cover.count}' for i in cover.present)}); merge every shard, or "
                         "pass --allow-incomplete to write a merge marked incomplete")
    if cover is not None:
        _same_selection(shards)
    fingerprints = sorted({r.get("cluster_fingerprint", "unknown") for r in runs})
    if len(fingerprints) > 1:
        raise UsageError(f"the shards come from different clusters (fingerprints {', '.join(fingerprints)}); "
                         "merge shards of one run against one cluster")
    scenarios: dict[str, str] = {}
    for (d, s), run in zip(shards, runs):
        for sid, digest in (run.get("scenarios") or {}).items():
            if scenarios.setdefault(sid, digest) != digest:
                raise UsageError(f"scenario {sid!r} differs between the shards (shard {d}); "
                                 "merge shards that ran the same corpus")
    seen: dict[str, Path] = {}
    records = []
    for d, s in shards:
        for r in s["results"]:
            if r["nodeid"] in seen:
                raise UsageError(f"item {r['nodeid']} is in both {seen[r['nodeid']]} and {d}; the shards overlap")
            seen[r["nodeid"]] = d
            records.append(r)
    records.sort(key=lambda r: r["nodeid"])
    counts = result_counts(records)
    shard_ids = sorted(r["run_id"] for r in runs)
    first = runs[0]
    meta = {
        "run_id": "merged-" + hashlib.sha256(" ".join(shard_ids).encode()).hexdigest()[:8],
        "started": min(r.get("started", "") for r in runs),
        "finished": max(r.get("finished", "") or "" for r in runs),
        "cluster_fingerprint": fingerprints[0],
        "server_version": _same(runs, "server_version"),
        "harness_version": _same(runs, "harness_version"),
        "identity": first.get("identity"),
        "target": _same(runs, "target"),
        "options": {k: v for k, v in (first.get("options") or {}).items() if k != "shard"} or first.get("options"),
        "scenarios": scenarios,
        "corpus_sha256": corpus_digest(scenarios) if scenarios else None,
        "counts": counts,
        "items": len(records),
        "exit_status": max(int(r.get("exit_status", 0)) for r in runs),
        **merge_status(runs, records),  # failed if a shard is, else incomplete if one is; reasons name the shard
        "shards": [{"run_id": r["run_id"], "started": r.get("started"), "finished": r.get("finished"),
                    "items": len(s["results"]), "bundle_sha256": sums_digest(d) if (d / SUMS).is_file() else None,
                    "index": (r.get("shard") or {}).get("index"), "count": (r.get("shard") or {}).get("count")}
                   for (d, s), r in zip(shards, runs)],
    }
    if cover is not None:
        meta["shard_coverage"] = {"count": cover.count, "present": list(cover.present), "missing": list(cover.missing),
                                  "complete": cover.complete}
    merged = results_document(meta, records)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty; merge into a new directory")
    write_bundle(out, merged, sign_key=sign_key)
    return out


#: options that may differ between the shards of one run (everything else selects items)
_PER_SHARD_OPTIONS = frozenset({"run_id", "shard", "xdist_workers", "sign_key", "audit_log", "keep_namespaces",
                                "context", "kubeconfig", "sweep_after_minutes"})


def _same_selection(shards: list[tuple[Path, dict]]) -> None:
    """Shards of one run selected their items with the same options (else their union is no run)."""
    def selection(run: dict) -> dict:
        return {k: v for k, v in (run.get("options") or {}).items() if k not in _PER_SHARD_OPTIONS}

    first_dir, first = shards[0]
    want = selection(first["run"])
    for d, s in shards[1:]:
        got = selection(s["run"])
        if got != want:
            keys = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
            raise UsageError(f"shard {d} ran with other options than {first_dir} ({', '.join(keys)} differ): "
                             "merge the shards of one run, started with the same options")


def sign(directory: str | Path, key) -> Path:
    """Sign an existing bundle (after ``build``, or one written without a key); refuses one that fails ``verify``."""
    v = verify(directory)
    if not v.ok:
        raise UsageError(f"{directory} fails verification ({'; '.join(v.lines())}); refusing to sign it "
                         "(pss-harness report verify shows what changed)")
    return signing.sign_bundle(directory, key, load_results(directory)["run"])


def _same(runs: list[dict], key: str):
    values = sorted({str(r.get(key)) for r in runs})
    return runs[0].get(key) if len(values) == 1 else " | ".join(values)
