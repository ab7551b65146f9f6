"""The attack corpus in scenarios/: loads, is laid out as documented, is complete, and its data agrees.

No cluster: the server-side truth is ``pss-harness truth`` (run in CI by
``tests/integration/test_truth.py``); here the scenario data is checked
against itself, against the layout rules in scenarios/README.md, and against an independent
offline reading of each manifest (``harness.corpus.coverage``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from harness.corpus.catalog import ATTACK_NAMES, CIS_NAMES, MS_MATRIX_NAMES, main as catalog_main, render_catalog
from harness.core.checks import CHECKS, effective_check, newest_minor
from harness.corpus.coverage import CONTAINER_PLACES, findings as _findings, violations as _violations
from harness.core.expectations import checks_at
from harness.core.model import Level
from harness.core.kinds import KIND_NAMES as KINDS
from harness.corpus.scenarios import load_corpus

ROOT = Path(__file__).resolve().parents[2] / "scenarios"
NEWEST = newest_minor()
B, R = Level.BASELINE, Level.RESTRICTED
IMAGE = "registry.k8s.io/pause:3.10"

#: (check, place) pairs API validation refuses, so the corpus exercises them with invalid scenarios
#: (established by `pss-harness truth` against kube-apiserver v1.37.2: tests/integration/test_truth.py)
API_FORBIDDEN = {
    ("hostPorts", "ephemeralContainers"),                    # ports: cannot be set for an Ephemeral Container
    ("hostProbesAndHostLifecycle", "ephemeralContainers"),   # probes/lifecycle: cannot be set for an Ephemeral Container
    ("hostProbesAndHostLifecycle", "initContainers"),        # may not be set for init containers without restartPolicy=Always
    ("windowsHostProcess", "ephemeralContainers"),           # a HostProcess container needs an all-HostProcess, hostNetwork pod
}


@functools.lru_cache(maxsize=1)
def corpus():
    loaded = tuple(load_corpus([ROOT]))
    _BY_ID.update({s.id: s for s in loaded})
    return loaded


def scenarios():
    return list(corpus())


@functools.lru_cache(maxsize=None)
def _findings_cached(sid, minor, kind):
    return tuple(_findings(_BY_ID[sid], minor, kind))


_BY_ID = {}


def findings(s, minor, kind="Pod"):
    if not isinstance(s, dict) and s.id in _BY_ID:
        return _findings_cached(s.id, minor, kind)
    return _findings(s, minor, kind)


def violations(s, kind, level, minor):
    if isinstance(s, dict):
        return _violations(s, kind, level, minor)
    from harness.core.checks import active_checks
    bad = {f.check for f in findings(s, minor, kind) if f.forbidden}
    return frozenset(c.id for c in active_checks(level, minor) if c.id in bad)


def test_corpus_loads_with_unique_ids_and_is_substantial():
    ids = [s.id for s in scenarios()]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 150
    assert {"privileged-container", "privileged-init-container", "privileged-ephemeral-container", "hostpath-root",
            "hostpath-containerd-socket", "everything-allowed", "debug-container-unhardened"} <= set(ids)


def test_no_scenario_names_an_unknown_check():
    for s in scenarios():
        unknown = set(s.check_ids()) - set(CHECKS)
        assert not unknown, f"{s.path}: unknown check ids {unknown}"


def _layout(s):
    rel = s.path.resolve().relative_to(ROOT)
    if rel.parts[0] == "regressions":  # written by harness.fuzz.driver: the server's answers for a shrunk disagreement
        assert len(rel.parts) == 2, f"{rel}: regression scenarios live at scenarios/regressions/<id>.yaml"
        return rel.parts[0], ""
    assert len(rel.parts) == 3, f"{rel}: scenarios live at scenarios/<group>/<topic>/<id>.yaml"
    return rel.parts[0], rel.parts[1]


def test_layout_level_directory_and_check_directory_match_the_data():
    for s in scenarios():
        group, topic = _layout(s)
        assert group in ("baseline", "restricted", "controls", "regressions"), f"{s.path}: unknown group {group!r}"
        if group == "regressions":
            assert s.id.startswith("fuzz-") and "differential fuzzing" in s.title, f"{s.path}: not written by harness.fuzz.driver"
        elif group in ("baseline", "restricted"):
            assert s.level is not None and s.level.value == group, f"{s.path}: level {s.level} but directory {group}"
            assert topic in s.check_ids(), f"{s.path}: directory {topic!r} is not among its checks {s.check_ids()}"
        else:
            assert topic in CHECKS or topic == "bases", f"{s.path}: controls/<check-id>/ or controls/bases/"
            assert s.level in (None, R), f"{s.path}: a control that baseline denies belongs under baseline/"
            admitted_somewhere = any(not checks_at(s, "Pod", lv, NEWEST) for lv in (B, R))
            assert s.invalid or admitted_somewhere, f"{s.path}: a control must be admitted at some level at v1.{NEWEST}"


def test_controls_exercise_their_check_with_an_allowed_value_where_admitted():
    for s in scenarios():
        group, topic = _layout(s)
        if group != "controls" or topic == "bases":
            continue
        level = CHECKS[topic].level
        allowed = [f for f in findings(s, NEWEST) if f.check == topic and not f.forbidden]
        assert allowed, f"{s.path}: sets no field of {topic} to an allowed value"
        assert not checks_at(s, "Pod", level, NEWEST), f"{s.path}: not admitted at {level}, where {topic} runs"


def _candidate_minors(s) -> set[int]:
    minors = {NEWEST}
    for b in s.boundaries():
        minors |= {b - 1, b}
    return minors


def _levels_where_runs(check_id):
    return (B, R) if CHECKS[check_id].level is B else (R,)


@pytest.mark.parametrize("check_id,level", [(c, lv) for c in sorted(CHECKS) for lv in _levels_where_runs(c)])
def test_every_check_and_level_has_a_scenario_that_must_fail(check_id, level):
    hits = []
    for s in scenarios():
        if s.invalid or check_id not in s.check_ids():
            continue
        for m in _candidate_minors(s):
            target = effective_check(check_id, level, m)
            if target and target in checks_at(s, "Pod", level, m):
                hits.append((s.id, m))
    assert hits, f"no scenario must be denied at {level} for {check_id}"


@pytest.mark.parametrize("check_id,level", [(c, lv) for c in sorted(CHECKS) for lv in _levels_where_runs(c)])
def test_every_check_and_level_has_a_scenario_that_must_pass(check_id, level):
    """Pass: the check's field is set to an allowed value and the scenario is admitted at the level."""
    assert effective_check(check_id, level, NEWEST) is not None
    hits = [s.id for s in scenarios()
            if not s.invalid and not checks_at(s, "Pod", level, NEWEST)
            and any(f.check == check_id and not f.forbidden for f in findings(s, NEWEST))]
    assert hits, f"no admitted scenario at {level} exercises {check_id} with an allowed value"


