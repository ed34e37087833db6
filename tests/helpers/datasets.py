"""Tiny synthetic segmentation datasets for tests.

``make_dataset`` writes ``root/images/<stem><ext>`` and ``root/masks/<stem><ext>``
following the dataset contract. Every mask contains every class (class 0 is the
background; classes 1.. each get one horizontal band or elliptic blob inside
their own vertical strip), and the images are a fixed per-class intensity (the
same in every image) plus noise, so a model can actually learn them. Everything is deterministic given ``seed``.

Usage::

    from helpers.datasets import make_dataset

    root = make_dataset(tmp_path / "data", n=4, channels=3, classes=3)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

MASK_STYLES = ("01", "255", "palette")


def make_mask(rng: np.random.Generator, size: tuple[int, int], classes: int) -> np.ndarray:
    """Return an ``(H, W)`` uint8 class-index mask holding every class 0..classes-1.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    size : (int, int)
        ``(H, W)``; W must be at least ``classes - 1`` and H at least 2.
    classes : int
        Number of classes (>= 2).
    """
    h, w = size
    if classes < 2 or w < classes - 1 or h < 2:
        raise ValueError(f"cannot place {classes} classes in a {h}x{w} mask")
    mask = np.zeros((h, w), dtype=np.uint8)
    edges = np.linspace(0, w, classes, dtype=int)  # one vertical strip per foreground class
    yy, xx = np.mgrid[0:h, 0:w]
    for cls, (x0, x1) in enumerate(zip(edges[:-1], edges[1:]), start=1):
        x1 = max(x1, x0 + 1)
        if rng.random() < 0.5:  # horizontal band across the strip
            band = int(rng.integers(1, max(2, h // 2)))
            y0 = int(rng.integers(0, h - band + 1))
            mask[y0:y0 + band, x0:x1] = cls
        else:  # elliptic blob centred in the strip
            cy, cx = rng.uniform(0.25, 0.75) * h, (x0 + x1 - 1) / 2
            ry, rx = max(1.0, rng.uniform(0.15, 0.3) * h), max(0.6, (x1 - x0) / 2 * rng.uniform(0.5, 1.0))
            blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
            blob[:, :x0] = False
            blob[:, x1:] = False
            mask[blob] = cls
        if not (mask == cls).any():  # tiny sizes: make sure the class is present
            mask[h // 2, x0] = cls
    if not (mask == 0).any():
        mask[0, 0] = 0
    return mask


def make_image(rng: np.random.Generator, mask: np.ndarray, classes: int, channels: int,
               bits: int = 8) -> np.ndarray:
    """Return an image whose intensity depends on the class, plus noise.

    Returns ``(H, W)`` for ``channels == 1`` and ``(H, W, channels)`` otherwise,
    of dtype uint8 (``bits == 8``) or uint16 (``bits == 16``).
    """
    top = 255 if bits == 8 else 65535
    # The same class -> colour table for every image (learnable): class k gets
    # level 0.15 + 0.7 k / (classes - 1) in the first channel, fixed random levels in others.
    levels = np.repeat(np.linspace(0.15, 0.85, classes)[:, None], channels, axis=1)
    if channels > 1:
        fixed = np.random.default_rng(1000 + classes)
        levels[:, 1:] = fixed.uniform(0.1, 0.9, size=(classes, channels - 1))
    base = levels[mask]  # (H, W, C)
    noisy = base + rng.normal(0.0, 0.05, size=base.shape)
    img = np.clip(noisy * top, 0, top).astype(np.uint8 if bits == 8 else np.uint16)
    return img[..., 0] if channels == 1 else img


def _save_image(path: Path, img: np.ndarray, bits: int) -> None:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, img, photometric="minisblack" if img.ndim == 2 else "rgb")
        return
    if bits == 16 and (img.ndim == 3 or path.suffix.lower() != ".png"):
        raise ValueError("16-bit images need image_ext '.tif' (or '.png' with channels=1)")
    if path.suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(img).save(path, quality=95)
    else:
        Image.fromarray(img).save(path)


def _save_mask(path: Path, mask: np.ndarray, style: str, classes: int) -> None:
    if style == "255":
        if classes != 2:
            raise ValueError("mask_style '255' needs classes=2")
        mask = (mask * 255).astype(np.uint8)
    if style == "palette":
        if path.suffix.lower() != ".png":
            raise ValueError("mask_style 'palette' needs mask_ext '.png'")
        im = Image.fromarray(mask)  # mode "L"; putpalette turns it into "P", indices kept
        palette = np.random.default_rng(99).integers(0, 256, size=(256, 3), dtype=np.uint8)
        palette[0] = 0
        im.putpalette(palette.ravel().tolist())
        im.save(path)
    elif path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, mask, photometric="minisblack")
    else:
        Image.fromarray(mask).save(path)


def make_dataset(root: Path | str, n: int = 6, size: tuple[int, int] = (32, 48), channels: int = 1,
                 classes: int = 2, mask_style: str = "01", image_ext: str = ".png", seed: int = 0,
                 bits: int = 8, mask_ext: str = ".png") -> Path:
    """Write a tiny valid dataset and return its root.

    Parameters
    ----------
    root : Path or str
        Folder to create (parents too); ``images/`` and ``masks/`` go inside.
    n : int
        Number of image/mask pairs; stems are ``img_000``, ``img_001``, ...
    size : (int, int)
        ``(H, W)`` of every image and mask.
    channels : int
        1 (gray) or 3 (RGB).
    classes : int
        Number of classes; every mask holds each of ``0..classes-1``.
    mask_style : {"01", "255", "palette"}
        "01": class indices as gray values; "255": binary masks stored as
        0/255 (needs ``classes=2``); "palette": palette PNG whose indices are
        the classes (colours are arbitrary).
    image_ext : str
        ".png", ".jpg", ".jpeg", ".tif" or ".tiff".
    seed : int
        Seed of everything random.
    bits : int
        8 (uint8) or 16 (uint16; needs ".tif"/".tiff", or ".png" with ``channels=1``).
    mask_ext : str
        ".png" or ".tif"/".tiff" (not with ``mask_style="palette"``).

    Returns
    -------
    Path
        ``root``.
    """
    if mask_style not in MASK_STYLES:
        raise ValueError(f"mask_style must be one of {MASK_STYLES}, not {mask_style!r}")
    if channels not in (1, 3) or bits not in (8, 16):
        raise ValueError("channels must be 1 or 3 and bits 8 or 16")
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        stem = f"img_{i:03d}"
        mask = make_mask(rng, size, classes)
        _save_image(root / "images" / f"{stem}{image_ext}", make_image(rng, mask, classes, channels, bits), bits)
        _save_mask(root / "masks" / f"{stem}{mask_ext}", mask, mask_style, classes)
    return root


def write_pairs(root: Path | str, masks: dict[str, np.ndarray], mask_ext: str = ".png", **save) -> Path:
    """Write each ``(H, W)`` or ``(H, W, 3)`` uint8 mask as ``root/masks/<stem><mask_ext>`` with a gray image.

    ``save`` goes to Pillow's ``Image.save`` (e.g. ``quality=75`` for ``mask_ext=".jpg"``); the
    images are ``root/images/<stem>.png``, noise of the mask's height and width. Returns ``root``.
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for stem, mask in masks.items():
        h, w = mask.shape[:2]
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(root / "images" / f"{stem}.png")
        Image.fromarray(np.asarray(mask)).save(root / "masks" / f"{stem}{mask_ext}", **save)
    return root
