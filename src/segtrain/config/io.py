"""Load and save :class:`SegtrainConfig` as YAML, with one-line errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError


# How the command line spells the config keys it sets, for errors in options.
OPTION_NAMES = {
    "train.epochs": "--epochs", "train.batch_size": "--batch-size", "train.accumulate": "--accumulate",
    "train.lr": "--lr", "train.patch_size": "--patch-size", "train.budget_s": "--budget",
    "train.max_steps": "--max-steps", "train.steps_per_epoch": "--steps-per-epoch", "train.optimizer": "--optimizer",
    "train.schedule": "--schedule", "train.loss": "--loss", "train.precision": "--precision",
    "train.seed": "--seed", "train.threshold": "--threshold", "model.norm": "--norm",
    "data.num_classes": "--num-classes", "data.split_file": "--split", "loss.class_weights": "--class-weights",
}


def config_errors(exc: Exception, options: bool = False) -> str:
    """One line summarising a pydantic ``ValidationError``: ``key: what is wrong (got value)``.

    With ``options``, keys set by command-line options are named as the options (``--lr``).
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
        if options:
            where = OPTION_NAMES.get(where, where)
            for key, option in OPTION_NAMES.items():
                msg = re.sub(rf"\b{re.escape(key)}\b", option, msg)
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def build_config(data: dict[str, Any], source: str = "config") -> SegtrainConfig:
    """Validate a nested dict into a config, raising :class:`UserError` on any problem.

    ``source`` names where the values came from (a file); ``"options"`` names each key by its option.
    """
    from pydantic import ValidationError

    try:
        return SegtrainConfig.model_validate(data)
    except ValidationError as exc:
        if source == "options":
            raise UserError(config_errors(exc, options=True)) from None
        raise UserError(f"{source}: {config_errors(exc)}") from None


def load_config(path: Path | str) -> SegtrainConfig:
    """Read a YAML (or JSON) config file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise UserError(f"{path}: no such config file; pass an existing YAML file to --config") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not a config file; pass a YAML file to --config") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; pass a YAML file to --config") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}: not valid YAML{where} ({what}); fix the syntax") from None
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
