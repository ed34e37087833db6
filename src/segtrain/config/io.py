"""Load and save :class:`SegtrainConfig` as YAML, with one-line errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

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
