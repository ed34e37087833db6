"""Resume: continue a run from its ``last.ckpt``; what it compares, how the plan is extended, whether it ended.

A resumed run must be the run it was: a different dataset, config or option would make another
run under the same name, so :func:`refuse_changes` refuses them in one line. ``--epochs``,
``--budget`` and ``--max-steps`` extend it (:func:`extend_plan`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import yaml

from segtrain.config import build_config, load_config, merge
from segtrain.config.io import read_run_split
from segtrain.data.layouts import LayoutOptions
from segtrain.engine.fit import TrainResult, fit, run_record
from segtrain.engine.resume import truncate_histories
from segtrain.errors import UserError
from segtrain.inference.predictor import load_checkpoint
from segtrain.pipeline.doctor import check_run_files
from segtrain.pipeline.options import BY_KEY, EXTENDING, KEPT, OPTIONS, describe, describe_setting, flag_names, nested_overrides
from segtrain.pipeline.prepare import checked, labels, load_plan
from segtrain.planning.budget import extend_duration
from segtrain.runtime.log import quiet_libraries
from segtrain.runtime.record import RunRecord
from segtrain.runtime.rundir import RunDir, write_json

logger = logging.getLogger("segtrain")

EXTENDS = tuple(o.name for o in OPTIONS if o.resume == EXTENDING)
"""Options ``resume`` accepts: they extend a run. Every other option must match the run's (the option table)."""


def resume_run(run, data, config, progress, verbose: bool, options: dict) -> TrainResult:
    """Continue the run in ``run`` from its ``last.ckpt`` (or from the start if it has none)."""
    rundir = RunDir.open_for_resume(run)
    cfg = load_config(rundir.config)
    if cfg.train.devices * cfg.train.num_nodes > 1:
        raise UserError(f"{rundir.path}: resuming a run of several processes (--devices x --num-nodes > 1) "
                        "is not supported yet; start a new run with --out")
    refuse_changes(rundir, cfg, data, config, nested_overrides({k: v for k, v in options.items() if k not in EXTENDS}))
    checkpoint = load_checkpoint(rundir.last) if rundir.last.exists() else None  # weights only: runs no code
    check_run_files(rundir)  # a damaged file of the run folder: one line naming it
    plan = load_plan(rundir.plan)
    stems = read_run_split(rundir.split)
    report = checked(cfg.data.root, cfg.data.num_classes, cfg.data.ignore_index, LayoutOptions.from_config(cfg.data))
    samples = {s.stem: s for s in report.samples}
    missing = [s for split in ("train", "val") for s in stems[split] if s not in samples]
    if missing:
        raise UserError(f"{cfg.data.root}: {len(missing)} image(s) of the run are missing (e.g. {missing[0]}); "
                        "restore them to resume")
    quiet_libraries(verbose)
    if checkpoint is not None:
        record, step = RunRecord.from_dict(checkpoint["segtrain"]), int(checkpoint.get("global_step", 0))
    else:  # killed before the first checkpoint: start again from the beginning
        spec, mode, class_weights = labels(cfg, report, stems)
        record, step = run_record(cfg, report, spec, mode, class_weights, plan), 0
    del checkpoint
    truncate_histories(rundir, step)
    rundir.record_command()
    extend = extend_plan(plan, options, step, rundir)
    if extend is None and finished(rundir, step):
        raise UserError(f"{rundir.path}: the run has finished ({step} steps); pass --epochs, --budget or "
                        "--max-steps to train it longer")
    if extend is not None:
        cfg = cfg.model_copy(deep=True)
        for name in ("epochs", "budget_s", "max_steps"):
            setattr(cfg.train, name, extend.get(name))
        record = replace(record, total_steps=plan["total_steps"], config=cfg.model_dump(mode="json"),
                         max_epochs=plan.get("epochs") if (plan.get("epochs") or 0) > 0 else None)
        write_json(rundir.plan, plan.to_dict())
    logger.info(f"resuming {rundir.path} at step {step}" + (" (extended: " + ", ".join(
        f"{k} {v}" for k, v in extend.items() if v is not None) + ")" if extend else ""))
    return fit(rundir, cfg, record, report, samples, stems, plan, progress,
               resume_from=rundir.last if step else None,
               extend_to_steps=plan["total_steps"] if extend is not None else None)


def refuse_changes(rundir, cfg, data, config, nested: dict) -> None:
    """A different dataset, config or option would make a different run: refuse it in one line."""
    if data is not None and Path(data).resolve() != Path(cfg.data.root).resolve():
        raise UserError(f"{rundir.path} was trained on {cfg.data.root}, not {data}; leave DATA out to resume it, "
                        "or start a new run with --out")
    for section, key, value in _config_values(config):
        ours = getattr(getattr(cfg, section), key)
        option = BY_KEY.get(f"{section}.{key}")
        if section != "data" and not (option and option.resume == EXTENDING) and _differs(ours, value):
            raise UserError(f"{config}: {section}.{key} is {value!r} but {rundir.path} was trained with {ours!r}; "
                            "a run resumes with its own config: start a new run with --out")
    build_config(merge(cfg.model_dump(mode="json"), nested), names=flag_names())  # a bad value: named by its flag
    for section, values in nested.items():
        for key, value in values.items():
            if value is None:
                continue
            option = BY_KEY.get(f"{section}.{key}")
            if option is not None and option.resume == KEPT:
                continue  # the run's own file is what it uses (its split.json)
            ours = getattr(getattr(cfg, section), key)
            if _differs(ours, value):
                typed = describe(option, value) if option else f"{section}.{key}={value}"
                flag = option.flag if option else f"{section}.{key}"
                theirs = describe_setting(option, ours) if option else f"{flag}={ours}"
                theirs = theirs if theirs.startswith("without ") else f"with {theirs}"
                raise UserError(f"{typed}: {rundir.path} was trained {theirs}; a resumed "
                                f"run keeps its settings: leave {flag} out, or start a new run with --out")


def extend_plan(plan, options, step, rundir):
    """Apply ``--epochs`` / ``--budget`` / ``--max-steps`` to the plan of a resumed run (None if none given).

    The arithmetic and its refusals are :func:`segtrain.planning.budget.extend_duration`'s.
    """
    given = {k: options.get(k) for k in EXTENDS if options.get(k) is not None}
    if not given:
        return None
    return extend_duration(plan, given, step, rundir.path)


def finished(rundir, step: int) -> bool:
    """Whether the run's events record a stop at ``step`` (a run ended, not killed)."""
    path = rundir.events
    if not path.exists():
        return False
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(event, dict) and event.get("kind") == "stop" and event.get("step") == step:
            return True
    return False


def _differs(ours, value) -> bool:
    if isinstance(value, float) and isinstance(ours, (int, float)):
        return abs(ours - value) > 1e-12 * abs(value)
    return ours != value


def _config_values(config):
    """``(section, key, value)`` for every value a ``--config`` (path, dict or config) sets, validated."""
    if config is None:
        return []
    if hasattr(config, "model_dump"):
        raw = config.model_dump(mode="json")
    elif isinstance(config, dict):
        raw = config
    else:
        load_config(config)  # one clear line if it is not a valid config
        raw = yaml.safe_load(Path(config).read_text()) or {}
    validated = build_config(raw, source=str(config))
    return [(section, key, getattr(getattr(validated, section), key))
            for section, values in raw.items() if isinstance(values, dict) for key in values]
