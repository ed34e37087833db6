"""One function per user verb. The CLI parses options and calls these; scripts can too."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from segtrain.errors import DataError, UserError

logger = logging.getLogger("segtrain")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def synth(out: Path | str, n: int = 200, size: int = 256, seed: int = 0, classes: int = 2) -> Path:
    """Write ``n`` synthetic horizon scenes to ``out/images`` and ``out/masks``; returns ``out``."""
    from segtrain.data.synthetic import synthesize_horizon

    synthesize_horizon(out, n=n, size=size, seed=seed, classes=classes)
    return Path(out)


def check(data: Path | str, num_classes: int | None = None):
    """Check a dataset folder in one pass; returns a ``CheckReport`` (``report.ok`` tells)."""
    from segtrain.data.checks import check_dataset

    return check_dataset(data, num_classes=num_classes)


@dataclass
class TrainResult:
    run: Path
    best_checkpoint: Path
    best_val_dice: float | None
    epochs: int
    steps: int
    seconds: float
    stopped_by: str


def _build_config(config, data: Path, overrides: dict[str, Any]):
    from segtrain.config import SegtrainConfig, build_config, load_config, merge

    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, SegtrainConfig):
        base = config.model_dump(mode="json")
    elif isinstance(config, dict):
        base = config
    else:
        base = load_config(config).model_dump(mode="json")
    merged = merge(base, overrides)
    merged.setdefault("data", {})["root"] = str(Path(data).resolve())  # the run works from any folder
    if merged["data"].get("split_file"):
        merged["data"]["split_file"] = str(Path(merged["data"]["split_file"]).resolve())
    return build_config(merged, source="options")


def train(
    data: Path | str,
    out: Path | str,
    *,
    config=None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    patch_size: int | None = None,
    budget: str | float | None = None,
    max_steps: int | None = None,
    steps_per_epoch: int | None = None,
    num_classes: int | None = None,
    split: Path | str | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    verbose: bool = False,
) -> TrainResult:
    """Check, split, plan and train; returns where the run is and how it went.

    Explicit arguments override ``config`` (a YAML path, a dict or a ``SegtrainConfig``),
    which overrides the plan. The run folder receives ``config.yaml``, ``plan.json``,
    ``split.json``, ``metrics.csv`` and ``checkpoints/``.
    """
    data = Path(data)
    overrides = {
        "data": {"split_file": str(split) if split else None, "num_classes": num_classes},
        "train": {
            "epochs": epochs, "batch_size": batch_size, "lr": lr, "patch_size": patch_size,
            "budget_s": budget, "max_steps": max_steps, "steps_per_epoch": steps_per_epoch, "seed": seed,
        },
    }
    cfg = _build_config(config, data, overrides)
    report = check(data, cfg.data.num_classes)
    if not report.ok:
        raise DataError(report.problems)
    for notice in report.notices:
        logger.info(notice)

    from segtrain.data.split import resolve_split
    from segtrain.runtime.rundir import RunDir, write_json

    samples = {s.stem: s for s in report.samples}
    split_stems, source = resolve_split(
        sorted(samples), data, cfg.data.split_file, cfg.data.val_fraction, cfg.data.test_fraction, cfg.train.seed
    )
    logger.info(f"split: {source}: {len(split_stems['train'])} train, {len(split_stems['val'])} val, {len(split_stems['test'])} test")
    run = RunDir.create(out, overwrite=overwrite)
    write_json(run.split, split_stems)
    return _fit(cfg, report, samples, split_stems, run, progress, verbose)


def _fit(cfg, report, samples, split_stems, run, progress, verbose) -> TrainResult:
    from segtrain.runtime.log import quiet_libraries

    quiet_libraries(verbose)
    import lightning as L

    from segtrain.config import save_config
    from segtrain.data.datamodule import SegmentationDataModule, TrainPatches, WholeImages
    from segtrain.engine.module import SegmentationModule
    from segtrain.engine.trainer import build_trainer
    from segtrain.planning.planner import plan_training
    from segtrain.planning.probe import time_steps
    from segtrain.runtime.env import detect_machine
    from segtrain.runtime.rundir import write_json

    train_samples = [samples[s] for s in split_stems["train"]]
    val_samples = [samples[s] for s in split_stems["val"]]
    train_sizes = [tuple(report.sizes[s.stem]) for s in train_samples]
    val_sizes = [tuple(report.sizes[s.stem]) for s in val_samples]
    machine = detect_machine(cfg.train.accelerator)
    in_channels, num_classes = int(report.channels), int(report.num_classes)

    def timer(batch, patch, bf16, channels_last):
        return time_steps(in_channels, num_classes, cfg.model, batch, patch, machine.accelerator, bf16, channels_last)

    plan = plan_training(
        cfg, in_channels=in_channels, num_classes=num_classes, train_sizes=train_sizes,
        val_sizes=val_sizes, machine=machine, timer=timer,
    )
    write_json(run.plan, plan.to_dict())
    logger.info(format_plan(plan))
    resolved = cfg.model_copy(deep=True)
    resolved.data.num_classes = num_classes
    resolved.train.patch_size = plan["patch_size"]
    resolved.train.batch_size = plan["batch_size"]
    resolved.train.lr = plan["lr"]
    resolved.train.precision = plan["precision"]
    resolved.train.channels_last = plan["channels_last"]
    resolved.train.num_workers = plan["num_workers"]
    save_config(resolved, run.config)

    from segtrain import __version__

    meta = {
        "version": __version__,
        "config": resolved.model_dump(mode="json"),
        "in_channels": in_channels,
        "num_classes": num_classes,
        "label_mapping": {int(k): int(v) for k, v in report.label_mapping.items()},
        "patch_size": plan["patch_size"],
        "lr": plan["lr"],
        "total_steps": plan["total_steps"],
        "warmup_steps": plan["warmup_steps"],
    }
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    module = SegmentationModule(meta)
    patches = TrainPatches(
        train_samples, train_sizes, plan["patch_size"], meta["label_mapping"], cfg.augment, cfg.data.ignore_index
    )
    datamodule = SegmentationDataModule(
        patches, WholeImages(val_samples, meta["label_mapping"]), plan["batch_size"], plan["num_workers"],
        cfg.train.seed, plan["steps_per_epoch"] * plan["batch_size"],
    )
    trainer, budget_stop = build_trainer(run, resolved, plan, module.schedule, progress)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    seconds = time.perf_counter() - start
    checkpoint = trainer.checkpoint_callback
    best_score = checkpoint.best_model_score
    if budget_stop is not None and budget_stop.stopped:
        stopped_by = "budget"
    elif trainer.early_stopping_callback is not None and trainer.early_stopping_callback.stopped_epoch:
        stopped_by = "early stopping"
    else:
        stopped_by = "planned end"
    return TrainResult(
        run=run.path,
        best_checkpoint=run.best if run.best.exists() else run.last,
        best_val_dice=None if best_score is None else float(best_score),
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        seconds=seconds,
        stopped_by=stopped_by,
    )


def format_plan(plan) -> str:
    """The plan as aligned text lines: name, value, reason."""
    width = max(len(name) for name in plan.items)
    lines = ["plan:"]
    for name, item in plan.items.items():
        value = f"{item.value:g}" if isinstance(item.value, float) else str(item.value)
        lines.append(f"  {name:<{width}}  {value:<12} {item.reason}")
    return "\n".join(lines)


def evaluate(run: Path | str, data: Path | str | None = None, split: str = "test") -> dict[str, Any]:
    """Score the run's best checkpoint on whole images of a split; writes ``evaluation.json``."""
    from segtrain.data.discovery import discover
    from segtrain.engine.evaluation import evaluate_samples
    from segtrain.predict.predictor import Predictor
    from segtrain.runtime.rundir import RunDir, write_json

    rundir = RunDir.open(run)
    if split not in ("train", "val", "test"):
        raise UserError(f"--split {split!r}: choose train, val or test")
    predictor = Predictor.from_checkpoint(rundir.checkpoint())
    root = Path(data) if data else predictor.config.data.root
    try:
        stems = json.loads(rundir.split.read_text())[split]
    except FileNotFoundError:
        raise UserError(f"{rundir.split}: missing; the run folder is incomplete") from None
    if not stems:
        raise UserError(f"{rundir.split}: the {split} split is empty; nothing to evaluate")
    available = {s.stem: s for s in discover(root).samples}
    missing = [s for s in stems if s not in available]
    if missing:
        raise UserError(f"{root}: {len(missing)} {split} image(s) of the run are missing (e.g. {missing[0]}); pass --data")
    result = evaluate_samples(predictor, [available[s] for s in stems])
    result = {"split": split, "checkpoint": str(rundir.checkpoint()), "data": str(root), **result}
    if split == "test":
        write_json(rundir.evaluation, result)
    else:
        write_json(rundir.path / f"evaluation_{split}.json", result)
    return result


