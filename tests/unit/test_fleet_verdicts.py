"""Fleets without a cluster: verdicts, the fleet command's rows (an unreachable server is real here), the fleet report.

The integration test ``tests/integration/test_fleet.py`` runs the same against three embedded planes.
"""

from __future__ import annotations

import re
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.cli import main
from harness.cli.fleet import context_dirs
from harness.core import fleet as core
from harness.core.errors import UsageError
from harness.core.resources import schema_path
from harness.reports import bundle, fleet, signing

REPO = Path(__file__).resolve().parents[2]
ASSET = REPO / "tests" / "assets" / "results-one-failure.json"


def _record(expected, observed, result="failed", audit=(), audit_seen=()):
    return {"result": result, "expected": {"outcome": expected, "checks": [], "audit_checks": list(audit)},
            "observed": None if observed is None else
            {"outcome": observed, "audit_violation": {"checks": list(audit_seen)} if audit_seen else None}}


# -- the verdicts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("expected,observed,audit,seen,cls", [
    ("denied", "admitted", (), (), "weaker"), ("denied", "warned", (), (), "weaker"), ("warned", "admitted", (), (), "weaker"),
    ("admitted", "admitted", ("privileged",), (), "weaker"),   # the audit annotation owed is missing
    ("admitted", "denied", (), (), "stricter"), ("admitted", "warned", (), (), "stricter"),
    ("denied", "denied", (), (), "different"),                   # other checks named
    ("admitted", "admitted", ("privileged",), ("privileged", "x"), "different"),
    ("denied", "denied-other", (), (), "different"), ("denied", "error", (), (), "error"), ("denied", None, (), (), "error"),
])
def test_a_failed_item_is_classified_by_how_it_differs(expected, observed, audit, seen, cls):
    assert core.failure_class(_record(expected, observed, audit=audit, audit_seen=seen)) == cls


def test_a_cluster_verdict_never_reads_passed_unless_every_item_was_judged():
    ok = _record("denied", "denied", "passed")
    assert core.verdict_of_records([ok, ok]) == ("passed", {"weaker": 0, "stricter": 0, "different": 0, "error": 0})
    assert core.verdict_of_records([ok, _record("denied", "admitted")])[0] == "gap"
    assert core.verdict_of_records([ok, _record("admitted", "denied"), _record("denied", "admitted")])[0] == "gap"
    assert core.verdict_of_records([ok, _record("admitted", "denied")])[0] == "deviation"
    assert core.verdict_of_records([ok, _record("denied", "error")])[0] == "incomplete"
    assert core.verdict_of_records([_record("denied", None, "skipped")])[0] == "incomplete"
    assert core.verdict_of_records([])[0] == "incomplete"
    assert core.verdict_of_records([ok], complete=False)[0] == "incomplete"       # interrupted: not proven
    assert core.verdict_of_records([_record("denied", "admitted")], complete=False)[0] == "gap"  # but a gap is a gap


def test_the_error_that_stopped_a_run_names_its_verdict_and_the_exit_status_combines_them():
    assert [core.verdict_of_error(t) for t in ("ClusterUnreachable", "AdmissionNotInEffect", "ClusterPermissionError",
                                              "ClusterError", "ControlPlaneError", None)] == \
        ["unreachable", "not-enforced", "refused", "refused", "error", "error"]
    assert core.exit_status(["passed", "passed"]) == 0
    assert core.exit_status(["passed", "gap"]) == 1 and core.exit_status(["not-enforced"]) == 1
    assert core.exit_status(["passed", "unreachable"]) == 4 and core.exit_status(["incomplete"]) == 4
    assert core.exit_status(["deviation", "refused"]) == 5
    assert set(core.VERDICTS) == core.FINDINGS | core.UNCHECKED | {"passed"}


# -- the fleet command --------------------------------------------------------------------------------

def _kubeconfig(path: Path, contexts: dict[str, str]) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": next(iter(contexts)),
        "clusters": [{"name": c, "cluster": {"server": s, "insecure-skip-tls-verify": True}} for c, s in contexts.items()],
        "users": [{"name": c, "user": {"token": f"tok-{c}-0123456789"}} for c in contexts],
        "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts]}))
    return path


def test_context_directories_are_safe_names_and_never_collide():
    dirs = context_dirs(["prod", "arn:aws:eks:eu-west-1:1234:cluster/prod", "a/b", "a-b", "PROD"])
    assert dirs["prod"] == "prod"
    assert all("/" not in d and ":" not in d for d in dirs.values())
    assert len(set(d.lower() for d in dirs.values())) == 5


