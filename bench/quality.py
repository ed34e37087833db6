"""Test-split quality at a fixed budget on real data: segtrain (everything planned) against the
hand-written loop of issue 15, side by side, scored by one independent scorer.

For each dataset (default: every folder of ../shared/data with a split.json; ``--data`` paths or
``--datasets`` names choose), one after another in this one process, for each seed:

(a) segtrain: ``segtrain.train(DATA, out=TMP/run, budget=B, seed=S)`` with no other option (the
    planner decides everything; the run uses DATA/split.json itself), then
    ``segtrain.predict(run, <the test images>, out=TMP/pred)`` and bench/scoring.py on those masks
    at the original resolution. As a cross-check, ``segtrain.evaluate(run)`` (segtrain's own
    scorer) is run too and its pooled confusion matrix turned into the same metric
    (``--no-cross-check`` skips it);
(b) the hand-written loop: ``bench/handwritten.py``'s ``run(DATA, B seconds, seed=S)`` (MONAI U-Net
    16-256, whole images resized to 256x256, batch 8, Adam 1e-3, horizontal flips, DiceCE, logits
    resized back). Its test class maps are also scored by bench/scoring.py, which must give the
    loop's own number (a check of the scorer, recorded as ``scorer_agrees``).

The metric is the pooled test Dice of class 1 for binary data and the pooled mIoU (classes
present, background included) for multiclass data (classes.json with more than two entries).
The issue's target: segtrain >= hand + 0.02, or hand + (1 - hand) / 3 where the hand loop is
above 0.96. The test split is used for scoring only: nothing here chooses anything from it.

One row per dataset: the hand loop's score, segtrain's, the margin (segtrain - hand), the
target and whether it was met, and the wall seconds of each (segtrain's include its planning,
prediction and scoring; the loop's its data loading and test). With ``--repeat 2`` each side runs
with seeds 0 and 1 and the cells show the mean and the spread (max - min) of the runs.

    .venv/bin/python bench/quality.py [--budget 5m] [--repeat 2] [--datasets isbi2012_em ...]
                                      [--data DIR ...] [--json OUT] [--quick] [--keep DIR]

``--quick``: a 15-second budget (unless ``--budget`` is given), for a smoke test only. Progress
goes to stderr, the table to stdout (Markdown). Torch threads are left at their default.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import segtrain
from segtrain.config.schema import parse_duration

BENCH = Path(__file__).resolve().parent
SHARED = BENCH.parents[1] / "shared" / "data"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
QUICK_BUDGET = "15s"
PLAN_REASONS = ("scale", "regime", "context", "lr", "patch_size", "batch_size", "augmentation")
"""Plan entries whose reasons are kept in the JSON (those the plan has)."""


def log(message: str) -> None:
    print(f"[quality {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scoring = _load("scoring")
handwritten = _load("handwritten")


def target(hand: float) -> float:
    """The issue's bar for segtrain given the hand loop's score."""
    return hand + (0.02 if hand <= 0.96 else (1.0 - hand) / 3.0)


def image_file(data: Path, stem: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        path = data / "images" / f"{stem}{suffix}"
        if path.exists():
            return path
    matches = sorted(p for p in (data / "images").glob(f"{stem}.*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not matches:
        raise FileNotFoundError(f"no image for {stem!r} in {data / 'images'}")
    return matches[0]


def plan_summary(run: Path) -> dict:
    """The plan's scalar values and the reasons of the entries that matter here."""
    try:
        plan = json.loads((run / "plan.json").read_text())
    except (OSError, ValueError):
        return {}
    skip = {"reasons", "sources", "overridden", "warnings", "fingerprint"}
    values = {k: v for k, v in plan.items() if k not in skip and (v is None or isinstance(v, (int, float, str, bool)))}
    reasons = {k: plan.get("reasons", {}).get(k) for k in PLAN_REASONS if k in plan.get("reasons", {})}
    return {"values": values, "reasons": reasons, "warnings": plan.get("warnings", [])}


