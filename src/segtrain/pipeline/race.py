"""The budget race: candidate set-ups train in equal slices, the worse half is dropped each round, the winner goes on.

The rules (which candidates, whether the budget allows a race, the rounds, the ranking) are pure
and live in :mod:`segtrain.planning.race_candidates`; this module trains. :func:`race_for` decides
from the plan and says so in it (the plan item ``race``); :func:`run_race` trains each candidate in
its own folder under ``RUN/race/`` through :func:`segtrain.engine.fit.fit`, its schedule planned for
the whole budget and not re-planned to the slice (so the winner's continuation is the run it would
have been), and returns the record saved as ``race.json``; :func:`continue_winner` trains the winner
for what is left of the budget from its race checkpoint: weights, optimizer state, schedule and the
loader's position all carry on. ``segtrain plan --race`` runs the race alone (:func:`race_alone`) and
keeps the winner's set-up in the plan, so ``train --plan`` trains it without racing again.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from segtrain.config import save_config
from segtrain.config.schema import ModelConfig
from segtrain.engine.fit import TrainResult, fit, resolve_run_config, run_record
from segtrain.pipeline.prepare import Prepared, labels
from segtrain.planning.budget import steps_in_budget
from segtrain.planning.plan import TrainingPlan
from segtrain.planning.race_candidates import (TIE, Candidate, RaceSetup, Standing, propose, race_setup, rank, slope,
                                               summary_lines, why_dropped)
from segtrain.runtime.rundir import RunDir, write_json

logger = logging.getLogger("segtrain")

CARRIED = ("race", "width", "depth")
"""Plan items a saved plan's race decided that the planner does not plan itself."""
RULE = (f"each candidate trains for an equal slice of wall-clock time per round; ranked by the validation score at "
        f"the end of its slice (ties within {TIE} broken by the slope between its last two validations, then by the "
        "order of proposal); the worse half is dropped each round until one remains")
SPEED_NOTE = ("The race depends on the measured speed of this machine: on another one the slices hold other numbers "
              "of steps and another candidate may win; the same seed on the same machine gives the same candidates "
              "in the same order")


def reuse_winner(given: TrainingPlan | None, cfg) -> None:
    """A saved plan whose race chose a width or depth: the network is planned (and measured) with it."""
    if given is None or not isinstance(given.get("race"), dict):
        return
    for name in ("width", "depth"):
        if given.get(name) is not None:
            setattr(cfg.model, name, int(given[name]))


def restate_winner(given: TrainingPlan | None, plan: TrainingPlan) -> None:
    """Carry a saved plan's race (its winner, width and depth) into the new plan, marked ``plan file``."""
    if given is None or not isinstance(given.get("race"), dict):
        return
    for name in CARRIED:
        if name in given.items:
            item = given.items[name]
            plan.set(name, item.value, item.reason, "plan file")


def copy_saved_race(plan_file: Path | str | None, given: TrainingPlan | None, run: RunDir) -> None:
    """``train --plan P``: the ``race.json`` that ``plan --race`` saved beside ``P`` goes into the run (its report)."""
    if plan_file is None or given is None or not isinstance(given.get("race"), dict):
        return
    saved = Path(plan_file).parent / run.race.name
    if saved.is_file():
        shutil.copyfile(saved, run.race)


def race_for(prepared: Prepared, plan: TrainingPlan) -> RaceSetup | None:
    """The race this run will run, stated in the plan; None (and why, in the plan) when it is skipped."""
    cfg = prepared.cfg
    train, model = cfg.train, cfg.model
    # a width or depth other than the default counts as the user's choice
    fixed = frozenset(n for n in ("width", "depth") if getattr(model, n) != ModelConfig.model_fields[n].default)
    candidates = propose(plan, width=model.width, depth=model.depth, budget_s=float(plan.get("budget_s") or 0.0),
                         fixed=fixed)
    setup, why = race_setup(plan, candidates, asked=train.race, share=train.race_share,
                            min_steps=train.race_min_steps, fine_tuning=bool(train.init_from),
                            processes=train.devices * train.num_nodes)
    if setup is None:
        if "race" not in plan or plan.items["race"].source != "plan file":
            plan.set("race", None, why)
        if train.race:
            logger.warning(f"warning: --race: {why}")
        return None
    plan.set("race", {"candidates": [c.name for c in setup.candidates], "seconds": round(setup.race_s, 1),
                      "share": train.race_share}, setup.describe())
    return setup


