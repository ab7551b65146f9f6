"""The shipped JSON Schemas: valid draft 2020-12, every field described, in step with the typed record and
the code's vocabularies, met by real outputs (bundles, evidence records, ``assess --offline``, a diff) and
failing on broken ones. The integration tests check the live outputs the same way (``schema_check``)."""

from __future__ import annotations

import copy
import fnmatch
import json
import tomllib
import types
from pathlib import Path

import jsonschema
import pytest

from harness.cli import main
from harness.cli.diff import _describe
from harness.core import diff as core_diff
from harness.core.kinds import KIND_NAMES
from harness.core.model import Level, Mode, Outcome
from harness.core.resources import schema_path
from harness.corpus.scenarios import SEVERITIES
from harness.plugin import evidence
from harness.reports import bundle, record

from test_evidence import fake_item

REPO = Path(__file__).resolve().parents[2]
ASSET = REPO / "tests" / "assets" / "results-one-failure.json"
MANIFESTS = REPO / "tests" / "fixtures" / "manifests"
NAMES = ("results", "assess", "diff")
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schema(name: str) -> dict:
    return json.loads(schema_path(name).read_text(encoding="utf-8"))


def asset() -> dict:
    return json.loads(ASSET.read_text())


# -- the schemas themselves ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_valid_draft_2020_12_schema(name):
    s = schema(name)
    assert s["$schema"] == DRAFT
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["title"] and s["description"]


