"""Where the shipped data lives: the attack corpus, the control plane's Go module, the policy sets, the JSON Schemas.

A wheel carries ``scenarios/``, ``controlplane/`` and ``policies/`` as package data under ``harness/_data/``
(``setup.py`` copies them at build time); a checkout or an editable install reads them from the
repository root. Every module asks here, never ``Path(__file__).parents[n]``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["corpus_dir", "go_module_dir", "policies_dir", "schema_path"]

_PACKAGE = Path(__file__).resolve().parents[1]
_DATA = _PACKAGE / "_data"
_CHECKOUT = _PACKAGE.parent


def _find(name: str) -> Path:
    for base in (_DATA, _CHECKOUT):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"pss-harness data directory {name!r} is missing from {_DATA} and {_CHECKOUT}: "
                            "reinstall the package (pip install pss-harness) or run from a checkout")


def corpus_dir() -> Path:
    """The repository's attack corpus (``scenarios/``)."""
    return _find("scenarios")


def go_module_dir() -> Path:
    """The Go module pinning kube-apiserver, kube-controller-manager and etcd (``controlplane/``)."""
    return _find("controlplane")


def policies_dir() -> Path:
    """The policy sets the project ships (``policies/``: ``policies/vap/`` is the PSS-in-CEL set)."""
    return _find("policies")


def schema_path(name: str) -> Path:
    """A shipped JSON Schema, e.g. ``schema_path("results")`` for ``results.json``."""
    return _PACKAGE / "schemas" / f"{name}.schema.json"
