"""Peak memory of `segtrain.train` on one large TIFF training image, for image sides 2048 to 16384.

What it measures: a dataset whose only training image, ``images/big.tif``, is a synthetic
sky/ground scene (uint8 RGB, uncompressed) with its 0/1 mask ``masks/big.tif``, at several sides
(default 2048, 8192 and 16384: 12 MB to 768 MB as stored, 48 MB to 3 GB as the float32 copy a
whole-image read makes; ``--quick``: 1024 and 4096). Six 256x256 ``segtrain.synth`` scenes are
the validation (3) and test (3) images. Per side, one fixed small training run (batch 8, patch 256,
2 epochs of 10 steps, the machine's precision, no learning-rate range test, no report) and: the
peak resident memory of the training process, overall and split into the check's and training's
parts, the resident memory after the check, the seconds of epoch 2's training and per step. Ratios
are against the smallest side: the image is read window by window (patches) and strip by strip
(statistics), so the peak should stay flat while the image grows 64x.

How:
- Each side writes its dataset in one fresh process and trains in another, so each peak is that
  run's alone. This parent never imports torch or segtrain.
- The writer creates both TIFFs with ``tifffile.memmap(path, shape=..., dtype=...)`` and fills
  them row block by row block (each block computed, written, flushed and its pages released), so
  it never holds a whole image either; its own peak is printed.
- ``SEGTRAIN_WINDOW_BYTES`` is set to ``--window-bytes`` (default 1000000) in the training
  process. The default threshold (1/16 of the available memory) would read the small sides whole
  and only the largest by windows, so the sides would take different paths and their memory could
  not be compared; 1 MB is below the float32 copy of the smallest side (1024x1024x3x4 = 12.6 MB),
  so every size takes the window path. The 256x256 PNGs are not TIFFs: they are read whole
  either way. ``--window-bytes 0`` leaves the variable unset (the default threshold, for seeing
  which sides it sends by windows). The child prints whether ``big.tif`` took the window path.
- Loading runs in the training process (``train.num_workers: 0``), so its VmHWM covers the window
  reads too; the planner chooses the same on a 2-core machine, and loader processes elsewhere
  would each have peaks of their own that VmHWM misses.
- Peaks are ``VmHWM`` of ``/proc/self/status``: "check peak" is read after ``segtrain.check(data)``
  (the streaming scan of the image and mask); then ``/proc/self/clear_refs`` resets it (to the
  resident size) and "train peak" is read after ``segtrain.train`` returns (it re-checks the
  dataset, builds the window index of big.tif in one more streaming pass, plans, trains and
  validates). "peak RSS" is the larger of the two, the process's peak.
- Epoch time is the difference of ``train_seconds`` between the two rows of ``metrics.csv``
  (training time, validation excluded), so epoch 1's one-off costs are left out. Sides run one
  after another; on a loaded machine the time ratios carry the load's drift, the memory ones not.

Run (on a shared 2-core CPU with a load of about 4: ``--quick`` 6 minutes, the default 10; most of
it is the 2 x 10 training steps of each side, 5-6 s a step in bf16 there, while writing and checking
the 16384 image take about 15 s and 25 s; it needs about 1 GB of free disk per side in the
temporary folder, each side's dataset is deleted before the next is written):

    .venv/bin/python bench/large_image.py [--sides 2048,8192,16384] [--window-bytes 1000000] [--keep DIR] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MARK = "LARGE_IMAGE_RESULT "
"""Prefix of the one line of JSON a child prints on stdout."""
BLOCK_BYTES = 16 * 2**20
"""Bytes of RGB rows the writer computes and writes at once."""
SMALL = 6
"""Small synthetic scenes: the first half for validation, the rest for testing."""


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _scene_rows(start: int, stop: int, side: int, seed: int):
    """Rows ``[start, stop)`` of the synthetic scene: ``(rows, side, 3)`` uint8 RGB and ``(rows, side)`` 0/1 mask
    (1 = sky). The horizon waves across the width at scale-free positions, so every side shows the same scene."""
    import numpy as np

    x = np.arange(side, dtype=np.float64) / side
    horizon = side * (0.5 + 0.12 * np.sin(2 * np.pi * 3 * x) + 0.04 * np.sin(2 * np.pi * 17 * x + 1.0))
    rows = np.arange(start, stop, dtype=np.float64)
    mask = (rows[:, None] < horizon[None, :]).astype(np.uint8)
    t = (rows / side)[:, None, None]  # 0 at the top, 1 at the bottom
    sky = np.concatenate([90 + 80 * t, 140 + 60 * t, 235 - 25 * t], axis=-1).astype(np.int16)  # paler downwards
    ground = np.concatenate([60 + 50 * t, 100 + 30 * t, 40 + 20 * t], axis=-1).astype(np.int16)  # lighter nearer
    rng = np.random.default_rng([seed, start])
    noise = rng.integers(-14, 15, size=(stop - start, side, 3), dtype=np.int16)
    noise += np.where(mask[..., None].astype(bool), sky, ground)  # (rows, 1, 3) colours over the width
    image = np.clip(noise, 0, 255).astype(np.uint8)
    return image, mask


def _release(array) -> None:
    """Write a memmap's dirty pages out and drop them from this process (they stay in the page cache)."""
    import contextlib
    import mmap

    array.flush()
    with contextlib.suppress(AttributeError, ValueError, OSError):
        array._mmap.madvise(mmap.MADV_DONTNEED)


