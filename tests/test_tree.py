"""The test tree mirrors the source tree, and every test module has a basename of its own.

The test folders hold no ``__init__.py``, so pytest (default "prepend" import mode) imports each test file
by its basename: two files with one basename stop the whole suite at collection. CI once failed on that.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src" / "segtrain"
OUTSIDE_THE_TREE = {"e2e", "helpers", "docs"}
"""Folders that test across packages (whole runs), hold helpers, or test the documentation."""


def test_every_test_basename_is_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert not [n for n, count in names.items() if count > 1]


def test_every_test_folder_mirrors_a_source_package():
    folders = {p.relative_to(TESTS) for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__"}
    mirrored = [f for f in folders if f.parts[0] not in OUTSIDE_THE_TREE]
    assert mirrored and all((SRC / f / "__init__.py").exists() for f in mirrored), \
        [str(f) for f in mirrored if not (SRC / f / "__init__.py").exists()]
