"""Tiny TIFF datasets for the tests of reading images by windows (large-image paths with the threshold lowered).

``LAYOUTS`` are the two ways the window readers read a file: uncompressed contiguous (memory
mapped) and tiled with zlib compression (decoded tile by tile).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LAYOUTS = {"contiguous": {}, "tiled-zlib": {"tile": (32, 48), "compression": "zlib"}}


def smooth_image(height: int, width: int, channels: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """``(H, W, C)`` smooth structures plus noise, spread over the dtype's range."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    base = 0.5 + 0.3 * np.sin(x / 17.0 + seed) * np.cos(y / 23.0)
    img = base[..., None] + rng.normal(0, 0.08, (height, width, channels))
    top = 255 if np.dtype(dtype) == np.uint8 else 60000
    return (np.clip(img, 0, 1) * top).astype(dtype)


def class_mask(height: int, width: int, classes: int = 3, seed: int = 0) -> np.ndarray:
    """``(H, W)`` uint8 class indices ``0..classes-1`` in smooth regions, every class present."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    fields = [np.sin(x / (9.0 + 4 * k) + rng.uniform(0, 6)) + np.cos(y / (11.0 + 3 * k) + rng.uniform(0, 6))
              for k in range(classes)]
    return np.argmax(fields, axis=0).astype(np.uint8)


def write_tiff(path: Path, array: np.ndarray, layout: str = "contiguous") -> Path:
    """Write ``array`` (``(H, W)`` or ``(H, W, 3)``) in one of :data:`LAYOUTS`."""
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    photometric = "rgb" if array.ndim == 3 and array.shape[-1] == 3 else "minisblack"
    tifffile.imwrite(path, array, photometric=photometric, **LAYOUTS[layout])
    return path


def tiff_dataset(root: Path, specs: list[dict]) -> Path:
    """``root/images/<stem>.tif`` and ``root/masks/<stem>.tif`` from ``specs``: dicts with ``stem``,
    ``image`` and ``mask`` arrays and optionally ``layout`` (both files) and ``mask_layout``."""
    for spec in specs:
        layout = spec.get("layout", "contiguous")
        image = spec["image"]
        write_tiff(root / "images" / f"{spec['stem']}.tif", image[..., 0] if image.shape[-1] == 1 else image, layout)
        write_tiff(root / "masks" / f"{spec['stem']}.tif", spec["mask"], spec.get("mask_layout", layout))
    return root
