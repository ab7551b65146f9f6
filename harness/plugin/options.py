"""The plugin's options, resolved once into the frozen ``HarnessConfig`` (CLI > environment > ini > default).

Every setting has one CLI option and one ini key sharing a help string; the environment
variables ``PSS_HARNESS_KUBECONFIG`` and ``PSS_HARNESS_CONTEXT`` point the run at an existing
cluster without editing files; ``PSS_HARNESS_SIGN_KEY`` names the key the bundle is signed with
(checked here, before the run, so a bad key never costs a run). No other module calls ``getoption``.

Where the reports go is ``reports_dir``: ``--psa-reports DIR`` (ini ``psa_reports``), resolved the
same whatever pytest's rootdir is (a scenario directory outside the repository gives rootdir ``/``).
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from harness.core.errors import UsageError
from harness.core.settings import HarnessConfig
from harness.core.model import LATEST, Level, Mode, PolicyVersion
from harness.core.kinds import KIND_NAMES
from harness.core.model import DEFAULT_K8S_VERSION
from harness.core.shard import Shard, from_environment

__all__ = ["REPORTS_DEFAULT", "add_options", "get_config", "reports_dir"]

# name: (cli flag, help, default)
_OPTIONS: dict[str, tuple[str, str, str | None]] = {
    "kubeconfig": ("--kubeconfig", "kubeconfig of an existing cluster to test; without it (and without "
                   "PSS_HARNESS_KUBECONFIG): in a pod, its ServiceAccount (in-cluster; PSS_HARNESS_IN_CLUSTER=0 "
                   "turns that off), else an embedded control plane is started", None),
    "context": ("--context", "kubeconfig context to use (default: its current context)", None),
    "k8s_version": ("--k8s-version", f"Kubernetes version of the embedded control plane (default {DEFAULT_K8S_VERSION})", None),
    "levels": ("--psa-levels", "comma-separated levels to test (privileged is the control level)",
               "privileged,baseline,restricted"),
    "modes": ("--psa-modes", "comma-separated modes to test", "enforce,warn,audit"),
    "versions": ("--psa-versions", "comma-separated policy versions (latest, v1.N), or 'auto': latest plus "
                 "each version boundary a scenario declares", "auto"),
    "kinds": ("--psa-kinds", "comma-separated resource kinds to submit", ",".join(KIND_NAMES)),
    "scenarios": ("--psa-scenarios", "comma-separated extra scenario directories to collect (your own corpus)", None),
    "live": ("--live", "create objects for real (and delete them) instead of server-side dry-run; also asserts "
             "the controller path (FailedCreate) where a controller manager runs. Not for production clusters", None),
    "keep_namespaces": ("--keep-namespaces", "do not delete the test namespaces at the end (debugging)", None),
    "namespace_map": ("--psa-namespace-map", "YAML file mapping policies (e.g. restricted-enforce-latest) to "
                      "existing, pre-labelled namespaces, for runners that may not create namespaces", None),
    "audit_log": ("--audit-log", "for an existing cluster: a JSON-lines audit log FILE, or '!COMMAND' printing "
                  "audit events; without it, audit-mode items are skipped with the reason", None),
    "sign_key": ("--psa-sign-key", "Ed25519 private key FILE (PEM, PKCS8) to sign the evidence bundle with: an "
                 "in-toto statement over every file in a DSSE envelope (bundle.intoto.jsonl), checked by "
                 "pss-harness report verify DIR --key PUB; pss-harness report keygen OUT makes a key pair", None),
    "metrics_file": ("--psa-metrics-file", "write the run's Prometheus metrics (outcomes per check x level x mode x "
                     "kind) to FILE at the end, in the node-exporter textfile format", None),
    "pushgateway": ("--psa-pushgateway", "push the run's Prometheus metrics to this Pushgateway URL at the end "
                    "(job pss-harness-corpus)", None),
    "run_id": ("--psa-run-id", "identifier of this run (default: random)", None),
    "sweep_after": ("--psa-sweep-after", "delete namespaces left by crashed runs when older than this many "
                    "minutes", "60"),
    "shard": ("--psa-shard", "run only shard INDEX/COUNT of the items (0-based; an item's shard is the SHA-256 of its "
              "node id modulo COUNT, the same on every run); the rest are deselected. Without it, a pod of an "
              "Indexed Job runs shard $JOB_COMPLETION_INDEX/$PSS_HARNESS_SHARDS; join the shards' bundles with "
              "pss-harness report merge", None),
    "engine": ("--psa-engine", "the admission engine the corpus is held to: 'podsecurity' (the built-in PodSecurity "
               "plugin) or 'vap' (ValidatingAdmissionPolicies: the project's PSS-in-CEL set, installed for the run, "
               "or your own with --vap-binding-selector); namespaces are then labelled PodSecurity-privileged and "
               "for the set's bindings", "podsecurity"),
    "vap_binding_selector": ("--vap-binding-selector", "with --psa-engine vap: validate YOUR ValidatingAdmissionPolicies: "
                             "the namespace labels your bindings select, key=value[,key=value] with {level}, {mode} "
                             "(and {version}) placeholders, e.g. 'example.com/pss-{mode}={level}'; the harness "
                             "installs nothing and only labels its namespaces so", None),
}
_FLAGS = {"live", "keep_namespaces"}
_ENV = {"kubeconfig": "PSS_HARNESS_KUBECONFIG", "context": "PSS_HARNESS_CONTEXT", "audit_log": "PSS_HARNESS_AUDIT_LOG",
        "sign_key": "PSS_HARNESS_SIGN_KEY"}

REPORTS_DEFAULT = "reports"
_REPORTS_HELP = ("directory for the run's reports: evidence/<run-id>/ (the bundle), runs/<run-id>/ (junit.xml, "
                 "allure-results/), history.sqlite and the 'latest' link. Relative to the current directory "
                 "(an ini value: to the ini file's directory)")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("pss-harness", "PodSecurity admission validation")
    group.addoption("--psa-reports", dest="psa_reports", default=None, metavar="DIR",
                    help=_REPORTS_HELP + f" (default: ./{REPORTS_DEFAULT})")
    parser.addini("psa_reports", _REPORTS_HELP, default=REPORTS_DEFAULT)
    for name, (flag, help_, default) in _OPTIONS.items():
        if name in _FLAGS:
            group.addoption(flag, dest=f"psa_{name}", action="store_true", default=None, help=help_)
            parser.addini(f"psa_{name}", help_, type="bool", default=False)
        else:
            shown = f" (default: {default})" if default else ""
            group.addoption(flag, dest=f"psa_{name}", default=None, help=help_ + shown)
            parser.addini(f"psa_{name}", help_, default=default)


def _raw(config: pytest.Config, name: str) -> tuple[object, str]:
    cli = config.getoption(f"psa_{name}")
    if cli is not None:
        return cli, "command line"
    if name == "shard":  # an Indexed Job's pod: $JOB_COMPLETION_INDEX and $PSS_HARNESS_SHARDS
        shard, source = from_environment(os.environ)
        if shard is not None:
            return shard, source
    if name in _ENV and os.environ.get(_ENV[name]):
        return os.environ[_ENV[name]], f"${_ENV[name]}"
    ini = config.getini(f"psa_{name}")
    default = _OPTIONS[name][2]
    if ini not in (None, "", False) and ini != default:
        return ini, "ini"
    return (False if name in _FLAGS else default), "default"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def get_config(config: pytest.Config) -> HarnessConfig:
    """Resolve (once per pytest config) and validate every setting; bad values raise ``UsageError``."""
    cached = getattr(config, "_psa_config", None)
    if cached is not None:
        return cached
    values, sources = {}, {}
    for name in _OPTIONS:
        values[name], src = _raw(config, name)
        if src != "default":
            sources[name] = src
    levels = tuple(Level.parse(t, "--psa-levels value") for t in _csv(values["levels"]))
    modes = tuple(Mode.parse(t, "--psa-modes value") for t in _csv(values["modes"]))
    versions = None if str(values["versions"]).strip() == "auto" else \
        tuple(PolicyVersion.parse(t, "--psa-versions value", lenient=True) for t in _csv(values["versions"]))
    kinds = tuple(_csv(values["kinds"]))
    bad = [k for k in kinds if k not in KIND_NAMES]
    if bad:
        raise UsageError(f"--psa-kinds: unknown kind(s) {bad} (known: {', '.join(KIND_NAMES)})")
    if not levels or not modes or not kinds:
        raise UsageError("--psa-levels, --psa-modes and --psa-kinds must each name at least one value")
    ns_map = _load_namespace_map(values["namespace_map"]) if values["namespace_map"] else {}
    try:
        sweep = int(values["sweep_after"])
    except ValueError:
        raise UsageError(f"--psa-sweep-after {values['sweep_after']!r}: a whole number of minutes") from None
    engine = str(values["engine"]).strip()
    selector = str(values["vap_binding_selector"]).strip() if values["vap_binding_selector"] else None
    versions = _engine_versions(engine, selector, levels, modes, versions)
    kubeconfig = values["kubeconfig"]
    if kubeconfig:
        from harness.cluster.client import check_kubeconfig

        check_kubeconfig(str(kubeconfig), values["context"])
    shard = values["shard"]
    if shard is not None and not isinstance(shard, Shard):
        shard = Shard.parse(shard, f"--psa-shard ({sources.get('shard', 'default')})")
    in_cluster = None
    if not kubeconfig and not values["k8s_version"]:  # precedence: harness.cluster.incluster
        from harness.cluster.incluster import detect

        found = detect()
        in_cluster = found.to_dict() if found else None
    sign_key = str(Path(str(values["sign_key"])).expanduser()) if values["sign_key"] else None
    if sign_key:
        from harness.reports.signing import load_private_key

        load_private_key(sign_key, f"--psa-sign-key ({sources['sign_key']})")
    resolved = HarnessConfig(
        kubeconfig=str(Path(str(kubeconfig)).expanduser()) if kubeconfig else None,
        context=values["context"],
        k8s_version=values["k8s_version"],
        levels=levels, modes=modes, versions=versions, kinds=kinds,
        scenario_dirs=tuple(_scenario_dirs(values["scenarios"])),
        live=bool(values["live"]), keep_namespaces=bool(values["keep_namespaces"]),
        namespace_map=ns_map,
        audit_log=values["audit_log"],
        sign_key=sign_key,
        metrics_file=str(values["metrics_file"]) if values["metrics_file"] else None,
        pushgateway=str(values["pushgateway"]) if values["pushgateway"] else None,
        run_id=_run_id(config, values["run_id"]),
        sweep_after_minutes=sweep,
        sources=sources,
        shard=shard,
        in_cluster=in_cluster,
        engine=engine,
        vap_binding_selector=selector,
    )
    config._psa_config = resolved
    return resolved


def _engine_versions(engine: str, selector: str | None, levels, modes, versions):
    """Check ``--psa-engine`` and ``--vap-binding-selector`` together; the policy versions the engine can be held to.

    A ValidatingAdmissionPolicy set is labelled per level and mode only (the project's implements
    ``latest``), so ``auto`` means ``latest`` for it, unless the user's selector has ``{version}``.
    """
    from harness.core.engines import ENGINES, LabelTemplate

    if engine not in ENGINES:
        raise UsageError(f"--psa-engine {engine!r}: one of {', '.join(ENGINES)}")
    if selector and engine != "vap":
        raise UsageError("--vap-binding-selector selects your ValidatingAdmissionPolicy bindings: it needs "
                         "--psa-engine vap")
    if engine != "vap":
        return versions
    template = LabelTemplate.parse(selector) if selector else None
    if template is not None:
        if not template.has("level"):
            raise UsageError(f"--vap-binding-selector {selector!r}: has no {{level}}, so every level's namespace would "
                             "carry the same labels; e.g. 'example.com/pss-{mode}={level}'")
        if not template.has("mode") and len(modes) > 1:
            raise UsageError(f"--vap-binding-selector {selector!r}: has no {{mode}}, so every mode's namespace would "
                             "carry the same labels: select one mode (--psa-modes enforce) or add {mode}")
    if template is not None and template.has("version"):
        return versions
    if versions is None:
        return (LATEST,)
    if any(not v.is_latest for v in versions):
        raise UsageError("--psa-engine vap: the ValidatingAdmissionPolicy set is labelled per level and mode, and the "
                         "project's implements latest only: use --psa-versions latest (or auto), or a "
                         "--vap-binding-selector with {version} for a set of yours that has versions")
    return versions


def reports_dir(config: pytest.Config) -> Path:
    """The run's report directory, absolute; the same in every process of the run.

    ``--psa-reports DIR`` and ``-o psa_reports=DIR`` are relative to the directory pytest was
    started in; a ``psa_reports`` ini value to its ini file's directory; the default is
    ``./reports``. Never the rootdir: for a scenario directory outside any project pytest picks
    ``/``, and ``/reports`` is nobody's report directory. xdist workers take the controller's.
    """
    cached = getattr(config, "_psa_reports", None)
    if cached is not None:
        return cached
    inherited = getattr(config, "workerinput", {}).get("psa_reports")
    if inherited:
        resolved = Path(inherited)
    else:
        base = Path(config.invocation_params.dir)
        given = config.getoption("psa_reports", None)
        if not given:
            given = config.getini("psa_reports") or REPORTS_DEFAULT
            overridden = any(str(o).split("=", 1)[0].strip() == "psa_reports"
                             for o in getattr(config.option, "override_ini", None) or ())
            if given != REPORTS_DEFAULT and config.inipath is not None and not overridden:
                base = config.inipath.parent  # written in the ini file, not given with -o
        resolved = Path(os.path.abspath(base / Path(str(given)).expanduser()))
    config._psa_reports = resolved
    return resolved


def _scenario_dirs(text: object) -> list[str]:
    dirs = _csv(text) if text else []
    for d in dirs:
        if not Path(d).is_dir():
            raise UsageError(f"--psa-scenarios {d}: no such directory")
    return dirs


_RUN_ID = re.compile(r"^[a-z0-9]{1,16}$")


def _run_id(config: pytest.Config, given: object) -> str:
    """xdist workers take the controller's id, so every process names and labels alike."""
    inherited = getattr(config, "workerinput", {}).get("psa_run_id")
    if inherited:
        return inherited
    if given is None:
        return uuid.uuid4().hex[:8]
    if not _RUN_ID.match(str(given)):
        raise UsageError(f"--psa-run-id {given!r}: 1-16 lower-case letters or digits (it names namespaces)")
    return str(given)


def _load_namespace_map(path: str) -> dict[str, str]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"--psa-namespace-map {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise UsageError(f"--psa-namespace-map {path}: must map policy names (e.g. restricted-enforce-latest) "
                         "to namespace names")
    return data
