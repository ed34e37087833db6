"""How segtrain reads images and masks, and what `segtrain check` says about a few tiny datasets.

Run: python docs/examples/data_check.py (prints its results; used by docs/data.md).

Every dataset is written with Pillow into a temporary folder that is removed at the end. The
check runs twice: through `segtrain check DATA` (the command's own entry point, called in this
process, so its messages are exactly what a terminal shows) and through `segtrain.check(DATA)`,
whose CheckReport holds the same facts as fields.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import segtrain
from segtrain.cli.app import main
from segtrain.data.readers import read_image, read_mask
from segtrain.data.normalize import normalize

H, W = 24, 32
rng = np.random.default_rng(0)


def cli(*args: str) -> tuple[int, str]:
    """Run `segtrain ARGS` in this process: its exit code and what it printed."""
    printed = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
        sys.argv = ["segtrain", *args]
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    return code, printed.getvalue()


def show(*args: str) -> None:
    code, printed = cli(*args)
    print(f"$ segtrain {' '.join(args)}")
    print(printed.rstrip("\n"))
    print(f"(exit code {code})")


def pair(root: Path, stem: str, image: np.ndarray, mask: np.ndarray, mask_name: str | None = None) -> None:
    """Write images/<stem>.png and masks/<stem>.png (or masks/<mask_name>)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{stem}.png")
    Image.fromarray(mask).save(root / "masks" / (mask_name or f"{stem}.png"))


def gray() -> np.ndarray:
    return rng.integers(0, 256, (H, W), dtype=np.uint8)


def box(value: int, top: int, bottom: int, left: int, right: int, mask: np.ndarray | None = None) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8) if mask is None else mask
    mask[top:bottom, left:right] = value
    return mask


with tempfile.TemporaryDirectory() as tmp:
    here = os.getcwd()
    os.chdir(tmp)  # relative paths, so the messages below do not show a random temporary folder
    try:
        # --- how files are read ---------------------------------------------------------------
        files = Path("files")
        files.mkdir()
        picture = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        Image.fromarray(picture[..., 0]).save(files / "gray8.png")
        Image.fromarray(picture[..., 0].astype(np.uint16) * 257).save(files / "gray16.png")
        Image.fromarray(picture).save(files / "rgb.png")
        Image.fromarray(np.dstack([picture, np.full((H, W), 200, np.uint8)])).save(files / "rgba.png")
        Image.fromarray(picture[..., 0]).quantize(8).save(files / "palette.png")
        print("images as read_image returns them (H, W, C), and their normalised values:")
        for name in ("gray8.png", "gray16.png", "rgb.png", "rgba.png", "palette.png"):
            image = read_image(files / name)
            print(f"  {name:<12} shape {image.shape}, {image.dtype}, values {image.min()}..{image.max()}")
        a, b = normalize(read_image(files / "gray8.png")), normalize(read_image(files / "gray16.png"))
        print(f"  gray8 and gray16 (the same picture x 257) after per-image normalisation differ by at most "
              f"{np.abs(a - b).max():.1e}")

        palette = Image.fromarray(box(2, 4, 12, 6, 20))
        palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
        palette.save(files / "palette_mask.png")
        mask = read_mask(files / "palette_mask.png")
        print(f"a palette mask reads as its indices: values {sorted(np.unique(mask).tolist())}, "
              f"not the colours it shows")

        # --- tiny datasets ---------------------------------------------------------------------
        print()
        print("1. binary masks stored as 0/255, one gray image each")
        for k in range(4):
            pair(Path("binary"), f"img_{k}", gray(), box(255, 4, 12, 6 + k, 20))
        show("check", "binary")
        report = segtrain.check("binary")
        print(f"report: ok {report.ok}, n_pairs {report.n_pairs}, channels {report.channels}, "
              f"num_classes {report.num_classes}, mask_format {report.mask_format!r}, "
              f"label_mapping {report.label_mapping}, class_pixels {report.class_pixels}")

        print()
        print("2. class ids 0, 3 and 7, masks named <stem>_mask.png")
        for k in range(3):
            mask = box(7, 14, 20, 2, 10 + k, box(3, 4, 12, 6, 20))
            pair(Path("ids"), f"img_{k}", gray(), mask, mask_name=f"img_{k}_mask.png")
        show("check", "ids")
        report = segtrain.check("ids")
        print(f"report: num_classes {report.num_classes}, label_mapping {report.label_mapping}, "
              f"class_pixels {report.class_pixels}")

        print()
        print("3. colour-coded RGB masks (black ground, light-blue sky, blue water), no classes.json")
        for k in range(3):
            mask = np.zeros((H, W, 3), np.uint8)
            mask[: 8 + k] = (128, 128, 255)
            mask[18:] = (0, 0, 255)
            pair(Path("colour"), f"img_{k}", gray(), mask)
        show("check", "colour")
        classes = {"ground": [0, 0, 0], "sky": [128, 128, 255], "water": [0, 0, 255]}
        Path("colour/classes.json").write_text(json.dumps(classes))
        print(f"after writing colour/classes.json = {json.dumps(classes)}:")
        show("check", "colour")
        report = segtrain.check("colour")
        print(f"report: class_names {report.class_names}, colour_masks {report.colour_masks}, "
              f"label_mapping {report.label_mapping} (keys are R * 65536 + G * 256 + B)")

        print()
        print("4. 0/255 masks named by classes.json = {\"background\": 0, \"cell\": 255}")
        for k in range(3):
            pair(Path("named"), f"img_{k}", gray(), box(255, 6, 18, 4 + k, 12 + k))
        Path("named/classes.json").write_text(json.dumps({"background": 0, "cell": 255}))
        report = segtrain.check("named")
        print(f"report: ok {report.ok}, class_names {report.class_names}, label_mapping {report.label_mapping}, "
              f"mask_format {report.mask_format!r}")

        print()
        print("5. masks holding 0, 1 and 255, where 255 was meant as 'ignore this pixel'")
        for k in range(3):
            pair(Path("ignore"), f"img_{k}", gray(), box(255, 11, 13, 0, W, box(1, 4, 12, 6, 20 + k)))
        show("check", "ignore")
        report = segtrain.check("ignore")
        print(f"report: num_classes {report.num_classes}, label_mapping {report.label_mapping}")
        show("check", "ignore", "--ignore-index", "255")
        report = segtrain.check("ignore", ignore_index=255)
        print(f"report: num_classes {report.num_classes}, label_mapping {report.label_mapping}, "
              f"class_pixels {report.class_pixels}, ignored_pixels {report.ignored_pixels}")

        print()
        print("6. 0/255 masks saved as JPEG (quality 75)")
        for k in range(3):
            (Path("jpeg") / "images").mkdir(parents=True, exist_ok=True)
            (Path("jpeg") / "masks").mkdir(exist_ok=True)
            Image.fromarray(gray()).save(f"jpeg/images/img_{k}.png")
            Image.fromarray(box(255, 6, 18, 8 + k, 24)).save(f"jpeg/masks/img_{k}.jpg", quality=75)
        show("check", "jpeg")
        report = segtrain.check("jpeg")
        print(f"report: mask_format {report.mask_format!r}, num_classes {report.num_classes}, "
              f"{len(report.label_mapping)} raw values mapped, lossy_share {report.lossy_share:.3f}")
    finally:
        os.chdir(here)
