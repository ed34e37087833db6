"""Test-set Dice at a fixed wall-clock budget: the planned run, the foundation's defaults and a
hand-written MONAI loop, side by side in one run on each real dataset (skipped when absent).

- planned:    ``segtrain train DATA --budget B`` (everything measured and planned)
- foundation: the same budget with the fixed choices segtrain made before the planner measured
  anything: batch 8, AdamW at lr 2e-3, cosine decay, cross-entropy, bf16 autocast, no range test
- hand loop:  bench/handwritten.py (MONAI U-Net, images resized to 256x256, batch 8, Adam 1e-3, flips)

All use each dataset's split.json; the score is the pooled test Dice of class 1 at the original
resolution. segtrain's planning time (range test and probes) comes on top of the budget and is
printed; the budget covers training and validation.

    .venv/bin/python bench/planner.py [--budget 5m] [--datasets horizonset_ir isbi2012_em]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import segtrain
from segtrain.config.schema import parse_duration

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FOUNDATION = {"batch_size": 8, "lr": 2e-3, "lr_find": False, "optimizer": "adamw", "schedule": "cosine",
              "loss": "ce", "precision": "bf16-mixed"}


def _segtrain(data: Path, run: Path, budget: str, options: dict) -> dict:
    start = time.perf_counter()
    result = segtrain.train(data, run, budget=budget, progress=False, overwrite=True, **options)
    wall = time.perf_counter() - start
    scores = segtrain.evaluate(result.run)
    plan = json.loads((result.run / "plan.json").read_text())
    return {
        "test_dice": scores["per_class"][1]["dice"], "train_seconds": result.seconds, "wall_seconds": wall,
        "planning_seconds": plan.get("planning_seconds"), "steps": result.steps, "batch": plan["batch_size"],
        "lr": plan["lr"], "loss": plan["loss"],
    }


def _handwritten(data: Path, budget_s: float) -> dict:
    spec = importlib.util.spec_from_file_location("handwritten", Path(__file__).with_name("handwritten.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start = time.perf_counter()
    result = module.run(data, budget_s)
    return {"test_dice": result["test_dice"], "train_seconds": result["train_seconds"],
            "wall_seconds": time.perf_counter() - start, "planning_seconds": 0, "steps": result["steps"],
            "batch": 8, "lr": 1e-3, "loss": "dice+ce"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="5m")
    parser.add_argument("--datasets", nargs="*", default=["horizonset_ir", "isbi2012_em"])
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    budget_s = parse_duration(args.budget)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            data = SHARED / name
            if not data.is_dir():
                print(f"{name}: {data} absent, skipped")
                continue
            results[name] = {
                "planned": _segtrain(data, Path(tmp) / f"{name}_planned", args.budget, {}),
                "foundation": _segtrain(data, Path(tmp) / f"{name}_foundation", args.budget, FOUNDATION),
                "hand loop": _handwritten(data, budget_s),
            }
    print(f"\nbudget {args.budget} per run; pooled test Dice of class 1 (each dataset's split.json)")
    print(f"{'dataset':<15}{'method':<12}{'test Dice':>10}{'train s':>9}{'plan s':>8}{'wall s':>8}{'steps':>7}{'batch':>7}{'lr':>10}  loss")
    for name, rows in results.items():
        for method, r in rows.items():
            print(f"{name:<15}{method:<12}{r['test_dice']:>10.4f}{r['train_seconds']:>9.1f}{r['planning_seconds'] or 0:>8.1f}"
                  f"{r['wall_seconds']:>8.1f}{r['steps']:>7}{r['batch']:>7}{r['lr']:>10.3g}  {r['loss']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
