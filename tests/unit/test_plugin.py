"""The pytest plugin as users meet it: collection, ids, markers, and clear errors (no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = (REPO / "scenarios" / "baseline" / "privileged" / "vulnerable-pod.yaml").read_text()


@pytest.fixture
def corpus(pytester):
    pytester.makefile(".yaml", **{"vulnerable-pod": SEED})
    return pytester


def test_one_item_per_scenario_kind_and_policy_with_readable_ids(corpus):
    result = corpus.runpytest("--co", "-q")
    ids = [l for l in result.outlines if "::" in l]
    # 9 kinds x (privileged control + 2 levels x 3 modes x latest)
    assert len(ids) == 9 * 7
    assert "vulnerable-pod.yaml::vulnerable-pod[Pod-restricted-enforce-latest]" in ids
    assert "vulnerable-pod.yaml::vulnerable-pod[CronJob-baseline-audit-latest]" in ids


def test_markers_and_keywords_select_items(corpus):
    result = corpus.runpytest("--co", "-q", "-m", "level_baseline and mode_warn and check_privileged and kind_pod")
    assert [l for l in result.outlines if "::" in l] == ["vulnerable-pod.yaml::vulnerable-pod[Pod-baseline-warn-latest]"]
    result = corpus.runpytest("--co", "-q", "-k", "T1611 and StatefulSet and enforce", "-m", "level_restricted")
    assert len([l for l in result.outlines if "::" in l]) == 1


def test_matrix_options_narrow_the_run(corpus):
    result = corpus.runpytest("--co", "-q", "--psa-levels", "restricted", "--psa-modes", "enforce",
                              "--psa-versions", "latest,v1.30", "--psa-kinds", "Pod,Job")
    assert len([l for l in result.outlines if "::" in l]) == 4


@pytest.mark.parametrize("option,value,message", [
    ("--psa-levels", "strict", "must be one of privileged, baseline, restricted"),
    ("--psa-versions", "v1.3x", 'must be "latest" or "v1.N"'),
    ("--psa-kinds", "Secret", "unknown kind"),
    ("--psa-modes", "block", "must be one of enforce, warn, audit"),
    ("--kubeconfig", "/nonexistent/kubeconfig", "no such file"),
    ("--psa-run-id", "Nightly_1", "1-16 lower-case letters or digits"),
])
def test_bad_options_are_usage_errors_naming_the_value(corpus, option, value, message):
    result = corpus.runpytest("--co", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("mutate,message", [
    (lambda t: t.replace("level: baseline", "level: strict"), "level 'strict'"),
    (lambda t: t.replace("severity: critical", "severity: critical\n      colour: red"), "unknown scenario field 'colour'"),
    (lambda t: t.replace("- privileged\n", "- privilegd\n"), "unknown check id 'privilegd'"),
    (lambda t: t.replace("  name: vulnerable-pod", "  name: other"), "must equal the file name"),
    (lambda t: t + "extra: [unclosed\n", "YAML syntax error"),
])
def test_a_bad_scenario_file_is_a_collection_error_naming_file_and_line(pytester, mutate, message):
    pytester.makefile(".yaml", **{"vulnerable-pod": mutate(SEED)})
    result = pytester.runpytest("--co", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "vulnerable-pod.yaml:" in out and message in out
    assert "Traceback" not in out


def test_duplicate_ids_are_refused(pytester):
    pytester.mkdir("a")
    pytester.mkdir("b")
    (pytester.path / "a" / "vulnerable-pod.yaml").write_text(SEED)
    (pytester.path / "b" / "vulnerable-pod.yaml").write_text(SEED)
    result = pytester.runpytest("--co", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "duplicate scenario id 'vulnerable-pod'" in result.stdout.str()


def test_report_header_names_the_target(corpus):
    result = corpus.runpytest("--co")
    assert "embedded control plane (no --kubeconfig)" in result.stdout.str()
    assert "server-side dry-run" in result.stdout.str()


def test_extra_scenario_directories_from_the_option_and_ini(pytester):
    own = pytester.mkdir("team-corpus")
    (own / "vulnerable-pod.yaml").write_text(SEED)
    pytester.mkdir("empty")
    result = pytester.runpytest("empty", "--co", "-q", "--psa-scenarios", str(own), "--psa-kinds", "Pod")
    assert len([l for l in result.outlines if "::" in l]) == 7
    pytester.makeini(f"[pytest]\npsa_scenarios = {own}\n")
    result = pytester.runpytest("empty", "--co", "-q", "--psa-kinds", "Pod")
    assert len([l for l in result.outlines if "::" in l]) == 7
    result = pytester.runpytest("empty", "--co", "--psa-scenarios", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "--psa-scenarios nope: no such directory" in result.stderr.str()


def test_a_typo_in_the_annotation_key_is_a_collection_error_naming_the_file(pytester):
    """Before: ``pss-harness.io/scenarios:`` made the file silently not collected."""
    pytester.makefile(".yaml", **{"vulnerable-pod": SEED.replace("pss-harness.io/scenario:", "pss-harness.io/scenarios:")})
    result = pytester.runpytest("--co", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the run
    result.stdout.fnmatch_lines(["*vulnerable-pod.yaml:*annotation key 'pss-harness.io/scenarios' is not "
                                 "'pss-harness.io/scenario': a typo?*"])


def test_every_yaml_file_under_a_scenario_directory_is_a_scenario_or_an_error(pytester):
    mine = pytester.mkdir("my-scenarios")
    (mine / "vulnerable-pod.yaml").write_text(SEED)
    (mine / "notes.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n")
    (mine / "_helpers").mkdir()
    (mine / "_helpers" / "kustomization.yaml").write_text("resources: []\n")  # '_' directories are left out
    elsewhere = pytester.mkdir("fixtures")
    (elsewhere / "app.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: app}\n")
    result = pytester.runpytest("--co", "-q", "--psa-scenarios", str(mine), str(elsewhere))
    out = result.stdout.str()
    assert "my-scenarios/notes.yaml:1: the manifest must be a v1 Pod" in out
    assert "every YAML file under a scenario directory must be a scenario" in out
    assert "kustomization.yaml" not in out and "app.yaml" not in out
    assert result.ret == pytest.ExitCode.INTERRUPTED


# A conftest for the run below: the embedded control plane is replaced by a stub that refuses to
# start, so a run that wants a cluster stops at once (exit 3) instead of starting one.
_NO_PLANE = '''
import harness.embedded
from harness.core.errors import ControlPlaneError

class _RefusingCluster:
    def __init__(self, *args, **kwargs):
        raise ControlPlaneError("STUB: the embedded control plane was asked to start")

harness.embedded.EmbeddedCluster = _RefusingCluster
'''
_UNIT_TEST = "def test_pure():\n    assert 1 + 1 == 2\n"


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_not_integration_runs_the_unit_tests_and_starts_no_control_plane(pytester, xdist):
    """Every scenario item carries ``integration``; deselecting it leaves nothing that needs a cluster."""
    pytester.makefile(".yaml", **{"vulnerable-pod": SEED})
    pytester.makepyfile(test_unit=_UNIT_TEST, conftest=_NO_PLANE)
    collected = pytester.runpytest_subprocess("--co", "-q", "-m", "integration", "--psa-kinds", "Pod")
    assert len([l for l in collected.outlines if "vulnerable-pod.yaml::" in l]) == 7

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "not integration", *xdist)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, out
    # (under xdist the workers deselect, and the controller's summary does not count them)
    result.assert_outcomes(passed=1, **({} if xdist else {"deselected": 63}))
    assert "starting the embedded control plane" not in out and "STUB" not in out

    # the same run without -m wants the cluster (the stub refuses): the check above can fail
    wanted = pytester.runpytest_subprocess("-p", "no:cacheprovider", *xdist)
    out = wanted.stdout.str() + wanted.stderr.str()
    assert wanted.ret == 3, out
    assert "starting the embedded control plane" in out and "STUB: the embedded control plane was asked to start" in out


def test_a_selection_without_scenario_items_starts_no_control_plane(pytester):
    """Without xdist the target starts after collection, so ``-k`` deselecting every scenario is enough."""
    pytester.makefile(".yaml", **{"vulnerable-pod": SEED})
    pytester.makepyfile(test_unit=_UNIT_TEST, conftest=_NO_PLANE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "test_pure")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1, deselected=63)
    assert "starting the embedded control plane" not in result.stdout.str()


@pytest.mark.parametrize("args,dist", [(["-n", "2"], "loadfile"), (["-n", "2", "--dist", "load"], "load"),
                                       (["-n", "2", "--dist", "loadscope"], "loadscope"), ([], "no")])
def test_n_without_dist_distributes_by_file(pytester, args, dist):
    """Under xdist's own default (load) a file's items were spread over workers and each worker sent
    its siblings' requests too (3,000 duplicate requests in the default matrix)."""
    pytester.makeconftest("def pytest_report_header(config):\n    return [f'DIST={config.option.dist}']\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest(*args, "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([f"DIST={dist}"])
    assert result.ret == 0
