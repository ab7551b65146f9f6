"""Build hook only; the metadata lives in pyproject.toml.

A wheel must carry the attack corpus (``scenarios/``), the control plane's Go module
(``controlplane/``: go.mod, go.sum and any .go files) and the policy sets (``policies/``: the
PSS-in-CEL ValidatingAdmissionPolicies that ``--psa-engine vap`` installs), or an installed
``pss-harness`` could neither run the corpus, build the embedded control plane nor install the
set. The trees sit at the repository root, outside the ``harness`` package, and setuptools'
``package_data`` only reaches files inside a package. So ``build_py`` copies them to ``harness/_data/<tree>/`` in the build
directory, which is exactly what ``harness.core.resources`` looks for first.

Editable installs (``pip install -e .``) skip the copy: they keep reading the trees at the
repository root, so an edit to a scenario takes effect without reinstalling. An sdist carries
the trees through MANIFEST.in, so a wheel built from the sdist has them too.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: repository tree -> what of it ships (everything else, e.g. editor droppings, stays out)
DATA_TREES = {"scenarios": ("*.yaml", "*.yml", "*.md"), "controlplane": ("go.mod", "go.sum", "*.go"),
              "policies": ("*.yaml", "*.md")}


def data_files(tree: str) -> list[Path]:
    """The files of ``tree`` that ship, relative to it, sorted."""
    base = ROOT / tree
    patterns = DATA_TREES[tree]
    return sorted(p.relative_to(base) for p in base.rglob("*")
                  if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
                  and not any(part.startswith(".") for part in p.relative_to(base).parts))


class build_py_with_data(build_py):
    """``build_py`` that also copies ``scenarios/``, ``controlplane/`` and ``policies/`` into ``harness/_data/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # editable: resources.py reads the checkout
            return
        for tree in DATA_TREES:
            target = Path(self.build_lib) / "harness" / "_data" / tree
            if target.exists():  # a stale copy would ship files deleted from the repository
                shutil.rmtree(target)
            files = data_files(tree)
            if not files:
                raise SystemExit(f"setup.py: {ROOT / tree} has no files to ship; build from a complete checkout")
            for rel in files:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                self.copy_file(os.fspath(ROOT / tree / rel), os.fspath(target / rel), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [os.fspath(Path(self.build_lib) / "harness" / "_data" / tree / rel)
                          for tree in DATA_TREES for rel in data_files(tree)]


setup(cmdclass={"build_py": build_py_with_data})
