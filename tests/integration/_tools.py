"""The Go tools the deploy and CI-template tests use, built from their Go modules and cached like the control plane.

    python tests/integration/_tools.py [NAME...]     build what is missing (``make tools``), print the paths

Each lands in ``<cache>/tools/<name>-<version>/<name>`` (``<cache>``: ``$PSS_HARNESS_CACHE`` or
``~/.cache/pss-harness``, as for the control plane) by ``go install module@version`` into a
temporary directory, then an atomic rename, under a lock: parallel test processes build it once.
Measured cold on this project's 2-core machine (empty module and build caches): helm 1 min 54 s,
kustomize 33 s, actionlint 12 s.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.embedded.builder import cache_root  # noqa: E402

#: name -> (Go package to install, version); versions whose go.mod needs at most this project's Go 1.26
TOOLS: dict[str, tuple[str, str]] = {
    "helm": ("helm.sh/helm/v3/cmd/helm", "v3.22.0"),
    "kustomize": ("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.2"),
    "actionlint": ("github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12"),
}


def tool_path(name: str) -> Path:
    package, version = TOOLS[name]
    return cache_root() / "tools" / f"{name}-{version}" / name


def ensure_tool(name: str, progress=lambda m: print(m, file=sys.stderr, flush=True)) -> Path:
    """The cached binary of ``name``, built first if missing. Raises ``RuntimeError`` naming the fix."""
    path = tool_path(name)
    if path.is_file() and os.access(path, os.X_OK):
        return path
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(f"{name}: Go 1.26+ is needed to build it (go install {TOOLS[name][0]}@{TOOLS[name][1]})")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return path
        package, version = TOOLS[name]
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            progress(f"building {name} {version} (go install {package}@{version})")
            t0 = time.monotonic()
            proc = subprocess.run([go, "install", f"{package}@{version}"], env={**os.environ, "GOBIN": tmp},
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"go install {package}@{version} failed:\n{proc.stderr[-4000:]}")
            os.replace(Path(tmp) / name, path)
            progress(f"built {name} {version} in {time.monotonic() - t0:.0f}s: {path}")
    return path


if __name__ == "__main__":
    for tool in sys.argv[1:] or list(TOOLS):
        if tool not in TOOLS:
            sys.exit(f"unknown tool {tool!r} (known: {', '.join(TOOLS)})")
        print(ensure_tool(tool))