@pytest.mark.parametrize("check_id,place", [(c.id, p) for c in CHECKS.values() if c.per_container for p in CONTAINER_PLACES])
def test_every_per_container_check_is_attacked_in_every_container_kind(check_id, place):
    valid, invalid = [], []
    for s in scenarios():
        forbidden_here = any(f.check == check_id and f.place == place and f.forbidden
                             for m in range(CHECKS[check_id].since, NEWEST + 1) for f in findings(s, m))
        if not forbidden_here:
            continue
        if s.invalid:
            invalid.append(s.id)
        elif any(check_id in checks_at(s, "Pod", lv, m) for lv in (B, R)
                 for m in _candidate_minors(s) | {CHECKS[check_id].since}):
            valid.append(s.id)
    if (check_id, place) in API_FORBIDDEN:
        assert invalid, f"{check_id} in {place}: expected an invalid (422) scenario documenting the API refusal"
        assert not valid, f"{check_id} in {place}: {valid} claims a valid pod where the API refuses the field"
    else:
        assert valid, f"{check_id} is never attacked in {place}"


def test_ephemeral_containers_only_through_the_update_path():
    for s in scenarios():
        assert "ephemeralContainers" not in s.manifest.get("spec", {}), f"{s.path}: API validation forbids them on create"
        if s.update:
            assert s.kinds == ("Pod",)
            assert s.update["ephemeralContainers"], s.path


