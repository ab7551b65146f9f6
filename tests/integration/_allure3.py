"""Allure 3 (the npm package ``allure``) for the tests: find it in the cache, render results, list missed attachments.

The package is installed once into ``~/.cache/pss-harness/npm`` (``make allure3`` and ``.ci/run`` do
it; so does ``allure3()`` here when it is missing and npm is there), so a run does not download it
again. ``render`` runs ``allure generate`` (the default "awesome" report) and ``attachment_links``
reads what the generated report says of every attachment a result cites: Allure 3 writes each
result as ``data/test-results/<id>.json`` whose steps include ``{"type": "attachment", "link":
{..., "missed": bool}}``; a missed link has no content in the report (its file was already linked
to another result, or it is absent), the others are ``data/attachments/<id><ext>``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

SPEC = "allure@3"   #: what is installed (the Makefile's ALLURE3 says the same)
CACHE = Path(os.environ.get("PSS_HARNESS_NPM_CACHE", Path.home() / ".cache" / "pss-harness" / "npm"))


def allure3() -> tuple[list[str] | None, str]:
    """(the command to run Allure 3, "") or (None, why it is not available)."""
    binary = CACHE / "node_modules" / ".bin" / "allure"
    if binary.is_file():
        return [str(binary)], ""
    if not shutil.which("npm") or not shutil.which("node"):
        return None, "Node.js/npm is not installed: Allure 3 is the npm package 'allure' (.ci/run installs both)"
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--loglevel=error",
                               SPEC], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, f"'npm install {SPEC}' did not finish within 600 s (registry unreachable?)"
    if proc.returncode != 0 or not binary.is_file():
        return None, f"'npm install --prefix {CACHE} {SPEC}' failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
    return [str(binary)], ""


def render(command: list[str], results: Path, output: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([*command, "generate", str(results), "--output", str(output)],
                          capture_output=True, text=True, timeout=timeout, cwd=output.parent)


def _links(steps) -> list[dict]:
    out = []
    for step in steps or []:
        if step.get("type") == "attachment":
            out.append(step["link"])
        out += _links(step.get("steps"))
    return out


def attachment_links(report: Path) -> list[tuple[str, dict]]:
    """(test result name, link) for every attachment every result of the generated report cites."""
    out = []
    for path in sorted((report / "data" / "test-results").glob("*.json")):
        data = json.loads(path.read_text())
        out += [(data.get("name", path.stem), link) for link in _links(data.get("steps"))]
    return out


def missed(report: Path) -> list[str]:
    """Every attachment shown without content: missed, or its file absent from ``data/attachments``."""
    out = []
    for name, link in attachment_links(report):
        if link.get("missed"):
            out.append(f"{name}: {link.get('name')} (missed)")
        elif not (report / "data" / "attachments" / f"{link['id']}{link.get('ext', '')}").is_file():
            out.append(f"{name}: {link.get('name')} (no file {link['id']}{link.get('ext', '')})")
    return out
