"""One function per user verb. The CLI parses options and calls these; scripts can too."""

from __future__ import annotations

import json
import logging
import time
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


def convert_instances(data: Path | str, out: Path | str, to: str = "semantic") -> dict[str, Any]:
    """Instance masks of ``data`` to class masks in a new dataset folder ``out`` (``to``: semantic or boundary)."""
    from segtrain.data.convert import convert_instances as convert

    if to not in ("semantic", "boundary"):
        raise UserError(f"--to {to!r}: choose semantic or boundary")
    return convert(data, out, to=to)


def __getattr__(name: str):
    if name == "TrainResult":  # defined with the training it describes; imported lazily
        from segtrain.engine.fit import TrainResult

        return TrainResult
    raise AttributeError(name)


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


_SECTIONS = {
    "split_file": "data", "num_classes": "data", "norm": "model", "init": "model", "class_weights": "loss",
}


def _overrides(**options) -> dict[str, Any]:
    """Keyword options -> a nested config dict (``budget`` -> ``train.budget_s``; None means not given)."""
    nested: dict[str, Any] = {"data": {}, "model": {}, "train": {}, "loss": {}}
    for name, value in options.items():
        if name == "budget":
            name = "budget_s"
        if name == "split":
            name, value = "split_file", None if value is None else str(value)
        nested[_SECTIONS.get(name, "train")][name] = value
    return nested


def _prepare(data: Path | str, config, options: dict[str, Any]):
    """Config, checked dataset, samples by stem, and the split of a run (nothing written)."""
    data = Path(data)
    cfg = _build_config(config, data, _overrides(**options))
    if cfg.train.logger != "csv":
        from segtrain.engine.loggers import check_logger

        check_logger(cfg.train.logger)
    report = check(data, cfg.data.num_classes)
    if not report.ok:
        raise DataError(report.problems)
    from segtrain.config.against_data import check_options_against_data

    check_options_against_data(cfg, report)
    for notice in report.notices:
        logger.info(notice)
    from segtrain.data.split import resolve_split

    samples = {s.stem: s for s in report.samples}
    split_stems, source = resolve_split(
        sorted(samples), data, cfg.data.split_file, cfg.data.val_fraction, cfg.data.test_fraction, cfg.train.seed
    )
    logger.info(f"split: {source}: {len(split_stems['train'])} train, {len(split_stems['val'])} val, {len(split_stems['test'])} test")
    return cfg, report, samples, split_stems


def _labels(cfg, report, split_stems):
    """The label spec, the mode and the resolved loss class weights of a run."""
    from segtrain.data.labels import LabelSpec
    from segtrain.models.decision import mode_of

    spec = LabelSpec.from_report(report)
    mode = mode_of(int(report.num_classes), bool(spec.multilabel))
    option = cfg.loss.class_weights
    if option != "none" and mode == "multilabel":
        raise UserError("--class-weights: multilabel masks have no classes to weigh; set loss.pos_weight instead")
    if option == "none":
        weights = None
    elif isinstance(option, list):
        if len(option) != report.num_classes:
            raise UserError(f"loss.class_weights has {len(option)} weights but the masks hold {report.num_classes} "
                            f"classes; give {report.num_classes} weights or 'frequency'")
        weights = [float(w) for w in option]
    else:
        from segtrain.losses import class_weights_from_pixels

        pixels = [0] * int(report.num_classes)
        for stem in split_stems["train"]:
            for c, n in enumerate(report.class_pixels_per_image.get(stem, [])):
                pixels[c] += n
        weights = class_weights_from_pixels(pixels)
        logger.info("class weights from the training masks' class frequencies: "
                    + ", ".join(f"{w:.3g}" for w in weights))
    return spec, mode, weights