def folder_name(candidate: Candidate) -> str:
    """The candidate's folder under ``race/``: its name with every other character than letters, digits and dots as ``_``."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", candidate.name).strip("_")


def candidate_plan(plan: TrainingPlan, candidate: Candidate, slice_s: float) -> TrainingPlan:
    """The plan of one candidate's slice: the run's plan with the candidate's changes and the slice as budget."""
    copy = TrainingPlan.from_dict(plan.to_dict())
    for name, value in candidate.changes.items():
        copy.set(name, value, f"race candidate {candidate.name}: {candidate.why}")
    copy.set("budget_s", round(slice_s, 2), "a slice of the budget race")
    return copy


def read_curve(metrics: Path) -> list[list[float]]:
    """``[seconds, validation score]`` of every validated epoch in a ``metrics.csv``."""
    if not metrics.exists():
        return []
    with metrics.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    curve = []
    for row in rows:
        try:
            seconds, score = float(row["seconds"]), float(row["val_dice"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(score):
            curve.append([round(seconds, 2), round(score, 5)])
    return curve


def _last_row(metrics: Path) -> dict:
    if not metrics.exists():
        return {}
    with metrics.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return rows[-1] if rows else {}


def _train_slice(prepared: Prepared, plan: TrainingPlan, candidate: Candidate, folder: RunDir, slice_s: float,
                 progress) -> dict:
    """Train ``candidate`` for ``slice_s`` seconds, on from its last slice when it has one; what the round gave."""
    cfg, report, stems = prepared.cfg, prepared.report, prepared.split
    slice_plan = candidate_plan(plan, candidate, slice_s)
    spec, mode, weights = labels(cfg, report, stems)
    resolved = resolve_run_config(cfg, report, spec, slice_plan)
    record = run_record(resolved, report, spec, mode, weights, slice_plan)
    again = folder.last.exists()
    if not again:
        folder.checkpoints.mkdir(parents=True, exist_ok=True)
        save_config(resolved, folder.config)
        write_json(folder.plan, slice_plan.to_dict())
    began = time.perf_counter()
    with warnings.catch_warnings():  # a continued slice's checkpoint names its own folder: nothing to warn about
        warnings.filterwarnings("ignore", message=".*dirpath has changed.*")
        result = fit(folder, resolved, record, report, prepared.samples, stems, slice_plan, progress,
                     resume_from=folder.last if again else None, extend_to_steps=record.total_steps if again else None,
                     replan_schedule=False, after=False)
    curve = read_curve(folder.metrics)
    return {"seconds": round(time.perf_counter() - began, 1), "slice_s": round(slice_s, 1), "steps": result.steps,
            "score": curve[-1][1] if curve else None, "curve": curve}


def run_race(prepared: Prepared, plan: TrainingPlan, setup: RaceSetup, folder: Path, progress=None) -> dict:
    """Race the candidates of ``setup`` by successive halving in ``folder`` (one sub-folder each); the record."""
    start = time.perf_counter()
    entries = {c.name: {**c.to_dict(), "folder": folder_name(c), "rounds": [], "curve": [], "dropped": None}
               for c in setup.candidates}
    alive = list(setup.candidates)
    ranked: list[Standing] = []
    for r, slice_s in enumerate(setup.slices):
        standings = []
        for order, candidate in enumerate(setup.candidates):
            if candidate not in alive:
                continue
            logger.info(f"race round {r + 1}/{len(setup.slices)}: {candidate.name} for {slice_s:.0f} s")
            got = _train_slice(prepared, plan, candidate, RunDir(folder / folder_name(candidate)), slice_s, progress)
            entry = entries[candidate.name]
            entry["curve"] = got.pop("curve")
            entry["rounds"].append({"round": r + 1, **got})
            standings.append(Standing(candidate.name, got["score"], slope(entry["curve"]), order))
        ranked = rank(standings)
        keep = setup.rounds[r + 1] if r + 1 < len(setup.rounds) else 1
        for place, standing in enumerate(ranked):
            entries[standing.name]["rounds"][-1]["place"] = place + 1
            entries[standing.name]["rounds"][-1]["slope"] = standing.slope
        for loser in ranked[keep:]:
            entries[loser.name]["dropped"] = why_dropped(loser, ranked[keep - 1], r + 1)
            alive = [c for c in alive if c.name != loser.name]
    record = {"budget_s": float(plan["budget_s"]), "share": round(setup.race_s / float(plan["budget_s"]), 4),
              "planned_s": round(setup.race_s, 1), "seconds": round(time.perf_counter() - start, 1),
              "rounds": setup.rounds, "slices_s": [round(s, 1) for s in setup.slices], "rule": RULE,
              "winner": ranked[0].name, "candidates": list(entries.values()), "left_out": dict(setup.left_out),
              "device": plan.get("device"), "speed": SPEED_NOTE}
    for line in summary_lines(record):
        logger.info(line)
    return record


def apply_winner(plan: TrainingPlan, setup: RaceSetup, record: dict) -> Candidate:
    """Set the winner's changes in the plan and state the race there (item ``race``); returns the winner."""
    winner = next(c for c in setup.candidates if c.name == record["winner"])
    for name, value in winner.changes.items():
        plan.set(name, value, f"won the budget race: {winner.why}")
    told = []
    for c in record["candidates"]:
        scores = ", ".join(f"{r['seconds']:.0f} s -> " + ("-" if r["score"] is None else f"{r['score']:.4f}")
                           for r in c["rounds"])
        told.append(f"{c['name']} ({scores}; " + ("winner" if c["name"] == winner.name else c["dropped"]) + ")")
    plan.set("race", {"winner": winner.name, "candidates": [c["name"] for c in record["candidates"]],
                      "seconds": record["seconds"], "share": record["share"]},
             f"{len(told)} candidates raced for {record['seconds']:.0f} s: " + "; ".join(told) + f". Rule: {RULE}. "
             + SPEED_NOTE)
    return winner


def continue_winner(prepared: Prepared, run: RunDir, plan: TrainingPlan, setup: RaceSetup, record: dict,
                    progress=None) -> TrainResult:
    """Train the race's winner for what is left of the budget, on from its race checkpoint (when it has one)."""
    winner = apply_winner(plan, setup, record)
    own = RunDir(run.race_dir / folder_name(winner))
    budget = float(plan["budget_s"])
    left = max(1.0, budget - record["seconds"])
    row = _last_row(own.metrics) if own.last.exists() else {}
    step = int(float(row.get("step") or 0))
    step_s = float(row["train_seconds"]) / step if step and row.get("train_seconds") else float(plan["step_seconds"])
    plan.set("budget_s", round(left, 1), f"the {budget:.0f} s budget less the race's {record['seconds']:.0f} s: the "
             f"winner ({winner.name}) trains on " + ("from its race weights and optimizer state" if step else "afresh"),
             plan.items["budget_s"].source)
    total = step + steps_in_budget(left, step_s)
    plan.set("total_steps", total, f"{step} steps in the race + {left:.0f} s / {step_s:.3f} s per step measured "
             "in the race; re-planned while training")
    if step:  # the histories go on from the winner's
        for source, target in ((own.metrics, run.metrics), (own.steps, run.steps), (own.grads, run.grads)):
            if source.exists():
                shutil.copyfile(source, target)
    record["continued"] = {"from_step": step, "budget_s": round(left, 1), "step_s": round(step_s, 4)}
    write_json(run.race, record)
    write_json(run.plan, plan.to_dict())
    cfg, report, stems = prepared.cfg, prepared.report, prepared.split
    spec, mode, weights = labels(cfg, report, stems)
    resolved = resolve_run_config(cfg, report, spec, plan)
    save_config(resolved, run.config)
    run_rec = run_record(resolved, report, spec, mode, weights, plan)
    logger.info(f"the winner, {winner.name}, trains on for {left:.0f} s")
    with warnings.catch_warnings():  # its checkpoint names the race's folder
        warnings.filterwarnings("ignore", message=".*dirpath has changed.*")
        result = fit(run, resolved, run_rec, report, prepared.samples, stems, plan, progress,
                     resume_from=own.last if step else None, extend_to_steps=total if step else None)
    for candidate in setup.candidates:  # the race's weights served their purpose; its logs stay
        shutil.rmtree(run.race_dir / folder_name(candidate) / "checkpoints", ignore_errors=True)
    return result


def race_alone(prepared: Prepared, plan: TrainingPlan, progress=False) -> dict | None:
    """``segtrain plan --race``: race in a temporary folder and keep the winner's set-up in ``plan``; the record."""
    setup = race_for(prepared, plan)
    if setup is None:
        return None
    with tempfile.TemporaryDirectory(prefix="segtrain-race-") as folder:
        record = run_race(prepared, plan, setup, Path(folder), progress)
    apply_winner(plan, setup, record)
    record["continued"] = None
    return record
