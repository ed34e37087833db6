"""The training run of ``train``: prepare, plan, create the run folder, fit, then score and report.

A new run (:func:`train_new`), a further process of a multi-process run (:func:`join`) and the
end of every run (:func:`finish`: the test split, touched once, then ``report.html``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from segtrain.config import load_config, save_config
from segtrain.config.io import read_run_split
from segtrain.data.layouts import LayoutOptions
from segtrain.engine.trainer import UserHooks
from segtrain.engine.fit import TrainResult, fit, resolve_run_config, run_record
from segtrain.evaluation.split import evaluate_run
from segtrain.inference.devices import resolve_device
from segtrain.errors import UserError
from segtrain.pipeline.denoise import finish_denoise, is_denoise_config, refuse_segment_options, train_denoise
from segtrain.pipeline.fine_tune import compare
from segtrain.pipeline.options import nested_overrides
from segtrain.pipeline.prepare import (Prepared, build_run_config, checked, labels, load_plan, make_plan, prepare,
                                       write_lr_curve)
from segtrain.pipeline.race import continue_winner, copy_saved_race, race_for, restate_winner, reuse_winner, run_race
from segtrain.reporting.html import build_report
from segtrain.runtime.log import quiet_libraries
from segtrain.runtime.ranks import rank, wait_until_prepared
from segtrain.runtime.rundir import RunDir, write_json

logger = logging.getLogger("segtrain")


def train_new(data, out, config, plan, overwrite: bool, progress, verbose: bool, options: dict,
              hooks: UserHooks | None = None) -> TrainResult:
    """Check, split, plan and train into a new run folder ``out`` (nothing is written before the plan stands)."""
    if rank() > 0:  # another process of a multi-process run: join the run the first one prepares
        return join(Path(out), verbose)
    RunDir.check_free(out, overwrite)
    cfg = build_run_config(config, Path(data), nested_overrides(options))
    if is_denoise_config(cfg):  # Noise2Void: images/ alone, its own plan and module, the same run folder
        if plan is not None:
            raise UserError("--plan with --task denoise: a denoising run plans itself; leave --plan out")
        refuse_segment_options(options)
        return train_denoise(data, out, cfg, overwrite, progress, verbose)
    given = load_plan(plan) if plan is not None else None
    prepared = prepare(data, config, options)
    reuse_winner(given, prepared.cfg)  # a saved plan's race chose the network
    quiet_libraries(verbose)
    planned = make_plan(prepared, given)  # may refuse: nothing written yet
    restate_winner(given, planned)
    race = race_for(prepared, planned)  # the budget race, or why not (in the plan)
    run = RunDir.create(out, overwrite=overwrite)
    run.record_command()
    write_json(run.split, prepared.split)
    write_json(run.plan, planned.to_dict())
    write_lr_curve(planned, run)
    copy_saved_race(plan, given, run)
    logger.info(planned.format())
    if race is not None:
        record = run_race(prepared, planned, race, run.race_dir, progress)
        return continue_winner(prepared, run, planned, race, record, progress)
    return _fit(prepared, run, planned, progress, hooks)


def _fit(prepared: Prepared, run: RunDir, plan, progress, hooks: UserHooks | None = None) -> TrainResult:
    cfg, report, split_stems = prepared.cfg, prepared.report, prepared.split
    spec, mode, class_weights = labels(cfg, report, split_stems)
    resolved = resolve_run_config(cfg, report, spec, plan)
    save_config(resolved, run.config)
    record = run_record(resolved, report, spec, mode, class_weights, plan)
    return fit(run, resolved, record, report, prepared.samples, split_stems, plan, progress, hooks=hooks)


def join(out: Path, verbose: bool = False) -> TrainResult:
    """Train as a further process of a multi-process run, from what the first process wrote.

    The first process checks, splits and plans, writes the run folder and starts training;
    this one waits for that, reads the same config, plan and split, and trains its share. It
    writes nothing.
    """
    quiet_libraries(verbose)
    run = RunDir(out)
    wait_until_prepared(run.path)
    cfg, planned = load_config(run.config), load_plan(run.plan)
    stems = read_run_split(run.split)
    report = checked(cfg.data.root, cfg.data.num_classes, cfg.data.ignore_index, LayoutOptions.from_config(cfg.data))
    samples = {s.stem: s for s in report.samples}
    spec, mode, class_weights = labels(cfg, report, stems)
    record = run_record(cfg, report, spec, mode, class_weights, planned)
    return fit(run, cfg, record, report, samples, stems, planned, progress=False)


def finish(result: TrainResult) -> TrainResult:
    """End a run: score its best checkpoint on the test split, then write ``report.html``.

    The test split is touched here, once training is over, and nowhere before. A run with an
    empty test split or without any checkpoint gets a report without test results. Under
    several processes only the one that writes files does this. Returns ``result`` with
    ``evaluation`` and ``report`` filled in.
    """
    if not result.rank_zero:
        return result
    if result.task == "denoise":
        return finish_denoise(result)
    folder = RunDir(result.run)
    stems = read_run_split(folder.split)
    device = resolve_device("auto", _trained_on(folder))
    if stems.get("test") and Path(result.best_checkpoint).exists():
        result.evaluation = evaluate_run(result.run, device=device)
    compare(result.run, device)  # a fine-tuning run: its network next to its source's, on its validation images
    result.report = build_report(Path(result.run), device=device)
    return result


def _trained_on(folder: RunDir) -> str | None:
    """The device the run's plan says it trained on (``None`` when the plan is unreadable)."""
    try:
        plan = json.loads(folder.plan.read_text())
    except (OSError, ValueError):
        return None
    return plan.get("device") if isinstance(plan, dict) else None
