"""``assess`` findings as a SARIF 2.1.0 log, for GitHub code scanning and other SARIF readers.

One run, tool ``pss-harness``. Rules: the 19 Pod Security Standards checks (id = the upstream check
id; short description = the control's name; full description = what it forbids; ``helpUri`` = the
standard's page at the profile's anchor, ``harness.core.controls``), plus two of the harness's own:
``pss-harness/disagreement`` (the server's PodSecurity verdict differs from the prediction) and
``pss-harness/not-compared`` (the server refused the object for another reason, or did not answer).
Results: one per failing check per object (level ``error``: the policy denies a Pod, and the pods a
workload would create), located at the object's file and first line; a disagreement or an object
not compared is one more result. ``partialFingerprints`` are stable across line moves (file, kind,
namespace, name, rule). Objects read from standard input have a logical location only.

The OASIS schema (sarif-schema-2.1.0.json) validates the output in the tests.

May import the core (checks, controls) and the standard library.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Sequence

from harness.core.checks import CHECKS
from harness.core.controls import CONTROLS, PSS_URL, help_uri

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "sarif_log"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
DISAGREEMENT, NOT_COMPARED = "pss-harness/disagreement", "pss-harness/not-compared"
_SRCROOT = "SRCROOT"


def _rules() -> list[dict]:
    rules = []
    for check_id in sorted(CHECKS):
        check, control = CHECKS[check_id], CONTROLS[check_id]
        rules.append({
            "id": check_id,
            "name": check_id,
            "shortDescription": {"text": f"{control.name} ({check.level.value})"},
            "fullDescription": {"text": control.text},
            "helpUri": help_uri(check_id),
            "help": {"text": f"Pod Security Standards, {check.level.value} profile: {control.name}. {control.text} "
                             f"See {help_uri(check_id)}",
                     "markdown": f"**{control.name}** ({check.level.value} profile of the Pod Security Standards)\n\n"
                                 f"{control.text}\n\n[Pod Security Standards]({help_uri(check_id)})"},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["security", "kubernetes", "pod-security-standards", check.level.value],
                           "pss-level": check.level.value, "reason": check.reason},
        })
    rules.append({"id": DISAGREEMENT, "name": "ServerDisagrees",
                  "shortDescription": {"text": "The server's PodSecurity verdict differs from the prediction"},
                  "fullDescription": {"text": "The API server admitted, warned or denied the object otherwise than the "
                                              "offline evaluator predicted (assess exit status 4)."},
                  "helpUri": PSS_URL, "defaultConfiguration": {"level": "error"},
                  "properties": {"tags": ["pss-harness"]}})
    rules.append({"id": NOT_COMPARED, "name": "NotCompared",
                  "shortDescription": {"text": "The server did not give a PodSecurity verdict"},
                  "fullDescription": {"text": "The server refused the object for a reason other than PodSecurity "
                                              "(invalid, RBAC, another admission plugin, a webhook) or the request "
                                              "failed (assess exit status 6)."},
                  "helpUri": PSS_URL, "defaultConfiguration": {"level": "warning"},
                  "properties": {"tags": ["pss-harness"]}})
    return rules


def _artifact(source: str) -> dict | None:
    """An artifactLocation for a file as given on the command line (relative to SRCROOT when it can be)."""
    if source == "-":
        return None
    path = Path(source)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return {"uri": path.as_uri()}
    rel = PurePosixPath(*path.parts) if path.parts else PurePosixPath(".")
    return {"uri": urllib.parse.quote(str(rel), safe="/"), "uriBaseId": _SRCROOT}


def _location(record: dict, line: int) -> dict:
    name = record["name"] or "(unnamed)"
    qualified = "/".join(p for p in (record["namespace"], record["kind"], name) if p)
    loc: dict = {"logicalLocations": [{"name": name, "fullyQualifiedName": qualified, "kind": "object"}]}
    artifact = _artifact(record["source"])
    if artifact is not None:
        physical: dict = {"artifactLocation": artifact}
        if line > 0:
            physical["region"] = {"startLine": line}
        loc["physicalLocation"] = physical
    return loc


def _fingerprint(record: dict, rule: str) -> dict:
    key = "\0".join((record["source"], record["kind"], record["namespace"], record["name"], rule))
    return {"pss-harness/v1": hashlib.sha256(key.encode()).hexdigest()[:32]}


def sarif_log(doc: dict, lines: Sequence[int], failures: Sequence[Sequence], *, tool_version: str) -> dict:
    """The SARIF log of an assessment ``doc`` (``assess --format json``'s document).

    ``lines[i]`` is the first line of result ``i``'s object (0: unknown); ``failures[i]`` its failing
    checks as ``harness.policy.evaluator.CheckFailure`` (``id``, ``str()`` = reason (detail)).
    """
    rules = _rules()
    index = {r["id"]: n for n, r in enumerate(rules)}
    policy = f"{doc['level']}:{doc['version']}"
    results = []
    for record, line, failed in zip(doc["results"], lines, failures):
        where = _location(record, line)
        what = f"{record['kind']} {record['name'] or '(unnamed)'}" + (
            f" in namespace {record['namespace']}" if record["namespace"] else "")
        for failure in failed:
            results.append({
                "ruleId": failure.id, "ruleIndex": index[failure.id], "level": "error",
                "message": {"text": f"{what} violates PodSecurity \"{policy}\": {failure}"},
                "locations": [where], "partialFingerprints": _fingerprint(record, failure.id),
                "properties": {"policy": policy, "kind": record["kind"]},
            })
        obs = record.get("observed")
        if record.get("agree") is False:
            predicted = record.get("predicted_submitted") or record["predicted"]
            results.append({
                "ruleId": DISAGREEMENT, "ruleIndex": index[DISAGREEMENT], "level": "error",
                "message": {"text": f"{what}: predicted {predicted['verdict']} "
                                    f"({', '.join(predicted['checks']) or 'no checks'}), the server answered "
                                    f"{obs['outcome']} ({', '.join(obs['checks']) or 'no checks'}; HTTP {obs['status']})"},
                "locations": [where], "partialFingerprints": _fingerprint(record, DISAGREEMENT),
            })
        if record.get("not_compared"):
            results.append({
                "ruleId": NOT_COMPARED, "ruleIndex": index[NOT_COMPARED], "level": "warning",
                "message": {"text": f"{what}: {record['not_compared']}"},
                "locations": [where], "partialFingerprints": _fingerprint(record, NOT_COMPARED),
            })
    run = {
        "tool": {"driver": {"name": "pss-harness", "version": tool_version, "semanticVersion": tool_version,
                            "informationUri": PSS_URL, "rules": rules}},
        "originalUriBaseIds": {_SRCROOT: {"uri": Path.cwd().as_uri().rstrip("/") + "/"}},
        "automationDetails": {"id": f"pss-harness/assess/{doc['level']}/"},
        "invocations": [{"executionSuccessful": True}],
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {"policy": policy, "target": doc["target"], "summary": doc["summary"]},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