def _expand_inputs(inputs: Sequence[Path | str]) -> list[Path]:
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            if not found:
                raise UserError(f"{item}: no images (.png, .jpg, .tif) in this folder")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise UserError(f"{item}: no such file or folder")
    return files


def predict(
    run: Path | str, inputs: Sequence[Path | str], out: Path | str, probabilities: bool = False
) -> list[Path]:
    """Masks for images of any size by tiled inference: ``out/<stem>.png`` (and ``<stem>_prob.tif``)."""
    from segtrain.data.readers import read_image
    from segtrain.predict.predictor import Predictor
    from segtrain.predict.writers import mask_values, write_mask, write_probabilities
    from segtrain.runtime.rundir import RunDir

    files = _expand_inputs(inputs)
    predictor = Predictor.from_checkpoint(RunDir.open(run).checkpoint())
    values = mask_values(predictor.meta["label_mapping"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file in files:
        logits = predictor.logits(read_image(file))
        target = out / f"{file.stem}.png"
        write_mask(target, predictor.classes(logits), values)
        if probabilities:
            write_probabilities(out / f"{file.stem}_prob.tif", predictor.probabilities(logits))
        written.append(target)
        logger.info(f"{file} -> {target}")
    return written


def demo(
    out: Path | str = "runs/demo",
    budget: str | float = "2m30s",
    n: int = 200,
    size: int = 256,
    seed: int = 0,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Synthesise the horizon set, train within ``budget``, evaluate on its test split."""
    out = Path(out)
    start = time.perf_counter()
    data = out / "data"
    synth(data, n=n, size=size, seed=seed)
    logger.info(f"synthesised {n} horizon scenes of {size}x{size} in {data}")
    result = train(data, out / "run", budget=budget, seed=seed, overwrite=True, progress=progress)
    scores = evaluate(result.run)
    return {
        "data": str(data),
        "run": str(result.run),
        "train": result,
        "evaluation": scores,
        "seconds": time.perf_counter() - start,
    }
