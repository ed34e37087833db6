"""The dataset of a denoising run: ``DATA/images/`` alone, ``DATA/clean/<stem>.*`` optional beside it.

Noise2Void needs no masks: each noisy image is its own target. Clean images, where they exist, are
read only to score the finished run (PSNR/SSIM in :mod:`segtrain.evaluation.denoise`), never to
train. Everything here is numpy: the checks stay light, and nothing on disk is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segtrain.data.discovery import IMAGE_EXTS
from segtrain.data.readers import read_image
from segtrain.errors import UserError


@dataclass
class NoisySet:
    """The images of a denoising dataset: by stem, with their sizes, channels and clean partners."""

    root: Path
    images: dict[str, Path]
    sizes: dict[str, tuple[int, int]]
    channels: int
    clean: dict[str, Path] = field(default_factory=dict)
    dtype: str = "uint8"
    """The images' pixel type (``uint8``, ``uint16`` or ``float32``): ``--as-input-range`` writes it back."""


def _listing(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in IMAGE_EXTS:
            continue
        if path.stem in found:
            raise UserError(f"{path}: two images share the stem {path.stem!r}; rename one of them")
        found[path.stem] = path
    return found


def discover_noisy(root: Path | str) -> NoisySet:
    """Read every image of ``root/images`` once (sizes, channels, type); pair ``root/clean`` by stem."""
    root = Path(root)
    folder = root / "images"
    if not folder.is_dir():
        raise UserError(f"{folder}: missing; a denoising dataset holds its noisy images in DATA/images/")
    images = _listing(folder)
    if len(images) < 3:
        raise UserError(f"{folder}: {len(images)} image(s); denoising needs at least 3 (train, validation, test)")
    sizes, channels, dtypes = {}, set(), set()
    for stem, path in images.items():
        arr = read_image(path)
        sizes[stem] = (int(arr.shape[0]), int(arr.shape[1]))
        channels.add(int(arr.shape[2]))
        dtypes.add(str(arr.dtype))
    if len(channels) > 1:
        raise UserError(f"{folder}: images with {sorted(channels)} channels; give every image the same channels")
    clean_dir = root / "clean"
    clean = _listing(clean_dir) if clean_dir.is_dir() else {}
    clean = {s: p for s, p in clean.items() if s in images}
    dtype = "float32" if "float32" in dtypes else "uint16" if "uint16" in dtypes else "uint8"
    return NoisySet(root, images, sizes, channels.pop(), clean, dtype)


def as_float(arr: np.ndarray) -> np.ndarray:
    """An image as float32 ``(H, W, C)`` in its own units (no rescaling: PSNR is stated in them)."""
    return np.asarray(arr, dtype=np.float32)


def channel_stats(paths: list[Path]) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation over all pixels of ``paths`` (float64 sums)."""
    total = squares = None
    count = 0
    for path in paths:
        arr = as_float(read_image(path)).astype(np.float64)
        flat = arr.reshape(-1, arr.shape[-1])
        total = flat.sum(0) if total is None else total + flat.sum(0)
        squares = (flat**2).sum(0) if squares is None else squares + (flat**2).sum(0)
        count += flat.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return [float(m) for m in mean], [float(max(s, 1e-6)) for s in std]


def data_range(dtype: str, clean: np.ndarray | None = None) -> float:
    """The peak value PSNR is measured against: 255 for 8-bit images, else the clean image's range
    (16-bit microscopy rarely fills 65535, which would inflate every PSNR alike)."""
    if dtype == "uint8":
        return 255.0
    if clean is None:
        return 1.0
    return float(max(np.max(clean) - np.min(clean), 1e-12))
