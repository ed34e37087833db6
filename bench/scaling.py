"""Peak memory and epoch time of `segtrain.train` at 1x, 4x and 16x the dataset size, side by side.

What it measures: for datasets of ``base``, ``4 base`` and ``16 base`` synthetic horizon scenes
(``segtrain.synth``, 128x128 pixels by default), one fixed small training run each (batch 8,
patch 128, the machine's precision, no learning-rate range test, ``--epochs`` epochs) and, per
size: the training images, the steps of an epoch, the seconds of the last epoch's training
(validation and planning excluded), seconds per step and per image, and the peak resident
memory of the training process. Ratios are against the 1x run: memory should stay at ~1 (images
are read from disk when drawn, or from the image cache, which grows with the data up to its
budget; ``--cache-mb 0`` turns it off), seconds per image at ~1 (an epoch's time grows with its
steps).

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
  run (CPU time drifts less than wall time, but OpenMP threads spin while their sibling waits
  for a core, so it grows with the load too); the memory ratios do not depend on it.
- The first epoch at 1x must hold a few steps: oneDNN creates its kernels during the first 2-3
  steps, and a timed epoch that still contains them looks several times slower. The default
  base of 40 images gives 4 steps; fewer is flagged in the output.

Run (about 75 s on a quiet 2-core CPU, up to ten times that when other programs load it; each
size also pays start-up, synthesis, checking and, unless cached, the planner's memory probe;
``--quick``: the same numbers of 64x64 images, about 45 s):

    .venv/bin/python bench/scaling.py [--base 40] [--factors 1,4,16] [--epochs 2] [--cache-mb MB] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MIN_WARM_STEPS = 3
"""Steps before the timed epoch that leave oneDNN's kernel creation out of it."""
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


