"""The deployment files as files: the Dockerfile, .dockerignore, the kustomize base, the chart's links to rbac/.

No cluster and no Helm here: tests/integration/test_deploy_live.py renders the chart and the base,
checks them against each other and installs them on a real API server. These checks are the ones
a file read answers: the image runs as a numeric non-root user with an exec-form entrypoint and no
shell step at run time, the build context holds what ``pip install .`` needs, the pods pass the
restricted level by the offline evaluator, and rbac/ is the one source of the harness's RBAC.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

import harness
from harness.core.model import LATEST, Level
from harness.policy import evaluate_object

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "kustomize" / "base"
CHART = REPO / "deploy" / "helm" / "pss-harness"


def base_objects() -> list[dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    out = []
    for res in kustomization["resources"]:
        path = (BASE / res).resolve()
        files = [path / r for r in yaml.safe_load((path / "kustomization.yaml").read_text())["resources"]] \
            if path.is_dir() else [path]
        for f in files:
            out += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return out


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


# -- the image -----------------------------------------------------------------------------------

def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """``[[(INSTRUCTION, arguments), ...] per stage]`` with continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def test_the_image_runs_as_a_numeric_non_root_user_with_an_exec_form_entrypoint():
    final = dockerfile_stages()[-1]
    instructions = dict(final)
    assert instructions["FROM"].startswith("gcr.io/distroless/python3-debian12")  # no shell in the image
    user = instructions["USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or (gid.isdigit() and int(gid) != 0)), user
    for exec_form in ("ENTRYPOINT", "CMD"):
        value = json.loads(instructions[exec_form])  # exec form: a JSON array, never run by a shell
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    assert json.loads(instructions["ENTRYPOINT"])[0].startswith("/")
    assert not [i for i, _ in final if i in ("RUN", "SHELL")], "the final stage must not need a shell"
    # the chart's pods run as the image's user, from its working directory
    pod = by_kind(base_objects(), "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == user
    assert pod["containers"][0]["workingDir"] == instructions["WORKDIR"] == "/var/lib/pss-harness"


def test_the_image_has_no_embedded_control_plane():
    text = (REPO / "Dockerfile").read_text()
    assert "cluster build" not in text and "golang" not in text.lower() and "go install" not in text


def _regex(pattern: str) -> str:
    """A .dockerignore pattern as a regular expression (``**`` any depth, ``*``/``?`` within one name)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] in "*?":
            out, i = out + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = _regex(raw.lstrip("!").strip("/"))
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


def test_the_build_context_holds_what_pip_install_needs_and_nothing_else():
    patterns = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
    tree = ast.parse((REPO / "setup.py").read_text())
    (trees,) = [ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                and any(getattr(t, "id", "") == "DATA_TREES" for t in n.targets)]  # what the build hook copies
    needed = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "harness/__init__.py",
              "harness/schemas/results.schema.json", "harness/reports/assets"]
    for name, globs in trees.items():
        shipped = sorted(str(p.relative_to(REPO)) for g in globs for p in (REPO / name).rglob(g))
        assert shipped, name
        needed += shipped
    for path in needed:
        assert not _ignored(path, patterns), f"{path} is needed by the build but .dockerignore leaves it out"
    for path in (".git/config", ".venv/bin/python", "tests/unit/test_core.py", "reports/junit.xml",
                 "bench/bench_controlplane.py", "deploy/kustomize/base/namespace.yaml",
                 "harness/__pycache__/x.pyc", "scenarios/x/__pycache__/y.pyc"):
        assert _ignored(path, patterns), f"{path} should stay out of the build context"


# -- the objects ---------------------------------------------------------------------------------

def pod_specs(objects):
    for o in objects:
        if o["kind"] == "CronJob":
            yield o, o["spec"]["jobTemplate"]["spec"]["template"]
        elif o["kind"] == "Deployment":
            yield o, o["spec"]["template"]


def watch_objects() -> list[dict]:
    return [d for d in yaml.safe_load_all((REPO / "deploy/kustomize/components/watch/watch.yaml").read_text()) if d]


def test_every_pod_passes_restricted_by_the_offline_evaluator_and_is_fully_locked_down():
    pods = list(pod_specs(base_objects() + watch_objects()))
    assert {o["metadata"]["name"] for o, _ in pods} == {"pss-harness-corpus", "pss-harness-sweep", "pss-harness-watch"}
    for obj, template in pods:
        evaluation = evaluate_object(obj, Level.RESTRICTED, LATEST)
        assert evaluation.allowed, (obj["metadata"]["name"], [str(r) for r in evaluation.results])
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                          "readOnlyRootFilesystem": True, "runAsNonRoot": True}, c["name"]
            assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts or c["name"] == "retention"  # scratch: an emptyDir, the root is read-only
            assert {"name": "PSS_HARNESS_IN_CLUSTER", "value": "1"} in c.get("env", [{"name": "PSS_HARNESS_IN_CLUSTER",
                                                                                      "value": "1"}])
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["tmp"]["emptyDir"]
        assert not any("hostPath" in v for v in volumes.values())


def test_the_cronjobs_never_overlap_never_retry_and_end():
    for cj in by_kind(base_objects(), "CronJob"):
        spec = cj["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
        job = spec["jobTemplate"]["spec"]
        assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] > 0
        assert job["template"]["spec"]["restartPolicy"] == "Never"
    corpus, sweep = (next(o for o in by_kind(base_objects(), "CronJob") if o["metadata"]["name"] == n)
                     for n in ("pss-harness-corpus", "pss-harness-sweep"))
    corpus_pod = corpus["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert corpus_pod["serviceAccountName"] == "pss-harness-runner"
    assert corpus_pod["containers"][0]["args"][0] == "run"
    assert corpus_pod["initContainers"][0]["args"][:2] == ["report", "prune"]  # retention, no shell
    sweep_pod = sweep["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert sweep_pod["serviceAccountName"] == "pss-harness-sweep"
    assert sweep_pod["containers"][0]["args"][0] == "namespaces"


def test_the_namespace_enforces_restricted_and_is_not_a_run_namespace():
    from harness.cluster.namespaces import OWNER, OWNER_LABEL

    (ns,) = by_kind(base_objects(), "Namespace")
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    # a corpus run deletes old namespaces labelled as a run's own: never the harness's home
    assert labels.get(OWNER_LABEL) != OWNER


def test_rbac_has_one_source():
    kustomization = yaml.safe_load((REPO / "rbac" / "kustomization.yaml").read_text())
    # the VAP set's installer role is for runs with --psa-engine vap, applied by hand (README), not deployed
    cluster_scoped = sorted(p.name for p in (REPO / "rbac").glob("*.yaml")
                            if p.name not in ("kustomization.yaml", "pss-harness-vap-installer.yaml") and
                            all(d["kind"] != "Role" for d in yaml.safe_load_all(p.read_text()) if d))
    assert sorted(kustomization["resources"]) == cluster_scoped == ["pss-harness-runner.yaml", "pss-harness-sweep.yaml"]
    assert "../../../rbac" in yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    link = CHART / "files" / "rbac"
    assert link.is_symlink() and link.resolve() == (REPO / "rbac").resolve()
    rbac_template = (CHART / "templates" / "rbac.yaml").read_text()
    for name in kustomization["resources"]:
        assert f'.Files.Get "files/rbac/{name}"' in rbac_template


def test_the_bindings_and_the_guard_name_the_base_serviceaccounts():
    objects = base_objects()
    accounts = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in by_kind(objects, "ServiceAccount")}
    assert accounts == {("pss-harness", "pss-harness-runner"), ("pss-harness", "pss-harness-sweep")}
    bound = {b["roleRef"]["name"]: [(s["namespace"], s["name"]) for s in b["subjects"]]
             for b in by_kind(objects, "ClusterRoleBinding")}
    assert bound == {"pss-harness-runner": [("pss-harness", "pss-harness-runner")],
                     "pss-harness-sweep": [("pss-harness", "pss-harness-sweep")]}
    (vap,) = by_kind(objects, "ValidatingAdmissionPolicy")
    (condition,) = vap["spec"]["matchConditions"]
    assert "'system:serviceaccount:pss-harness:pss-harness-sweep'" in condition["expression"]


def test_versions_agree_chart_kustomize_and_package():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    images = yaml.safe_load((BASE / "kustomization.yaml").read_text())["images"]
    assert chart["appVersion"] == harness.__version__ == images[0]["newTag"]


@pytest.mark.parametrize("path", ["examples/ci/github-actions.yml", "examples/ci/gitlab-ci.yml"])
def test_ci_templates_run_the_documented_commands(path):
    text = (REPO / path).read_text()
    assert "pss-harness run" in text and "--format sarif" in text and "junit.xml" in text
    assert "reports/evidence" in text and "allure-results" in text
    # every pss-harness command line of the template (but run's, which pytest parses) is valid for the real CLI
    from harness.cli import build_parser

    parser, checked = build_parser(), 0
    for line in text.splitlines():
        line = line.strip().removeprefix("- ").strip()
        if line.startswith("pss-harness ") and not line.startswith("pss-harness run "):
            command = line.split(" > ")[0].split(" || ")[0]
            parser.parse_args(shlex.split(command)[1:])  # SystemExit on an unknown option or value
            checked += 1
    assert checked >= 1
