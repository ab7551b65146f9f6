"""Shared output of the benchmark scripts: the figures as JSON on stdout, and optionally to a file."""

from __future__ import annotations

import json
from pathlib import Path


def emit(figures: dict, json_path: str | None) -> int:
    text = json.dumps(figures, indent=2)
    print(text)
    if json_path:
        Path(json_path).write_text(text + "\n")
    return 0
