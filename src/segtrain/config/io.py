"""Load and save :class:`SegtrainConfig` as YAML, with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError


def config_errors(exc: Exception) -> str:
    """One line summarising a pydantic ``ValidationError``."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "").removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def build_config(data: dict[str, Any], source: str = "config") -> SegtrainConfig:
    """Validate a nested dict into a config, raising :class:`UserError` on any problem."""
    from pydantic import ValidationError

    try:
        return SegtrainConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{source}: {config_errors(exc)}") from None


def load_config(path: Path | str) -> SegtrainConfig:
    """Read a YAML (or JSON) config file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise UserError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
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