class EpochClock(threading.Thread):
    """The process's CPU seconds when each epoch's row appears in ``metrics.csv`` (polled every 50 ms).

    CPU time (``time.process_time``, all threads) counts the work of the process rather than the
    time it waited for a core, so it drifts less than wall time with the load of other programs.
    """

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path, self.marks, self.stop = path, [], threading.Event()

    def run(self) -> None:
        rows = 0
        while not self.stop.wait(0.05):
            try:
                found = max(0, len(self.path.read_text().splitlines()) - 1)
            except OSError:
                continue
            if found > rows:
                self.marks += [time.process_time()] * (found - rows)
                rows = found


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
    shutil.rmtree(spec["run"], ignore_errors=True)  # no earlier metrics.csv for the clock to read
    clock = EpochClock(Path(spec["run"]) / "metrics.csv")
    clock.start()
    result = segtrain.train(
        spec["data"], spec["run"], batch_size=spec["batch"], patch_size=spec["patch"], epochs=spec["epochs"],
        lr_find=False, precision=precision, report=False, overwrite=True, progress=False,
        **({} if spec["cache_mb"] is None else {"cache_mb": spec["cache_mb"]}),
    )
    wall = time.perf_counter() - start
    time.sleep(0.2)
    clock.stop.set()
    clock.join()
    rows = list(csv.DictReader((Path(result.run) / "metrics.csv").open()))
    plan = json.loads((Path(result.run) / "plan.json").read_text())
    print(MARK + json.dumps({
        "channels": channels, "precision": precision, "channels_last": plan["channels_last"],
        "patches": plan["patches"], "steps_per_epoch": plan["steps_per_epoch"],
        "planning_seconds": plan.get("planning_seconds"), "cache_mb": plan.get("cache_mb"),
        "epochs": [{k: float(r[k]) for k in ("step", "seconds", "train_seconds", "peak_memory_mb", "data_share")}
                   for r in rows],
        "cpu_marks": clock.marks, "rss_after_check_mb": after_check, "rss_end_mb": _status_mb("VmRSS"),
        "vmhwm_mb": _status_mb("VmHWM"),
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
        "epochs": args.epochs, "precision": args.precision, "cache_mb": args.cache_mb,
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
    marks = result["cpu_marks"]
    result["epoch_cpu"] = marks[-1] - marks[-2] if len(marks) > 1 and len(marks) == len(epochs) else float("nan")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=40, help="images at 1x (default 40)")
    parser.add_argument("--factors", default="1,4,16", help="dataset sizes as multiples of --base")
    parser.add_argument("--image-size", type=int, default=None,
                        help="side of the synthetic square images (default 128; 64 with --quick)")
    parser.add_argument("--patch", type=int, default=None, help="patch size (default: the image size)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2, help="the last one is timed (default 2)")
    parser.add_argument("--precision", default="auto",
                        help="auto (bf16-mixed where the hardware has it), 32 or bf16-mixed")
    parser.add_argument("--cache-mb", type=int, default=None,
                        help="memory for decoded training images (default: the plan's, a quarter of the available "
                             "memory; 0: every draw read from disk)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the datasets and runs in this folder")
    parser.add_argument("--quick", action="store_true", help="64x64 images (a quarter of the work per step)")
    args = parser.parse_args()
    args.image_size = args.image_size or (64 if args.quick else 128)
    base = args.base
    factors = [int(f) for f in args.factors.split(",")]

    with tempfile.TemporaryDirectory(prefix="segtrain-scaling-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = [measure(base * f, args, workdir) for f in factors]

    first = results[0]
    print(f"segtrain.train on synthetic {args.image_size}x{args.image_size} scenes: batch {args.batch}, patch "
          f"{args.patch or args.image_size}, {first['precision']}{' channels-last' if first['channels_last'] else ''}, "
          f"no range test, {args.epochs} epoch(s), each size in fresh processes; image cache "
          f"{first['cache_mb']} MB{' (planned)' if args.cache_mb is None else ''}")
    timed = "first epoch included" if args.epochs == 1 else "the first epoch and validation excluded"
    print(f"epoch s = wall seconds of epoch {args.epochs}'s training ({timed}, from metrics.csv); epoch CPU s = CPU "
          "seconds of the process from the previous epoch's row to this one's (validation included); "
          "peak RSS = VmHWM of the training process; ratios against the first size")
    print()
    header = (f"{'x':>3}  {'images':>6}  {'steps':>5}  {'epoch s':>7}  {'s/step':>6}  {'epoch CPU s':>11}  "
              f"{'peak RSS MB':>11}  {'ru_maxrss MB':>12}  {'RSS after check MB':>18}  {'RSS end MB':>10}  "
              f"{'mem ratio':>9}  {'s/patch ratio':>13}  {'CPU/patch ratio':>15}")
    print(header)
    print("-" * len(header))

    def per_patch(r: dict, key: str) -> float:
        """Seconds per patch: the sampler draws steps x batch patches an epoch (the last batch is full too)."""
        return r[key] / max(1, r["epoch_steps"] * args.batch)

    for factor, r in zip(factors, results):
        per_step = r["epoch_seconds"] / max(1, r["epoch_steps"])
        print(f"{factor:>3}  {r['images']:>6}  {r['epoch_steps']:>5}  {r['epoch_seconds']:>7.2f}  {per_step:>6.3f}  "
              f"{r['epoch_cpu']:>11.2f}  {r['vmhwm_mb']:>11.0f}  {r['ru_maxrss_mb']:>12.0f}  "
              f"{r['rss_after_check_mb']:>18.0f}  {r['rss_end_mb']:>10.0f}  {r['vmhwm_mb'] / first['vmhwm_mb']:>9.3f}  "
              f"{per_patch(r, 'epoch_seconds') / per_patch(first, 'epoch_seconds'):>13.3f}  "
              f"{per_patch(r, 'epoch_cpu') / per_patch(first, 'epoch_cpu'):>15.3f}")
    if first["epoch_steps"] < MIN_WARM_STEPS and args.epochs > 1:
        print(f"note: only {first['epoch_steps']} step(s) precede the timed epoch at {factors[0]}x: it still "
              "includes oneDNN's kernel creation, so its time per patch is too high (raise --base)")
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
    decoded = last["images"] * args.image_size**2 * (last["channels"] + 1) / 2**20
    print(f"the image cache holds decoded images as read (8-bit here) and masks as 8-bit classes: all "
          f"{last['images']} images of the largest set take {decoded:.0f} MB of it; memory grows with the data "
          f"only until the cache's budget is full (--cache-mb 0: not at all)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--synth-child", "--train-child"):
        (synth_child if sys.argv[1] == "--synth-child" else train_child)(json.loads(sys.argv[2]))
    else:
        main()
