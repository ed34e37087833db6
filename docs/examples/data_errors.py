"""What `segtrain check` prints for a broken dataset, for instance masks, and after the conversion.

Run: python docs/examples/data_errors.py (prints its results; used by docs/data.md).

A dataset of six 24x32 pairs is written with Pillow into a temporary folder (removed at the
end) and then broken in six ways, one file each. `segtrain check` reports every problem at once,
one line each, and exits with code 2. A second dataset holds instance masks (one id per object),
which the check refuses; `segtrain convert instances` writes a class-mask copy of it.
"""

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import segtrain
from segtrain.cli.app import main

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


def gray(h: int = H, w: int = W) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))


with tempfile.TemporaryDirectory() as tmp:
    here = os.getcwd()
    os.chdir(tmp)  # relative paths, so the messages below do not show a random temporary folder
    try:
        data = Path("DATA")
        (data / "images").mkdir(parents=True)
        (data / "masks").mkdir()
        for k in range(6):
            mask = np.zeros((H, W), np.uint8)
            mask[4:12, 6 + k : 20] = 1
            gray().save(data / "images" / f"img_{k}.png")
            Image.fromarray(mask).save(data / "masks" / f"img_{k}.png")
        show("check", "DATA")

        print()
        print("the same dataset, broken:")
        def stray_pixel():
            mask = np.array(Image.open(data / "masks" / "img_2.png"))
            mask[0, 0] = 2
            Image.fromarray(mask).save(data / "masks" / "img_2.png")

        broken = {
            "img_1: mask saved at 20x32": lambda: Image.fromarray(np.zeros((20, W), np.uint8)).save(
                data / "masks" / "img_1.png"),
            "img_2: one pixel of the mask set to 2": stray_pixel,
            "img_3: image file cut after 300 bytes": lambda: (data / "images" / "img_3.png").write_bytes(
                (data / "images" / "img_3.png").read_bytes()[:300]),
            "img_4: a second image img_4.jpg": lambda: gray().convert("RGB").save(data / "images" / "img_4.jpg"),
            "img_5: mask deleted": lambda: (data / "masks" / "img_5.png").unlink(),
            "img_9: a mask without an image": lambda: Image.fromarray(np.zeros((H, W), np.uint8)).save(
                data / "masks" / "img_9.png"),
        }
        for what, damage in broken.items():
            damage()
            print(f"  {what}")
        show("check", "DATA")
        report = segtrain.check("DATA")
        print(f"segtrain.check: ok {report.ok}, {len(report.problems)} problems, "
              f"{report.n_pairs} complete pairs, notices {report.notices}")

        print()
        print("--num-classes smaller than the masks' classes:")
        show("check", "DATA", "--num-classes", "2")

        print()
        print("instance masks: 10 to 12 numbered objects per mask, two of them touching")
        cells = Path("cells")
        (cells / "images").mkdir(parents=True)
        (cells / "masks").mkdir()
        for k in range(3):
            ids = np.zeros((32, 48), np.uint16)
            for i in range(10 + k):
                row, col = divmod(i, 6)
                ids[2 + 10 * row : 8 + 10 * row, 1 + 8 * col : 8 + 8 * col] = i + 1
            ids[2:8, 8] = 2  # object 2 grows left until it touches object 1
            gray(32, 48).save(cells / "images" / f"c{k}.png")
            Image.fromarray(ids).save(cells / "masks" / f"c{k}.png")
        show("check", "cells")
        for target in ("semantic", "boundary"):
            show("convert", "instances", "cells", f"cells_{target}", "--to", target)
            print(f"cells_{target}/classes.json: {Path(f'cells_{target}/classes.json').read_text().strip()}")
            show("check", f"cells_{target}")
        converted = np.array(Image.open("cells_boundary/masks/c0.png"))
        print("cells_boundary/masks/c0.png, rows 1-8, columns 0-17 (0 background, 1 object, 2 boundary):")
        for row in converted[1:9, :18]:
            print("  " + " ".join(str(v) for v in row))
    finally:
        os.chdir(here)
