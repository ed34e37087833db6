"""Peak memory and epoch time of `segtrain.train` at 1x, 4x and 16x the dataset size, side by side.

What it measures: for datasets of ``base``, ``4 base`` and ``16 base`` synthetic horizon scenes
(``segtrain.synth``, 128x128 pixels by default), one fixed small training run each (batch 8,
patch 128, the machine's precision, no learning-rate range test, ``--epochs`` epochs) and, per
size: the training images, the steps of an epoch, the seconds of the last epoch's training
(validation and planning excluded), seconds per step and per image, and the peak resident
memory of the training process. Ratios are against the 1x run: memory should stay at ~1 (images
are read from disk when drawn), seconds per image at ~1 (an epoch's time grows with its steps).

How:
- Each size synthesises its data in one fresh process, then trains in another fresh process
  (``segtrain.train(..., report=False)``), so each peak is that run's alone and starts from
  nothing. This parent process never imports torch.
- Peak memory is the training process's ``VmHWM`` (peak resident set, from
  ``/proc/self/status``) read after training returns. ``resource.getrusage(...).ru_maxrss`` is
  printed beside it: on Linux it is carried over ``exec`` from the parent (the probe in
  ``segtrain/planning/batch.py`` says the same), so it can exceed VmHWM; here the parent is small.
  "RSS after check" is the resident memory once the dataset is checked, before planning and
  training, and "RSS end" the resident memory after training returned: if it grows with the
  data while the peak of the first epoch does not, something is kept.
- Epoch time comes from the run's ``metrics.csv``: the difference of ``train_seconds`` (time
  since training started, validation excluded) between the last two epochs, so the first
  epoch's one-off costs (oneDNN kernel creation, Lightning set-up, the sanity check) and the
  planner's memory probe (a separate process timed in ``plan.json``'s ``planning_seconds``,
  printed as "plan s"; 0 when segtrain read it from its memory cache) are left out. With
  ``--epochs 1`` the first epoch is used, one-off costs included.
- The sizes run one after another, so the time ratios carry the machine's load drift over the
  run; the memory ratios do not depend on it.

Run (about 3 minutes on an idle 2-core CPU, several times that on a loaded one: each size pays
start-up, synthesis, checking and, unless cached, the planner's memory probe; ``--quick``:
10, 40 and 160 images):

    .venv/bin/python bench/scaling.py [--base 40] [--factors 1,4,16] [--epochs 2] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MARK = "SCALING_RESULT "
"""Prefix of the one line of JSON a training child prints on stdout."""


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synth_child(spec: dict) -> None:
    import segtrain

    segtrain.synth(spec["data"], n=spec["images"], size=spec["image_size"], seed=0)


def train_child(spec: dict) -> None:
    """Check, then train; print what the parent tabulates as one JSON line."""
    import resource

    import segtrain
    from segtrain.runtime.env import detect_machine

    precision = spec["precision"]
    if precision == "auto":  # what the planner would choose without its speed probe
        precision = "bf16-mixed" if detect_machine().bf16 else "32"
    start = time.perf_counter()
    channels = segtrain.check(spec["data"]).channels
    after_check = _status_mb("VmRSS")
    result = segtrain.train(
        spec["data"], spec["run"], batch_size=spec["batch"], patch_size=spec["patch"], epochs=spec["epochs"],
        lr_find=False, precision=precision, report=False, overwrite=True, progress=False,
    )
    wall = time.perf_counter() - start
    rows = list(csv.DictReader((Path(result.run) / "metrics.csv").open()))
    plan = json.loads((Path(result.run) / "plan.json").read_text())
    print(MARK + json.dumps({
        "channels": channels, "precision": precision, "channels_last": plan["channels_last"], "patches": plan["patches"],
        "steps_per_epoch": plan["steps_per_epoch"], "planning_seconds": plan.get("planning_seconds"),
        "epochs": [{k: float(r[k]) for k in ("step", "seconds", "train_seconds", "peak_memory_mb", "data_share")}
                   for r in rows],
        "rss_after_check_mb": after_check, "rss_end_mb": _status_mb("VmRSS"), "vmhwm_mb": _status_mb("VmHWM"),
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "wall_seconds": wall,
    }))


def run_child(mode: str, spec: dict) -> str:
    done = subprocess.run([sys.executable, __file__, mode, json.dumps(spec)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{mode} child failed for {spec['images']} images:\n{done.stderr[-3000:]}")
    return done.stdout


def measure(images: int, args, workdir: Path) -> dict:
    spec = {
        "images": images, "image_size": args.image_size, "data": str(workdir / f"data{images}"),
        "run": str(workdir / f"run{images}"), "batch": args.batch, "patch": args.patch or args.image_size,
        "epochs": args.epochs, "precision": args.precision,
    }
    run_child("--synth-child", spec)
    out = run_child("--train-child", spec)
    line = next(line for line in reversed(out.splitlines()) if line.startswith(MARK))
    result = json.loads(line[len(MARK):])
    epochs = result["epochs"]
    last = epochs[-1]
    before = epochs[-2] if len(epochs) > 1 else {"step": 0.0, "train_seconds": 0.0}
    result["images"] = images
    result["epoch_seconds"] = last["train_seconds"] - before["train_seconds"]
    result["epoch_steps"] = int(last["step"] - before["step"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=None, help="images at 1x (default 40; 10 with --quick)")
    parser.add_argument("--factors", default="1,4,16", help="dataset sizes as multiples of --base")
    parser.add_argument("--image-size", type=int, default=128, help="side of the synthetic square images")
    parser.add_argument("--patch", type=int, default=None, help="patch size (default: the image size)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2, help="the last one is timed (default 2)")
    parser.add_argument("--precision", default="auto", help="auto (bf16-mixed where the hardware has it), 32, bf16-mixed")
    parser.add_argument("--keep", type=Path, default=None, help="keep the datasets and runs in this folder")
    parser.add_argument("--quick", action="store_true", help="10, 40 and 160 images")
    args = parser.parse_args()
    base = args.base or (10 if args.quick else 40)
    factors = [int(f) for f in args.factors.split(",")]

    with tempfile.TemporaryDirectory(prefix="segtrain-scaling-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = [measure(base * f, args, workdir) for f in factors]

    first = results[0]
    print(f"segtrain.train on synthetic {args.image_size}x{args.image_size} scenes: batch {args.batch}, patch "
          f"{args.patch or args.image_size}, {first['precision']}{' channels-last' if first['channels_last'] else ''}, "
          f"no range test, {args.epochs} epoch(s), each size in fresh processes")
    print(f"epoch s = training time of epoch {args.epochs} ({'first epoch included' if args.epochs == 1 else 'the first epoch and validation excluded'}), "
          "from metrics.csv; peak RSS = VmHWM of the training process")
    print()
    header = (f"{'x':>3}  {'images':>6}  {'patches':>7}  {'steps':>5}  {'epoch s':>7}  {'s/step':>6}  {'s/image':>7}  "
              f"{'peak RSS MB':>11}  {'ru_maxrss MB':>12}  {'RSS after check MB':>18}  {'RSS end MB':>10}  "
              f"{'plan s':>6}  {'mem ratio':>9}  {'s/image ratio':>13}")
    print(header)
    print("-" * len(header))
    # the sampler draws steps x batch patches per epoch (segtrain fills the last batch), so every step is full
    per_image0 = first["epoch_seconds"] / max(1, first["epoch_steps"] * args.batch)
    for factor, r in zip(factors, results):
        per_step = r["epoch_seconds"] / max(1, r["epoch_steps"])
        per_image = r["epoch_seconds"] / max(1, r["epoch_steps"] * args.batch)
        print(f"{factor:>3}  {r['images']:>6}  {r['patches']:>7}  {r['epoch_steps']:>5}  {r['epoch_seconds']:>7.2f}  "
              f"{per_step:>6.3f}  {per_image:>7.4f}  {r['vmhwm_mb']:>11.0f}  {r['ru_maxrss_mb']:>12.0f}  "
              f"{r['rss_after_check_mb']:>18.0f}  {r['rss_end_mb']:>10.0f}  {r['planning_seconds'] or 0:>6.1f}  "
              f"{r['vmhwm_mb'] / first['vmhwm_mb']:>9.3f}  {per_image / per_image0:>13.3f}")
    print()
    peaks = "; ".join(f"{r['images']} images: " + ", ".join(f"{e['peak_memory_mb']:.0f}" for e in r["epochs"])
                      for r in results)
    print(f"peak memory after each epoch (metrics.csv peak_memory_mb, MB): {peaks}")
    if args.epochs > 1:
        print("first epoch's training seconds (one-off set-up included): "
              + ", ".join(f"{r['images']} images: {r['epochs'][0]['train_seconds']:.1f}" for r in results))
    print("planning seconds (plan.json; the planner's memory probe in a separate process, 0 when read from "
          "segtrain's memory cache): "
          + ", ".join(f"{r['planning_seconds']}" for r in results)
          + "; wall seconds per training process: " + ", ".join(f"{r['wall_seconds']:.0f}" for r in results))
    last = results[-1]
    cache_mb = last["images"] * args.image_size**2 * (last["channels"] * 4 + 8) / 2**20
    print(f"sensitivity: keeping every decoded {args.image_size}x{args.image_size} image ({last['channels']} float32 "
          f"channels) and mask (int64) "
          f"of the {last['images']}-image set would add {cache_mb:.0f} MB to its peak")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--synth-child", "--train-child"):
        (synth_child if sys.argv[1] == "--synth-child" else train_child)(json.loads(sys.argv[2]))
    else:
        main()
