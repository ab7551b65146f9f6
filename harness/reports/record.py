"""The typed evidence record: one item's entry in ``results.json``, the run metadata, and their helpers.

``results.json`` is ``Results``: ``{"schema": SCHEMA, "run": RunMeta, "results": [ItemRecord, ...]}``.
The types here say what every field must contain; ``harness/schemas/results.schema.json`` says the
same to users' tools (a unit test keeps the two in step, field by field). ``item_record`` is how
an item's record is built (``harness.plugin.evidence``): every field, exactly once, in one order.

The helpers every reader of records shares live here too: ``controls_of`` (which matrix rows an
item counts in), ``control_summary`` (the check x level x mode cells), ``result_counts``,
``corpus_digest``, and ``run_status`` (passed, failed or incomplete, and why: the one rule every
report of a run states its status by). ``bundle``, ``history`` and ``html`` import this module; it imports none of
them. It may import the standard library and ``harness.core`` only (no I/O, no pytest).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, TypedDict, Unpack

__all__ = [
    "AUDIT_UNOBSERVED",
    "CONTROL_ROW",
    "RESULTS_VOCABULARY",
    "SCHEMA",
    "STATUS_VOCABULARY",
    "CollectionErrorRecord",
    "ControllerRecord",
    "EngineRecord",
    "ExpectedRecord",
    "IdentityRecord",
    "ItemFields",
    "ItemRecord",
    "ObservedRecord",
    "PolicyRecord",
    "RequestRecord",
    "Results",
    "RunMeta",
    "RunShardRecord",
    "ShardCoverageRecord",
    "ShardRecord",
    "ViolationRecord",
    "control_summary",
    "controls_of",
    "corpus_digest",
    "item_record",
    "merge_status",
    "result_counts",
    "results_document",
    "run_status",
    "status_of",
]

SCHEMA = "pss-harness/evidence/v1"      #: the ``schema`` value of every ``results.json`` this version writes
CONTROL_ROW = "(control scenarios)"     #: matrix row of control (must-admit) scenarios
RESULTS_VOCABULARY = ("passed", "failed", "skipped")  #: the values of ``ItemRecord.result``
STATUS_VOCABULARY = ("passed", "failed", "incomplete")  #: the values of ``RunMeta.status``
#: how an audit-mode item skipped for want of the cluster's audit events begins its skip reason
AUDIT_UNOBSERVED = "audit mode needs the cluster's audit log"


# -- the item record ---------------------------------------------------------------------------

class PolicyRecord(TypedDict):
    """The namespace policy an item was submitted under."""

    level: str      # "privileged", "baseline" or "restricted": the pod-security.kubernetes.io/<mode> label
    mode: str       # "enforce", "warn" or "audit": which PodSecurity mode carries the level
    version: str    # the <mode>-version label: "latest" or "v1.N"


class ExpectedRecord(TypedDict):
    """What the cluster owes the item (``harness.core.expectations.Expectation``)."""

    outcome: str              # an Outcome value (harness.core.model.Outcome): admitted, warned, denied, ...
    checks: list[str]         # sorted check ids the denial or warning must name, exactly these
    audit_checks: list[str]   # sorted check ids the audit-violations annotation must name (audit mode)
    reason: str               # one sentence: how the expectation follows from level, mode, version and kind


class _ViolationFields(TypedDict):
    policy: str           # "level:version" as the server printed it, e.g. "baseline:latest"
    checks: list[str]     # sorted check ids the message's reasons map to
    unknown: list[str]    # reason phrases no known check uses (a newer server, or a parser gap)
    truncated: bool       # the server cut the message short (some reasons may be missing)


class ViolationRecord(_ViolationFields, total=False):
    """The checks one engine answer names (a PodSecurity denial, warning or audit annotation; a VAP set's too)."""

    partial: bool         # only when true: a VAP denial names its first denying policy only (audit event not read)


class ObservedRecord(TypedDict):
    """What the server did with the request (``harness.core.verdict.Observation.to_dict``)."""

    outcome: str                               # an Outcome value, classified from the answer
    status: int                                # HTTP status; 0 when no answer came (transport error)
    message: str                               # the Status message of a refusal or error; "" otherwise
    warnings: list[str]                        # every Warning header the server sent, as sent
    checks: list[str]                          # sorted check ids of the denial or PodSecurity warning
    violation: ViolationRecord | None          # the parsed denial or warning; null if neither named one
    audit_id: str                              # the request's Audit-Id header; "" if the server sent none
    audit_annotations: dict[str, str] | None   # pod-security.kubernetes.io/* annotations of its audit event;
    #                                            null when no audit log was read
    audit_violation: ViolationRecord | None    # the parsed audit-violations annotation, if any
    denied_by: str | None                      # who refused: "PodSecurity" (denied), the layer a denied-other
    #                                            message names ("ValidatingAdmissionPolicy 'p' (binding 'b')",
    #                                            ...) or "unknown"; null for other outcomes
    attribution: str                           # why a refusal quoting PodSecurity was not attributed to it; ""


class RequestRecord(TypedDict):
    """The request that was made (never a header, a token or the server address)."""

    verb: str                 # HTTP method: POST (create), PATCH (update path)
    path: str                 # the API path, namespace included
    dryRun: str | None        # "All" for server-side dry-run; null for a real create (--live)
    namespace: str            # the test namespace
    policy: dict[str, str]    # the namespace's labels for the policy: all six pod-security.kubernetes.io/* (pinned)


class ControllerRecord(TypedDict):
    """``--live``: the workload controller's ``FailedCreate`` event for its pods, if it was awaited."""

    reason: str | None    # "FailedCreate", or null if no such event came in time
    object: str | None    # "<kind>/<name>" of the object the event is about
    message: str          # the event's message (the PodSecurity denial), or why none was found


class ItemFields(TypedDict):
    """Every field of an item's record but ``controls`` (derived), in the order the record holds them."""

    nodeid: str                     # the pytest node id: "<scenario file>::<item name>"
    name: str                       # the item name: "<scenario>[<kind>-<level>-<mode>-<version>]"
    scenario: str                   # the scenario id (its metadata.name and file stem)
    title: str                      # the scenario's one-line title
    gain: str                       # what an attacker gains if it is admitted
    level: str | None               # the lowest level that must deny the scenario; null for a control scenario
    file: str                       # the scenario file, relative to the rootdir where it lies below it
    scenario_sha256: str            # SHA-256 of the scenario file's bytes
    references: list[str]           # the scenario's reference URLs
    kind: str                       # the resource kind submitted (Pod, Deployment, CronJob, ...)
    policy: PolicyRecord            # the namespace policy of the item
    severity: str                   # critical, high, medium, low or info
    declared_checks: list[str]      # sorted check ids the scenario declares it violates
    attack: list[str]               # MITRE ATT&CK technique ids
    ms_matrix: list[str]            # Microsoft threat matrix for Kubernetes ids
    cis: list[str]                  # CIS Kubernetes Benchmark section-5 ids
    nsa: str                        # the NSA/CISA hardening guidance item; "" if none
    result: str                     # passed, failed or skipped (RESULTS_VOCABULARY)
    skip_reason: str | None         # why a skipped item was skipped; null otherwise
    expected: ExpectedRecord | None  # what the cluster owes; null if no expectation was derived
    observed: ObservedRecord | None  # what the server did; null if nothing was submitted
    problems: list[str]             # why the item failed, one line each; [] if it passed or was skipped
    namespace: str | None           # the test namespace; null if nothing was submitted
    request: RequestRecord | None   # the request made; null if nothing was submitted
    manifest: dict[str, Any] | None  # the object sent (on the update path {"pod", "ephemeralContainers"})
    started: str                    # ISO 8601 UTC, milliseconds: when the request (or the item) started
    finished: str                   # ISO 8601 UTC, milliseconds: when it finished
    duration: float                 # seconds, 4 decimals
    controller: ControllerRecord | None  # --live only; null otherwise
    worker: str                     # the pytest-xdist worker id ("gw0", ...) or "main"


class ItemRecord(ItemFields):
    """One item's record in ``results.json``."""

    controls: list[str]   # the matrix rows the item is evidence for (``controls_of``)


_ITEM_KEYS = tuple(ItemFields.__annotations__)
_ITEM_KEY_SET = frozenset(_ITEM_KEYS)


def item_record(**fields: Unpack[ItemFields]) -> ItemRecord:
    """An item's record: every ``ItemFields`` field, in its order, then ``controls``.

    A missing or unknown field is a ``TypeError`` naming it (a programming error, never input).
    """
    record: dict = fields  # a fresh dict per call: ``**fields`` collected the keywords into it
    if tuple(record) != _ITEM_KEYS:
        if record.keys() != _ITEM_KEY_SET:
            missing, extra = sorted(_ITEM_KEY_SET - record.keys()), sorted(record.keys() - _ITEM_KEY_SET)
            raise TypeError(f"item_record: missing field(s) {missing}, unknown field(s) {extra}")
        record = {k: record[k] for k in _ITEM_KEYS}
    record["controls"] = controls_of(record)
    return record  # type: ignore[return-value]


# -- the run metadata --------------------------------------------------------------------------

class IdentityRecord(TypedDict):
    """Who the runner was, as the API server sees it (SelfSubjectReview)."""

    username: str         # the runner's user name
    groups: list[str]     # its groups


class RunShardRecord(TypedDict):
    """The shard one run ran (``--psa-shard I/N`` or an Indexed Job's index; ``harness.core.shard``)."""

    index: int      # 0-based shard index
    count: int      # the number of shards the run is split into
    source: str     # where it came from: "command line", "ini" or "$JOB_COMPLETION_INDEX"


class EngineRecord(TypedDict):
    """The admission engine under test (``harness.core.engines.Engine.describe``)."""

    name: str                  # "podsecurity" or "vap"
    title: str                 # the engine in words
    policy_set: str | None     # vap: "pss-harness" (policies/vap/) or "user" (--vap-binding-selector)
    selector: str              # the namespace labels, with {level}/{mode}/{version} placeholders


class ShardRecord(TypedDict):
    """One shard of a merged run (``bundle.merge``)."""

    run_id: str
    started: str | None
    finished: str | None
    items: int                  # the number of item records the shard contributed
    bundle_sha256: str | None   # SHA-256 of the shard's SHA256SUMS (null if it had none)
    index: int | None           # its shard index (run.shard.index); null for a bundle that was not a shard
    count: int | None           # its shard count; null likewise


class ShardCoverageRecord(TypedDict):
    """How the shards of a merged run cover it (``harness.core.shard.coverage``)."""

    count: int              # the number of shards the run was split into
    present: list[int]      # the shard indexes merged
    missing: list[int]      # the indexes not merged: non-empty only for ``report merge --allow-incomplete``
    complete: bool          # no shard is missing


class CollectionErrorRecord(TypedDict):
    """A file pytest could not collect (a malformed scenario): the run is failed."""

    file: str       # the file, relative to the rootdir where it lies below it
    message: str    # what is wrong with it (the collection error, redacted, at most 2000 characters)


class RunMeta(TypedDict, total=False):
    """The ``run`` object of ``results.json``. Not every run has every field (see each group)."""

    # written when the run starts (harness.plugin.evidence.start_run)
    run_id: str                        # the run's id (--psa-run-id, or generated); the bundle's directory name
    started: str                       # ISO 8601 UTC, milliseconds
    harness_version: str               # pss-harness's version
    target: str                        # "embedded" (a control plane started for the run), "in-cluster" or "external"
    server_version: str                # the API server's gitVersion
    cluster_fingerprint: str           # 32 hex: stable per cluster (embedded: per version), reveals nothing
    cluster_instance: str              # 32 hex: the fingerprint of this very cluster instance
    identity: IdentityRecord           # the runner's identity
    runner: dict[str, str]             # host, python, platform, pytest and plugin versions, CI variables
    embedded_k8s_version: str | None   # the embedded control plane's version; null for an external cluster
    options: dict[str, Any]            # the run's settings (HarnessConfig fields; kubeconfig is "(given)")
    engine: EngineRecord               # the admission engine under test (absent in older bundles: PodSecurity)
    # added when it finishes (harness.plugin.evidence.finish_run, bundle.merge)
    finished: str                      # ISO 8601 UTC, milliseconds
    exit_status: int                   # pytest's exit status
    counts: dict[str, int]             # items per result (only results that occurred)
    items: int                         # the number of item records
    scenarios: dict[str, str]          # scenario id -> SHA-256 of its file
    corpus_sha256: str | None          # corpus_digest(scenarios); null if no scenario ran
    status: str                        # passed, failed or incomplete (STATUS_VOCABULARY; run_status)
    incomplete_reasons: list[str]      # why the evidence does not cover the selection; [] if it does
    collection_errors: list[CollectionErrorRecord]  # files that could not be collected; [] if none
    # a sharded run only (--psa-shard, or an Indexed Job's index)
    shard: RunShardRecord
    # merged bundles only (bundle.merge)
    shards: list[ShardRecord]
    shard_coverage: ShardCoverageRecord   # merged shards of a sharded run only


class Results(TypedDict):
    """The whole of ``results.json``."""

    schema: str                 # SCHEMA
    run: RunMeta
    results: list[ItemRecord]   # sorted by nodeid


def results_document(run: RunMeta, records: list[ItemRecord]) -> Results:
    """``results.json``'s content for a run's metadata and its records."""
    return {"schema": SCHEMA, "run": run, "results": records}


# -- helpers every reader shares ---------------------------------------------------------------

def controls_of(record: ItemFields | ItemRecord | dict) -> list[str]:
    """The check ids one item's record is evidence for (the rows of the matrix it counts in).

    The checks the expectation names (denial, warning or audit annotation) at the item's policy;
    for an item expected to be admitted (privileged level, or a check that is not active at that
    level or version), the scenario's declared checks; for a control scenario, ``CONTROL_ROW``.
    """
    exp = record.get("expected") or {}
    named = sorted(set(exp.get("checks") or []) | set(exp.get("audit_checks") or []))
    if named:
        return named
    return sorted(record.get("declared_checks") or []) or [CONTROL_ROW]


def control_summary(records: Iterable[ItemRecord | dict]) -> dict[tuple[str, str, str], dict]:
    """(check, level, mode) -> counts and a status: failed if any failed, else passed if any passed, else skipped."""
    out: dict[tuple[str, str, str], dict] = {}
    for r in records:
        for check in r.get("controls") or controls_of(r):
            key = (check, r["policy"]["level"], r["policy"]["mode"])
            cell = out.setdefault(key, {"passed": 0, "failed": 0, "skipped": 0, "items": []})
            cell[r["result"] if r["result"] in ("passed", "failed") else "skipped"] += 1
            cell["items"].append(r["nodeid"])
    for cell in out.values():
        cell["status"] = "failed" if cell["failed"] else ("passed" if cell["passed"] else "skipped")
    return out


def result_counts(records: Iterable[ItemRecord | dict]) -> dict[str, int]:
    """Items per ``result``, for the results that occur (``RunMeta.counts``)."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    return counts


def run_status(*, counts: dict[str, int], collection_errors: list | tuple = (), interrupted: str | None = None,
               selected: int | None = None, ran: int | None = None, audit_unobserved: int = 0,
               stopped: str | None = None) -> dict:
    """A run's ``status``, ``incomplete_reasons`` and ``collection_errors``: the one rule every report states.

    ``failed`` if an item failed or a file could not be collected (the findings stand however far
    the run got); else ``incomplete`` if the evidence does not cover what was selected: the run was
    interrupted, items did not run, audit-mode items were skipped for want of an audit source, or
    nothing passed; else ``passed``. The reasons are listed whatever the status.

        >>> run_status(counts={"passed": 3})["status"]
        'passed'
        >>> run_status(counts={"passed": 2, "skipped": 1}, audit_unobserved=1)["incomplete_reasons"][0][:52]
        'audit mode not observed: 1 item skipped for want of '
    """
    reasons = []
    if interrupted:
        reasons.append(f"interrupted ({interrupted})" + (f" after {ran} of {selected} items" if selected else ""))
    elif stopped:
        reasons.append(f"stopped early ({stopped})" + (f" after {ran} of {selected} items" if selected else ""))
    elif selected is not None and ran is not None and ran < selected:
        reasons.append(f"{selected - ran} of {selected} selected items did not run")
    if audit_unobserved:
        reasons.append(f"audit mode not observed: {audit_unobserved} item{'s' if audit_unobserved != 1 else ''} "
                       "skipped for want of an audit source (pass --audit-log, or leave audit mode out with "
                       "--psa-modes enforce,warn)")
    if not counts.get("passed") and not counts.get("failed") and not reasons:
        reasons.append("no item ran to a verdict")
    status = "failed" if counts.get("failed") or collection_errors else ("incomplete" if reasons else "passed")
    return {"status": status, "incomplete_reasons": reasons, "collection_errors": list(collection_errors)}


def status_of(run: dict, records: Iterable[ItemRecord | dict] = ()) -> str:
    """The status a run's reports state: ``run.status``, or for a bundle written before it existed,
    ``failed`` if an item failed, ``passed`` if one passed, else ``incomplete``."""
    if run.get("status") in STATUS_VOCABULARY:
        return run["status"]
    counts = result_counts(records)
    return "failed" if counts.get("failed") else ("passed" if counts.get("passed") else "incomplete")


def merge_status(runs: list[dict], records: list[ItemRecord | dict]) -> dict:
    """The status of merged shards: failed if any is, else incomplete if any is; each reason names its shard."""
    statuses = [status_of(r, ()) if r.get("status") else None for r in runs]
    reasons = [f"shard {r.get('run_id')}: {why}" for r in runs for why in r.get("incomplete_reasons") or []]
    errors = [e for r in runs for e in r.get("collection_errors") or []]
    counts = result_counts(records)
    if "failed" in statuses or counts.get("failed") or errors:
        status = "failed"
    elif "incomplete" in statuses or not counts.get("passed"):
        status = "incomplete"
        if not reasons:
            reasons.append("no item ran to a verdict")
    else:
        status = "passed"
    return {"status": status, "incomplete_reasons": reasons, "collection_errors": errors}


def corpus_digest(scenarios: dict[str, str]) -> str:
    """SHA-256 over the lines ``<scenario id> <sha256 of its file>\\n`` sorted by id.

    ``run.scenarios`` holds the per-file digests, so an auditor can recompute both with
    ``sha256sum``; a merge of shards can recompute it from the shards' maps.
    """
    text = "".join(f"{sid} {digest}\n" for sid, digest in sorted(scenarios.items()))
    return hashlib.sha256(text.encode()).hexdigest()
