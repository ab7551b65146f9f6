"""Allure labels, parameters and attachments for scenario items, added from hooks (never from tests).

``annotate`` runs in ``pytest_runtest_makereport`` (call phase, via ``evidence.record_item``) in
whichever process ran the item, so it works under pytest-xdist: allure-pytest writes each
worker's results into the shared ``--alluredir``. What an item gets:

    epic      the namespace policy level (privileged, baseline, restricted)
    feature   the check ids the item is evidence for (``harness.reports.record.controls_of``)
    story     the scenario id
    tag       ATT&CK, MS threat matrix and ``CIS 5.2.x`` ids
    severity  critical/high/medium/low/info -> blocker/critical/normal/minor/trivial
    params    kind, level, mode, version (they also make each item's Allure history id distinct)
    attach    manifest sent (YAML), request, server response (status, outcome, message),
              warnings, audit event (named by its auditID; PodSecurity annotations); for a failure also the
              expectation and the verdict's problems. Each result cites files of its own (Allure 3
              links a file to one result only and shows every other citation as "missed"); a body
              is stored once per process and its other names are hard links to it

Every value comes from the redacted evidence record, and a ``report_result`` hook scrubs the
failure message and trace allure-pytest takes from the exception before the result is written
(it also drops the tags allure-pytest makes of the selection markers, which repeat the labels).
``write_environment`` adds ``environment.properties`` and ``categories.json`` at session end.

What an item gets is ``plan(record)``: the ``allure.dynamic`` calls that would add it. Where
allure-pytest's listener is the only plugin implementing those hooks (as it is unless another
Allure integration is installed), ``apply_to_result`` sets them on the running item's result
directly, as the listener would: one look-up of the result instead of one hook round trip and
one look-up per call (13 per item); otherwise ``apply_by_hooks`` makes the calls. A JSON body is
indented once per distinct content (``_indented``). Results are written by ``allure_writer``.

Imports: pytest, allure-pytest (``allure_commons``, ``allure_pytest.utils``), PyYAML,
``harness.plugin.allure_writer`` and ``harness.reports.redact``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from pathlib import Path

import allure_commons
import pytest
import yaml

from harness.plugin import allure_writer
from harness.reports.redact import default_redactor

__all__ = ["SEVERITIES", "annotate", "apply_by_hooks", "apply_to_result", "enabled", "in_use", "install_writer", "plan",
           "write_environment"]

_REDACTION = "pss-harness-finalize"
_MARKER_PREFIXES = ("level_", "mode_", "kind_", "severity_", "check_", "attack_")
SEVERITIES = {"critical": "blocker", "high": "critical", "medium": "normal", "low": "minor", "info": "trivial"}

#: Allure categories: how a failed PodSecurity verdict reads in the report's Categories tab
CATEGORIES = [
    {"name": "Attack admitted (PodSecurity did not refuse it)", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*expected denied, observed (admitted|warned).*"},
    {"name": "Refused by something other than PodSecurity", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*observed denied-other.*"},
    {"name": "Invalid manifest or unserved API", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*observed invalid.*"},
    {"name": "Server or transport error", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*observed error.*"},
    {"name": "Wrong checks, warning or audit annotation", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*(missing expected check|unexpected check|under policy|unrecognised reason|audit-violations).*"},
    {"name": "Harness or cluster problem", "matchedStatuses": ["broken"]},
]


def enabled(config) -> bool:
    """Whether allure-pytest is writing results in this run (``--alluredir`` given)."""
    return bool(getattr(config.option, "allure_report_dir", None))


def in_use() -> bool:
    """Whether an allure-pytest session in this process already writes results (allure-commons is global).

    True inside a pytester run of an outer session with Allure: a second results writer would
    get every result of both sessions.
    """
    from allure_commons.logger import AllureFileLogger

    return any(isinstance(p, AllureFileLogger) for p in allure_commons.plugin_manager.get_plugins())


def install_writer(config) -> None:
    """Have allure-commons' file logger write results in one pass (``allure_writer``); same files, same bytes."""
    if enabled(config):
        allure_writer.install()


