"""Differential fuzzing of the offline evaluator against a real embedded kube-apiserver (bounded run).

The nightly run is ``python -m harness.fuzz --examples 5000`` (see ``harness/fuzz/``). Here:
a few hundred generated pods must get exactly the predicted answer at several levels and policy
versions, and a bug planted in the evaluator must be caught, shrunk to a one-change manifest and
written as a regression scenario whose checks are the server's. ``PSS_FUZZ_SEED`` overrides the seed.
"""

from __future__ import annotations

import os

import pytest

from harness import fuzz
from harness.core.checks import newest_minor
from harness.core.expectations import checks_at
from harness.core.model import Level
from harness.policy import evaluate_object, pod_template
from harness.corpus.scenarios import load_scenario
from harness.cluster.sessions import open_runtime

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("PSS_FUZZ_SEED", "20260714"))
EXAMPLES = 400


@pytest.fixture(scope="module")
def runtime():
    with open_runtime(progress=lambda message: None) as rt:
        yield rt


def test_bounded_differential_fuzz_agrees_with_the_server(runtime, tmp_path):
    report = fuzz.run(runtime, examples=EXAMPLES, seed=SEED, regressions_dir=tmp_path)
    print(report.summary())
    assert not report.aborted, report.summary()
    assert not report.disagreements, report.summary()
    assert report.examples >= EXAMPLES and report.compared >= 3 * EXAMPLES
    assert report.denied and report.admitted and report.warned and report.workloads and report.ephemeral
    assert report.errors == 0, report.summary()
    assert report.invalid_fraction < 0.05, report.summary()  # valid pods: PodSecurity, not validation, answers
    assert not list(tmp_path.iterdir())




def test_a_planted_evaluator_bug_is_caught_shrunk_and_written_as_a_regression(runtime, tmp_path):
    report = fuzz.run(runtime, examples=100, seed=SEED, regressions_dir=tmp_path, families=["add_capability"],
                      ephemeral=False, evaluate=fuzz.planted_bug(evaluate_object, ignore_capability="NET_RAW"))
    assert report.disagreements, report.summary()
    d = report.disagreements[0]
    text = str(d)
    assert "predicted: (admitted" in text or "predicted: pods" in text
    assert 'observed:  pods "fuzz" is forbidden: violates PodSecurity' in text and "NET_RAW" in text
    # shrunk to the hardened base pod (one container) plus the one change that matters
    assert d.case.mutations == (fuzz.Mutation("add_capability", "NET_RAW", "containers", 0),)
    spec = d.case.pod["spec"]
    assert len(spec["containers"]) == 1 and "initContainers" not in spec
    assert spec["containers"][0]["securityContext"]["capabilities"]["add"] == ["NET_RAW"]
    # the regression scenario holds what the server reports at every level and version
    s = load_scenario(d.regression)
    assert d.regression.parent == tmp_path and s.id.startswith("fuzz-") and s.level is Level.BASELINE
    assert s.check_ids() == ["capabilities_baseline"]
    for minor in (0, 21, 22, newest_minor()):
        assert checks_at(s, "Pod", Level.BASELINE, minor) == {"capabilities_baseline"}
        assert checks_at(s, "Deployment", Level.RESTRICTED, minor) == \
            {"capabilities_baseline" if minor < 22 else "capabilities_restricted"}
    assert runtime.cluster.server_version()["gitVersion"] in s.description
