"""The HTML report in a real browser: headless Chromium opens index.html from file://.

The bundle is built from the crafted ``tests/assets/results-one-failure.json`` (one failed item).
``--dump-dom`` returns the DOM after the page's script ran, so the test sees what a reader sees:
the matrix rendered and the failing item expanded by ``?expand=<id>``, its manifest filled in.
A screenshot of the expanded item is saved as ``report-screenshot.png`` in the test run's own report
directory (``test-reports/`` for the suite: never the main job's ``reports/``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.plugin.evidence import reports_root
from harness.reports import bundle

REPO = Path(__file__).resolve().parents[2]
ASSET = REPO / "tests" / "assets" / "results-one-failure.json"
FAILING = "i-hostpath-etc-Pod-baseline-enforce-latest"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium on PATH; install Debian's package: apt-get install -y chromium "
                "(the CI script does)")


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("bundle") / "fixture1"
    history = {"fingerprint": "f" * 32, "previous": None, "changes": [],
               "trend": [{"run_id": "fixture1", "started": "2026-11-28T09:38:38+00:00", "total": 7, "passed": 5,
                          "failed": 1, "skipped": 1}]}
    bundle.write_bundle(directory, json.loads(ASSET.read_text()), history)
    return directory / "index.html"


def browse(chromium: str, tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args, url],
                          capture_output=True, text=True, timeout=120)


def test_the_matrix_renders_and_a_failing_item_expands(chromium, index, tmp_path):
    url = index.as_uri() + f"?expand={FAILING}"
    out = browse(chromium, tmp_path, url, "--dump-dom", "--virtual-time-budget=2000")
    dom = out.stdout
    assert out.returncode == 0 and "<html" in dom, out.stderr[-2000:]
    assert f'data-expanded="{FAILING}"' in dom, "the page script did not find the ?expand= entry"
    assert re.search(r'<table class="matrix">.*<td class="c failed" data-check="hostPathVolumes" '
                     r'data-level="baseline" data-mode="enforce"', dom, re.S)
    item = re.search(rf'<details class="item hl" id="{FAILING}"[^>]*>', dom)
    assert item and " open=" in item.group(0), "the failing item is not open"
    body = dom[item.end():dom.index("</details>", item.end())]
    assert "expected denied, observed admitted" in body
    assert re.search(r'<pre data-manifest="[0-9a-f]+" data-filled="1">[^<]*hostPath:\s+path: /etc', body), \
        "the manifest was not filled in from its template"
    scenario = re.search(r'<details class="scenario" id="s-hostpath-etc"[^>]*>', dom).group(0)
    assert " open=" in scenario


def test_an_unknown_expand_id_is_reported_on_the_page(chromium, index, tmp_path):
    out = browse(chromium, tmp_path, index.as_uri() + "?expand=no-such-item", "--dump-dom")
    assert 'data-expanded="not-found"' in out.stdout


def test_screenshot_of_the_expanded_failure(chromium, index, tmp_path, pytestconfig):
    screenshot = reports_root(pytestconfig) / "report-screenshot.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)
    url = index.as_uri() + f"?expand={FAILING}&focus=1"
    out = browse(chromium, tmp_path, url, f"--screenshot={screenshot}", "--window-size=1400,1500",
                 "--hide-scrollbars", "--virtual-time-budget=2000")
    assert out.returncode == 0, out.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a blank page compresses to a few KB