def _patch_batches(cfg, report, samples, split_stems):
    """``batches(batch_size, patch, count)``: real augmented training batches for the range test."""

    def batches(batch_size: int, patch: int, count: int):
        from torch.utils.data import DataLoader

        from segtrain.data.datamodule import SeededSampler, TrainPatches
        from segtrain.data.labels import LabelSpec

        train_samples = [samples[s] for s in split_stems["train"]]
        dataset = TrainPatches(
            train_samples, [tuple(report.sizes[s.stem]) for s in train_samples], patch,
            LabelSpec.from_report(report), cfg.augment, cfg.data.ignore_index,
        )
        sampler = SeededSampler(len(dataset), cfg.train.seed + 1, length=batch_size * count)
        return iter(DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=0))

    return batches


def _make_plan(cfg, report, samples, split_stems, given=None):
    """Fingerprint the training images, measure this machine and plan the run."""
    from segtrain.data.fingerprint import fingerprint
    from segtrain.planning.measure import MachineProbes
    from segtrain.planning.planner import plan_training
    from segtrain.runtime.env import detect_machine

    machine = detect_machine(cfg.train.accelerator)
    prints = fingerprint(report, split_stems["train"])
    _, mode, class_weights = _labels(cfg, report, split_stems)
    probes = MachineProbes(
        int(report.channels), int(report.num_classes), cfg.model, machine.accelerator,
        _patch_batches(cfg, report, samples, split_stems), cfg.data.ignore_index, cfg.train.weight_decay, cfg.train.seed,
        mode=mode, loss_options=cfg.loss, class_weights=class_weights,
    )
    start = time.perf_counter()
    plan = plan_training(
        cfg, fingerprint=prints, train_sizes=[tuple(report.sizes[s]) for s in split_stems["train"]],
        val_sizes=[tuple(report.sizes[s]) for s in split_stems["val"]], machine=machine, probes=probes, given=given,
    )
    spent = {name: round(seconds, 1) for name, seconds in probes.seconds.items()}
    plan.set("planning_seconds", round(time.perf_counter() - start, 1),
             "time spent measuring: " + (", ".join(f"{k} {v} s" for k, v in spent.items()) or "nothing measured"))
    for warning in plan.warnings:
        logger.warning(f"warning: {warning}")
    return plan


def _write_lr_curve(plan, folder: Path) -> list[Path]:
    """``lr_find.csv`` and ``lr_find.png`` of the plan's range test in ``folder`` (if it ran)."""
    if plan.lr_curve is None:
        return []
    from segtrain.planning.lr_finder import plot_curve, write_curve_csv

    folder.mkdir(parents=True, exist_ok=True)
    write_curve_csv(plan.lr_curve, folder / "lr_find.csv")
    plot_curve(plan.lr_curve, plan.lr_suggestion, folder / "lr_find.png")
    return [folder / "lr_find.csv", folder / "lr_find.png"]


def load_plan(path: Path | str):
    """A saved ``plan.json`` as a ``TrainingPlan``; a missing or unreadable file is a user error."""
    from segtrain.planning.planner import TrainingPlan

    try:
        return TrainingPlan.from_dict(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise UserError(f"{path}: no such plan file; write one with 'segtrain plan DATA -o {path}'") from None
    except (json.JSONDecodeError, AttributeError, TypeError) as exc:
        raise UserError(f"{path}: not a plan written by 'segtrain plan' ({exc}); write a new one") from None


def plan(data: Path | str, out: Path | str | None = None, *, config=None, **options):
    """Check, split and plan without training; returns the ``TrainingPlan``.

    With ``out``, the plan is written there as JSON, with the range test's ``lr_find.csv`` and
    ``lr_find.png`` beside it. ``options`` are the same as :func:`train`'s.
    """
    cfg, report, samples, split_stems = _prepare(data, config, options)
    result = _make_plan(cfg, report, samples, split_stems)
    if out is not None:
        from segtrain.runtime.rundir import write_json

        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, result.to_dict())
        _write_lr_curve(result, out.parent)
    return result


