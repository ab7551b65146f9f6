"""The test suite itself: module basenames are unique (rootdir conftest, no packages: pytest's default
import mode imports each test module by its basename, so two ``test_x.py`` cannot be collected together)."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if "fixtures" not in p.parts)
    assert [n for n, c in names.items() if c > 1] == []
