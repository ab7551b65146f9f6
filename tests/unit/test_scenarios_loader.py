"""The strict scenario loader: what it accepts, and file:line errors for what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import ScenarioError
from harness.core.model import Level, VersionRange
from harness.core.kinds import KIND_NAMES as KINDS
from harness.corpus.scenarios import ANNOTATION, load_corpus, load_scenario

DATA = """\
title: Privileged container
gain: The node.
level: baseline
checks:
  - privileged
  - {id: hostPorts, versions: ">=v1.19 <v1.35", kinds: [Pod]}
severity: critical
attack: [T1611]
ms-matrix: [MS-TA9018]
cis: ["5.2.2", "5.7.2"]
nsa: Pod security enforcement"""

SPEC = """\
spec:
  containers:
    - name: app
      image: registry.k8s.io/pause:3.10
      securityContext:
        privileged: true"""


def scenario_text(name: str = "bad-pod", data: str = DATA, spec: str = SPEC, extra_meta: str = "") -> str:
    block = "\n".join("      " + line if line else "" for line in data.splitlines())
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{extra_meta}  annotations:\n"
            f"    example.com/keep: \"yes\"\n    {ANNOTATION}: |\n{block}\n{spec}\n")


def write(directory: Path, text: str, stem: str = "bad-pod") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.yaml"
    path.write_text(text)
    return path


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def refused(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(f"{path}:{err.line}: " if err.line else f"{path}: ")
    return err


# -- what it accepts -----------------------------------------------------------------------


def test_valid_file_loads_every_field_and_strips_only_its_own_annotation(tmp_path):
    path = write(tmp_path, scenario_text())
    s = load_scenario(path)
    assert (s.id, s.title, s.gain, s.level, s.severity) == ("bad-pod", "Privileged container", "The node.",
                                                           Level.BASELINE, "critical")
    assert s.check_ids() == ["hostPorts", "privileged"]
    ranged = next(c for c in s.checks if c.id == "hostPorts")
    assert ranged.versions == VersionRange(19, 35) and ranged.kinds == ("Pod",)
    assert ranged.applies(19, "Pod") and not ranged.applies(35, "Pod") and not ranged.applies(20, "Deployment")
    assert (s.attack, s.ms_matrix, s.cis) == (("T1611",), ("MS-TA9018",), ("5.2.2", "5.7.2"))
    assert s.kinds == KINDS and s.invalid == "" and s.update is None
    assert s.manifest["metadata"]["annotations"] == {"example.com/keep": "yes"}
    assert s.manifest["spec"]["containers"][0]["securityContext"] == {"privileged": True}
    assert s.boundaries() == {19, 35}
    assert s.pod() == s.manifest and s.pod() is not s.manifest


def test_control_update_and_invalid_fields(tmp_path):
    data = ("title: t\ngain: g\nlevel: none\nchecks: []\nseverity: info\nkinds: [Pod]\n"
            "invalid: the API refuses it\nupdate:\n  ephemeralContainers:\n    - name: dbg\n"
            "      image: registry.k8s.io/pause:3.10")
    s = load_scenario(write(tmp_path, scenario_text(data=data)))
    assert s.is_control and s.level is None and s.kinds == ("Pod",)
    assert s.invalid == "the API refuses it"
    assert s.update == {"ephemeralContainers": [{"name": "dbg", "image": "registry.k8s.io/pause:3.10"}]}


# -- file:line errors ----------------------------------------------------------------------


def test_malformed_yaml_in_the_manifest_names_file_and_line(tmp_path):
    text = scenario_text(spec="spec:\n  containers:\n    - name: app\n     image: oops")
    err = refused(write(tmp_path, text))
    assert "YAML syntax error" in err.problem
    assert err.line == line_of(text, "image: oops")


def test_malformed_yaml_inside_the_annotation_names_the_line_in_the_file(tmp_path):
    text = scenario_text(data=DATA.replace("severity: critical", "severity: [critical"))
    err = refused(write(tmp_path, text))
    assert "YAML syntax error" in err.problem
    assert line_of(text, "severity: [critical") <= err.line <= line_of(text, "severity: [critical") + 1


def test_unknown_scenario_field_names_its_line(tmp_path):
    text = scenario_text(data=DATA + "\nseverty: high")
    err = refused(write(tmp_path, text))
    assert "unknown scenario field 'severty'" in err.problem
    assert err.line == line_of(text, "severty: high")


@pytest.mark.parametrize("old,new,needle,problem", [
    ("level: baseline", "level: medium", "level: medium", "level 'medium'"),
    ("level: baseline", "level: restricted", "level: restricted", "disagrees with the checks"),
    ("severity: critical", "severity: urgent", "severity: urgent", "severity 'urgent'"),
    ("attack: [T1611]", "attack: [Escape]", "attack: [Escape]", "ATT&CK"),
    ("cis: [\"5.2.2\", \"5.7.2\"]", "cis: [\"6.1.1\"]", "cis:", "CIS"),
    ("ms-matrix: [MS-TA9018]", "ms-matrix: [TA9018]", "ms-matrix:", "threat-matrix"),
    ("nsa: Pod security enforcement", "nsa: Pod security enforcement\nversions: '>v1.19'", "versions: '>v1.19'", "versions"),
    ("nsa: Pod security enforcement", "nsa: Pod security enforcement\nversions: '<v1.3 >=v1.5'", "versions: '<v1.3", "empty"),
    ("nsa: Pod security enforcement", "nsa: Pod security enforcement\nkinds: [Pod, Deploymnet]", "kinds: [Pod, Deploymnet]", "Deploymnet"),
    ("title: Privileged container", "title: 42", "title: 42", "non-empty str"),
])
def test_bad_values_name_the_field_line(tmp_path, old, new, needle, problem):
    text = scenario_text(data=DATA.replace(old, new))
    err = refused(write(tmp_path, text))
    assert problem in err.problem
    assert err.line == line_of(text, needle)


@pytest.mark.parametrize("entry,problem", [
    ("  - privilegd", "unknown check id 'privilegd'"),
    ("  - {id: privileged, versions: 'v1.19'}", "checks:"),
    ("  - {id: privileged, kinds: [Pods]}", "unknown kind"),
    ("  - {id: privileged, since: v1.0}", "unknown field(s) ['since']"),
    ("  - {versions: all}", "must be a check id or a mapping with 'id'"),
    ("  - privileged\n  - privileged", "listed twice"),
])
def test_bad_check_entries_name_the_checks_line(tmp_path, entry, problem):
    data = DATA.replace("  - privileged\n", entry + "\n")
    text = scenario_text(data=data)
    err = refused(write(tmp_path, text))
    assert problem in err.problem
    assert err.line == line_of(text, "checks:")


def test_missing_required_field_names_the_annotation(tmp_path):
    text = scenario_text(data=DATA.replace("gain: The node.\n", ""))
    err = refused(write(tmp_path, text))
    assert "'gain' is required" in err.problem
    assert err.line == line_of(text, ANNOTATION)


def test_name_must_equal_file_stem(tmp_path):
    text = scenario_text(name="other-name")
    err = refused(write(tmp_path, text, stem="bad-pod"))
    assert "must equal the file name 'bad-pod'" in err.problem
    assert err.line == line_of(text, "name: other-name")


def test_name_must_be_a_dns_label(tmp_path):
    text = scenario_text(name="Bad_Pod")
    err = refused(write(tmp_path, text, stem="Bad_Pod"))
    assert "DNS label" in err.problem and err.line == line_of(text, "name: Bad_Pod")


def test_namespace_is_refused(tmp_path):
    text = scenario_text(extra_meta="  namespace: prod\n")
    err = refused(write(tmp_path, text))
    assert "namespace" in err.problem and err.line == line_of(text, "namespace: prod")


def test_not_a_pod_and_missing_annotation(tmp_path):
    err = refused(write(tmp_path, scenario_text().replace("kind: Pod", "kind: Deployment")))
    assert "v1 Pod" in err.problem and err.line == 1
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad-pod\nspec: {}\n"
    err = refused(write(tmp_path, text))
    assert "is missing" in err.problem and err.line == line_of(text, "name: bad-pod")


def test_two_documents_are_refused(tmp_path):
    err = refused(write(tmp_path, scenario_text() + "---\n" + scenario_text()))
    assert "exactly one manifest" in err.problem


def test_update_requires_pod_only(tmp_path):
    data = DATA + "\nupdate:\n  ephemeralContainers: []"
    text = scenario_text(data=data)
    err = refused(write(tmp_path, text))
    assert "kinds: [Pod]" in err.problem and err.line == line_of(text, "update:")


def test_duplicate_id_across_directories_names_the_second_file_and_line(tmp_path):
    first = write(tmp_path / "a" / "baseline" / "privileged", scenario_text())
    text = scenario_text()
    second = write(tmp_path / "b" / "privileged", text)
    with pytest.raises(ScenarioError) as info:
        load_corpus([tmp_path / "a", tmp_path / "b"])
    err = info.value
    assert err.path == str(second) and str(first) in err.problem and "duplicate scenario id 'bad-pod'" in err.problem
    assert err.line == line_of(text, "name: bad-pod")
    assert str(err).startswith(f"{second}:{err.line}: ")


def test_corpus_skips_underscore_and_dot_paths(tmp_path):
    write(tmp_path / "baseline", scenario_text())
    write(tmp_path / "_drafts", scenario_text(name="draft"), stem="draft")
    write(tmp_path / ".hidden", scenario_text(name="hidden"), stem="hidden")
    assert [s.id for s in load_corpus([tmp_path])] == ["bad-pod"]
