"""Load and save :class:`SegtrainConfig` as YAML, with one-line errors.

Every JSON or YAML file segtrain reads (configs, split files, ``classes.json``, ``plan.json``,
the run folder's files) goes through :func:`read_json` / :func:`read_yaml` (see
:mod:`segtrain.config.files`): a file that is missing, not a regular file, too large, not text,
not valid, nested too deep or of the wrong top-level type is refused in one line naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segtrain.config.files import read_csv, read_json, read_text, read_yaml  # noqa: F401 (the one place)
from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError


def config_errors(exc: Exception, names: Mapping[str, str] | None = None) -> str:
    """One line summarising a pydantic ``ValidationError``: ``key: what is wrong (got value)``.

    ``names`` maps config keys to the options that set them (``{"train.lr": "--lr"}``): such keys
    are named as the options, also inside the messages.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "").removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key; remove it or fix its spelling"
        elif where and "input" in err and not isinstance(err["input"], (dict, list)) and str(err["input"]) not in msg:
            msg += f" (got {err['input']!r})"
        if names:
            key = next((k for k in names if where == k or where.startswith(k + ".")), None)
            if key is not None:  # a member of a union (``loss.class_weights.list[float]``) is its option too
                if any(part.startswith(names[key] + ": ") for part in parts):
                    continue  # one line per option: the first member's complaint says what to write
                where = names[key]
            for key, option in names.items():
                msg = re.sub(rf"\b{re.escape(key)}\b", option, msg)
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def build_config(data: dict[str, Any], source: str = "config", names: Mapping[str, str] | None = None
                 ) -> SegtrainConfig:
    """Validate a nested dict into a config, raising :class:`UserError` on any problem.

    ``source`` names where the values came from (a file); with ``names`` (config key -> option,
    see :func:`config_errors`) the values came from options, and each key is named by its option.
    """
    from pydantic import ValidationError

    try:
        return SegtrainConfig.model_validate(data)
    except ValidationError as exc:
        if names:
            raise UserError(config_errors(exc, names)) from None
        raise UserError(f"{source}: {config_errors(exc)}") from None


def load_config(path: Path | str) -> SegtrainConfig:
    """Read a YAML (or JSON) config file."""
    path = Path(path)
    data = read_yaml(path, "config file", fix="pass a YAML file to --config", top=None)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config file must hold a mapping of sections (data, model, augment, train)")
    return build_config(data, source=str(path))


def save_config(config: SegtrainConfig, path: Path | str) -> None:
    """Write the config as YAML (paths as strings)."""
    import yaml

    Path(path).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into ``base`` (a new dict); ``None`` values in overrides are skipped."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict):
            out[key] = merge(out.get(key) or {}, value)
        elif value is not None:
            out[key] = value
    return out


RUN_SPLITS = ("train", "val", "test")
_RUN_FIX = "the run folder was damaged or edited; restore the file or train again with --out"


def read_run_split(path: Path | str) -> dict[str, list[str]]:
    """A run folder's ``split.json``: an object with the lists ``train``, ``val`` and ``test`` of stems."""
    path = Path(path)
    data = read_json(path, "split file", _RUN_FIX)
    for name in RUN_SPLITS:
        if name not in data:
            raise UserError(f"{path}: has no {name!r} list; {_RUN_FIX}")
        if not isinstance(data[name], list) or not all(isinstance(s, str) for s in data[name]):
            raise UserError(f"{path}: {name!r} is not a list of stems; {_RUN_FIX}")
    return {name: list(data[name]) for name in RUN_SPLITS}


PLAN_NUMBERS = {
    # key: (must be a whole number, smallest value, may be null)
    "batch_size": (True, 1, False), "patch_size": (True, 1, False), "accumulate": (True, 1, True),
    "effective_batch": (True, 1, True), "patches": (True, 1, True), "steps_per_epoch": (True, 1, True),
    "epochs": (True, 1, True), "total_steps": (True, 1, True), "iterations": (True, 1, True),
    "samples_seen": (True, 0, True), "lr_batch": (True, 1, True), "warmup_steps": (True, 0, True),
    "num_workers": (True, 0, True), "cache_mb": (True, 0, True), "max_steps": (True, 1, True),
    "lr": (False, 0, True), "scale": (False, 0, True), "planning_seconds": (False, 0, True),
}
"""The numbers of a ``plan.json`` and what they may be; a key that is absent is not checked."""


def check_plan_numbers(path: Path | str, data: Mapping[str, Any], fix: str) -> None:
    """Refuse, naming the file and the key, a plan number that is no number, not whole, negative or zero
    where that makes no sense, or not finite (``lr`` and ``scale`` must be above 0)."""
    import math

    for key, (whole, smallest, nullable) in PLAN_NUMBERS.items():
        if key not in data or (data[key] is None and nullable):
            continue
        value = data[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (float(value).is_integer() if whole else True)
        positive = key in ("lr", "scale")
        ok = ok and (value > 0 if positive else value >= smallest)
        if not ok:
            kind = "a whole number" if whole else "a finite number"
            bound = "above 0" if positive else f"at least {smallest}"
            raise UserError(f"{path}: {key} is {value!r}, but must be {kind} {bound}; {fix}")


def read_plan_file(path: Path | str, fix: str) -> dict[str, Any]:
    """A ``plan.json`` as its JSON object, its numbers checked (see :func:`check_plan_numbers`)."""
    data = read_json(path, "plan file", fix)
    if not isinstance(data.get("reasons", {}), dict) or not isinstance(data.get("sources", {}), dict):
        raise UserError(f"{path}: 'reasons' and 'sources' must be objects; {fix}")
    check_plan_numbers(path, data, fix)
    return data
