"""Tiny dataset trees laid out as public datasets ship them (8x8 PNG, TIFF and GIF files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def img(path: Path, value: int = 255, rgb: bool = False) -> Path:
    """An 8x8 file with a 4x4 square of ``value`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((8, 8), np.uint8)
    array[2:6, 2:6] = value
    image = Image.fromarray(array)
    (image.convert("RGB") if rgb else image).save(path)
    return path


def drive(root: Path, test_masks: bool = True) -> Path:
    """DRIVE: ``training/{images,1st_manual,mask}`` and ``test/{images,1st_manual,mask}``."""
    for n in (21, 22, 23):
        img(root / f"training/images/{n}_training.tif", 100, rgb=True)
        img(root / f"training/1st_manual/{n}_manual1.gif")
        img(root / f"training/mask/{n}_training_mask.gif")
    for n in ("01", "02"):
        img(root / f"test/images/{n}_test.tif", 100, rgb=True)
        if test_masks:
            img(root / f"test/1st_manual/{n}_manual1.gif")
        img(root / f"test/mask/{n}_test_mask.gif")
    return root


def camvid(root: Path) -> Path:
    """CamVid as SegNet ships it: ``train/ trainannot/ val/ valannot/ test/ testannot/``, same names."""
    for split, names in (("train", "abc"), ("val", "d"), ("test", "e")):
        for n in names:
            img(root / split / f"0001TP_{n}.png", 90, rgb=True)
            img(root / f"{split}annot" / f"0001TP_{n}.png", 1)
    return root


def voc(root: Path) -> Path:
    """``VOCdevkit/VOC2012``: JPEGImages (one image without a mask), SegmentationClass, Annotations, lists."""
    base = root / "VOC2012"
    for stem in ("2007_000032", "2007_000033", "2007_000039", "2007_000040"):
        img(base / "JPEGImages" / f"{stem}.jpg", 80, rgb=True)
        (base / "Annotations").mkdir(parents=True, exist_ok=True)
        (base / "Annotations" / f"{stem}.xml").write_text("<annotation/>")
    for stem in ("2007_000032", "2007_000033", "2007_000039"):
        img(base / "SegmentationClass" / f"{stem}.png", 1)
        img(base / "SegmentationObject" / f"{stem}.png", 1)
    lists = base / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("2007_000032\n2007_000033\n")
    (lists / "val.txt").write_text("2007_000039\n")
    (lists / "trainval.txt").write_text("2007_000032\n2007_000033\n2007_000039\n")
    return root


def cityscapes(root: Path) -> Path:
    """``leftImg8bit/<split>/<city>/<x>_leftImg8bit.png`` + ``gtFine/<split>/<city>/<x>_gtFine_*``."""
    for split, city, n in (("train", "aachen", 2), ("train", "bochum", 1), ("val", "frankfurt", 1)):
        for i in range(n):
            x = f"{city}_000000_{i:06d}"
            img(root / f"leftImg8bit/{split}/{city}/{x}_leftImg8bit.png", 70, rgb=True)
            for kind in ("labelIds", "color", "instanceIds"):
                img(root / f"gtFine/{split}/{city}/{x}_gtFine_{kind}.png", 7)
            (root / f"gtFine/{split}/{city}/{x}_gtFine_polygons.json").write_text("{}")
    return root


def dsb(root: Path) -> Path:
    """Data Science Bowl 2018: ``<id>/images/<id>.png`` + ``<id>/masks/*.png``, one file per nucleus."""
    for case in ("0a7d", "1b2c", "2c3d"):
        img(root / case / "images" / f"{case}.png", 50, rgb=True)
        for k in range(2):
            img(root / case / "masks" / f"m{k}{case}.png")
    return root
