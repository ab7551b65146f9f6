"""Generate ``scenarios/CATALOG.md`` from the scenario files.

``render_catalog(scenarios)`` is pure: the same corpus always renders the same text. It lists
every scenario (id, title, checks, lowest blocking level, versions, kinds, ATT&CK, CIS,
severity), a per-check coverage matrix (which containers and fields each check is exercised
with, read from the manifests by ``harness.corpus.coverage``) and the names of every taxonomy id used.

    python -m harness.corpus.catalog            # (re)write scenarios/CATALOG.md
    python -m harness.corpus.catalog --check    # exit 1 if CATALOG.md is stale
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path
from typing import Iterable

from harness.core.checks import CHECKS, newest_minor
from harness.corpus.coverage import PLACES, findings
from harness.core.expectations import checks_at
from harness.core.model import Level
from harness.core.kinds import KIND_NAMES
from harness.corpus.scenarios import Scenario, load_corpus
from harness.corpus.taxonomy import ATTACK_NAMES, CIS_VERSION, MS_MATRIX_NAMES
from harness.corpus.taxonomy import CIS_TITLES as CIS_NAMES

__all__ = ["ATTACK_NAMES", "CIS_NAMES", "CIS_VERSION", "MS_MATRIX_NAMES", "coverage", "main", "render_catalog"]

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "scenarios"


_PLACE_TITLES = {"containers": "containers", "initContainers": "init", "sidecars": "sidecar",
                 "ephemeralContainers": "ephemeral", "pod": "pod", "annotations": "annotations"}


def _minors_for(check_id: str) -> range:
    return range(CHECKS[check_id].since, newest_minor() + 1)


def coverage(scenarios: Iterable[Scenario]) -> dict[str, dict[str, dict[str, set]]]:
    """``{check: {place: {"fail": ids, "pass": ids, "invalid": ids, "bad": values, "good": values, "fields": fields}}}``.

    * ``fail``: a valid scenario sets a value the check forbids at some policy minor where it runs;
    * ``invalid``: the same, but API validation refuses the scenario (the field is not allowed there);
    * ``pass``: the value is allowed at the newest policy and the scenario is admitted (as a Pod) at
      the check's own level there.
    """
    out: dict = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(set)))
    newest = newest_minor()
    for s in scenarios:
        forbidden_somewhere: dict[tuple, set] = collections.defaultdict(set)
        per_minor = {m: findings(s, m) for m in range(0, newest + 1)}
        for m, fs in per_minor.items():
            for f in fs:
                if f.forbidden and m in _minors_for(f.check):
                    forbidden_somewhere[(f.check, f.place, f.field)].add(f.value)
        for (check, place, field), values in forbidden_somewhere.items():
            cell = out[check][place]
            cell["invalid" if s.invalid else "fail"].add(s.id)
            cell["bad"] |= values
            cell["fields"].add(field)
        admitted = {lv: not s.invalid and not checks_at(s, "Pod", lv, newest) for lv in (Level.BASELINE, Level.RESTRICTED)}
        for f in per_minor[newest]:
            if not f.forbidden and admitted[CHECKS[f.check].level]:
                cell = out[f.check][f.place]
                cell["pass"].add(s.id)
                cell["good"].add(f.value)
                cell["fields"].add(f.field)
    return out


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _check_cell(s: Scenario) -> str:
    parts = []
    for c in s.checks:
        quals = []
        if str(c.versions) != "all":
            quals.append(str(c.versions))
        if c.kinds:
            quals.append("/".join(c.kinds) + " only")
        parts.append(f"`{c.id}`" + (f" ({', '.join(quals)})" if quals else ""))
    return ", ".join(parts) or "–"


def _kinds_cell(s: Scenario) -> str:
    if tuple(s.kinds) == KIND_NAMES:
        return "all 9"
    return ", ".join(s.kinds)


def _blocks_cell(s: Scenario) -> str:
    if s.invalid:
        return "invalid (422)"
    return s.level.value if s.level else "none"


def _group(s: Scenario, root: Path) -> str:
    try:
        rel = s.path.resolve().relative_to(root.resolve())
    except ValueError:
        return str(s.path.parent)
    return str(rel.parent)


def _link(s: Scenario, root: Path) -> str:
    try:
        rel = s.path.resolve().relative_to(root.resolve())
    except ValueError:
        return s.id
    return f"[{s.id}]({rel.as_posix()})"


def render_catalog(scenarios: Iterable[Scenario], root: Path | None = None) -> str:
    """The Markdown catalog of ``scenarios``; links are relative to ``root`` (default: their common directory)."""
    scenarios = sorted(scenarios, key=lambda s: s.id)
    if root is None:
        root = Path(os.path.commonpath([str(s.path.resolve().parent) for s in scenarios])) if scenarios else Path(".")
    newest = newest_minor()
    lines = ["# Scenario catalog", "",
             "<!-- Generated by `python -m harness.corpus.catalog` from the scenario files. Do not edit by hand. -->", ""]

    attacks = [s for s in scenarios if s.level and not s.invalid]
    controls = [s for s in scenarios if not s.level and not s.invalid]
    invalid = [s for s in scenarios if s.invalid]
    by_level = collections.Counter(s.level.value for s in attacks)
    boundary = [s for s in attacks if not checks_at(s, "Pod", s.level, newest)]
    lines += [f"**{len(scenarios)} scenarios**: {len(attacks)} that some level must deny "
              f"({by_level['baseline']} from baseline, {by_level['restricted']} from restricted; "
              f"{len(boundary)} of them are version-boundary cases that their level admits at the newest "
              f"policy, v1.{newest}), "
              f"{len(controls)} controls every level must admit, and {len(invalid)} that API validation must refuse "
              "(422) before admission. Every scenario is submitted as each kind it lists; "
              f"{sum(1 for s in scenarios if s.update)} use the update path (ephemeral containers added "
              "to a running pod).", ""]

    # -- coverage matrix -----------------------------------------------------------------
    cov = coverage(scenarios)
    lines += ["## Coverage by check", "",
              "Where each check is exercised, read from the manifests (`harness.corpus.coverage`). In each cell: "
              "**✗** scenarios that set a value the check forbids (at some policy version where it runs), "
              "**✓** scenarios that set an allowed value and are admitted at the check's level at the newest "
              "policy, **⊘** scenarios that put a forbidden value where API validation refuses it (422). "
              "*pod* covers pod-level fields and volumes; *sidecar* is an init container with "
              "`restartPolicy: Always`; *ephemeral* is added through `pods/ephemeralcontainers`.", ""]
    header = ["check", "level", "variants from"] + [_PLACE_TITLES[p] for p in PLACES]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for check in sorted(CHECKS.values(), key=lambda c: (c.level.rank, c.id)):
        row = [f"`{check.id}`", check.level.value, ", ".join(f"v1.{v}" for v in check.versions)]
        for place in PLACES:
            cell = cov.get(check.id, {}).get(place)
            if not cell:
                row.append("")
                continue
            bits = []
            for key, sym in (("fail", "✗"), ("pass", "✓"), ("invalid", "⊘")):
                if cell.get(key):
                    bits.append(f"{len(cell[key])}{sym}")
            row.append(" ".join(bits) or "–")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")

    lines += ["### Fields and values exercised", ""]
    for check in sorted(CHECKS.values(), key=lambda c: (c.level.rank, c.id)):
        lines += [f"#### `{check.id}`", "", "| place | fields | forbidden values | allowed values |", "|---|---|---|---|"]
        for place in PLACES:
            cell = cov.get(check.id, {}).get(place)
            if not cell:
                continue
            fields = ", ".join(f"`{_md(f)}`" for f in sorted(cell["fields"]))
            bad = ", ".join(f"`{_md(v)}`" for v in sorted(cell["bad"])) or "–"
            good = ", ".join(f"`{_md(v)}`" for v in sorted(cell["good"])) or "–"
            lines.append(f"| {_PLACE_TITLES[place]} | {fields} | {bad} | {good} |")
        lines.append("")

    # -- scenario tables -----------------------------------------------------------------
    lines += ["## Scenarios", "",
              "*blocks at*: the lowest level that must deny it (`none`: a control every level admits; "
              "`invalid (422)`: API validation refuses it first). *checks*: what the server reports at "
              "restricted, as written in the scenario (baseline checks overridden at restricted are mapped "
              "automatically). *kinds*: `all 9` is Pod plus the 8 workload kinds.", ""]
    groups = collections.defaultdict(list)
    for s in scenarios:
        groups[_group(s, root)].append(s)
    for group in sorted(groups, key=lambda g: (_GROUP_ORDER.get(g.split("/")[0], 9), g)):
        lines += [f"### {group}", "", "| id | title | checks | blocks at | versions | kinds | ATT&CK | CIS | severity |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in groups[group]:
            lines.append(" | ".join([
                f"| {_link(s, root)}", _md(s.title), _check_cell(s), _blocks_cell(s), _md(str(s.versions)),
                _kinds_cell(s) + (" (update)" if s.update else ""), ", ".join(s.attack) or "–",
                ", ".join(s.cis) or "–", s.severity]) + " |")
        lines.append("")

    # -- legend --------------------------------------------------------------------------
    used_attack = sorted({t for s in scenarios for t in s.attack})
    used_ms = sorted({t for s in scenarios for t in s.ms_matrix})
    used_cis = sorted({t for s in scenarios for t in s.cis}, key=lambda t: tuple(int(x) for x in t.split(".")))
    lines += ["## Taxonomy ids used", "", "| ATT&CK | name | scenarios |", "|---|---|---|"]
    lines += [f"| {t} | {ATTACK_NAMES.get(t, '?')} | {sum(t in s.attack for s in scenarios)} |" for t in used_attack]
    lines += ["", "| Microsoft threat matrix | name | scenarios |", "|---|---|---|"]
    lines += [f"| {t} | {MS_MATRIX_NAMES.get(t, '?')} | {sum(t in s.ms_matrix for s in scenarios)} |" for t in used_ms]
    lines += ["", f"| {CIS_VERSION} | name | scenarios |", "|---|---|---|"]
    lines += [f"| {t} | {CIS_NAMES.get(t, '?')} | {sum(t in s.cis for s in scenarios)} |" for t in used_cis]
    lines.append("")
    return "\n".join(lines)


_GROUP_ORDER = {"baseline": 0, "restricted": 1, "controls": 2}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.corpus.catalog", description="Write scenarios/CATALOG.md from the scenario files.")
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if the catalog is stale")
    ap.add_argument("--scenarios", type=Path, default=DEFAULT_DIR, help="scenario directory (default: %(default)s)")
    ap.add_argument("--output", type=Path, help="catalog file (default: <scenarios>/CATALOG.md)")
    args = ap.parse_args(argv)
    output = args.output or args.scenarios / "CATALOG.md"
    text = render_catalog(load_corpus([args.scenarios]), root=args.scenarios)
    if args.check:
        current = output.read_text() if output.is_file() else ""
        if current != text:
            print(f"{output} is stale: run `python -m harness.corpus.catalog` and commit the result", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    output.write_text(text)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