def lr_find(data: Path | str, out: Path | str = ".", *, config=None, **options) -> dict[str, Any]:
    """Run the learning-rate range test alone; writes ``lr_find.csv`` and ``lr_find.png`` to ``out``."""
    cfg, report, samples, split_stems = _prepare(data, config, options)
    if cfg.train.lr is not None:
        raise UserError("--lr is given, so there is nothing to find; leave it out")
    cfg.train.epochs = cfg.train.epochs or 1  # the duration does not matter here: no budget probe
    result = _make_plan(cfg, report, samples, split_stems)
    files = _write_lr_curve(result, Path(out))
    finder = result.get("lr_finder") or {}
    return {
        "suggestion": finder.get("suggestion"),
        "lr": result["lr"],
        "batch_size": result["batch_size"],
        "reason": result.items["lr"].reason,
        "finder": finder,
        "finder_reason": result.items["lr_finder"].reason if "lr_finder" in result else None,
        "files": [str(f) for f in files],
    }


def train(
    data: Path | str,
    out: Path | str,
    *,
    config=None,
    plan: Path | str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    verbose: bool = False,
    report: bool = True,
    **options,
) -> TrainResult:
    """Check, split, plan and train; returns where the run is and how it went.

    ``options`` (``epochs``, ``batch_size``, ``lr``, ``patch_size``, ``budget``, ``max_steps``,
    ``steps_per_epoch``, ``accumulate``, ``optimizer``, ``schedule``, ``loss``, ``precision``,
    ``num_classes``, ``norm``, ``split``, ``seed``, ``lr_find``) override ``config`` (a YAML path,
    a dict or a ``SegtrainConfig``), which overrides a saved ``plan`` file, which overrides the
    planner. The run folder receives ``config.yaml``, ``plan.json``, ``split.json``,
    ``metrics.csv``, ``lr_find.csv``, ``plots/`` and ``checkpoints/``. With ``report`` (the
    default), the best checkpoint is then scored on the test split (``evaluation.json``) and
    ``report.html`` is written: see :func:`finish`.
    """
    from segtrain.runtime.ranks import rank
    from segtrain.runtime.rundir import RunDir, write_json

    if rank() > 0:  # another process of a multi-process run: join the run the first one prepares
        return _join(Path(out), verbose)
    given = load_plan(plan) if plan is not None else None
    RunDir.check_free(out, overwrite)
    cfg, checked, samples, split_stems = _prepare(data, config, options)
    from segtrain.runtime.log import quiet_libraries

    quiet_libraries(verbose)
    planned = _make_plan(cfg, checked, samples, split_stems, given)  # may refuse: nothing written yet
    run = RunDir.create(out, overwrite=overwrite)
    run.record_command()
    write_json(run.split, split_stems)
    write_json(run.plan, planned.to_dict())
    _write_lr_curve(planned, run.path)
    logger.info(planned.format())
    result = _fit(cfg, checked, samples, split_stems, run, planned, progress)
    return finish(result) if report else result


def finish(result: "TrainResult") -> "TrainResult":
    """End a run: score its best checkpoint on the test split, then write ``report.html``.

    The test split is touched here, once training is over, and nowhere before. A run with an
    empty test split or without any checkpoint gets a report without test results. Under
    several processes only the one that writes files does this. Returns ``result`` with
    ``evaluation`` and ``report`` filled in.
    """
    if not result.rank_zero:
        return result
    stems = json.loads((Path(result.run) / "split.json").read_text())
    if stems.get("test") and Path(result.best_checkpoint).exists():
        result.evaluation = evaluate(result.run)
    result.report = report(result.run)
    return result


def _join(out: Path, verbose: bool = False) -> "TrainResult":
    """Train as a further process of a multi-process run, from what the first process wrote.

    The first process checks, splits and plans, writes the run folder and starts training;
    this one waits for that, reads the same config, plan and split, and trains its share. It
    writes nothing.
    """
    from segtrain.config import load_config
    from segtrain.engine.fit import fit, run_meta
    from segtrain.runtime.log import quiet_libraries
    from segtrain.runtime.ranks import wait_until_prepared
    from segtrain.runtime.rundir import RunDir

    quiet_libraries(verbose)
    run = RunDir(out)
    wait_until_prepared(run.path)
    cfg, planned = load_config(run.config), load_plan(run.plan)
    stems = json.loads(run.split.read_text())
    checked = check(cfg.data.root, cfg.data.num_classes)
    samples = {s.stem: s for s in checked.samples}
    spec, mode, class_weights = _labels(cfg, checked, stems)
    meta = run_meta(cfg, checked, spec, mode, class_weights, planned)
    return fit(run, cfg, meta, checked, samples, stems, planned, progress=False)


