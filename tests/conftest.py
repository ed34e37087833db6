"""Shared pytest setup: makes ``tests/`` importable and provides tiny datasets.

``from helpers.datasets import make_dataset`` works in every test module because
the tests folder is put on ``sys.path`` here (pyproject cannot be changed for it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from helpers.datasets import make_dataset  # noqa: E402


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A valid 2-class dataset: 6 gray 32x48 PNG images with 0/1 PNG masks."""
    return make_dataset(tmp_path / "data", n=6, size=(32, 48), channels=1, classes=2)


@pytest.fixture
def no_memory_probe(monkeypatch):
    """Planning without the slow memory measurement: for tests about training, not planning."""
    from helpers.planning import stand_in_memory_fit
    from segtrain.planning import batch

    monkeypatch.setattr(batch, "measure_cpu_memory", stand_in_memory_fit())


def pytest_configure(config):
    """This machine's measurement cache lives in a folder of the test session, never in ~/.cache;
    the command lines the tests start inherit it."""
    import os
    import tempfile

    if "SEGTRAIN_CACHE_DIR" not in os.environ:
        os.environ["SEGTRAIN_CACHE_DIR"] = config._segtrain_cache = tempfile.mkdtemp(prefix="segtrain-test-cache-")


def pytest_unconfigure(config):
    import shutil

    if getattr(config, "_segtrain_cache", None):
        shutil.rmtree(config._segtrain_cache, ignore_errors=True)
