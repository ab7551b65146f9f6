"""Offline evaluator throughput: 10,000 objects (pods and the 8 workload kinds), against baselines.

Everything is measured in the same run, on the same deterministically generated objects:

* evaluate   — ``harness.policy.evaluate_object`` at restricted:latest, and again cycling
               through levels and versions (baseline/restricted x v1.0 ... latest);
* load+copy  — ``yaml.safe_load_all`` of the same objects as one multi-document YAML text, plus
               a ``copy.deepcopy`` of each (what reading the manifests costs anyway);
* walk       — a trivial recursive walk visiting every mapping and list of every object (a floor
               for "touching" each object once in Python).

Each figure is the best of ``--repeat`` runs, in process CPU time (``time.process_time``: all of it
is single-threaded Python, and other load on a shared machine does not skew it; wall time is
printed alongside). Ratios are evaluate throughput / baseline
throughput (>1: the evaluator is faster than the baseline).

    .venv/bin/python bench/bench_assess.py [--objects 10000] [--seed 7] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time

import yaml

from harness.core.model import Level, PolicyVersion
from harness.policy import evaluate_object
from harness.core.kinds import as_kind

KINDS = ["Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController",
         "PodTemplate"]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _container(rng: random.Random, name: str, hardened: bool) -> dict:
    c = {"name": name, "image": f"registry.example/app-{rng.randrange(50)}:1.{rng.randrange(9)}"}
    sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}} if hardened else {}
    roll = rng.random()
    if roll < 0.05:
        sc["privileged"] = True
    elif roll < 0.10:
        sc.setdefault("capabilities", {})["add"] = rng.sample(["NET_ADMIN", "SYS_ADMIN", "CHOWN", "NET_BIND_SERVICE"], 2)
    elif roll < 0.13:
        sc["runAsUser"] = 0
    elif roll < 0.15:
        sc["seccompProfile"] = {"type": "Unconfined"}
    elif roll < 0.17:
        sc["seLinuxOptions"] = {"type": rng.choice(["spc_t", "container_t", "container_engine_t"])}
    if sc:
        c["securityContext"] = sc
    if rng.random() < 0.3:
        c["ports"] = [{"containerPort": 8080, **({"hostPort": 8080} if rng.random() < 0.1 else {})}]
    if rng.random() < 0.2:
        c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080,
                                          **({"host": "10.0.0.1"} if rng.random() < 0.2 else {})}}
    c["resources"] = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    c["env"] = [{"name": f"VAR_{i}", "value": str(i)} for i in range(rng.randrange(6))]
    return c


def generate(n: int, seed: int) -> list[dict]:
    """``n`` objects, a deterministic mix of Pods and workloads with realistic and violating fields."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        hardened = rng.random() < 0.5
        spec: dict = {"containers": [_container(rng, f"c{j}", hardened) for j in range(1 + rng.randrange(3))]}
        if rng.random() < 0.3:
            spec["initContainers"] = [_container(rng, "init", hardened)]
        if hardened:
            spec["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        if rng.random() < 0.08:
            spec[rng.choice(["hostNetwork", "hostPID", "hostIPC"])] = True
        if rng.random() < 0.1:
            spec.setdefault("securityContext", {})["sysctls"] = [
                {"name": rng.choice(["net.ipv4.tcp_rmem", "kernel.msgmax", "net.ipv4.ip_local_port_range"]), "value": "1"}]
        vols = [{"name": "config", "configMap": {"name": "cfg"}}, {"name": "data", "emptyDir": {}}]
        if rng.random() < 0.1:
            vols.append({"name": "host", "hostPath": {"path": "/var/log"}})
        spec["volumes"] = vols
        annotations = {"example.com/owner": f"team-{rng.randrange(20)}"}
        if rng.random() < 0.05:
            annotations["container.apparmor.security.beta.kubernetes.io/c0"] = "unconfined"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"obj-{i}", "labels": {"app": f"app-{i % 97}"}, "annotations": annotations},
               "spec": spec}
        out.append(as_kind(pod, KINDS[rng.randrange(len(KINDS))]))
    return out


def _walk(node) -> int:
    if isinstance(node, dict):
        return 1 + sum(_walk(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_walk(v) for v in node)
    return 0


def best_of(repeat: int, fn) -> tuple[float, float]:
    """(best CPU seconds, wall seconds of that run)."""
    runs = []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.process_time() - c0, time.perf_counter() - w0))
    return min(runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    objects = generate(args.objects, args.seed)
    text = yaml.dump_all(objects, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    n = len(objects)
    latest = PolicyVersion.parse("latest")
    policies = [(lvl, PolicyVersion.parse(v)) for lvl in (Level.BASELINE, Level.RESTRICTED)
                for v in ("v1.0", "v1.19", "v1.25", "v1.31", "v1.35", "latest")]

    state: dict = {}

    def evaluate_latest():
        state["denied"] = sum(not evaluate_object(o, Level.RESTRICTED, latest).allowed for o in objects)

    def evaluate_mixed():
        for i, o in enumerate(objects):
            lvl, ver = policies[i % len(policies)]
            evaluate_object(o, lvl, ver)

    def load_and_copy():
        for o in yaml.load_all(text, Loader=_LOADER):
            copy.deepcopy(o)

    def walk():
        state["nodes"] = sum(_walk(o) for o in objects)

    evaluate_latest()  # warm the per-(level, minor) plan cache
    t_eval = best_of(args.repeat, evaluate_latest)
    t_mixed = best_of(args.repeat, evaluate_mixed)
    t_load = best_of(args.repeat, load_and_copy)
    t_walk = best_of(args.repeat, walk)

    def rate(t: tuple[float, float]) -> float:
        return n / t[0]

    kinds = {k: sum(o["kind"] == k for o in objects) for k in KINDS}
    print(f"{n} objects ({', '.join(f'{k} {v}' for k, v in kinds.items())}); "
          f"{len(text) / 1e6:.1f} MB of YAML, {state['nodes']} mappings/lists; "
          f"{state['denied']} would be denied at restricted:latest; best of {args.repeat}; "
          f"YAML loader {_LOADER.__name__}; Python {sys.version.split()[0]}")
    rows = [("evaluate restricted:latest", t_eval), ("evaluate mixed levels/versions", t_mixed),
            ("baseline: yaml load + deepcopy", t_load), ("baseline: trivial walk", t_walk)]
    for label, t in rows:
        print(f"  {label:34s} {rate(t):>10,.0f} objects/s  ({t[0] * 1e3:7.1f} ms CPU, {t[1] * 1e3:7.1f} ms wall)")
    print(f"  ratio evaluate / (yaml load + deepcopy): {rate(t_eval) / rate(t_load):.2f}x")
    print(f"  ratio evaluate / trivial walk:           {rate(t_eval) / rate(t_walk):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