def _fit(cfg, report, samples, split_stems, run, plan, progress) -> "TrainResult":
    from segtrain.config import save_config
    from segtrain.engine.fit import fit, resolve_run_config, run_meta

    spec, mode, class_weights = _labels(cfg, report, split_stems)
    resolved = resolve_run_config(cfg, report, spec, plan)
    save_config(resolved, run.config)
    meta = run_meta(resolved, report, spec, mode, class_weights, plan)
    return fit(run, resolved, meta, report, samples, split_stems, plan, progress)


def resume(run: Path | str, data: Path | str | None = None, *, config=None, progress: bool | None = None,
           verbose: bool = False, report: bool = True, **options) -> "TrainResult":
    """Continue the run in ``run`` from its ``last.ckpt`` (or from the start if it has none).

    The run continues exactly as it was configured and planned: a killed run resumed ends with
    the weights it would have had. ``epochs``, ``budget`` or ``max_steps`` extend it (also a
    finished run); any other option, a ``config`` or a ``data`` folder that differ from the run's
    are refused, since they would make a different run. ``report`` as for :func:`train`.
    """
    from segtrain.config import load_config
    from segtrain.engine.continuation import EXTENDS, extend_plan, finished, refuse_changes
    from segtrain.engine.fit import fit, run_meta
    from segtrain.engine.resume import truncate_histories
    from segtrain.inference.predictor import load_checkpoint
    from segtrain.runtime.log import quiet_libraries
    from segtrain.runtime.rundir import RunDir, write_json

    rundir = RunDir.open_for_resume(run)
    cfg = load_config(rundir.config)
    if cfg.train.devices * cfg.train.num_nodes > 1:
        raise UserError(f"{rundir.path}: resuming a run of several processes (train.devices x train.num_nodes > 1) "
                        "is not supported yet; start a new run with --out")
    refuse_changes(rundir, cfg, data, config, _overrides(**{k: v for k, v in options.items() if k not in EXTENDS}))
    checkpoint = load_checkpoint(rundir.last) if rundir.last.exists() else None  # weights only: runs no code
    plan = load_plan(rundir.plan)
    stems = json.loads(rundir.split.read_text())
    checked = check(cfg.data.root, cfg.data.num_classes)
    if not checked.ok:
        raise DataError(checked.problems)
    samples = {s.stem: s for s in checked.samples}
    missing = [s for split in ("train", "val") for s in stems[split] if s not in samples]
    if missing:
        raise UserError(f"{cfg.data.root}: {len(missing)} image(s) of the run are missing (e.g. {missing[0]}); "
                        "restore them to resume")
    quiet_libraries(verbose)
    if checkpoint is not None:
        meta, step = checkpoint["segtrain"], int(checkpoint.get("global_step", 0))
    else:  # killed before the first checkpoint: start again from the beginning
        spec, mode, class_weights = _labels(cfg, checked, stems)
        meta, step = run_meta(cfg, checked, spec, mode, class_weights, plan), 0
    del checkpoint
    truncate_histories(rundir.path, step)
    rundir.record_command()
    extend = extend_plan(plan, options, step, rundir)
    if extend is None and finished(rundir, step):
        raise UserError(f"{rundir.path}: the run has finished ({step} steps); pass --epochs, --budget or "
                        "--max-steps to train it longer")
    if extend is not None:
        cfg = cfg.model_copy(deep=True)
        for name in ("epochs", "budget_s", "max_steps"):
            setattr(cfg.train, name, extend.get(name))
        meta = {**meta, "total_steps": plan["total_steps"], "config": cfg.model_dump(mode="json")}
        write_json(rundir.plan, plan.to_dict())
    logger.info(f"resuming {rundir.path} at step {step}" + (" (extended: " + ", ".join(
        f"{k} {v}" for k, v in extend.items() if v is not None) + ")" if extend else ""))
    result = fit(rundir, cfg, meta, checked, samples, stems, plan, progress,
                 resume_from=rundir.last if step else None,
                 extend_to_steps=plan["total_steps"] if extend is not None else None)
    return finish(result) if report else result


