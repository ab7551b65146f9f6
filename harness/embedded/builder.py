"""Build kube-apiserver, kube-controller-manager and etcd from upstream Go modules.

One Go module per Kubernetes version lives under ``<cache>/k8s/<version>/module``: the
repository's ``controlplane/go.mod`` for the pinned default version, or one generated from
that release's own go.mod (a ``replace`` line for every staging module it requires at
``v0.0.0``) for any other served version. The binaries land in ``<cache>/k8s/<version>/bin``
with a ``build.json`` describing them; a second build of the same version is a no-op.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from harness.core.errors import BuildError, UsageError
from harness.core.model import DEFAULT_K8S_VERSION
from harness.core.resources import go_module_dir

__all__ = [
    "DEFAULT_K8S_VERSION",
    "Binaries",
    "binaries_for",
    "build",
    "cache_root",
    "resolve_version",
]

# Newest patch of each minor served by the Go module proxy when this was written; used
# when the proxy cannot be asked (offline) to turn "1.36" into a full version.
_KNOWN_PATCHES = {34: "v1.34.4", 35: "v1.35.4", 36: "v1.36.3", int(DEFAULT_K8S_VERSION.split(".")[1]): DEFAULT_K8S_VERSION}
_OLDEST_MINOR = 25  # PodSecurity admission is GA (config v1) from 1.25
_VERSION_RE = re.compile(r"^v?1\.(\d+)(?:\.(\d+))?$")
_STAGING_REQUIRE_RE = re.compile(r"^\s+(k8s\.io/[a-z0-9-]+) v0\.0\.0$", re.MULTILINE)
_MODULE_PATH = "github.com/pss-harness/pss-harness/controlplane"
_PROGRAMS = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "etcd": "go.etcd.io/etcd/server/v3",
}

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cache_root() -> Path:
    """``$PSS_HARNESS_CACHE``, else ``$XDG_CACHE_HOME/pss-harness``, else ``~/.cache/pss-harness``."""
    if env := os.environ.get("PSS_HARNESS_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "pss-harness"


@dataclasses.dataclass(frozen=True)
class Binaries:
    """The three programs of one Kubernetes version, built or still to build."""

    version: str  #: full Kubernetes version, e.g. ``v1.37.2``
    directory: Path  #: ``<cache>/k8s/<version>/bin``

    @property
    def kube_apiserver(self) -> Path:
        return self.directory / "kube-apiserver"

    @property
    def kube_controller_manager(self) -> Path:
        return self.directory / "kube-controller-manager"

    @property
    def etcd(self) -> Path:
        return self.directory / "etcd"

    @property
    def manifest(self) -> Path:
        """``build.json``: written last, so its presence means the build completed."""
        return self.directory / "build.json"

    def exist(self) -> bool:
        return self.manifest.is_file() and all(
            p.is_file() and os.access(p, os.X_OK)
            for p in (self.kube_apiserver, self.kube_controller_manager, self.etcd)
        )

    def info(self) -> dict:
        """The contents of ``build.json`` (empty when not built)."""
        try:
            return json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return {}


def resolve_version(spec: str | None) -> str:
    """Turn ``None``, ``1.36``, ``v1.36`` or ``1.36.3`` into a full version such as ``v1.36.3``.

    A bare minor resolves to the newest patch release the Go module proxy serves.
    """
    if not spec:
        return DEFAULT_K8S_VERSION
    m = _VERSION_RE.match(spec.strip())
    if not m:
        raise UsageError(
            f"--k8s-version {spec!r} is not a Kubernetes version: use 1.N or 1.N.P, e.g. 1.36 or {DEFAULT_K8S_VERSION}"
        )
    minor, patch = int(m.group(1)), m.group(2)
    if minor < _OLDEST_MINOR:
        raise UsageError(
            f"--k8s-version {spec!r}: PodSecurity admission is GA from 1.25; use 1.{_OLDEST_MINOR} or newer"
        )
    if patch is not None:
        return f"v1.{minor}.{int(patch)}"
    served = _served_patches(minor)
    if served:
        return served[-1]
    if minor in _KNOWN_PATCHES:
        return _KNOWN_PATCHES[minor]
    raise UsageError(
        f"--k8s-version {spec!r}: no release of 1.{minor} is known; pass a full version such as v1.{minor}.0"
    )


def _served_patches(minor: int) -> list[str]:
    """Released (non-pre-release) ``v1.<minor>.P`` versions the module proxy lists, oldest first."""
    try:
        out = subprocess.run(
            ["go", "list", "-m", "-versions", "k8s.io/kubernetes"],
            capture_output=True, text=True, timeout=60, env=_go_env(), cwd=tempfile.gettempdir(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = [v for v in out.stdout.split()[1:] if re.fullmatch(rf"v1\.{minor}\.\d+", v)]
    return sorted(found, key=lambda v: int(v.rsplit(".", 1)[1]))


def binaries_for(version: str | None = None) -> Binaries:
    """Where the binaries of ``version`` (default: the pinned one) live or will live."""
    full = resolve_version(version)
    return Binaries(full, cache_root() / "k8s" / full / "bin")


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOWORK="off", CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-buildvcs=false")
    return env


def _run_go(args: list[str], cwd: Path, what: str, timeout: float = 3600) -> str:
    if shutil.which("go") is None:
        raise BuildError(
            "the Go toolchain is not on PATH: install Go 1.26 or newer "
            "(e.g. `apt-get install golang` or from the Go site), then run `pss-harness cluster build` again"
        )
    try:
        proc = subprocess.run(
            ["go", *args], cwd=cwd, env=_go_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what} did not finish within {timeout:.0f}s (`go {' '.join(args)}` in {cwd})") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
        hint = ""
        if "unknown revision v0.0.0" in tail:
            hint = "\nhint: a staging module is missing its replace line; delete the module dir and retry"
        raise BuildError(f"{what} failed (`go {' '.join(args)}` in {cwd}):\n{tail}{hint}")
    return proc.stdout


def _write_module(version: str, module_dir: Path, progress: Progress) -> None:
    """Prepare ``module_dir`` with a go.mod (and go.sum) that pins ``version``."""
    module_dir.mkdir(parents=True, exist_ok=True)
    repo_mod = go_module_dir() / "go.mod"
    if repo_mod.is_file() and f"k8s.io/kubernetes {version}" in repo_mod.read_text():
        progress(f"using the repository's Go module ({repo_mod}) for {version}")
        shutil.copy2(repo_mod, module_dir / "go.mod")
        shutil.copy2(go_module_dir() / "go.sum", module_dir / "go.sum")
        return
    progress(f"generating a Go module for k8s.io/kubernetes {version}")
    info = json.loads(_run_go(["mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
                              tempfile.gettempdir(), f"downloading k8s.io/kubernetes {version}"))
    if info.get("Error"):
        raise BuildError(f"k8s.io/kubernetes {version} is not available from the Go module proxy: {info['Error']}")
    (module_dir / "go.mod").write_text(render_go_mod(version, Path(info["GoMod"]).read_text()))
    (module_dir / "go.sum").unlink(missing_ok=True)
    progress("resolving the module graph (go mod tidy)")
    _run_go(["mod", "tidy"], module_dir, f"go mod tidy for {version}")


def render_go_mod(version: str, upstream_go_mod: str) -> str:
    """A go.mod requiring ``version`` with every staging module replaced at its ``v0.N.P`` twin."""
    staging_version = "v0." + version.removeprefix("v1.")
    staging = sorted(set(_STAGING_REQUIRE_RE.findall(upstream_go_mod)))
    if not staging:
        raise BuildError(f"k8s.io/kubernetes {version}: its go.mod lists no staging modules; is this a real release?")
    directives = [ln for ln in upstream_go_mod.splitlines() if ln.startswith(("go ", "godebug "))]
    lines = [
        "// Generated by pss-harness: builds the control plane of one Kubernetes release.",
        f"module {_MODULE_PATH}",
        "",
        *directives,
        "",
        f"require k8s.io/kubernetes {version}",
        "",
        "tool (",
        *(f"\t{pkg}" for pkg in sorted(_PROGRAMS.values())),
        ")",
        "",
        "replace (",
        *(f"\t{m} => {m} {staging_version}" for m in staging),
        ")",
        "",
    ]
    return "\n".join(lines)


def _ldflags(version: str) -> str:
    minor = version.split(".")[1]
    pairs = {
        "k8s.io/component-base/version.gitVersion": version,
        "k8s.io/component-base/version.gitMajor": "1",
        "k8s.io/component-base/version.gitMinor": minor,
        "k8s.io/component-base/version.gitTreeState": "clean",
        "k8s.io/component-base/version.buildDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "k8s.io/client-go/pkg/version.gitVersion": version,
        "k8s.io/client-go/pkg/version.gitMajor": "1",
        "k8s.io/client-go/pkg/version.gitMinor": minor,
    }
    return "-s -w " + " ".join(f"-X {k}={v}" for k, v in pairs.items())


def build(version: str | None = None, *, force: bool = False, progress: Progress = _stderr) -> Binaries:
    """Build (or find cached) binaries for ``version``; safe to call from parallel processes."""
    bins = binaries_for(version)
    if bins.exist() and not force:
        return bins
    root = bins.directory.parent
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        if bins.exist() and not force:
            return bins
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"another process is building {bins.version}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
            if bins.exist() and not force:
                return bins
        return _build_locked(bins, root / "module", progress)


def _build_locked(bins: Binaries, module_dir: Path, progress: Progress) -> Binaries:
    started = time.monotonic()
    progress(f"building the control plane for Kubernetes {bins.version} (a cold build takes ~10 min on 2 cores; later builds reuse the Go cache)")
    _write_module(bins.version, module_dir, progress)
    packages = list(_PROGRAMS.values())
    deps = _run_go(["list", "-deps", *packages], module_dir, "listing packages to compile").split()
    staging = Path(tempfile.mkdtemp(prefix="bin-", dir=bins.directory.parent))
    try:
        _compile(bins.version, packages, len(deps), module_dir, staging, progress)
        (staging / "server").rename(staging / "etcd")  # go names go.etcd.io/etcd/server/v3 "server"
        etcd_version = _run_go(["list", "-m", "-f", "{{.Version}}", "go.etcd.io/etcd/server/v3"],
                               module_dir, "reading the etcd version").strip()
        go_version = _run_go(["env", "GOVERSION"], module_dir, "reading the Go version").strip()
        sizes = {name: (staging / name).stat().st_size for name in _PROGRAMS}
        manifest = {
            "kubernetes": bins.version,
            "etcd": etcd_version,
            "go": go_version,
            "build_seconds": round(time.monotonic() - started, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "sizes": sizes,
        }
        (staging / "build.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if bins.directory.exists():
            shutil.rmtree(bins.directory)
        staging.rename(bins.directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    mib = {k: f"{v / 2**20:.0f} MiB" for k, v in sizes.items()}
    progress(f"built Kubernetes {bins.version} (etcd {etcd_version}) in {manifest['build_seconds']:.0f}s: {mib}")
    return bins


def _compile(version: str, packages: list[str], total: int, module_dir: Path, out: Path, progress: Progress) -> None:
    """``go build -v`` with a progress line every ~10 s (packages compiled / packages in the graph)."""
    cmd = ["go", "build", "-v", "-trimpath", "-ldflags", _ldflags(version), "-o", f"{out}/", *packages]
    proc = subprocess.Popen(cmd, cwd=module_dir, env=_go_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    done, last, tail = 0, time.monotonic(), []
    for line in proc.stdout or ():  # always a pipe here (stdout=PIPE)
        line = line.rstrip()
        tail = (tail + [line])[-25:]
        if line and " " not in line:  # -v prints one import path per compiled package
            done += 1
        if time.monotonic() - last > 10:
            last = time.monotonic()
            progress(f"  compiling: {done} of at most {total} packages ({line})")
    if proc.wait() != 0:
        raise BuildError(f"go build for Kubernetes {version} failed in {module_dir}:\n" + "\n".join(tail))