def _scrub(obj) -> None:
    r = default_redactor()
    for attr in ("name", "description", "descriptionHtml", "fullName"):
        if isinstance(getattr(obj, attr, None), str):
            setattr(obj, attr, r.text(getattr(obj, attr)))
    details = getattr(obj, "statusDetails", None)
    if details is not None:
        details.message = r.text(details.message) if isinstance(details.message, str) else details.message
        details.trace = r.text(details.trace) if isinstance(details.trace, str) else details.trace
    for p in getattr(obj, "parameters", None) or []:
        p.value = r.text(p.value) if isinstance(p.value, str) else p.value
    for label in getattr(obj, "labels", None) or []:
        label.value = r.text(label.value) if isinstance(label.value, str) else label.value
    for step in getattr(obj, "steps", None) or []:
        _scrub(step)


def _drop_marker_tags(result) -> None:
    """Drop the tags allure-pytest derives from our selection markers (``level_baseline``, ...).

    They repeat the epic, feature, parameters and severity (``integration``: every scenario item has it);
    the tags left are the framework ids.
    """
    if not any(p.name == "kind" for p in getattr(result, "parameters", None) or []):
        return  # not a scenario item
    result.labels = [lb for lb in result.labels
                     if not (lb.name == "tag" and (lb.value in ("attack", "control", "integration") or lb.value.startswith(_MARKER_PREFIXES)))]


class _Finalize:
    """allure-commons plugin: tidy and scrub each test result just before the file logger writes it."""

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result):
        _drop_marker_tags(result)
        _scrub(result)


def _install_redaction() -> None:
    if not allure_commons.plugin_manager.has_plugin(_REDACTION):
        allure_commons.plugin_manager.register(_Finalize(), _REDACTION)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~10x faster on 17k manifests


def _text(obj) -> str:
    return yaml.dump(obj, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True)


def plan(record: dict, engine: str = "podsecurity") -> list[tuple]:
    """What an item's Allure result gets from its record, as the ``allure.dynamic`` calls that would add it.

    Each entry is ``(call, args)``: ``("label", (type, value, ...))``, ``("parameter", (name, value))``,
    ``("title", (text,))``, ``("description", (text,))`` or ``("link", (url, name))``, in order.
    """
    from allure_commons.types import LabelType

    pol = record["policy"]
    out: list[tuple] = [
        ("label", (LabelType.EPIC, pol["level"])),
        ("label", (LabelType.FEATURE, *(record.get("controls") or ["(none)"]))),
        ("label", (LabelType.STORY, record["scenario"])),
    ]
    tags = [*record.get("attack", []), *record.get("ms_matrix", []), *(f"CIS {c}" for c in record.get("cis", []))]
    if tags:
        out.append(("label", (LabelType.TAG, *tags)))
    out.append(("label", (LabelType.SEVERITY, SEVERITIES.get(record.get("severity"), "normal"))))
    out.append(("label", ("engine", engine)))  # a label, not a parameter: parameters change history ids
    out.append(("parameter", ("kind", record["kind"])))
    out += [("parameter", (name, pol[name])) for name in ("level", "mode", "version")]
    out.append(("title", (f"{record['scenario']} as {record['kind']} in {pol['level']}/{pol['mode']}/{pol['version']}",)))
    desc = [f"**{record.get('title', '')}**", "", f"Attacker gains: {record.get('gain') or '-'}"]
    if record.get("expected"):
        desc += ["", f"Expected: {record['expected']['outcome']} ({record['expected'].get('reason', '')})"]
    out.append(("description", ("\n".join(desc),)))
    out += [("link", (ref, ref)) for ref in record.get("references") or []]
    return out


def apply_by_hooks(steps: list[tuple]) -> None:
    """Apply ``plan``'s steps through ``allure.dynamic`` (allure-commons' hooks, whoever implements them)."""
    import allure

    for call, args in steps:
        if call == "label":
            allure.dynamic.label(*args)
        elif call == "parameter":
            allure.dynamic.parameter(*args)
        elif call == "title":
            allure.dynamic.title(*args)
        elif call == "description":
            allure.dynamic.description(*args)
        elif call == "link":
            allure.dynamic.link(args[0], name=args[1])