def evaluate(run: Path | str, data: Path | str | None = None, split: str = "test") -> dict[str, Any]:
    """Score the run's best checkpoint on whole images of a split; writes ``evaluation.json``."""
    from segtrain.data.discovery import discover
    from segtrain.engine.evaluation import evaluate_samples
    from segtrain.inference.predictor import Predictor
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


def doctor(run: Path | str) -> dict[str, Any]:
    """Findings about a run from its histories (also a killed run); writes ``findings.json``."""
    from segtrain.diagnosis.doctor import diagnose, format_findings
    from segtrain.diagnosis.findings import write_findings
    from segtrain.diagnosis.history import RunHistory

    path = Path(run)
    if not path.is_dir() or not ((path / "metrics.csv").exists() or (path / "steps.csv").exists()):
        raise UserError(f"{path}: not a run folder with training histories (metrics.csv, steps.csv); "
                        "pass the --out folder of a 'segtrain train'")
    meta = {}
    if (path / "config.yaml").exists():
        from segtrain.config import load_config

        cfg = load_config(path / "config.yaml")
        meta = {"num_classes": cfg.data.num_classes, "class_names": cfg.data.class_names, "lr": cfg.train.lr,
                "precision": cfg.train.precision}
    history = RunHistory.load(path, meta)
    findings = diagnose(history)
    write_findings(path / "findings.json", findings)
    return {"run": str(path), "findings": [f.to_dict() for f in findings], "text": format_findings(findings, history)}


def report(run: Path | str) -> Path:
    """Build ``RUN/report.html`` (and ``RUN/plots/``) from the run folder alone; returns its path."""
    from segtrain.reporting.html import build_report

    return build_report(Path(run))


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
    """Masks for images of any size by tiled inference: ``out/<stem>.png`` (and ``<stem>_prob.tif``); a TIFF
    too large for memory is predicted by windows into ``out/<stem>.tif`` (:mod:`segtrain.inference.large`)."""
    from segtrain.data.readers import read_image
    from segtrain.inference.large import predict_large, should_stream
    from segtrain.inference.predictor import Predictor
    from segtrain.inference.writers import mask_values, write_mask, write_probabilities
    from segtrain.runtime.rundir import RunDir

    files = _expand_inputs(inputs)
    predictor = Predictor.from_checkpoint(RunDir.open(run).checkpoint())
    values = mask_values(predictor.meta["label_mapping"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    labels = predictor.meta.get("multilabel")
    for file in files:
        if should_stream(file, predictor):  # a TIFF too large for memory: by windows, into TIFF masks
            written.append(predict_large(predictor, file, out, probabilities, values))
            logger.info(f"{file} -> {written[-1]}")
            continue
        logits = predictor.logits(read_image(file))
        target = out / f"{file.stem}.png"
        if labels:  # one 0/255 mask per label
            for name, channel in zip(labels, predictor.classes(logits)):
                write_mask(out / f"{file.stem}_{name}.png", channel, {0: 0, 1: 255})
            target = out / f"{file.stem}_{labels[0]}.png"
        else:
            write_mask(target, predictor.classes(logits), values, bool(predictor.meta.get("colour_masks")))
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
    """Synthesise the horizon set, train within ``budget``; the run ends scored on its test split, with its report."""
    out = Path(out)
    start = time.perf_counter()
    data = out / "data"
    synth(data, n=n, size=size, seed=seed)
    logger.info(f"synthesised {n} horizon scenes of {size}x{size} in {data}")
    result = train(data, out / "run", budget=budget, seed=seed, overwrite=True, progress=progress)
    scores = result.evaluation
    return {
        "data": str(data),
        "run": str(result.run),
        "train": result,
        "evaluation": scores,
        "seconds": time.perf_counter() - start,
    }
