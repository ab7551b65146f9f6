"""`pss-harness truth` without a cluster: the items it checks, usage errors (exit 2), an unusable cluster (exit 3).

The runs against real servers are ``tests/integration/test_truth.py``.
"""

from __future__ import annotations

import socket

import pytest

from harness.cli import COMMANDS, build_parser, main
from harness.cli.truth import items_for, versions_for
from harness.core.checks import CHECKS
from harness.core.model import LATEST, Level, Mode, PolicyVersion
from harness.core.resources import corpus_dir
from harness.corpus.scenarios import load_corpus, load_scenario

HARDENED = corpus_dir() / "controls" / "bases" / "hardened-pod.yaml"


def run(capsys, *args):
    status = main(["truth", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_truth_is_a_command():
    assert COMMANDS["truth"] == "harness.cli.truth"
    args = build_parser().parse_args(["truth", "--scenarios", "a", "b", "--scenarios", "c", "--format", "json"])
    assert args.scenarios == ["a", "b", "c"] and args.format == "json" and args.kubeconfig is None


def test_items_are_every_kind_both_levels_latest_and_each_declared_boundary():
    sysctl = next(s for s in load_corpus([corpus_dir()]) if s.boundaries() == {27})
    assert versions_for(sysctl) == [PolicyVersion(26), PolicyVersion(27), LATEST]
    items = items_for([sysctl])
    assert len(items) == len(sysctl.kinds) * 2 * 3
    assert {p.mode for _, _, p in items} == {Mode.ENFORCE}
    assert {p.level for _, _, p in items} == {Level.BASELINE, Level.RESTRICTED}
    assert {k for _, k, _ in items} == set(sysctl.kinds)


def test_wide_adds_every_minor_where_a_check_changes_and_the_one_below():
    hardened = load_scenario(HARDENED)
    assert versions_for(hardened) == [LATEST]
    wide = versions_for(hardened, wide=True)
    for check in CHECKS.values():
        for v in check.versions:
            assert PolicyVersion(v) in wide and PolicyVersion(max(v - 1, 0)) in wide
    assert wide[-1] == LATEST and len(wide) == len(set(wide))


def test_kubeconfig_and_embedded_version_are_exclusive(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["truth", "--kubeconfig", "k", "--k8s-version", "1.34"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--context", "admin"], "--context needs --kubeconfig"),
    (["--scenarios", "/no/such/dir"], "--scenarios /no/such/dir: no such directory"),
    (["--only", "no-such-scenario"], "--only: no scenario with id no-such-scenario"),
    (["--kubeconfig", "/no/such/kubeconfig"], "--kubeconfig /no/such/kubeconfig: no such file"),
])
def test_usage_errors_exit_2_with_one_message(capsys, args, message):
    status, out, err = run(capsys, *args)
    assert status == 2 and message in err and "Traceback" not in err and out == ""


def test_bad_scenario_data_exits_2_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text(HARDENED.read_text().replace("name: hardened-pod", "name: broken").replace("level: none", "level: high"))
    status, _, err = run(capsys, "--scenarios", str(tmp_path))
    assert status == 2 and str(bad) in err and "Traceback" not in err


def test_empty_scenario_directory_exits_2(tmp_path, capsys):
    status, _, err = run(capsys, "--scenarios", str(tmp_path))
    assert status == 2 and "no scenarios in" in err


def test_an_unreachable_cluster_exits_3(tmp_path, capsys):
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: abcdefghijklmnop}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
        status, out, err = run(capsys, "--kubeconfig", str(kubeconfig), "--context", "x", "--scenarios", str(HARDENED.parent))
    assert status == 3 and out == ""
    assert "did not answer" in err and "Traceback" not in err