def apply_to_result(test, steps: list[tuple], config) -> None:
    """Apply ``plan``'s steps to the item's ``TestResult`` directly, as allure-pytest's listener does for each hook.

    The same labels, parameters (``represent``-ed, one per name), title, description and links
    (formatted by ``--allure-link-pattern``, one per URL) as ``apply_by_hooks``, without one
    hook round trip and one look-up of the running test per call.
    """
    from allure_commons.model2 import Label, Link, Parameter
    from allure_commons.types import LinkType
    from allure_commons.utils import represent
    from allure_pytest.utils import format_allure_link

    for call, args in steps:
        if call == "label":
            test.labels.extend(Label(args[0], value) for value in args[1:])
        elif call == "parameter":
            name, value = args
            existing = next((p for p in test.parameters if p.name == name), None)
            if existing is not None:
                existing.value = represent(value)
            else:
                test.parameters.append(Parameter(name=name, value=represent(value), excluded=None, mode=None))
        elif call == "title":
            test.name = args[0]
        elif call == "description":
            test.description = args[0]
        elif call == "link":
            url = format_allure_link(config, args[0], LinkType.LINK)
            if not any(link.url == url for link in test.links):
                test.links.append(Link(LinkType.LINK, url, args[1]))


#: allure-commons hooks ``plan``'s steps go through; ``apply_to_result`` stands in for allure-pytest's listener
_DYNAMIC_HOOKS = ("add_label", "add_parameter", "add_title", "add_description", "add_link")


def _listener_only(listener) -> bool:
    """Whether allure-pytest's listener is the only implementation of every hook ``plan`` uses."""
    hooks = allure_commons.plugin_manager.hook
    return all([impl.plugin for impl in getattr(hooks, name).get_hookimpls()] == [listener] for name in _DYNAMIC_HOOKS)


def _engine(config) -> str:
    from harness.plugin.options import get_config

    return getattr(get_config(config), "engine", "podsecurity")


def annotate(item, record: dict) -> None:
    """Label the running item and attach its evidence (no-op without ``--alluredir``)."""
    if not enabled(item.config):
        return
    from allure_commons.types import AttachmentType

    _install_redaction()
    attach = _Attachments.of(item.config)
    steps = plan(record, _engine(item.config))
    test = attach.current_test()
    if test is not None and attach.direct:
        apply_to_result(test, steps, item.config)
    else:  # another allure-commons plugin listens too, or allure-pytest changed: let the hooks do it
        apply_by_hooks(steps)

    if record.get("manifest") is not None:
        attach(_manifest_text(json.dumps(record["manifest"], sort_keys=True)), "manifest sent", AttachmentType.YAML)
    if record.get("request"):
        attach(_indented(json.dumps(record["request"])), "request", AttachmentType.JSON)
    obs = record.get("observed")
    if obs:
        response = {k: obs.get(k) for k in ("status", "outcome", "message", "checks", "violation")}
        attach(_indented(json.dumps(response)), "server response", AttachmentType.JSON)
        if obs.get("warnings"):
            attach("\n".join(obs["warnings"]), "warnings", AttachmentType.TEXT)
        if obs.get("audit_annotations") is not None:
            # the event's id names the attachment, so its body (the PodSecurity annotations and
            # their parse) is shared by every item whose event said the same
            audit = {"annotations": obs.get("audit_annotations"), "parsed": obs.get("audit_violation")}
            attach(_indented(json.dumps(audit)), f"audit event {obs.get('audit_id')}", AttachmentType.JSON)
    if record.get("expected") and record.get("result") == "failed":  # a pass says it all (and 17k items add up)
        verdict = {"expected": record["expected"], "problems": record.get("problems") or []}
        attach(_indented(json.dumps(verdict)), "expectation and verdict", AttachmentType.JSON)