@pytest.mark.parametrize("args,message", [
    (["--contexts", "nope"], "'nope' not in"),
    (["--contexts", "a,a"], "named twice"),
    (["--contexts", "a", "--", "--context", "b"], "fleet sets --context for each cluster itself"),
    (["--contexts", "a", "--", "--psa-run-id=x"], "fleet sets --psa-run-id"),
    (["--contexts", "a", "--audit-log", "b=/x"], "context 'b' is not one of the fleet's"),
    (["--contexts", "a", "--audit-log", "/x"], "CONTEXT=FILE"),
    (["--contexts", "a", "--parallel", "0"], "at least 1"),
])
def test_bad_fleet_arguments_are_one_clear_message(tmp_path, capsys, args, message):
    kc = _kubeconfig(tmp_path / "kc", {"a": "https://127.0.0.1:1"})
    assert main(["fleet", "--kubeconfig", str(kc), *args, "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_an_unreachable_cluster_is_a_row_of_its_own_never_passed(tmp_path, capsys):
    """A real connection refused (nothing listens on port 1): the run stops at the preflight, exit 3."""
    server = "https://127.0.0.1:1"
    kc = _kubeconfig(tmp_path / "kc", {"down": server, "down-too": "https://127.0.0.1:2"})
    rc = main(["fleet", "--kubeconfig", str(kc), "--all-contexts", "--reports", str(tmp_path / "r"),
               "--parallel", "2", "--format", "json", "--", "--psa-kinds", "Pod", "-k", "vulnerable-pod"])
    out = capsys.readouterr()
    assert rc == 4, out.err
    doc = json.loads(out.out)
    assert json.loads((tmp_path / "r" / "fleet.json").read_text()) == doc
    jsonschema.validate(doc, json.loads(schema_path("fleet").read_text()), cls=jsonschema.Draft202012Validator)
    assert [r["context"] for r in doc["clusters"]] == ["down", "down-too"]
    for row in doc["clusters"]:
        assert row["verdict"] == "unreachable" and row["exit_status"] == 3
        assert "did not answer" in row["cause"] and row["bundle"] is None
        assert (tmp_path / "r" / row["log"]).is_file()
    assert doc["summary"]["verdicts"]["unreachable"] == 2 and doc["summary"]["exit_status"] == 4
    text = (tmp_path / "r" / "fleet.json").read_text()
    assert server not in text and "127.0.0.1:1" not in text and "tok-down" not in text
    assert "down: started" in out.err and "[2/2]" in out.err and "UNREACHABLE" in out.err


# -- the fleet report -----------------------------------------------------------------------------------

def _bundle(tmp_path: Path, name: str, *, fail: bool = True, history: dict | None = None, context: str | None = None,
            version: str = "v1.37.2", key=None) -> Path:
    data = json.loads(ASSET.read_text())
    data["run"].update(run_id=name, server_version=version, cluster_fingerprint=(name * 32)[:32])
    data["run"]["options"]["context"] = context
    if not fail:
        for r in data["results"]:
            if r["result"] == "failed":
                r["result"], r["observed"]["outcome"], r["problems"] = "passed", r["expected"]["outcome"], []
    bundle.write_bundle(tmp_path / name, data, history, sign_key=key)
    return tmp_path / name


def _fleet_dir(tmp_path: Path, bundles: dict[str, Path], unreachable: list[str]) -> Path:
    root = tmp_path / "fleet"
    root.mkdir()
    rows = []
    for ctx, b in bundles.items():
        rows.append({"context": ctx, "bundle": str(b.relative_to(tmp_path).as_posix()), "bundle_sha256": bundle.sums_digest(b),
                     "verdict": "passed", "run_id": b.name})
    for ctx in unreachable:
        rows.append({"context": ctx, "bundle": None, "bundle_sha256": None, "verdict": "unreachable", "run_id": "r",
                     "cause": "reading the server version: the API server at <server> did not answer"})
    for r in rows:
        r["bundle"] = f"../{r['bundle']}" if r["bundle"] else None
    (root / "fleet.json").write_text(json.dumps({"schema": "pss-harness/fleet/v1", "clusters": rows}))
    return root


def test_the_report_joins_bundles_and_fleet_rows_into_matrices_with_drift_and_versions(tmp_path, capsys, schema_check):
    history = {"fingerprint": "f", "trend": [], "previous": {"run_id": "old", "started": "2026-11-01T00:00:00+00:00",
                                                             "server_version": "v1.36.1"},
               "changes": [{"check": "hostPathVolumes", "level": "baseline", "mode": "enforce", "before": "passed",
                            "after": "failed"}]}
    a = _bundle(tmp_path, "a", fail=False, history={**history, "previous": None, "changes": []})
    b = _bundle(tmp_path, "b", history=history, version="v1.36.1")
    root = _fleet_dir(tmp_path, {"prod-a": a, "prod-b": b}, ["prod-c"])
    rc = main(["report", "fleet", str(tmp_path / "out"), str(root)])
    out = capsys.readouterr().out
    assert rc == 5  # a finding (b's gap) and a cluster not checked (c)
    assert "prod-a: passed" in out and "prod-b: gap" in out and "prod-c: unreachable" in out
    doc = json.loads((tmp_path / "out" / "fleet-report.json").read_text())
    schema_check(doc, "fleet-report")
    by = {c["name"]: c for c in doc["clusters"]}
    assert [c["name"] for c in doc["clusters"]] == ["prod-a", "prod-b", "prod-c"]
    assert by["prod-b"]["controls"]["cis"]["5.2.12"] == "failed" and by["prod-a"]["controls"]["cis"]["5.2.12"] == "passed"
    assert by["prod-b"]["checks"]["hostPathVolumes"]["baseline"] == "failed"
    assert by["prod-c"]["controls"] is None and by["prod-c"]["checked"] is False
    assert by["prod-b"]["drift"]["drifted"] and not by["prod-a"]["drift"]["drifted"]
    assert doc["summary"]["drifted"] == ["prod-b"]
    assert doc["summary"]["server_versions"] == {"v1.36.1": ["prod-b"], "v1.37.2": ["prod-a"]}
    assert doc["frameworks"]["cis"]["names"]["5.2.12"].startswith("Minimize the admission of HostPath")
    assert doc["frameworks"]["attack"]["names"]["T1611"] == "Escape to Host"
    page = (tmp_path / "out" / "index.html").read_text()
    assert re.search(r'data-status="not-checked" title="[^"]*did not answer[^"]*">not checked: unreachable', page)
    assert "http" not in page.split("<body", 1)[1]  # no address, no link out: self-contained
    assert bundle.verify(tmp_path / "out").ok
    # the same inputs render the same bytes
    assert main(["report", "fleet", str(tmp_path / "again"), str(root)]) == 5
    assert (tmp_path / "again" / "index.html").read_bytes() == page.encode()


def test_a_tampered_or_replaced_bundle_refuses_the_report_naming_each(tmp_path, capsys):
    a, b, c = (_bundle(tmp_path, n) for n in "abc")
    root = _fleet_dir(tmp_path, {"prod-a": a, "prod-b": b, "prod-c": c}, [])
    results = b / "results.json"
    results.write_text(results.read_text().replace('"failed"', '"passed"'))   # tampered: no longer matches SHA256SUMS
    data = bundle.load_results(c)
    data["results"] = [dict(r, result="passed") for r in data["results"]]
    bundle.write_bundle(c, data)                                               # replaced: edited and sealed again
    assert main(["report", "fleet", str(tmp_path / "out"), str(root)]) == 2
    err = capsys.readouterr().err
    assert "2 bundle(s) fail verification" in err
    assert "prod-b:" in err and "changed: results.json" in err
    assert "prod-c:" in err and "not the one the fleet recorded" in err
    assert "prod-a" not in err and not (tmp_path / "out").exists()


def test_signatures_checked_with_key_and_the_report_signed_with_sign_key(tmp_path, capsys):
    private, public = signing.keygen(tmp_path / "key")
    other, other_pub = signing.keygen(tmp_path / "other")
    good = _bundle(tmp_path, "good", key=private, context="ctx-good")
    unsigned = _bundle(tmp_path, "plain", context="ctx-plain")
    assert main(["report", "fleet", str(tmp_path / "o1"), str(good), str(unsigned), "--key", str(public)]) == 2
    err = capsys.readouterr().err
    assert "1 bundle(s) fail verification" in err and f"{unsigned}: " in err and f"{good}: " not in err
    assert main(["report", "fleet", str(tmp_path / "o2"), str(good), "--key", str(public), "--sign-key", str(other)]) == 1
    capsys.readouterr()
    assert main(["report", "verify", str(tmp_path / "o2"), "--key", str(other_pub)]) == 0
    doc = json.loads((tmp_path / "o2" / "fleet-report.json").read_text())
    assert doc["clusters"][0]["name"] == "ctx-good" and doc["clusters"][0]["bundle"]["signed_by"]


def test_report_fleet_refuses_what_is_not_a_bundle_or_a_fleet(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="neither an evidence bundle"):
        fleet.collect([tmp_path / "empty"])
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(UsageError, match="not a pss-harness fleet summary"):
        fleet.collect([tmp_path / "x.json"])
    a = _bundle(tmp_path, "a", context="prod")
    with pytest.raises(UsageError, match="is given twice"):
        fleet.collect([a, tmp_path / "." / "a"])
    b = _bundle(tmp_path, "b", context="prod")  # two runs of one context: two rows told apart
    doc = fleet.document(fleet.collect([a, b]))
    assert [c["name"] for c in doc["clusters"]] == ["prod (run a)", "prod (run b)"]
    fleet.write(tmp_path / "out", doc)
    with pytest.raises(UsageError, match="is not empty"):
        fleet.write(tmp_path / "out", doc)


@pytest.mark.parametrize("name", ["fleet", "fleet-report"])
def test_the_fleet_schemas_are_valid_and_describe_every_field(name):
    from test_schemas import _undescribed

    s = json.loads(schema_path(name).read_text())
    jsonschema.Draft202012Validator.check_schema(s)
    assert _undescribed(s, s.get("$defs", {}), name) == []
    assert s["$defs"]["cluster"]["properties"]["verdict"]["enum"] == list(core.VERDICTS)


# -- the namespace sweep in the fleet (fleet --sweep) -----------------------------------------------------

def _ns(name, state="proven", level="baseline", probe="ok", exempt=()):
    return {"namespace": name, "enforce": {"state": state, "level": level if state == "proven" else None},
            "probe": {"state": probe}, "exempt": list(exempt)}


def _sweep_doc(namespaces, findings=(), *, policy=True, plugin="loaded", runner_exempt=False):
    return {"namespaces": namespaces, "findings": [{"id": i, "namespace": n} for i, n in findings],
            "policy": {"path": "p.yaml", "rules": []} if policy else None,
            "cluster": {"plugin": {"state": plugin}, "runner": {"exempt": runner_exempt}}}


def test_a_sweep_reports_the_namespaces_that_admit_and_is_judged_only_by_a_policy():
    namespaces = [_ns("kube-system", level="privileged"), _ns("legacy", "none", exempt=("namespace",)),
                  _ns("team-a"), _ns("team-b", level="restricted")]
    clean = core.sweep_outcome(_sweep_doc(namespaces, policy=False))
    assert clean["verdict"] == "passed" and clean["admitting"] == ["kube-system", "legacy"]
    assert clean["exempt"] == ["legacy"] and clean["namespaces"] == 4 and clean["policy"] is False
    assert core.sweep_cause(clean) is None
    off = core.sweep_outcome(_sweep_doc(namespaces, [("exempt-namespace", "legacy"), ("weaker-than-required", "legacy")]))
    assert off["verdict"] == "off-policy" and off["findings"] == 2 and off["offending"] == ["legacy"]
    assert core.sweep_cause(off) == ("2 finding(s) against the namespace policy in legacy "
                                     "(exempt-namespace 1, weaker-than-required 1)")


def test_a_sweep_that_could_not_prove_is_never_passed():
    unproven = core.sweep_outcome(_sweep_doc([_ns("a"), _ns("b", "unknown", probe="unprobeable")], policy=False))
    assert unproven["verdict"] == "incomplete" and unproven["unproven"] == ["b"]
    assert core.sweep_cause(unproven) == "1 namespace(s) not proven: b"
    unknown_mode = core.sweep_outcome(_sweep_doc([_ns("a")], [("audit-unknown", "a")]))  # no audit log, rule wants it
    assert unknown_mode["verdict"] == "incomplete" and unknown_mode["findings"] == 0
    assert "audit-unknown" in core.sweep_cause(unknown_mode)
    runner = core.sweep_outcome(_sweep_doc([_ns("a", "unknown")], policy=False, runner_exempt=True))
    assert runner["verdict"] == "incomplete"
    assert core.sweep_cause(core.sweep_outcome(_sweep_doc([], policy=False, runner_exempt=True))).startswith(
        "the sweep's identity is exempt")
    # a finding and something unproven: off-policy (a finding outranks not-checked), the unproven still listed
    both = core.sweep_outcome(_sweep_doc([_ns("a", "none"), _ns("b", "unknown")], [("weaker-than-required", "a"),
                                                                                  ("enforce-unknown", "b")]))
    assert both["verdict"] == "off-policy" and both["unproven"] == ["b"] and both["findings"] == 1
    disabled = core.sweep_outcome(_sweep_doc([_ns("a", "none")], [("plugin-disabled", "a")], plugin="disabled"))
    assert disabled["verdict"] == "not-enforced" and disabled["admitting"] == ["a"]


def test_a_clusters_verdict_is_the_worse_of_its_run_and_its_sweep_and_the_exit_status_counts_both():
    assert core.fold("passed", "off-policy") == "off-policy" and core.fold("gap", "off-policy") == "gap"
    assert core.fold("deviation", "off-policy") == "off-policy"      # admitted against the policy is weaker
    assert core.fold("passed", "incomplete") == "incomplete" and core.fold("passed", "unreachable") == "unreachable"
    assert core.fold("incomplete", "off-policy") == "off-policy"     # a finding found is still a finding
    assert core.fold(None, "passed") == "passed" and core.fold("passed", None) == "passed"
    assert core.fold("not-enforced", "off-policy") == "not-enforced"
    with pytest.raises(ValueError):
        core.fold(None, None)
    assert sorted(core.SEVERITY) == sorted(core.VERDICTS)

    def row(corpus, sweep):
        return {"verdict": core.fold(corpus, sweep), "corpus_verdict": corpus,
                "sweep": None if sweep is None else {"verdict": sweep}}

    def status(*rows):
        return core.exit_status(v for r in rows for v in core.row_verdicts(r))

    assert status(row("passed", "passed")) == 0
    assert status(row("passed", "off-policy")) == 1
    assert status(row("passed", "incomplete")) == 4                  # a sweep that could not probe is never ok
    assert status(row("gap", "incomplete")) == 5                     # the row reads gap; the sweep was not checked
    assert status(row("incomplete", "off-policy")) == 5
    assert status(row(None, "off-policy"), row(None, "passed")) == 1  # --sweep-only
    assert core.row_verdicts({"verdict": "unreachable"}) == ["unreachable"]  # a row of an older fleet.json


def test_fleet_sweep_arguments_are_checked_first_and_an_unreachable_sweep_is_not_checked(tmp_path, capsys):
    kc = _kubeconfig(tmp_path / "kc", {"down": "https://127.0.0.1:1"})
    base = ["fleet", "--kubeconfig", str(kc), "--contexts", "down", "--reports", str(tmp_path / "r")]
    assert main([*base, "--sweep-only", "--", "-k", "x"]) == 2
    assert "--sweep-only runs no corpus" in capsys.readouterr().err
    bad = tmp_path / "desired.yaml"
    bad.write_text("apiVersion: pss-harness.io/v1\nkind: NamespacePolicy\nrules:\n  - {name: x, minimum: {enforce: nope}}\n")
    assert main([*base, "--namespace-policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "desired.yaml:4" in err and "Traceback" not in err and not (tmp_path / "r").exists()

    rc = main([*base, "--sweep-only", "--format", "json"])  # a real connection refused: the sweep's own process
    out = capsys.readouterr()
    assert rc == 4, out.err
    doc = json.loads(out.out)
    jsonschema.validate(doc, json.loads(schema_path("fleet").read_text()), cls=jsonschema.Draft202012Validator)
    row = doc["clusters"][0]
    assert (row["verdict"], row["corpus_verdict"], row["sweep"]["verdict"]) == ("unreachable", None, "unreachable")
    assert row["sweep"]["exit_status"] == 3 and row["sweep"]["document"] is None and "did not answer" in row["cause"]
    assert "127.0.0.1:1" not in out.out and (tmp_path / "r" / row["sweep"]["log"]).is_file()
    assert "down: namespace sweep started" in out.err and "SWEEP" not in out.out
    report = main(["report", "fleet", str(tmp_path / "out"), str(tmp_path / "r"), "--format", "json"])
    assert report == 4
    entry = json.loads(capsys.readouterr().out)["clusters"][0]
    assert (entry["verdict"], entry["corpus_verdict"], entry["checked"]) == ("unreachable", None, False)
    assert entry["cause"].count("namespace sweep:") == 1