def run_segtrain(data: Path, stems: list[str], work: Path, budget: str, seed: int, cross_check: bool) -> dict:
    start = time.perf_counter()
    log(f"segtrain train {data.name} --budget {budget} --seed {seed}")
    result = segtrain.train(data, work / "run", budget=budget, seed=seed, progress=False, report=False)
    train_wall = time.perf_counter() - start
    files = [image_file(data, s) for s in stems]
    log(f"segtrain predict {len(files)} test images")
    t = time.perf_counter()
    segtrain.predict(result.run, files, work / "pred")
    predict_s = time.perf_counter() - t
    scored = scoring.score_folder(work / "pred", data, stems=stems)
    out = {
        "score": scored["score"], "metric": scored["metric"], "kind": scored["kind"],
        "dice": scored["dice"], "iou": scored["iou"], "miou": scored["miou"], "mean_dice": scored["mean_dice"],
        "per_class": scored["per_class"], "values_read_as": scored["values"],
        "wall_seconds": None, "train_wall_seconds": round(train_wall, 2), "train_seconds": result.seconds,
        "predict_seconds": round(predict_s, 2), "epochs": result.epochs, "steps": result.steps,
        "best_epoch": result.best_epoch, "best_val_dice": result.best_val_dice, "stopped_by": result.stopped_by,
        "plan": plan_summary(Path(result.run)),
    }
    out["wall_seconds"] = round(time.perf_counter() - start, 2)  # train + predict + score
    if cross_check:
        try:
            own = segtrain.evaluate(result.run)
            own_scores = scoring.scores_from_confusion(own["confusion"])
            out["segtrain_own_score"] = own_scores["score"]
            out["segtrain_own_minus_scorer"] = own_scores["score"] - scored["score"]
        except Exception as exc:  # a cross-check, not the measurement
            out["segtrain_own_error"] = f"{type(exc).__name__}: {exc}"
            log(f"segtrain evaluate failed: {out['segtrain_own_error']}")
    return out


def run_hand(data: Path, stems: list[str], work: Path, budget_s: float, seed: int) -> dict:
    start = time.perf_counter()
    log(f"hand-written loop {data.name}, {budget_s:g} s, seed {seed}")
    r = handwritten.run(data, budget_s, seed=seed, pred_out=work / "hand_pred")
    scored = scoring.score_folder(work / "hand_pred", data, stems=stems, values="index")
    r["wall_seconds"] = round(time.perf_counter() - start, 2)
    r["independent_score"] = scored["score"]
    r["scorer_agrees"] = abs(scored["score"] - r["score"]) < 1e-5
    if not r["scorer_agrees"]:
        log(f"WARNING: the loop's own score {r['score']:.6f} and the scorer's {scored['score']:.6f} differ")
    r["score"] = scored["score"]  # both sides by the same scorer
    return r


def stat(values: list[float]) -> tuple[float, float]:
    return sum(values) / len(values), max(values) - min(values)


def cell(values: list[float], digits: int = 4) -> str:
    if not values:
        return "error"
    mean, spread = stat(values)
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ({spread:.{digits}f})"


def summarise(entry: dict) -> dict:
    hand = [r["hand"]["score"] for r in entry["runs"] if "score" in r.get("hand", {})]
    seg = [r["segtrain"]["score"] for r in entry["runs"] if "score" in r.get("segtrain", {})]
    s = {"hand": hand, "segtrain": seg,
         "hand_seconds": [r["hand"]["wall_seconds"] for r in entry["runs"] if "wall_seconds" in r.get("hand", {})],
         "segtrain_seconds": [r["segtrain"]["wall_seconds"] for r in entry["runs"]
                              if "wall_seconds" in r.get("segtrain", {})]}
    if hand:
        s["hand_mean"], s["hand_spread"] = stat(hand)
        s["target"] = target(s["hand_mean"])
    if seg:
        s["segtrain_mean"], s["segtrain_spread"] = stat(seg)
    if hand and seg:
        s["margin"] = s["segtrain_mean"] - s["hand_mean"]
        s["met"] = s["segtrain_mean"] >= s["target"]
    return s


