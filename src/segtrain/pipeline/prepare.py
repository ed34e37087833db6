"""Run preparation, shared by ``plan``, ``lr-find``, ``train`` and a joining process: config, check, split, labels, plan.

Nothing here writes a file: every step either returns what the next one needs or refuses the
command in one line, so a refused command leaves the disk as it was.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segtrain.config import SegtrainConfig, build_config, load_config, merge
from segtrain.config.io import read_plan_file
from segtrain.data.check.dataset import check_dataset
from segtrain.data.check.report import CheckReport
from segtrain.data.fingerprint import fingerprint
from segtrain.data.label_mapping import IGNORE_LABEL, ignore_label
from segtrain.data.labels import LabelSpec, read_labels
from segtrain.data.layouts import LayoutOptions
from segtrain.data.structures import evenly_spaced, measure_structures
from segtrain.data.windows import is_large
from segtrain.data.loaders.datamodule import SeededSampler, TrainPatches
from segtrain.data.split import resolve_split
from segtrain.engine.loggers import check_logger
from segtrain.errors import DataError, UserError
from segtrain.losses.weights import class_weights_from_pixels
from segtrain.models.decision import mode_of
from segtrain.pipeline.against_data import check_options_against_data
from segtrain.pipeline.fine_tune import Source, apply_source, fit_labels, open_source, state_plan
from segtrain.pipeline.options import flag_names, nested_overrides
from segtrain.planning.lr_finder import plot_curve, write_curve_csv
from segtrain.planning.plan import TrainingPlan
from segtrain.planning.planner import plan_training
from segtrain.planning.probes import MachineProbes
from segtrain.runtime.env import detect_machine
from segtrain.runtime.rundir import RunDir

logger = logging.getLogger("segtrain")


@dataclass
class Prepared:
    """A checked dataset and its split, with the config of the run: what planning and training start from."""

    cfg: SegtrainConfig
    report: CheckReport
    samples: dict
    """The checked samples by stem."""
    split: dict[str, list[str]]
    """Stems of ``train``, ``val`` and ``test``."""
    source: Source | None = None
    """The run a fine-tuning run starts from (``--init-from``)."""

    def sizes(self, part: str) -> list[tuple[int, int]]:
        return [tuple(self.report.sizes[s]) for s in self.split[part]]


def build_run_config(config, data: Path, overrides: dict[str, Any]) -> SegtrainConfig:
    """``config`` (None, a dict, a ``SegtrainConfig`` or a YAML path) with ``overrides`` merged on top."""
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
    return build_config(merged, source="config", names=flag_names(overrides) or None)  # options named by flag


def checked(data: Path | str, num_classes: int | None = None, ignore_index: int | None = None,
            layout: LayoutOptions | None = None) -> CheckReport:
    """The dataset check, refusing a dataset that fails it (every problem, one line each)."""
    report = check_dataset(data, num_classes=num_classes, ignore_index=ignore_index, layout=layout)
    if not report.ok:
        raise DataError(report.problems)
    return report


def prepare(data: Path | str, config, options: dict[str, Any]) -> Prepared:
    """Config, checked dataset, samples by stem, and the split of a run (nothing written)."""
    data = Path(data)
    cfg = build_run_config(config, data, nested_overrides(options))
    if cfg.train.logger != "csv":
        check_logger(cfg.train.logger)
    start_from = open_source(cfg.train.init_from) if cfg.train.init_from else None
    if start_from is not None:
        apply_source(cfg, start_from)  # its network and a fine-tuning rate
    report = checked(data, cfg.data.num_classes, cfg.data.ignore_index, LayoutOptions.from_config(cfg.data))
    if IGNORE_LABEL in report.label_mapping.values() or any(s.roi is not None for s in report.samples):
        cfg.data.has_ignored = True  # classes.json's ignore values, regions of interest: losses and scores skip them
    if start_from is not None:
        fit_labels(report, start_from, data)  # its classes and label mapping, or one line saying why not
    check_options_against_data(cfg, report)
    for notice in report.notices:
        logger.info(notice)
    samples = {s.stem: s for s in report.samples}
    split_stems, source = resolve_split(
        sorted(samples), data, cfg.data.split_file, cfg.data.val_fraction, cfg.data.test_fraction, cfg.train.seed,
        report.split, report.layout.split_source if report.layout is not None else None,
    )
    logger.info(f"split: {source}: {len(split_stems['train'])} train, {len(split_stems['val'])} val, {len(split_stems['test'])} test")
    return Prepared(cfg, report, samples, split_stems, start_from)


def labels(cfg: SegtrainConfig, report: CheckReport, split_stems: dict) -> tuple[LabelSpec, str, list[float] | None]:
    """The label spec, the mode and the resolved loss class weights of a run."""
    spec = LabelSpec.from_report(report)
    mode = mode_of(int(report.num_classes), bool(spec.multilabel))
    option = cfg.loss.class_weights
    if option != "none" and mode == "multilabel":
        raise UserError("--class-weights: multilabel masks have no classes to weigh; set loss.pos_weight instead")
    if option == "none":
        return spec, mode, None
    if isinstance(option, list):
        if len(option) != report.num_classes:
            raise UserError(f"loss.class_weights has {len(option)} weights but the masks hold {report.num_classes} "
                            f"classes; give {report.num_classes} weights or 'frequency'")
        return spec, mode, [float(w) for w in option]
    pixels = [0] * int(report.num_classes)
    for stem in split_stems["train"]:
        for c, n in enumerate(report.class_pixels_per_image.get(stem, [])):
            pixels[c] += n
    weights = class_weights_from_pixels(pixels)
    logger.info("class weights from the training masks' class frequencies: " + ", ".join(f"{w:.3g}" for w in weights))
    return spec, mode, weights


def _patch_batches(prepared: Prepared):
    """``batches(batch_size, patch, count)``: real augmented training batches for the range test."""
    cfg, report = prepared.cfg, prepared.report

    def batches(batch_size: int, patch: int, count: int, scale=1.0):
        from torch.utils.data import DataLoader  # torch: only once the range test runs

        train_samples = [prepared.samples[s] for s in prepared.split["train"]]
        dataset = TrainPatches(
            train_samples, [tuple(report.sizes[s.stem]) for s in train_samples], patch,
            LabelSpec.from_report(report), cfg.augment, ignore_label(cfg.data), scale=scale,
        )
        sampler = SeededSampler(len(dataset), cfg.train.seed + 1, length=batch_size * count)
        return iter(DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=0))

    return batches


def _measure(prepared: Prepared):
    """``measure(scales, patch)``: the structures of (a sample of) the training masks, or None when
    they cannot be measured (multilabel masks)."""
    cfg, report = prepared.cfg, prepared.report
    spec = LabelSpec.from_report(report)
    if spec.multilabel:
        return None

    def measure(scales, patch):
        stems = evenly_spaced(prepared.split["train"])
        masks = (read_labels(prepared.samples[s], spec) for s in stems)
        return measure_structures(masks, int(report.num_classes), scales, patch, ignore_label(cfg.data))

    return measure


def make_plan(prepared: Prepared, given: TrainingPlan | None = None) -> TrainingPlan:
    """Fingerprint the training images, measure this machine and plan the run."""
    cfg, report = prepared.cfg, prepared.report
    machine = detect_machine(cfg.train.accelerator)
    prints = fingerprint(report, prepared.split["train"])
    _, mode, class_weights = labels(cfg, report, prepared.split)
    probes = MachineProbes(
        int(report.channels), int(report.num_classes), cfg.model, machine.accelerator, _patch_batches(prepared),
        ignore_label(cfg.data), cfg.train.weight_decay, cfg.train.seed,
        mode=mode, loss_options=cfg.loss, class_weights=class_weights,
    )
    start = time.perf_counter()
    windowed = any(is_large(prepared.samples[s]) for s in prepared.split["train"])
    if windowed and cfg.train.scale not in (None, 1, 1.0):
        raise UserError(f"--scale {cfg.train.scale}: some training images are too large for memory and are read by "
                        "windows at their own resolution; leave --scale out")
    plan = plan_training(cfg, fingerprint=prints, train_sizes=prepared.sizes("train"), val_sizes=prepared.sizes("val"),
                         machine=machine, probes=probes, given=given, measure=_measure(prepared), windowed=windowed)
    if prepared.source is not None:
        state_plan(plan, prepared.source, cfg)
    spent = {name: round(seconds, 1) for name, seconds in probes.seconds.items()}
    plan.set("planning_seconds", round(time.perf_counter() - start, 1),
             "time spent measuring: " + (", ".join(f"{k} {v} s" for k, v in spent.items()) or "nothing measured"))
    for warning in plan.warnings:
        logger.warning(f"warning: {warning}")
    return plan


def write_lr_curve(plan: TrainingPlan, folder: Path | RunDir) -> list[Path]:
    """``lr_find.csv`` and ``lr_find.png`` (as a run folder names them) of the plan's range test in ``folder``."""
    if plan.lr_curve is None:
        return []
    files = folder if isinstance(folder, RunDir) else RunDir(Path(folder))
    files.path.mkdir(parents=True, exist_ok=True)
    write_curve_csv(plan.lr_curve, files.lr_find_csv)
    plot_curve(plan.lr_curve, plan.lr_suggestion, files.lr_find_png)
    return [files.lr_find_csv, files.lr_find_png]


def load_plan(path: Path | str) -> TrainingPlan:
    """A saved ``plan.json`` as a ``TrainingPlan``; a missing or unreadable file is a user error."""
    fix = f"write a new one with 'segtrain plan DATA -o {path}'"
    try:
        return TrainingPlan.from_dict(read_plan_file(path, fix))
    except (AttributeError, TypeError) as exc:
        raise UserError(f"{path}: not a plan written by 'segtrain plan' ({exc}); write a new one") from None
