"""Truth run: every scenario against a real kube-apiserver, compared with the scenario data.

For every scenario, every kind it declares, levels baseline and restricted, and policy versions
``latest`` plus each boundary the scenario declares (b-1 and b; ``--wide`` adds every minor
where any check changes, and the minor below it), it dry-run creates the object in a namespace
labelled ``enforce=<level>`` + ``enforce-version=<v>`` and compares the server's answer with
``harness.core.expectations.expected``:

* expected ``denied``: HTTP 403 whose message says ``violates PodSecurity "<level>:<version>"``
  and names exactly the expected checks (reason phrases mapped back to check ids);
* expected ``warned`` (workloads under enforce; warn follows the enforce label): 2xx with a
  ``would violate PodSecurity`` Warning naming exactly the expected checks;
* expected ``invalid``: HTTP 422;
* expected ``admitted``: 2xx and no PodSecurity warning.

Update-path scenarios create their compliant pod for real (with a scheduling gate, so it never
runs) and dry-run PUT the ephemeral containers through ``pods/ephemeralcontainers``.

The message parsing here is deliberately independent of ``harness.core.verdict``/``harness.core.messages``:
this script checks the corpus data, not the harness's own classification. It starts one
embedded control plane (or uses ``--kubeconfig``) and prints a summary; ``--json`` writes every
disagreement.

    .venv/bin/python bench/truth_corpus.py [--wide] [--json out.json] [--kubeconfig PATH] [scenario-dir ...]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import re
import sys
import time
import uuid
from pathlib import Path

from harness.core.checks import newest_minor, reason_to_check
from harness.cluster.client import Cluster
from harness.core.expectations import Policy, expected, policy_minor
from harness.core.model import LATEST, Level, Mode, Outcome, PolicyVersion
from harness.corpus.scenarios import load_corpus
from harness.core.kinds import API_VERSIONS, as_kind

LEVELS = (Level.BASELINE, Level.RESTRICTED)
GATE = "pss-harness.io/truth-never-schedule"
_HEAD = re.compile(r'(would violate|violates) PodSecurity "(\w+):(latest|v1\.\d+)": (.*)$', re.S)
_PLURAL = {"Pod": "pods", "Deployment": "deployments", "ReplicaSet": "replicasets", "StatefulSet": "statefulsets",
           "DaemonSet": "daemonsets", "Job": "jobs", "CronJob": "cronjobs",
           "ReplicationController": "replicationcontrollers", "PodTemplate": "podtemplates"}


def split_reasons(body: str) -> list[str]:
    """Reason phrases of ``a (x, "y, z"), b, c (d)``: split at ", " outside parentheses and quotes."""
    out, depth, quoted, cur, i = [], 0, False, "", 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if not quoted and depth == 0 and body.startswith(", ", i):
            out.append(cur)
            cur, i = "", i + 2
            continue
        cur += ch
        i += 1
    out.append(cur)
    return [item.split(" (", 1)[0].strip() for item in out if item.strip()]


def check_of(reason: str, level: Level, minor: int) -> str:
    """The check id of a reason phrase. Upstream pluralises one phrase ("forbidden AppArmor profiles"
    when more than one value is bad); ``reason_to_check`` knows only the singular, so try that too."""
    found = reason_to_check(reason, level, minor)
    if found is None and reason.endswith("s"):
        found = reason_to_check(reason[:-1], level, minor)
    return found or f"?{reason}"


def checks_in(text: str, level: Level, minor: int) -> frozenset[str] | None:
    m = _HEAD.search(text or "")
    if not m:
        return None
    return frozenset(check_of(r, level, minor) for r in split_reasons(m.group(4)))


def path_for(kind: str, ns: str, name: str | None = None, sub: str | None = None) -> str:
    api = API_VERSIONS[kind]
    base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
    p = f"{base}/namespaces/{ns}/{_PLURAL[kind]}"
    return p + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def ns_name(level: Level, version: PolicyVersion) -> str:
    return f"truth-{level}-{str(version).replace('.', '-')}"


def versions_for(scenario, wide: bool) -> list[PolicyVersion]:
    minors: set[int] = set()
    for b in scenario.boundaries():
        minors |= {b - 1, b}
    if wide:
        from harness.core.checks import CHECKS
        for c in CHECKS.values():
            for v in c.versions:
                minors |= {v, max(v - 1, 0)}
    return [LATEST] + [PolicyVersion(m) for m in sorted(minors) if m >= 0]


def judge(exp, status: int, message: str, warnings: list[str], level: Level, minor: int) -> str | None:
    """``None`` if the server agrees with the expectation, else a one-line description."""
    ps_warn = [w for w in warnings if "PodSecurity" in w]
    if exp.outcome is Outcome.INVALID:
        return None if status == 422 else f"expected 422 invalid, got {status}: {message[:300]}"
    if exp.outcome is Outcome.DENIED:
        if status != 403:
            return f"expected 403 denied {sorted(exp.checks)}, got {status} {message[:300]} warnings={ps_warn}"
        got = checks_in(message, level, minor)
        if got is None:
            return f"403 without a PodSecurity violation: {message[:300]}"
        return None if got == exp.checks else f"denied for {sorted(got)}, expected {sorted(exp.checks)}: {message[:400]}"
    if not 200 <= status < 300:
        return f"expected {exp.outcome} {sorted(exp.checks)}, got {status}: {message[:300]}"
    if exp.outcome is Outcome.ADMITTED:
        return None if not ps_warn else f"expected admitted, got warning {ps_warn}"
    got = set()
    for w in ps_warn:
        got |= checks_in(w, level, minor) or set()
    return None if got == exp.checks and ps_warn else f"warned for {sorted(got)}, expected {sorted(exp.checks)}: {ps_warn}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="*", default=[str(Path(__file__).resolve().parent.parent / "scenarios")])
    ap.add_argument("--kubeconfig", help="use this cluster instead of starting an embedded one")
    ap.add_argument("--wide", action="store_true", help="also test every minor where a check changes (and the one below)")
    ap.add_argument("--only", help="comma-separated scenario ids")
    ap.add_argument("--json", help="write all disagreements and other warnings to this file")
    ap.add_argument("--workers", type=int, default=6)
    args = ap.parse_args(argv)

    scenarios = load_corpus([Path(d) for d in args.dirs])
    if args.only:
        wanted = set(args.only.split(","))
        scenarios = [s for s in scenarios if s.id in wanted]
    if args.kubeconfig:
        return run(Cluster(args.kubeconfig), scenarios, args)
    from harness.embedded import EmbeddedCluster
    with EmbeddedCluster() as plane:
        return run(Cluster(plane.kubeconfig), scenarios, args)


def run(cluster: Cluster, scenarios, args) -> int:
    info = cluster.server_version()
    server_minor = int(re.sub(r"\D.*", "", str(info.get("minor", newest_minor()))) or newest_minor())
    print(f"server {info.get('gitVersion')} (minor {server_minor}); {len(scenarios)} scenarios", flush=True)
    items = []
    for s in scenarios:
        for version in versions_for(s, args.wide):
            for level in LEVELS:
                for kind in s.kinds:
                    items.append((s, kind, level, version))
    namespaces = sorted({(lv, v) for _, _, lv, v in items}, key=lambda t: (t[0].rank, t[1]))
    for level, version in namespaces:
        name = ns_name(level, version)
        cluster.request("DELETE", f"/api/v1/namespaces/{name}")
    for level, version in namespaces:  # wait for leftovers of an earlier run to go
        name = ns_name(level, version)
        for _ in range(120):
            if cluster.request("GET", f"/api/v1/namespaces/{name}").status == 404:
                break
            time.sleep(0.5)
        labels = {"pod-security.kubernetes.io/enforce": level.value,
                  "pod-security.kubernetes.io/enforce-version": str(version)}
        cluster.checked("POST", "/api/v1/namespaces",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    for level, version in namespaces:
        name = ns_name(level, version)
        for _ in range(240):
            if cluster.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default").status == 200:
                break
            time.sleep(0.25)
        else:
            raise SystemExit(f"namespace {name}: the default ServiceAccount never appeared")
    print(f"{len(namespaces)} namespaces ready; {len(items)} items", flush=True)

    def one(item):
        s, kind, level, version = item
        ns = ns_name(level, version)
        policy = Policy(level, Mode.ENFORCE, version)
        exp = expected(s, kind, policy, server_minor)
        minor = policy_minor(version, server_minor)
        if s.update:
            base = s.pod()
            base["metadata"]["name"] = f"{s.id[:50]}-{uuid.uuid4().hex[:6]}"
            base["spec"]["schedulingGates"] = [{"name": GATE}]
            created = cluster.request("POST", path_for("Pod", ns), base)
            if not created.ok:
                return item, exp, f"base pod of the update path refused: {created.status} {created.message[:300]}", []
            pod = created.body
            pod["spec"].setdefault("ephemeralContainers", []).extend(json.loads(json.dumps(s.update["ephemeralContainers"])))
            resp = cluster.request("PUT", path_for("Pod", ns, pod["metadata"]["name"], "ephemeralcontainers"), pod,
                                   {"dryRun": "All"})
            cluster.request("DELETE", path_for("Pod", ns, pod["metadata"]["name"]),
                            {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
        else:
            obj = as_kind(s.pod(), kind)
            resp = cluster.request("POST", path_for(kind, ns), obj, {"dryRun": "All"})
        if resp.status == 0:
            return item, exp, f"no answer: {resp.transport_error}", []
        other = [w for w in resp.warnings if "PodSecurity" not in w]
        if resp.status == 422:
            other.append(f"422: {resp.message}")
        return item, exp, judge(exp, resp.status, resp.message or "", resp.warnings, level, minor), other

    t0 = time.monotonic()
    disagreements, other_warnings, invalid_messages = [], collections.defaultdict(set), {}
    outcomes = collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        for n, (item, exp, problem, other) in enumerate(pool.map(one, items), 1):
            s, kind, level, version = item
            outcomes[str(exp.outcome)] += 1
            for w in other:
                if w.startswith("422: ") and kind == "Pod":
                    invalid_messages.setdefault(s.id, w[5:])
                elif not w.startswith("422: "):
                    other_warnings[s.id].add(w)
            if problem:
                disagreements.append({"scenario": s.id, "kind": kind, "level": str(level), "version": str(version),
                                      "expected": str(exp.outcome), "expected_checks": sorted(exp.checks),
                                      "problem": problem})
            if n % 2000 == 0:
                print(f"  {n}/{len(items)} ({time.monotonic() - t0:.0f}s, {len(disagreements)} disagreements)", flush=True)
    for level, version in namespaces:
        cluster.request("DELETE", f"/api/v1/namespaces/{ns_name(level, version)}")

    by_scenario = collections.Counter(d["scenario"] for d in disagreements)
    print(f"\n{len(items)} items checked in {time.monotonic() - t0:.0f}s over {len(namespaces)} namespaces; "
          f"expected outcomes: {dict(outcomes)}")
    print(f"{len(disagreements)} disagreements in {len(by_scenario)} scenarios")
    seen = set()
    for d in disagreements:
        key = (d["scenario"], d["problem"][:80])
        if key in seen:
            continue
        seen.add(key)
        print(f"  {d['scenario']} [{d['kind']} {d['level']}:{d['version']}] {d['problem']}")
    if other_warnings:
        print(f"\nother (non-PodSecurity) warnings in {len(other_warnings)} scenarios:")
        for sid, ws in sorted(other_warnings.items()):
            for w in sorted(ws):
                print(f"  {sid}: {w}")
    if invalid_messages:
        print(f"\nAPI validation (422) messages, Pod kind, {len(invalid_messages)} scenarios:")
        for sid, msg in sorted(invalid_messages.items()):
            print(f"  {sid}: {msg[:400]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"items": len(items), "disagreements": disagreements,
                                               "invalid_messages": invalid_messages,
                                               "other_warnings": {k: sorted(v) for k, v in other_warnings.items()}},
                                              indent=2))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
