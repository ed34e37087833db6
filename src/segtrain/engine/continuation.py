"""Continuing a run: what may change (only its length), how the plan is extended, whether it ended.

A resumed run must be the run it was: a different dataset, config or option would make another
run under the same name, so :func:`refuse_changes` refuses them in one line. ``--epochs``,
``--budget`` and ``--max-steps`` extend it (:func:`extend_plan`).
"""

from __future__ import annotations

import json
from pathlib import Path

from segtrain.errors import UserError

EXTENDS = ("epochs", "budget", "max_steps")
"""Options ``resume`` accepts: they extend a run. Every other option must match the run's."""


def refuse_changes(rundir, cfg, data, config, nested: dict) -> None:
    """A different dataset, config or option would make a different run: refuse it in one line."""
    if data is not None and Path(data).resolve() != Path(cfg.data.root).resolve():
        raise UserError(f"{rundir.path} was trained on {cfg.data.root}, not {data}; leave DATA out to resume it, "
                        "or start a new run with --out")
    for section, key, value in _config_values(config):
        ours = getattr(getattr(cfg, section), key)
        if section != "data" and key not in ("epochs", "budget_s", "max_steps") and _differs(ours, value):
            raise UserError(f"{config}: {section}.{key} is {value!r} but {rundir.path} was trained with {ours!r}; "
                            "a run resumes with its own config: start a new run with --out")
    for section, values in nested.items():
        for key, value in values.items():
            if value is None:
                continue
            ours = getattr(getattr(cfg, section), key)
            if key == "split_file":
                continue  # the run's split.json is what it uses
            if _differs(ours, value):
                flag = "--" + key.replace("_", "-")
                raise UserError(f"{flag} {value}: {rundir.path} was trained with {section}.{key}={ours}; a resumed "
                                f"run keeps its settings: leave {flag} out, or start a new run with --out")


def extend_plan(plan, options, step, rundir):
    """Apply ``--epochs`` / ``--budget`` / ``--max-steps`` to the plan of a resumed run (None if none given)."""
    given = {k: options.get(k) for k in EXTENDS if options.get(k) is not None}
    if not given:
        return None
    from segtrain.config.schema import parse_duration

    steps_per_epoch = int(plan["steps_per_epoch"])
    done_epochs = step // steps_per_epoch
    extend = {"epochs": None, "budget_s": None, "max_steps": None}
    if "epochs" in given:
        epochs = int(given["epochs"])
        if epochs <= done_epochs:
            raise UserError(f"--epochs {epochs}: {rundir.path} has already trained {done_epochs} epochs; "
                            f"give more than {done_epochs}")
        extend["epochs"] = epochs
        plan.set("epochs", epochs, f"extended by --resume (was {plan['epochs']})", "user")
        plan.set("total_steps", epochs * steps_per_epoch, "epochs x steps per epoch", "user")
    if "budget" not in given and plan.get("budget_s") is not None:
        plan.set("budget_s", None, "replaced by --epochs / --max-steps on --resume", "user")
    if "max_steps" in given:
        extend["max_steps"] = int(given["max_steps"])
        if extend["max_steps"] <= step:
            raise UserError(f"--max-steps {extend['max_steps']}: {rundir.path} is already at step {step}")
        plan.set("total_steps", extend["max_steps"], "extended by --resume", "user")
    if "budget" in given:
        try:
            budget = parse_duration(given["budget"])
        except ValueError as exc:
            raise UserError(f"--budget: {exc}") from None
        extend["budget_s"] = budget
        plan.set("budget_s", budget, "extended by --resume: more training time", "user")
        step_s = float(plan.get("step_seconds") or 1.0)
        plan.set("total_steps", step + int(budget / step_s), "estimated from the budget; re-planned while training",
                 "user")
        if "epochs" not in given:
            plan.set("epochs", -1, "until the budget is used", "user")
    return extend


def finished(rundir, step: int) -> bool:
    """Whether the run's events record a stop at ``step`` (a run ended, not killed)."""
    path = rundir.path / "events.jsonl"
    if not path.exists():
        return False
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("kind") == "stop" and int(event.get("step", -1)) == step:
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
    from segtrain.config import build_config, load_config

    if hasattr(config, "model_dump"):
        raw = config.model_dump(mode="json")
    elif isinstance(config, dict):
        raw = config
    else:
        import yaml

        load_config(config)  # one clear line if it is not a valid config
        raw = yaml.safe_load(Path(config).read_text()) or {}
    validated = build_config(raw, source=str(config))
    return [(section, key, getattr(getattr(validated, section), key))
            for section, values in raw.items() if isinstance(values, dict) for key in values]