def test_update_path_base_pods_are_admitted_at_restricted_at_every_version():
    """The runner creates the base pod for real before adding the ephemeral container."""
    for s in scenarios():
        if not s.update:
            continue
        base = s.pod()
        for m in range(0, NEWEST + 1):
            assert not violations(base, "Pod", R, m), f"{s.path}: the base pod itself violates restricted v1.{m}"


def _all_containers(s):
    spec = s.manifest.get("spec", {})
    yield from spec.get("initContainers", []) + spec.get("containers", [])
    yield from (s.update or {}).get("ephemeralContainers", [])


def test_images_are_benign_and_pinned_and_nothing_runs_a_payload():
    for s in scenarios():
        for c in _all_containers(s):
            assert c["image"] == IMAGE, f"{s.path}: container {c['name']} uses {c['image']}"
            assert not {"command", "args", "env", "envFrom"} & set(c), f"{s.path}: container {c['name']} carries a payload"
        assert "namespace" not in s.manifest["metadata"]


def test_declared_checks_agree_with_an_offline_reading_of_every_manifest():
    """For every valid scenario, kind class, level and policy minor: what the data says the server
    reports equals what the manifest's fields trip, read independently by harness.corpus.coverage."""
    problems = []
    for s in scenarios():
        if s.invalid:
            continue
        kinds = {"Pod", next(k for k in s.kinds if k != "Pod") if len(s.kinds) > 1 else "Pod"}
        kinds |= {k for c in s.checks for k in c.kinds}
        for m in range(0, NEWEST + 1):
            for kind in kinds & set(s.kinds):
                for level in (B, R):
                    got, want = violations(s, kind, level, m), checks_at(s, kind, level, m)
                    if got != want:
                        problems.append(f"{s.id} {kind} {level}:v1.{m}: manifest trips {sorted(got)}, data says {sorted(want)}")
                        break
    assert not problems, "\n".join(problems[:20])


def test_every_scenario_is_fully_described():
    for s in scenarios():
        assert s.title and s.gain and s.severity and s.nsa and s.references, f"{s.path}: title, gain, severity, nsa, references"
        if s.level is not None and s.severity != "info":
            assert s.attack, f"{s.path}: an attack scenario needs ATT&CK ids"
        assert set(s.attack) <= set(ATTACK_NAMES), f"{s.path}: unnamed ATT&CK ids {set(s.attack) - set(ATTACK_NAMES)}"
        assert set(s.ms_matrix) <= set(MS_MATRIX_NAMES), f"{s.path}: unknown threat-matrix ids {set(s.ms_matrix) - set(MS_MATRIX_NAMES)}"
        assert set(s.cis) <= set(CIS_NAMES), f"{s.path}: unknown CIS ids {set(s.cis) - set(CIS_NAMES)}"
        if s.invalid:
            assert len(s.invalid) > 20, f"{s.path}: say why API validation refuses it"


def test_invalid_scenarios_exist_and_controls_exist():
    assert sum(bool(s.invalid) for s in scenarios()) >= 5
    controls = [s for s in scenarios() if s.level is None and not s.invalid]
    assert len(controls) >= 20
    assert all(tuple(s.kinds) == KINDS or s.update for s in controls)


def test_catalog_is_not_stale():
    text = render_catalog(scenarios(), root=ROOT)
    assert (ROOT / "CATALOG.md").read_text() == text, "run `python -m harness.corpus.catalog` and commit scenarios/CATALOG.md"


def test_catalog_lists_every_scenario_and_every_check():
    text = (ROOT / "CATALOG.md").read_text()
    for s in scenarios():
        assert f"[{s.id}](" in text
    for c in CHECKS:
        assert f"| `{c}` |" in text


def test_catalog_check_mode_exit_codes(tmp_path, capsys):
    import shutil

    src = tmp_path / "scenarios"
    for rel in ("baseline/privileged/privileged-container.yaml", "controls/bases/hardened-pod.yaml"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, src / rel)
    out = src / "CATALOG.md"
    assert catalog_main(["--scenarios", str(src), "--check"]) == 1  # missing counts as stale
    assert catalog_main(["--scenarios", str(src)]) == 0
    assert "[privileged-container](baseline/privileged/privileged-container.yaml)" in out.read_text()
    assert catalog_main(["--scenarios", str(src), "--check"]) == 0
    out.write_text(out.read_text() + "hand edit\n")
    assert catalog_main(["--scenarios", str(src), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
