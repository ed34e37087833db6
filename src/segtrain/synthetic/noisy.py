"""Noisy gray images with their clean originals, for ``segtrain synth noisy`` and denoising runs.

Each clean image is a fine texture (oriented waves of 5-16 px periods) under either cells (small
sharp-edged bright blobs) or membranes (the dark boundaries of a Voronoi tiling, 2-3 px wide), in 8-bit gray
with values kept within 40..215, so that Gaussian noise of sigma 25 is rarely clipped at 0 or
255. The noisy image adds Gaussian noise of ``sigma`` (in 8-bit units) and, with ``poisson``,
Poisson noise first (photon counts at ``poisson`` photons per unit of intensity), then rounds and
clips to 8 bits. Written as ``OUT/images/NNNN.png`` (noisy) and ``OUT/clean/NNNN.png``; image
``i`` depends only on ``(seed, i)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segtrain.errors import UserError

LOW, HIGH = 40.0, 215.0
"""The clean images' range of values (8-bit)."""


def check_noisy_args(n, size, seed, sigma, poisson) -> None:
    """A bad argument of :func:`synthesize_noisy` as one ``UserError`` line (nothing written)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise UserError(f"--n {n!r}: use an integer >= 3 (train, validation and test need one each)")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise UserError(f"--size {size!r}: use an integer >= 16")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"--seed {seed!r}: use an integer >= 0")
    if not (isinstance(sigma, (int, float)) and 0 <= sigma <= 255):
        raise UserError(f"--sigma {sigma!r}: use a number from 0 to 255 (8-bit units)")
    if poisson is not None and not (isinstance(poisson, (int, float)) and poisson > 0):
        raise UserError(f"--poisson {poisson!r}: use a positive number of photons per intensity unit")


def _texture(rng, yy, xx, size) -> np.ndarray:
    """Fine oriented waves: periods of 5 to 16 px, as in fibrous or granular material."""
    out = np.zeros_like(yy)
    for _ in range(3):
        freq = 2 * np.pi / rng.uniform(5.0, 16.0)
        angle = rng.uniform(0, np.pi)
        out += np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 2 * np.pi))
    return out / 3.0


def _cells(rng, yy, xx, size) -> np.ndarray:
    """Small bright cells (radius 2-7 px) with sharp edges, about one per 900 px^2."""
    out = np.zeros_like(yy)
    for _ in range(max(4, int(size * size / 900 * rng.uniform(0.7, 1.3)))):
        cy, cx = rng.uniform(0, size, 2)
        radius = rng.uniform(2.0, 7.0)
        dist = np.hypot(yy - cy, xx - cx)
        out = np.maximum(out, rng.uniform(0.5, 1.0) / (1 + np.exp((dist - radius) / 0.5)))
    return out


def _membranes(rng, yy, xx, size) -> np.ndarray:
    """The boundaries of a Voronoi tiling (cells of 20-40 px), 2-3 px wide."""
    seeds = rng.uniform(0, size, (max(6, int(size * size / 900 * rng.uniform(0.7, 1.3))), 2))
    dist = np.sort(np.hypot(yy[..., None] - seeds[:, 0], xx[..., None] - seeds[:, 1]), axis=-1)
    width = rng.uniform(0.6, 1.2)
    return np.exp(-(((dist[..., 1] - dist[..., 0]) / (2 * width)) ** 2))


def clean_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """One clean ``size x size`` image, float64 within :data:`LOW` .. :data:`HIGH`."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    base = 0.45 + 0.1 * _texture(rng, yy, xx, size)
    if rng.random() < 0.5:
        scene = base + 0.5 * _cells(rng, yy, xx, size)
    else:
        scene = base + 0.2 - 0.6 * _membranes(rng, yy, xx, size)
    scene = np.clip(scene, 0.0, 1.0)
    return LOW + (HIGH - LOW) * scene


def add_noise(clean: np.ndarray, sigma: float, rng: np.random.Generator, poisson: float | None = None) -> np.ndarray:
    """``clean`` (8-bit units) with Poisson (optional) then Gaussian noise, rounded and clipped to uint8."""
    noisy = clean.astype(np.float64)
    if poisson:
        noisy = rng.poisson(noisy * poisson) / poisson
    noisy = noisy + rng.normal(0.0, sigma, noisy.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def synthesize_noisy(out: Path | str, n: int = 40, size: int = 256, seed: int = 0, sigma: float = 25.0,
                     poisson: float | None = None) -> int:
    """Write ``n`` noisy images to ``out/images`` and their clean originals to ``out/clean``; returns ``n``."""
    check_noisy_args(n, size, seed, sigma, poisson)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "clean").mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(n - 1)))
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        clean = clean_image(rng, size)
        noisy = add_noise(clean, sigma, rng, poisson)
        name = f"{i:0{width}d}.png"
        Image.fromarray(noisy).save(out / "images" / name)
        Image.fromarray(np.round(clean).astype(np.uint8)).save(out / "clean" / name)
    return n