def _undescribed(node, defs: dict, where: str) -> list[str]:
    """Every property (at any depth) whose schema has no description, itself or through its ``$ref``."""
    out = []
    if isinstance(node, dict):
        for key, sub in (node.get("properties") or {}).items():
            target = defs.get(sub.get("$ref", "").removeprefix("#/$defs/"), {}) if "$ref" in sub else {}
            if not (sub.get("description") or target.get("description")):
                out.append(f"{where}.{key}")
        for key, value in node.items():
            out += _undescribed(value, defs, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _undescribed(value, defs, f"{where}[{i}]")
    return out


@pytest.mark.parametrize("name", NAMES)
def test_every_field_is_described(name):
    s = schema(name)
    defs = s.get("$defs", {})
    assert _undescribed(s, defs, name) == []
    assert [d for d, sub in defs.items() if not sub.get("description")] == []


def test_package_data_ships_the_schemas_and_the_report_assets():
    """A non-editable wheel carries what ``[tool.setuptools.package-data]`` names: every schema and asset."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]

    def shipped(path: Path) -> bool:
        for package, globs in data.items():
            base = REPO / package.replace(".", "/")
            if base in path.parents and any(fnmatch.fnmatch(path.relative_to(base).as_posix(), g) for g in globs):
                return True
        return False

    files = sorted((REPO / "harness" / "schemas").glob("*")) + sorted((REPO / "harness" / "reports" / "assets").glob("*"))
    assert {p.name for p in files} >= {"results.schema.json", "assess.schema.json", "diff.schema.json",
                                       "report.css", "report.js"}
    assert [p.name for p in files if not shipped(p)] == []
    assert all(schema_path(n).is_file() for n in NAMES)


# -- one source for each fact: the vocabularies and the typed record ---------------------------------

def test_the_vocabularies_are_the_codes():
    results, assess, diff = schema("results"), schema("assess"), schema("diff")
    defs = results["$defs"]
    outcomes = [o.value for o in Outcome]
    assert defs["outcome"]["enum"] == outcomes
    assert defs["level"]["enum"] == [lv.value for lv in Level]
    assert defs["mode"]["enum"] == [m.value for m in Mode]
    item = defs["item"]["properties"]
    assert item["kind"]["enum"] == list(KIND_NAMES)
    assert item["severity"]["enum"] == list(SEVERITIES)
    assert item["result"]["enum"] == list(record.RESULTS_VOCABULARY)
    assert item["level"]["enum"] == [lv.value for lv in Level] + [None]
    assert results["properties"]["schema"]["const"] == record.SCHEMA
    assert defs["run"]["properties"]["counts"]["propertyNames"]["enum"] == list(record.RESULTS_VOCABULARY)
    entry = assess["properties"]["results"]["items"]["properties"]
    assert entry["observed"]["properties"]["outcome"]["enum"] == outcomes
    assert assess["properties"]["level"]["enum"] == [lv.value for lv in Level if lv is not Level.PRIVILEGED]
    for form in diff["properties"]["changes"]["items"]["oneOf"]:
        assert form["properties"]["change"]["enum"] == list(core_diff.CHANGE_CLASSES)
        assert form["properties"]["from"]["properties"]["outcome"]["enum"] == outcomes
        assert form["properties"]["level"]["enum"] == [lv.value for lv in Level]
        assert form["properties"]["explanation"]["properties"]["label"]["enum"] == list(core_diff.EXPLANATION_LABELS)
    for form in diff["properties"]["groups"]["items"]["oneOf"]:
        assert form["properties"]["change"]["enum"] == list(core_diff.CHANGE_CLASSES)
    assert list(diff["properties"]["summary"]["properties"]) == list(core_diff.summary([], 0))


def _pairs():
    defs = schema("results")["$defs"]
    run = defs["run"]["properties"]
    return [(schema("results"), record.Results), (defs["item"], record.ItemRecord), (defs["policy"], record.PolicyRecord),
            (defs["expected"], record.ExpectedRecord), (defs["observed"], record.ObservedRecord),
            (defs["violation"], record.ViolationRecord), (defs["request"], record.RequestRecord),
            (defs["controller"], record.ControllerRecord), (defs["run"], record.RunMeta),
            (run["identity"], record.IdentityRecord), (run["shards"]["items"], record.ShardRecord),
            (run["collection_errors"]["items"], record.CollectionErrorRecord),
            (run["shard"], record.RunShardRecord), (run["shard_coverage"], record.ShardCoverageRecord),
            (run["engine"], record.EngineRecord)]


@pytest.mark.parametrize("part,typed", _pairs(), ids=lambda v: getattr(v, "__name__", ""))
def test_the_typed_record_and_the_schema_name_the_same_fields(part, typed):
    assert sorted(part["properties"]) == sorted(typed.__annotations__)
    assert part["additionalProperties"] is False  # an undocumented field fails the check
    assert sorted(part["required"]) == sorted(typed.__required_keys__ or ["run_id"])


def test_item_record_builds_every_field_in_order_and_refuses_a_missing_or_unknown_one():
    fields = {k: None for k in record.ItemFields.__annotations__}
    fields.update(expected={"checks": ["privileged"], "audit_checks": []}, declared_checks=[])
    built = record.item_record(**dict(reversed(fields.items())))
    assert list(built) == [*record.ItemFields.__annotations__, "controls"] and built["controls"] == ["privileged"]
    del fields["worker"]
    with pytest.raises(TypeError, match=r"missing field\(s\) \['worker'\], unknown field\(s\) \['workr'\]"):
        record.item_record(**fields, workr="main")


# -- real outputs conform ----------------------------------------------------------------------

def test_the_asset_and_a_bundle_written_from_it_conform(tmp_path, schema_check):
    schema_check(asset(), "results")
    bundle.write_bundle(tmp_path / "b", asset())
    schema_check(json.loads((tmp_path / "b" / "results.json").read_text()), "results")


def test_merged_and_diff_only_bundles_conform(tmp_path, schema_check):
    data = asset()
    for i in range(2):
        shard = copy.deepcopy(data)
        shard["run"].update(run_id=f"shard{i}", started=f"2026-01-0{i + 1}T00:00:00+00:00")
        shard["results"] = data["results"][i::2]
        bundle.write_bundle(tmp_path / f"shard{i}", shard)
    merged = bundle.merge(tmp_path / "merged", [tmp_path / "shard0", tmp_path / "shard1"])
    doc = json.loads((merged / "results.json").read_text())
    assert [s["run_id"] for s in doc["run"]["shards"]] == ["shard0", "shard1"]
    schema_check(doc, "results")

    changes = core_diff.compare({("scenario", "s", "Pod", "", "baseline", "enforce"): core_diff.Observed(Outcome.DENIED)},
                                {("scenario", "s", "Pod", "", "baseline", "enforce"): core_diff.Observed(Outcome.ADMITTED)},
                                _describe)
    diff = core_diff.document(core_diff.Side("v1.34.4"), core_diff.Side("v1.37.2"), changes, 1)
    bundle.add_diff(tmp_path / "d", dict(diff, started="2026-01-01T00:00:00+00:00", finished="2026-01-01T00:01:00+00:00"))
    schema_check(json.loads((tmp_path / "d" / "results.json").read_text()), "results")
    schema_check(json.loads((tmp_path / "d" / "diff.json").read_text()), "diff")


def test_evidence_records_of_a_failed_and_a_skipped_item_conform(tmp_path, schema_check):
    failed = fake_item(tmp_path, "pods is forbidden", ["299 - a warning"])
    del failed.execution.request["headers"]  # the fake's planted credential: no real request carries headers
    evidence.record_item(failed, types.SimpleNamespace(skipped=False, passed=False, duration=0.01, longrepr="x"), None)
    skipped = fake_item(tmp_path, "", [])
    skipped.execution = skipped.verdict = skipped.expectation = None
    evidence.record_item(skipped, types.SimpleNamespace(skipped=True, passed=False, duration=0.0,
                                                        longrepr=("x.yaml", 1, "Skipped: not served")), None)
    evidence.close_records(failed.config)
    evidence.close_records(skipped.config)
    assert skipped.psa_record["observed"] is None and skipped.psa_record["skip_reason"] == "Skipped: not served"
    for item in (failed, skipped):
        schema_check(item.psa_record, "results", "item")
    lines = (tmp_path / "reports" / "evidence" / "unit" / "records" / "main.jsonl").read_text().splitlines()
    for line in lines:
        schema_check(json.loads(line), "results", "item")


def test_assess_offline_json_conforms(capsys, schema_check):
    for args in ([str(MANIFESTS), "--level", "baseline"], [str(MANIFESTS / "list.json"), "--level", "restricted",
                                                           "--version", "v1.30"]):
        main(["assess", *args, "--offline", "--format", "json"])
        doc = json.loads(capsys.readouterr().out)
        assert doc["results"]
        schema_check(doc, "assess")


def test_a_diff_document_conforms(schema_check):
    o = core_diff.Observed
    pod = ("scenario", "hostpath-etc", "Pod", "", "baseline", "enforce")
    job = ("source", "app.yaml#1", "Job", "nightly", "restricted", "enforce")
    dep = ("source", "app.yaml#2", "Deployment", "web", "restricted", "warn")
    before = {pod: o(Outcome.DENIED, ("hostPathVolumes",)), job: o(Outcome.ADMITTED), dep: o(Outcome.WARNED, ("a",))}
    after = {pod: o(Outcome.ADMITTED), job: o(Outcome.WARNED, ("runAsNonRoot",)), dep: o(Outcome.WARNED, ("b",)),
             ("scenario", "new", "Pod", "", "restricted", "audit"): o(Outcome.ADMITTED)}
    relaxed = core_diff.Explanation("expected-relaxation", ("hostPathVolumes",), (35,))  # (not a real one)
    explain = lambda key, info, a, b: relaxed if key == pod else None
    changes = core_diff.compare(before, after, _describe, explain)
    assert {c.change for c in changes} == {"newly-admitted", "newly-denied", "checks-changed", "outcome-changed"}
    doc = core_diff.document(core_diff.Side(policy_version="v1.34"), core_diff.Side(), changes, len(after))
    schema_check(doc, "diff")
    assert [c["explanation"] for c in doc["changes"] if c["explanation"]] == [relaxed.to_dict()]
    assert doc["summary"]["expected"] == 1 and doc["summary"]["unexplained"] == 3 and len(doc["groups"]) == 4
    schema_check(json.loads(core_diff.to_json(doc)), "diff")
    schema_check(core_diff.document(core_diff.Side(policy_version="v1.36"), core_diff.Side(), [], 2), "diff")


# -- and a broken document fails -----------------------------------------------------------------

def _set(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize("path,value,where", [
    (("results", 0, "observed", "outcome"), "rejected", ["results", 0, "observed", "outcome"]),
    (("results", 1, "expected", "outcome"), "blocked", ["results", 1, "expected", "outcome"]),
    (("results", 0, "result"), "ok", ["results", 0, "result"]),
    (("results", 0, "policy", "level"), "strict", ["results", 0, "policy", "level"]),
    (("results", 0, "controls"), KeyError, ["results", 0]),
    (("results", 0, "surprise"), 1, ["results", 0]),
    (("results", 0, "observed", "status"), "201", ["results", 0, "observed", "status"]),
    (("run", "cluster_fingerprint"), "https://10.0.0.1:6443", ["run", "cluster_fingerprint"]),
    (("schema",), "pss-harness/evidence/v2", ["schema"]),
])
def test_the_results_schema_rejects_a_broken_document(path, value, where, schema_check):
    with pytest.raises(jsonschema.ValidationError) as caught:
        schema_check(_set(asset(), path, value), "results")
    assert list(caught.value.absolute_path) == where


def test_the_assess_and_diff_schemas_reject_broken_documents(capsys, schema_check):
    main(["assess", str(MANIFESTS), "--level", "baseline", "--offline", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    for path, value in ((("results", 0, "predicted", "verdict"), "maybe"), (("results", 0, "agree"), "yes"),
                        (("summary", "denied"), KeyError), (("level",), "privileged")):
        with pytest.raises(jsonschema.ValidationError):
            schema_check(_set(doc, path, value), "assess")
    changes = core_diff.compare({("scenario", "s", "Pod", "", "baseline", "enforce"): core_diff.Observed(Outcome.DENIED)},
                                {("scenario", "s", "Pod", "", "baseline", "enforce"): core_diff.Observed(Outcome.WARNED)},
                                _describe)
    diff = core_diff.document(core_diff.Side(policy_version="v1.34"), core_diff.Side(), changes, 1)
    schema_check(diff, "diff")
    for path, value in ((("changes", 0, "change"), "newly-broken"), (("changes", 0, "to", "outcome"), "fine"),
                        (("summary", "compared"), KeyError), (("changes", 0, "source"), "x.yaml"),
                        (("changes", 0, "explanation"), {"label": "expected-regression", "checks": [], "versions": [],
                                                          "text": ""}),
                        (("changes", 0, "explanation"), KeyError), (("groups", 0, "kinds"), []),
                        (("summary", "expected"), KeyError)):
        with pytest.raises(jsonschema.ValidationError):
            schema_check(_set(diff, path, value), "diff")