@functools.lru_cache(maxsize=8192)
def _indented(compact_json: str) -> str:
    """``json.dumps(obj, indent=2)`` of the object ``compact_json`` encodes (``json.dumps(obj)``: same order).

    The indenting encoder is pure Python, ~10x slower than the compact one; most bodies repeat
    (a request per policy and kind, the same answer under many policies), so each is indented once.
    """
    return json.dumps(json.loads(compact_json), indent=2)


@functools.lru_cache(maxsize=4096)
def _manifest_text(canonical_json: str) -> str:
    return _text(json.loads(canonical_json))


class _Attachments:
    """Attachment files: one name per citation, one stored body per distinct content and process.

    Allure 3 resolves an attachment by its file name and links a file to the first result that
    cites it; every later citation of the same file is "missed" (shown without content). So each
    citation gets a file name of its own. A manifest is sent under many policies and most server
    answers repeat, so the first citation of a body in this process writes it (atomically) and
    the later ones are hard links to that file: the names multiply, the bytes stored do not. Where
    a link cannot be made (a filesystem without hard links, an inode at its link limit) the body
    is written again, and that copy is linked from then on. The bodies remembered are bounded
    (``STORED``, least recently cited forgotten first): one forgotten is written again when cited.
    Falls back to ``allure.attach`` when allure-pytest's reporter is not where it is expected.
    """

    STORED = 16384

    def __init__(self, config):
        self.directory = str(Path(config.option.allure_report_dir))
        listener = config.pluginmanager.get_plugin("allure_listener")
        self.reporter = getattr(listener, "allure_logger", None)
        self.direct = listener is not None and _listener_only(listener)
        self.stored: dict[str, str] = {}   #: body digest -> the file holding it (insertion order: LRU)
        self.test = None                  #: the running item's TestResult (``current_test``)

    @classmethod
    def of(cls, config) -> "_Attachments":
        found = config.stash.get(_ATTACHMENTS, None)
        if found is None:
            found = config.stash[_ATTACHMENTS] = cls(config)
        return found

    def current_test(self):
        """The running item's ``TestResult`` (None if allure-pytest's reporter has none); later citations go to it."""
        from allure_commons.model2 import TestResult

        test = self.reporter.get_test(None) if self.reporter is not None else None
        self.test = test if isinstance(test, TestResult) else None
        return self.test

    def __call__(self, body: str, name: str, kind) -> None:
        from allure_commons.model2 import Attachment

        test = self.test
        if test is None:
            import allure

            allure.attach(body, name, kind)
            return
        data = body.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        source = f"{uuid.uuid4()}-attachment.{kind.extension}"
        target = os.path.join(self.directory, source)
        stored = self.stored.pop(digest, None)
        if stored is not None:
            try:
                os.link(stored, target)
            except OSError:  # no hard links here, or the file is at its link limit: store the body again
                stored = None
        if stored is None:
            allure_writer.write_whole(target, data, f"{target}.{os.getpid()}.tmp")
            stored = target
            if len(self.stored) >= self.STORED:
                del self.stored[next(iter(self.stored))]
        self.stored[digest] = stored
        test.attachments.append(Attachment(source=source, name=name, type=kind.mime_type))


_ATTACHMENTS = pytest.StashKey[_Attachments]()


def write_environment(alluredir: str | Path, run: dict) -> None:
    """Write ``environment.properties`` (run metadata) and ``categories.json`` into the results dir."""
    directory = Path(alluredir)
    directory.mkdir(parents=True, exist_ok=True)
    r = default_redactor()
    ident = run.get("identity") or {}
    props = {
        "run_id": run.get("run_id"), "server_version": run.get("server_version"),
        "cluster_fingerprint": run.get("cluster_fingerprint"), "target": run.get("target"),
        "runner_identity": ident.get("username"), "harness_version": run.get("harness_version"),
        "corpus_sha256": run.get("corpus_sha256"), "started": run.get("started"), "finished": run.get("finished"),
        "engine": (run.get("engine") or {}).get("title"),
    }
    lines = [f"{k}={r.text(str(v)).replace(chr(10), ' ')}" for k, v in props.items() if v is not None]
    (directory / "environment.properties").write_text("\n".join(lines) + "\n")
    (directory / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n")