def table(results: dict, budget: str, seeds: list[int]) -> str:
    lines = [f"budget {budget} per run, seeds {', '.join(map(str, seeds))}"
             + ("; cells: mean (spread = max - min)" if len(seeds) > 1 else ""),
             "",
             "| dataset | kind | metric | hand-written | segtrain | margin | target | met | hand s | segtrain s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, entry in results.items():
        s = entry["summary"]
        margin = f"{s['margin']:+.4f}" if "margin" in s else "-"
        tgt = f"{s['target']:.4f}" if "target" in s else "-"
        met = ("yes" if s["met"] else "no") if "met" in s else "-"
        lines.append(f"| {name} | {entry.get('kind', '?')} | {entry.get('metric', '?')} | {cell(s['hand'])} | "
                     f"{cell(s['segtrain'])} | {margin} | {tgt} | {met} | {cell(s['hand_seconds'], 0)} | "
                     f"{cell(s['segtrain_seconds'], 0)} |")
    return "\n".join(lines)


def datasets(args) -> list[Path]:
    if args.data:
        found = [Path(p) for p in args.data]
    else:
        found = sorted(p for p in SHARED.iterdir() if (p / "split.json").exists()) if SHARED.is_dir() else []
    if args.datasets:
        by_name = {p.name: p for p in found}
        missing = [n for n in args.datasets if n not in by_name]
        if missing:
            sys.exit(f"no dataset {', '.join(missing)} among {', '.join(by_name) or '(none)'}")
        found = [by_name[n] for n in args.datasets]
    if not found:
        sys.exit(f"no datasets (looked in {SHARED})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default=None, help="training budget of each run (default 5m; 15s with --quick)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side, seeds 0..N-1 (2 for the issue)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds FIRST..FIRST+N-1 (a second pass in another process: --first-seed 1)")
    parser.add_argument("--data", nargs="*", help="dataset folders (default: every one in ../shared/data)")
    parser.add_argument("--datasets", nargs="*", help="only these dataset names")
    parser.add_argument("--json", type=Path, help="write all results here (rewritten after every run)")
    parser.add_argument("--quick", action="store_true", help=f"smoke test: budget {QUICK_BUDGET}")
    parser.add_argument("--keep", type=Path, help="keep run folders and predictions here instead of a temp dir")
    parser.add_argument("--no-cross-check", action="store_true", help="skip segtrain.evaluate (its own scorer)")
    args = parser.parse_args()
    budget = args.budget or (QUICK_BUDGET if args.quick else "5m")
    budget_s = parse_duration(budget)
    seeds = list(range(args.first_seed, args.first_seed + max(1, args.repeat)))
    chosen = datasets(args)

    meta = {"budget": budget, "budget_s": budget_s, "seeds": seeds, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "host": platform.node(), "python": sys.version.split()[0], "segtrain": segtrain.__version__}
    results: dict[str, dict] = {}
    total = time.perf_counter()

    def save() -> None:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"meta": meta, "datasets": results}, indent=2, default=str))

    with tempfile.TemporaryDirectory(prefix="segtrain-quality-") as tmp:
        root = args.keep or Path(tmp)
        for data in chosen:
            stems = json.loads((data / "split.json").read_text())["test"]
            mapping, _ = scoring.class_mapping(data)
            k = len(mapping) if mapping else 2
            entry = {"data": str(data), "kind": "binary" if k == 2 else "multiclass",
                     "metric": "dice" if k == 2 else "miou", "n_test": len(stems), "runs": []}
            results[data.name] = entry
            for seed in seeds:
                work = root / data.name / f"seed{seed}"
                work.mkdir(parents=True, exist_ok=True)
                row: dict = {"seed": seed}
                entry["runs"].append(row)
                for side, fn in (("segtrain", lambda: run_segtrain(data, stems, work, budget, seed,
                                                                   not args.no_cross_check)),
                                 ("hand", lambda: run_hand(data, stems, work, budget_s, seed))):
                    try:
                        row[side] = fn()
                        log(f"{data.name} seed {seed} {side}: {row[side]['metric']} {row[side]['score']:.4f} "
                            f"in {row[side]['wall_seconds']:.0f} s")
                    except Exception as exc:
                        row[side] = {"error": f"{type(exc).__name__}: {exc}"}
                        log(f"{data.name} seed {seed} {side} FAILED:\n{traceback.format_exc()}")
                    entry["summary"] = summarise(entry)
                    save()
    meta["total_seconds"] = round(time.perf_counter() - total, 1)
    save()
    print(table(results, budget, seeds))
    for name, entry in results.items():
        for r in entry["runs"]:
            for side in ("segtrain", "hand"):
                if "error" in r.get(side, {}):
                    print(f"{name} seed {r['seed']} {side}: {r[side]['error']}")
            seg = r.get("segtrain", {})
            if "segtrain_own_minus_scorer" in seg and abs(seg["segtrain_own_minus_scorer"]) > 1e-4:
                print(f"{name} seed {r['seed']}: segtrain's own score differs from the scorer's by "
                      f"{seg['segtrain_own_minus_scorer']:+.4f}")
            if r.get("hand", {}).get("scorer_agrees") is False:
                print(f"{name} seed {r['seed']}: the hand loop's own score and the scorer's differ")
    print(f"total {meta['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