def write_child(spec: dict) -> None:
    """Write the dataset folder: big.tif image and mask by blocks of rows, the small PNG pairs, split.json."""
    import numpy as np
    import tifffile

    import segtrain

    start_time = time.perf_counter()
    data, side = Path(spec["data"]), spec["side"]
    (data / "images").mkdir(parents=True, exist_ok=True)
    (data / "masks").mkdir(parents=True, exist_ok=True)
    image = tifffile.memmap(data / "images" / "big.tif", shape=(side, side, 3), dtype=np.uint8, photometric="rgb")
    mask = tifffile.memmap(data / "masks" / "big.tif", shape=(side, side), dtype=np.uint8, photometric="minisblack")
    step = max(1, BLOCK_BYTES // (side * 3))
    for start in range(0, side, step):
        stop = min(side, start + step)
        image[start:stop], mask[start:stop] = _scene_rows(start, stop, side, seed=0)
        _release(image)
        _release(mask)
    del image, mask
    with tempfile.TemporaryDirectory(dir=data.parent) as tmp:
        segtrain.synth(tmp, n=SMALL, size=256, seed=0)
        for folder in ("images", "masks"):
            for path in sorted((Path(tmp) / folder).iterdir()):
                shutil.move(str(path), data / folder / path.name)
    stems = sorted(p.stem for p in (data / "images").iterdir() if p.stem != "big")
    split = {"train": ["big"], "val": stems[:SMALL // 2], "test": stems[SMALL // 2:]}
    Path(spec["split"]).write_text(json.dumps(split, indent=1))
    print(MARK + json.dumps({"write_seconds": time.perf_counter() - start_time, "write_peak_mb": _status_mb("VmHWM"),
                             "file_mb": (data / "images" / "big.tif").stat().st_size / 2**20}))


def train_child(spec: dict) -> None:
    """Check, reset the peak, train; print what the parent tabulates as one JSON line."""
    import segtrain
    from segtrain.data.windows import is_large, window_bytes
    from segtrain.runtime.env import detect_machine

    precision = "bf16-mixed" if detect_machine().bf16 else "32"
    start = time.perf_counter()
    segtrain.check(spec["data"])
    check_seconds = time.perf_counter() - start
    check_peak, after_check = _status_mb("VmHWM"), _status_mb("VmRSS")
    windowed = is_large(Path(spec["data"]) / "images" / "big.tif")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM restarts from the resident size
    result = segtrain.train(
        spec["data"], spec["run"], config={"train": {"num_workers": 0}}, split=spec["split"], batch_size=8,
        patch_size=256, epochs=2, steps_per_epoch=10, lr_find=False, precision=precision, report=False,
        progress=False, overwrite=True,
    )
    wall = time.perf_counter() - start
    rows = list(csv.DictReader((Path(result.run) / "metrics.csv").open()))
    plan = json.loads((Path(result.run) / "plan.json").read_text())
    print(MARK + json.dumps({
        "precision": precision, "windowed": windowed, "window_bytes": window_bytes(),
        "num_workers": plan["num_workers"],
        "epochs": [{k: float(r[k]) for k in ("step", "train_seconds")} for r in rows],
        "check_seconds": check_seconds, "check_peak_mb": check_peak, "rss_after_check_mb": after_check,
        "train_peak_mb": _status_mb("VmHWM"), "wall_seconds": wall,
    }))


def run_child(mode: str, spec: dict, env: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, mode, json.dumps(spec)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{mode} child failed for side {spec['side']}:\n{done.stderr[-3000:]}")
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith(MARK))
    return json.loads(line[len(MARK):])


def measure(side: int, args, workdir: Path) -> dict:
    spec = {"side": side, "data": str(workdir / f"data{side}"), "run": str(workdir / f"run{side}"),
            "split": str(workdir / f"split{side}.json")}
    env = dict(os.environ)
    env.pop("SEGTRAIN_WINDOW_BYTES", None)
    written = run_child("--write-child", spec, env)
    if args.window_bytes:
        env["SEGTRAIN_WINDOW_BYTES"] = str(args.window_bytes)
    result = run_child("--train-child", spec, env)
    result.update(written)
    if not args.keep:  # the next side's files need the room
        shutil.rmtree(spec["data"], ignore_errors=True)
    first, last = result["epochs"][-2], result["epochs"][-1]
    result["side"] = side
    result["image_mb"] = side * side * 3 / 2**20
    result["float32_mb"] = side * side * 3 * 4 / 2**20
    result["peak_mb"] = max(result["check_peak_mb"], result["train_peak_mb"])
    result["epoch_seconds"] = last["train_seconds"] - first["train_seconds"]
    result["epoch_steps"] = int(last["step"] - first["step"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default=None, help="sides of the square training image (default 2048,8192,16384; "
                                                      "1024,4096 with --quick)")
    parser.add_argument("--window-bytes", type=int, default=1_000_000,
                        help="SEGTRAIN_WINDOW_BYTES for training (default 1000000: every side by windows; "
                             "0: unset, the default threshold)")
    parser.add_argument("--tolerance", type=float, default=0.10, help="peak growth called flat (default 0.10)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the datasets and runs in this folder")
    parser.add_argument("--quick", action="store_true", help="sides 1024 and 4096")
    args = parser.parse_args()
    sides = [int(s) for s in (args.sides or ("1024,4096" if args.quick else "2048,8192,16384")).split(",")]

    need = 2 * 4 * max(sides) ** 2 / 2**30  # the largest image and its mask, with room to spare
    with tempfile.TemporaryDirectory(prefix="segtrain-large-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(workdir).free / 2**30
        if free < need:
            sys.exit(f"{workdir}: {free:.1f} GB free, the {max(sides)} side needs about {need:.1f} GB; "
                     "pass --keep DIR on a larger disk or lower --sides")
        results = [measure(side, args, workdir) for side in sides]

    first = results[0]
    threshold = (f"SEGTRAIN_WINDOW_BYTES={args.window_bytes}" if args.window_bytes
                 else f"the default threshold ({first['window_bytes'] / 2**20:.0f} MB)")
    print(f"segtrain.train on one synthetic RGB TIFF training image (uncompressed, written by row blocks), "
          f"3 + 3 small 256x256 val/test scenes: batch 8, patch 256, {first['precision']}, 2 epochs x 10 steps, "
          f"no range test, loading in the training process, {threshold}; each side in fresh processes")
    print("float32 MB = the copy a whole-image read would make; check/train peak = VmHWM after segtrain.check / "
          "after segtrain.train (reset between); peak RSS = the larger; epoch s = epoch 2's training seconds "
          "(metrics.csv)")
    print()
    header = (f"{'side':>6}  {'window':>6}  {'image MB':>8}  {'float32 MB':>10}  {'check peak MB':>13}  "
              f"{'RSS after check MB':>18}  {'train peak MB':>13}  {'peak RSS MB':>11}  {'peak ratio':>10}  "
              f"{'epoch s':>7}  {'s/step':>6}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['side']:>6}  {'yes' if r['windowed'] else 'NO':>6}  {r['image_mb']:>8.0f}  {r['float32_mb']:>10.0f}  "
              f"{r['check_peak_mb']:>13.0f}  {r['rss_after_check_mb']:>18.0f}  {r['train_peak_mb']:>13.0f}  "
              f"{r['peak_mb']:>11.0f}  {r['peak_mb'] / first['peak_mb']:>10.3f}  {r['epoch_seconds']:>7.2f}  "
              f"{r['epoch_seconds'] / max(1, r['epoch_steps']):>6.3f}")
    print()
    print("writing (s, writer's peak MB): " + ", ".join(
        f"{r['side']}: {r['write_seconds']:.0f} s, {r['write_peak_mb']:.0f} MB" for r in results)
        + "; check s: " + ", ".join(f"{r['check_seconds']:.0f}" for r in results)
        + "; wall s per training process: " + ", ".join(f"{r['wall_seconds']:.0f}" for r in results))
    last = results[-1]
    growth = last["side"] ** 2 / first["side"] ** 2
    ratio = max(r["peak_mb"] for r in results) / first["peak_mb"]
    flat = ratio <= 1 + args.tolerance
    print(f"while the image grew {growth:.0f}x ({first['image_mb']:.0f} -> {last['image_mb']:.0f} MB, float32 "
          f"{first['float32_mb']:.0f} -> {last['float32_mb']:.0f} MB), peak memory went "
          f"{first['peak_mb']:.0f} -> {last['peak_mb']:.0f} MB (largest ratio {ratio:.3f}): "
          + (f"within {args.tolerance:.0%}, independent of the image's size" if flat
             else f"NOT within {args.tolerance:.0%}: something holds memory that grows with the image"))
    if not all(r["windowed"] for r in results):
        print("note: sides marked NO were read whole (below the window threshold), so their memory is not comparable")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--write-child", "--train-child"):
        (write_child if sys.argv[1] == "--write-child" else train_child)(json.loads(sys.argv[2]))
    else:
        main()
