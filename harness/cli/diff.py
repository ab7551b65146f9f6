"""``pss-harness diff``: what changes between two clusters, versions or pinned policy versions.

    pss-harness diff --from-k8s 1.34 --to-k8s 1.37                 # two embedded versions
    pss-harness diff --from-policy v1.34 --to-policy latest        # one server, pinned vs latest
    pss-harness diff --from-kubeconfig old.yaml --to-kubeconfig new.yaml [PATH ...] [--no-corpus]

A change the Pod Security Standards made on purpose between the two policy versions (the
offline evaluator at each side's version predicts both observations exactly) is labelled
``expected-relaxation``, ``expected-tightening`` or ``expected-change`` with its checks and
version boundary, and kept apart from unexplained changes. Identical changes across kinds are
one row of the table.

Exit status, over the unexplained changes (``--fail-on-expected``: over all of them):
  0  no change;  3  a regression (newly-admitted);  4  breakage (newly-denied);  5  both;
  1  other changes only (checks-changed, outcome-changed);  2  bad input or usage or a cluster error.

``--format json`` prints one document (built by ``harness.core.diff.document``); the JSON Schema
harness/schemas/diff.schema.json (shipped with the package) documents every field.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.core.diff import (Observed, Side, compare, document, exit_status, explain, predicted_observation,
                               render_table, to_json)
from harness.core.errors import UsageError
from harness.core.expectations import Policy, policy_minor
from harness.core.kinds import as_kind
from harness.core.model import DEFAULT_K8S_VERSION, Level, Mode, Outcome, PolicyVersion
from harness.core.resources import corpus_dir
from harness.cli import terminal_width


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="run the corpus and/or manifests on two sides and report what changes",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for side in ("from", "to"):
        g = p.add_argument_group(f"the '{side}' side (default: the embedded {DEFAULT_K8S_VERSION}, policy latest)")
        g.add_argument(f"--{side}-k8s", metavar="V", help="an embedded control plane of this Kubernetes version")
        g.add_argument(f"--{side}-kubeconfig", metavar="FILE", help="an existing cluster")
        g.add_argument(f"--{side}-context", metavar="NAME", help="kubeconfig context")
        g.add_argument(f"--{side}-policy", metavar="VERSION", default="latest",
                       help="policy version label of the test namespaces (latest or v1.N)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="manifests to compare too (files, dirs, - for stdin)")
    p.add_argument("--no-corpus", action="store_true", help="compare only the given manifests")
    p.add_argument("--scenarios", metavar="DIR", action="append", help="corpus directories (default: scenarios/)")
    p.add_argument("--levels", default="baseline,restricted")
    p.add_argument("--modes", default="enforce", help="modes to compare (enforce covers Pods and workloads)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--fail-on-expected", action="store_true",
                   help="let the changes the Pod Security Standards made on purpose set the exit status too")
    p.add_argument("--output", metavar="FILE", help="also write the JSON document to FILE")
    p.add_argument("--bundle", metavar="DIR", help="put the diff into the evidence bundle DIR (its HTML gets an "
                                                   "'Upgrade diff' section; a new bundle if DIR holds none)")
    p.add_argument("--sign-key", metavar="FILE", help="Ed25519 private key (PEM) to sign the --bundle with again "
                                                      "(default $PSS_HARNESS_SIGN_KEY); without one its old signature "
                                                      "is removed")
    p.set_defaults(handler=_diff)


def _bundle_key(args):
    """The key ``--bundle`` is signed with again (``--sign-key`` or ``$PSS_HARNESS_SIGN_KEY``), loaded now."""
    from harness.reports.signing import load_private_key

    path = args.sign_key or os.environ.get("PSS_HARNESS_SIGN_KEY")
    return load_private_key(path, "--sign-key" if args.sign_key else "$PSS_HARNESS_SIGN_KEY") if path else None


def _side(args, name: str) -> Side:
    from harness.embedded.builder import resolve_version

    k8s = getattr(args, f"{name}_k8s")
    side = Side(resolve_version(k8s) if k8s else None, getattr(args, f"{name}_kubeconfig"), getattr(args, f"{name}_context"),
                str(PolicyVersion.parse(getattr(args, f"{name}_policy"), f"--{name}-policy", lenient=True)))
    if side.k8s_version and side.kubeconfig:
        raise UsageError(f"--{name}-k8s and --{name}-kubeconfig are exclusive: choose an embedded version or a cluster")
    return side


def _subjects(args) -> tuple[list, list]:
    from harness.corpus.manifests import read_manifests
    from harness.corpus.scenarios import load_corpus

    scenarios = [] if args.no_corpus else load_corpus([Path(d) for d in (args.scenarios or [corpus_dir()])])
    manifests = [m for m in read_manifests(args.paths) if m.pod_bearing] if args.paths else []
    if not scenarios and not manifests:
        raise UsageError("nothing to compare: give manifest PATHs or leave the corpus on")
    return scenarios, manifests


def _keys(scenarios, manifests, levels, modes):
    """``(key, subject)`` per submission: the scenario as a kind, or the manifest."""
    for level in levels:
        for mode in modes:
            for s in scenarios:
                for kind in s.kinds:
                    yield ("scenario", s.id, kind, "", level.value, mode.value), (s, kind)
            for m in manifests:
                yield ("source", f"{m.source}#{m.index}", m.kind, m.name, level.value, mode.value), m


def observe_sides(sides: list[Side], scenarios, manifests, levels, modes) -> list[tuple[dict[tuple, Observed], int]]:
    """Submit every subject under every level x mode for each side; sides must share one server.

    Returns, per side, the observations by key and the server's minor version. Sides differing
    only in the policy version label share one cluster (one start, two namespace sets).
    """
    from harness.cluster.runtime import Submission
    from harness.cluster.sessions import open_runtime

    first = sides[0]
    for side in sides:
        print(f"side: {side.describe()}", file=sys.stderr)
    out: list[tuple[dict[tuple, Observed], int]] = []
    # a side is explicit: without a kubeconfig it is an embedded plane (never in-cluster, even in a pod)
    embedded_version = None if first.kubeconfig else first.k8s_version or DEFAULT_K8S_VERSION
    with open_runtime(first.kubeconfig, first.context, embedded_version) as rt:
        for side in sides:
            version = PolicyVersion.parse(side.policy_version)
            keys, work = [], []
            for key, subject in _keys(scenarios, manifests, levels, modes):
                policy = Policy(Level(key[4]), Mode(key[5]), version)
                keys.append(key)
                if key[0] == "scenario":
                    work.append(rt.submission(subject[0], subject[1], policy))
                else:
                    work.append(Submission(subject.obj, policy, subject.name or subject.kind.lower()))
            observed = {key: _observed(w, result) for key, w, result in zip(keys, work, rt.execute_many(work))}
            out.append((observed, rt.server_minor))
    return out


def evaluable(scenarios, manifests) -> dict[tuple, dict]:
    """The object the server judges per ``(what, subject, kind)``: a scenario's pod as the kind (with its
    ephemeral containers added, for the update path), or the manifest as given."""
    out = {}
    for s in scenarios:
        for kind in s.kinds:
            obj = as_kind(s.manifest, kind)
            if s.update and kind == "Pod":
                spec = obj.setdefault("spec", {})
                spec["ephemeralContainers"] = list(spec.get("ephemeralContainers") or []) + \
                    list(s.update.get("ephemeralContainers") or [])
            out[("scenario", s.id, kind)] = obj
    for m in manifests:
        out[("source", f"{m.source}#{m.index}", m.kind)] = m.obj
    return out


def explainer(objects: dict[tuple, dict], before: Side, after: Side, before_minor: int, after_minor: int):
    """``explain_change`` for ``compare``: the offline evaluator at each side's policy version."""
    from harness.policy.versions import boundaries, failing

    minors = (policy_minor(PolicyVersion.parse(before.policy_version), before_minor),
              policy_minor(PolicyVersion.parse(after.policy_version), after_minor))

    def explain_change(key: tuple, info: dict, a: Observed, b: Observed):
        obj = objects.get(key[:3])
        if obj is None:
            return None
        level, mode, kind = Level(info["level"]), Mode(info["mode"]), info["kind"]
        f_a, f_b = failing(obj, level, minors[0]), failing(obj, level, minors[1])
        return explain(a, b, predicted_observation(f_a, kind, mode, before_minor),
                       predicted_observation(f_b, kind, mode, after_minor), f_a, f_b,
                       lambda checks: boundaries(obj, level, minors[0], minors[1], checks))

    return explain_change


