"""Synthetic masks shared by the metric tests: random blobs and horizons."""

from __future__ import annotations

import numpy as np
import pytest


def make_blobs(rng: np.random.Generator, shape=(48, 64), sigma: float = 4.0, share: float = 0.3) -> np.ndarray:
    """A boolean mask of smooth random blobs covering about ``share`` of the image."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(shape), sigma)
    return field > np.quantile(field, 1 - share)


def make_label_map(rng: np.random.Generator, num_classes: int, shape=(48, 64), sigma: float = 4.0) -> np.ndarray:
    """An ``(H, W)`` class map of smooth random regions, every class present."""
    from scipy.ndimage import gaussian_filter

    fields = np.stack([gaussian_filter(rng.standard_normal(shape), sigma) for _ in range(num_classes)])
    return fields.argmax(0)


def make_horizon(shape=(40, 60), slope: float = 0.0, row0: float = 20.0, sky: int = 1) -> np.ndarray:
    """A sky/ground class map: column ``c`` has ``round(slope * c + row0)`` sky pixels on top."""
    h, w = shape
    counts = np.clip(np.round(slope * np.arange(w) + row0), 0, h).astype(int)
    mask = np.full(shape, 1 - sky)
    mask[np.arange(h)[:, None] < counts[None, :]] = sky
    return mask


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def blobs():
    """:func:`make_blobs` as a fixture."""
    return make_blobs


@pytest.fixture
def label_map():
    """:func:`make_label_map` as a fixture."""
    return make_label_map


@pytest.fixture
def horizon():
    """:func:`make_horizon` as a fixture."""
    return make_horizon
