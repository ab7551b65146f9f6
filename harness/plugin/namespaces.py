"""The namespace sweep as a pytest mode: ``pytest --psa-namespaces desired.yaml`` — one item per namespace x rule.

The controlling process sweeps the target once (``harness.cluster.sweep``, dry-run probes only)
at session start — the embedded control plane when no ``--kubeconfig`` is given, as for the
corpus — and writes the document into the run's evidence directory; every process (xdist
workers included) collects the items from that document, so collection is deterministic and
items never talk to the cluster. An item fails with the findings of its namespace against its
rule (``harness.core.namespace_rules``), so nightly CI gets them in JUnit and Allure with the
corpus run. At the end the document becomes the bundle's "Namespaces" section
(``harness.reports.namespaces``), sealed with the rest.

Without paths on the command line only the policy file is collected; with paths (``pytest
scenarios --psa-namespaces desired.yaml``) both run in one session. The sweep role and guard are
``rbac/pss-harness-sweep.yaml``; the corpus run needs its own role. May import everything but the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.plugin.evidence import evidence_dir, history_path
from harness.plugin.options import get_config
from harness.plugin.session import STATE, _start_target, in_cluster_of, is_worker

__all__ = ["NamespaceRuleItem", "NamespacesFile"]

_DOC = pytest.StashKey[dict]()
_PATH = pytest.StashKey[Path]()
DOC_FILE = "namespaces.json"
_HELP = ("desired-state namespace policy (YAML): sweep the target's own namespaces by dry-run and test each "
         "namespace x rule (README: 'pss-harness namespaces')")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pss-harness")
    group.addoption("--psa-namespaces", dest="psa_namespaces", default=None, metavar="POLICY", help=_HELP)
    parser.addini("psa_namespaces", _HELP, default=None)


def _policy(config: pytest.Config) -> Path | None:
    value = config.getoption("psa_namespaces") or config.getini("psa_namespaces")
    return Path(str(value)).expanduser().resolve() if value else None


def pytest_configure(config: pytest.Config) -> None:
    path = _policy(config)
    if path is None:
        return
    if not path.is_file():
        raise pytest.UsageError(f"--psa-namespaces {path}: no such file")
    config.stash[_PATH] = path
    # xdist workers parse the same invocation, so they decide the same way
    if getattr(config, "args_source", None) != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(path)]  # no paths given: the namespaces only, not the test paths or the cwd
    elif str(path) not in config.args:
        config.args.append(str(path))


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    path = config.stash.get(_PATH, None)
    if path is None:
        return
    if is_worker(config):
        config.stash[_DOC] = json.loads(Path(config.workerinput["psa_namespaces_doc"]).read_text())
        return
    from harness.cluster.client import Cluster
    from harness.cluster.audit import AuditSource
    from harness.cluster.sweep import document, sweep
    from harness.corpus.namespace_policy import load_namespace_policy
    from harness.reports.redact import default_redactor

    tr = config.pluginmanager.get_plugin("terminalreporter")
    try:
        desired = load_namespace_policy(path)
        target = _start_target(config)
        cluster = Cluster(target["kubeconfig"], target.get("context"), in_cluster=in_cluster_of(target))
        try:
            audit = AuditSource(target["audit_log"]) if target.get("audit_log") else None
            result = sweep(cluster, audit=audit)
        finally:
            cluster.close()
    except HarnessError as exc:
        pytest.exit(f"pss-harness: {exc}", returncode=3)
    where = "embedded" if config.stash[STATE].embedded is not None else cluster.describe()
    doc = default_redactor().scrub(document(result, desired, target=f"{where} (Kubernetes {result.server_version})"))
    out = evidence_dir(config, get_config(config).run_id)
    out.mkdir(parents=True, exist_ok=True)
    (out / DOC_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    config.stash[_DOC] = doc
    if tr:
        s = doc["summary"]
        tr.write_line(f"pss-harness: swept {s['namespaces']} namespace(s) as {doc['runner']['username']} in "
                      f"{s['elapsed_s']}s: {s['results']} namespace x rule item(s), {s['findings']} finding(s)")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    config = node.config
    if config.stash.get(_DOC, None) is not None:
        node.workerinput["psa_namespaces_doc"] = str(evidence_dir(config, get_config(config).run_id) / DOC_FILE)


def policy_path(config: pytest.Config) -> Path | None:
    """The ``--psa-namespaces`` policy file of this run (collected here, never as a scenario)."""
    return config.stash.get(_PATH, None)


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    path = parent.config.stash.get(_PATH, None)
    if path is not None and Path(file_path).resolve() == path:
        return NamespacesFile.from_parent(parent, path=file_path)
    return None


class NamespaceFindings(AssertionError):
    """The namespace does not meet the rule (or its posture could not be proven)."""


class NamespacesFile(pytest.File):
    """The policy file: its items come from the sweep's document."""

    def collect(self):
        doc = self.config.stash.get(_DOC, None)
        if doc is None:
            raise self.CollectError("the namespace sweep did not run (it runs at session start, in the controller)")
        postures = {n["namespace"]: n for n in doc["namespaces"]}
        findings: dict[tuple[str, str], list[dict]] = {}
        for f in doc["findings"]:
            findings.setdefault((f["namespace"], f["rule"]), []).append(f)
        for r in doc["results"]:
            key = (r["namespace"], r["rule"])
            yield NamespaceRuleItem.from_parent(self, name=f"{r['namespace']}[{r['rule']}]",
                                                posture=postures[r["namespace"]], rule=r["rule"],
                                                findings=findings.get(key, []))


class NamespaceRuleItem(pytest.Item):
    """One namespace against one rule."""

    def __init__(self, *, posture: dict, rule: str, findings: list[dict], **kw):
        super().__init__(**kw)
        self.posture, self.rule, self.findings = posture, rule, findings
        self.extra_keyword_matches.update({posture["namespace"], rule, *(f["id"] for f in findings)})
        for key in ("enforce", "warn", "audit"):
            self.user_properties.append((key, posture[key]["text"]))
        self.user_properties += [("namespace", posture["namespace"]), ("rule", rule),
                                 ("source", posture["source"]), ("exempt", ",".join(posture["exempt"]) or "none"),
                                 ("findings", ",".join(f["id"] for f in findings) or "none")]

    def runtest(self) -> None:
        if self.findings:
            raise NamespaceFindings("\n".join(f"[{f['id']}] {f['message']} (CIS {', '.join(f['cis'])})"
                                              for f in self.findings))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, NamespaceFindings):
            p = self.posture
            return (f"namespace {p['namespace']} against rule {self.rule}: enforce {p['enforce']['text']}, "
                    f"warn {p['warn']['text']}, audit {p['audit']['text']} (source {p['source']}, exempt "
                    f"{', '.join(p['exempt']) or 'none'})\n{excinfo.value}")
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"namespace {self.posture['namespace']} x rule {self.rule}"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """After the corpus bundle is written (or when there is none): add the Namespaces section, seal again."""
    config = session.config
    doc = config.stash.get(_DOC, None)
    if doc is None or is_worker(config):
        return
    from harness.reports import bundle, history
    from harness.reports.namespaces import add_namespaces

    run_id = get_config(config).run_id
    directory = evidence_dir(config, run_id)
    add_namespaces(directory, doc)
    db = history_path(config)
    if db.is_file():
        try:
            history.set_bundle_digest(db, run_id, bundle.sums_digest(directory))
        except Exception:
            pass
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr:
        tr.write_line(f"pss-harness: Namespaces section in {directory} (namespaces.html), sealed")
