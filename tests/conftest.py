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
