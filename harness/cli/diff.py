"""``pss-harness diff``: what changes between two clusters, versions or pinned policy versions.

    pss-harness diff --from-k8s 1.34 --to-k8s 1.37                 # two embedded versions
    pss-harness diff --from-policy v1.34 --to-policy latest        # one server, pinned vs latest
    pss-harness diff --from-kubeconfig old.yaml --to-kubeconfig new.yaml [PATH ...] [--no-corpus]

``--format json`` prints one document (built by ``harness.core.diff.document``); the JSON Schema
harness/schemas/diff.schema.json (shipped with the package) documents every field.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.core.diff import Observed, Side, compare, document, exit_status, render_table, to_json
from harness.core.errors import UsageError
from harness.core.resources import corpus_dir
from harness.core.expectations import Policy
from harness.core.model import Level, Mode, Outcome, PolicyVersion
from harness.core.model import DEFAULT_K8S_VERSION



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


def observe_sides(sides: list[Side], scenarios, manifests, levels, modes) -> list[dict[tuple, Observed]]:
    """Submit every subject under every level x mode for each side; sides must share one server.

    Sides differing only in the policy version label share one cluster (one start, two namespace sets).
    """
    from harness.cluster.runtime import Submission
    from harness.cluster.sessions import open_runtime

    first = sides[0]
    for side in sides:
        print(f"side: {side.describe()}", file=sys.stderr)
    observed: list[dict[tuple, Observed]] = []
    with open_runtime(first.kubeconfig, first.context, first.k8s_version) as rt:
        for side in sides:
            version = PolicyVersion.parse(side.policy_version)
            keys, work = [], []
            for level in levels:
                for mode in modes:
                    policy = Policy(level, mode, version)
                    for s in scenarios:
                        for kind in s.kinds:
                            keys.append(("scenario", s.id, kind, "", level.value, mode.value))
                            work.append(rt.submission(s, kind, policy))
                    for m in manifests:
                        keys.append(("source", f"{m.source}#{m.index}", m.kind, m.name, level.value, mode.value))
                        work.append(Submission(m.obj, policy, m.name or m.kind.lower()))
            observed.append({key: _observed(w, result) for key, w, result in zip(keys, work, rt.execute_many(work))})
    return observed


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
        before, after = observe_sides([before_side, after_side], scenarios, manifests, levels, modes)
    else:
        (before,) = observe_sides([before_side], scenarios, manifests, levels, modes)
        (after,) = observe_sides([after_side], scenarios, manifests, levels, modes)
    changes = compare(before, after, _describe)
    doc = document(before_side, after_side, changes, len(before))
    text = to_json(doc) if args.format == "json" else render_table(doc)
    print(text)
    if args.output:
        Path(args.output).write_text(to_json(doc) + "\n")
    if args.bundle:
        from harness.reports.bundle import add_diff

        sums = add_diff(args.bundle, dict(doc, started=started, finished=_now()), sign_key=sign_key)
        print(f"diff added to the evidence bundle {args.bundle} ({sums.name} rewritten"
              f"{'; signed' if sign_key else ''})", file=sys.stderr)
    return exit_status(changes)
