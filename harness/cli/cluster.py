"""``pss-harness cluster``: build, start and stop the embedded control plane.

    pss-harness cluster build [--k8s-version V] [--force]
    pss-harness cluster up    [--k8s-version V] [--name N] [--detach]
    pss-harness cluster down  [--name N]
    pss-harness cluster status
"""

from __future__ import annotations

import argparse

from harness.core.model import DEFAULT_K8S_VERSION

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="build, start and stop the embedded control plane")
    csub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    version_help = f"Kubernetes version, e.g. 1.36 or {DEFAULT_K8S_VERSION} (default: the pinned {DEFAULT_K8S_VERSION})"

    b = csub.add_parser("build", help="build kube-apiserver, kube-controller-manager and etcd (cached)")
    b.add_argument("--k8s-version", metavar="V", help=version_help)
    b.add_argument("--force", action="store_true", help="rebuild even if cached binaries exist")
    b.set_defaults(handler=_cluster_build)

    u = csub.add_parser("up", help="start a control plane and print its kubeconfig; Ctrl-C stops it")
    u.add_argument("--k8s-version", metavar="V", help=version_help)
    u.add_argument("--name", default="default", help="name of this cluster (default: default)")
    u.add_argument("--detach", action="store_true", help="return once ready; stop it with `cluster down`")
    u.set_defaults(handler=_cluster_up)

    d = csub.add_parser("down", help="stop a cluster started with `cluster up --detach`")
    d.add_argument("--name", default="default", help="name of the cluster (default: default)")
    d.set_defaults(handler=_cluster_down)

    s = csub.add_parser("status", help="list running named clusters")
    s.set_defaults(handler=_cluster_status)


def _cluster_build(args: argparse.Namespace) -> int:
    from harness.embedded.builder import binaries_for, build

    existing = binaries_for(args.k8s_version)
    if existing.exist() and not args.force:
        info = existing.info()
        print(f"Kubernetes {existing.version} is already built (etcd {info.get('etcd')}): {existing.directory}")
        return 0
    bins = build(args.k8s_version, force=args.force)
    print(bins.directory)
    return 0


def _cluster_up(args: argparse.Namespace) -> int:
    from harness.embedded.supervisor import up

    return up(args.name, args.k8s_version, detach=args.detach)


def _cluster_down(args: argparse.Namespace) -> int:
    from harness.embedded.supervisor import down

    return down(args.name)


def _cluster_status(args: argparse.Namespace) -> int:
    from harness.embedded.supervisor import failed, running

    states = running()
    if not states:
        print("no named cluster is running")
    for s in states:
        print(f"{s['name']}: Kubernetes {s['version']} at {s['server']} (supervisor PID {s['supervisor']}) "
              f"kubeconfig {s['kubeconfig']}")
    for s in failed():
        print(f"{s['name']}: FAILED: {s['failed']}; logs kept in {s['logs']} "
              f"(remove them with `pss-harness cluster down --name {s['name']}`)")
    return 0
