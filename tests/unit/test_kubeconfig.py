"""A broken kubeconfig gets one clear error naming the file and the fix, and the usage exit status.

Before: a YAML syntax error or a list at the top gave the client's traceback (``TypeError: list
indices must be integers``); in pytest an INTERNALERROR, in ``assess`` exit 1 ("would be denied").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.cluster.client import check_kubeconfig
from harness.core.errors import UsageError

GOOD = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
"""

BROKEN = [
    ("a: [b\n", "not valid YAML (line 2)"),
    ("- 1\n- 2\n", "a YAML list, not a mapping"),
    ("just text\n", "a YAML str, not a mapping"),
    ("clusters: {a: 1}\nusers: []\ncontexts: []\n", "'clusters' must be a list of named entries"),
    (GOOD.replace("current-context: ctx\n", ""), "no current-context and no --context given (contexts: ctx)"),
    (GOOD.replace("current-context: ctx", "current-context: gone"), "context 'gone' is not defined (contexts: ctx)"),
]


@pytest.mark.parametrize("text,message", BROKEN)
def test_check_kubeconfig_names_the_file_and_the_problem(tmp_path, text, message):
    f = tmp_path / "kc.yaml"
    f.write_text(text)
    with pytest.raises(UsageError) as err:
        check_kubeconfig(f)
    assert str(f) in str(err.value) and message in str(err.value)


def test_a_good_kubeconfig_and_an_explicit_context_pass(tmp_path):
    f = tmp_path / "kc.yaml"
    f.write_text(GOOD)
    check_kubeconfig(f)
    check_kubeconfig(f, "ctx")
    with pytest.raises(UsageError, match="context 'other' is not defined"):
        check_kubeconfig(f, "other")


@pytest.mark.parametrize("text,message", BROKEN[:2])
def test_assess_exits_with_the_usage_status(tmp_path, capsys, text, message):
    kc = tmp_path / "kc.yaml"
    kc.write_text(text)
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n")
    status = main(["assess", str(pod), "--level", "baseline", "--kubeconfig", str(kc)])
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("text,message", BROKEN[:2])
def test_pytest_run_ends_with_a_usage_error_not_an_internal_error(pytester, text, message):
    kc = pytester.path / "kc.yaml"
    kc.write_text(text)
    seed = Path(__file__).resolve().parents[2] / "scenarios" / "baseline" / "privileged" / "vulnerable-pod.yaml"
    pytester.makefile(".yaml", **{"vulnerable-pod": seed.read_text()})
    result = pytester.runpytest("-q", "--kubeconfig", str(kc))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str() and "INTERNALERROR" not in result.stderr.str() + result.stdout.str()