def _observed(w, result) -> Observed:
    if isinstance(result, BaseException):
        return Observed(Outcome.ERROR, (f"{type(result).__name__}: {result}",))
    obs = result.observation
    checks = obs.audit_violation.checks if w.policy.mode is Mode.AUDIT and obs.audit_violation else obs.checks
    return Observed(obs.outcome, tuple(sorted(checks)))



def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _describe(key: tuple) -> dict:
    what, subject, kind, name, level, mode = key
    if what == "scenario":
        return {"scenario": subject, "kind": kind, "name": subject, "level": level, "mode": mode}
    source, _, index = subject.rpartition("#")
    return {"source": source, "index": int(index), "kind": kind, "name": name, "level": level, "mode": mode}


def _diff(args: argparse.Namespace) -> int:
    sign_key = _bundle_key(args) if args.bundle else None  # checked before any cluster starts
    before_side, after_side = _side(args, "from"), _side(args, "to")
    levels = [Level.parse(t, "--levels value") for t in args.levels.split(",") if t]
    modes = [Mode.parse(t, "--modes value") for t in args.modes.split(",") if t]
    if before_side == after_side:
        raise UsageError("both sides are the same: change a version (--to-k8s, --to-policy) or a cluster")
    scenarios, manifests = _subjects(args)
    started = _now()
    if before_side.same_server(after_side):
        (before, before_minor), (after, after_minor) = observe_sides([before_side, after_side], scenarios, manifests,
                                                                     levels, modes)
    else:
        ((before, before_minor),) = observe_sides([before_side], scenarios, manifests, levels, modes)
        ((after, after_minor),) = observe_sides([after_side], scenarios, manifests, levels, modes)
    why = explainer(evaluable(scenarios, manifests), before_side, after_side, before_minor, after_minor)
    changes = compare(before, after, _describe, why)
    doc = document(before_side, after_side, changes, len(before))
    text = to_json(doc) if args.format == "json" else render_table(doc, terminal_width())
    print(text)
    if args.output:
        Path(args.output).write_text(to_json(doc) + "\n")
    if args.bundle:
        from harness.reports.bundle import add_diff

        sums = add_diff(args.bundle, dict(doc, started=started, finished=_now()), sign_key=sign_key)
        print(f"diff added to the evidence bundle {args.bundle} ({sums.name} rewritten"
              f"{'; signed' if sign_key else ''})", file=sys.stderr)
    return exit_status(changes, include_expected=args.fail_on_expected)
