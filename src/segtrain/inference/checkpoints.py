"""Checks of a checkpoint file and its content: a damaged, edited or crafted checkpoint is one line.

:func:`validate_checkpoint_file` runs before ``torch.load``: the file must be a regular file
whose zip entries declare no more than :data:`MAX_CHECKPOINT_BYTES` in all, and no entry may be
compressed far below its size (``torch.save`` never compresses: a deflated entry that expands a
hundredfold hides a huge tensor in a small file). :func:`validate_checkpoint_content` runs after:
the ``segtrain`` entry holds every key a network is rebuilt from, with sensible values, and the
weights have the names and shapes of the network its config describes (built on the ``meta``
device, so nothing is allocated). :func:`load_weights` turns what ``load_state_dict`` still
refuses into the same kind of line.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from segtrain.config.io import config_errors
from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError
from segtrain.models import build_model
from segtrain.models.decision import mode_of

MAX_CHECKPOINT_BYTES = 16 * 2**30
"""The most a checkpoint may hold once loaded (16 GiB): far above any U-Net with its optimizer state."""
MAX_EXPANSION = 100
"""The most a compressed zip entry of a checkpoint may expand (torch itself writes entries stored)."""
EXPANSION_FLOOR = 16 * 2**20
"""Entries smaller than this (16 MiB) once expanded are not checked for their compression."""

REQUIRED = {"config": dict, "in_channels": int, "num_classes": int, "patch_size": int}
"""The keys of a checkpoint's ``segtrain`` entry the network is rebuilt from, with their types."""

FIX = "the file was damaged or edited, or comes from elsewhere; use a checkpoint written by segtrain or train again"


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def validate_checkpoint_file(path: Path | str) -> None:
    """Refuse, before anything is loaded, a checkpoint path that is missing, not a regular file, or a zip
    archive declaring more bytes than :data:`MAX_CHECKPOINT_BYTES` or an entry compressed suspiciously."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UserError(f"{path}: no such checkpoint") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__}); {FIX}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{path}: not a regular file, so not a checkpoint; pass the run folder's checkpoint file")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise UserError(f"{path}: {_mib(info.st_size)}, more than a checkpoint may hold "
                        f"({_mib(MAX_CHECKPOINT_BYTES)}); {FIX}")
    if not zipfile.is_zipfile(path):
        return  # an old or foreign format: torch.load says whether it is a checkpoint
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable checkpoint ({exc}); {FIX}") from None
    total = sum(e.file_size for e in entries)
    if total > MAX_CHECKPOINT_BYTES:
        raise UserError(f"{path}: declares {_mib(total)} of tensors, more than a checkpoint may hold "
                        f"({_mib(MAX_CHECKPOINT_BYTES)}); {FIX}")
    for entry in entries:
        if (entry.compress_type != zipfile.ZIP_STORED and entry.file_size > EXPANSION_FLOOR
                and entry.file_size > MAX_EXPANSION * max(1, entry.compress_size)):
            raise UserError(f"{path}: entry {entry.filename} expands from {entry.compress_size:,} bytes to "
                            f"{_mib(entry.file_size)} (a compressed tensor, which segtrain never writes); {FIX}")


def _bad_meta(path, meta: Mapping[str, Any]) -> str | None:
    """What is wrong with a ``segtrain`` entry, or None."""
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        return f"its 'segtrain' entry lacks {', '.join(missing)}"
    for key, kind in REQUIRED.items():
        value = meta[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"its 'segtrain' entry holds {key} = {str(value)[:40]!r}, not {'a mapping' if kind is dict else 'a whole number'}"
        if kind is int and value < 1:
            return f"its 'segtrain' entry holds {key} = {value}, which must be at least 1"
    return None


def validate_checkpoint_content(content: Any, path: Path | str) -> None:
    """Refuse a loaded checkpoint that cannot rebuild its network: not a mapping, no ``segtrain`` or
    ``state_dict`` entry, a ``segtrain`` entry lacking keys or with invalid values or config, or weights
    whose names or shapes differ from the network it describes."""
    if not isinstance(content, dict) or not isinstance(content.get("segtrain"), dict) \
            or not isinstance(content.get("state_dict"), dict):
        raise UserError(f"{path}: not a segtrain checkpoint (no 'segtrain' entry)")
    meta = content["segtrain"]
    problem = _bad_meta(path, meta)
    if problem is None:
        config = _config(meta, path)
        state = {k.removeprefix("model."): v for k, v in content["state_dict"].items()
                 if isinstance(k, str) and k.startswith("model.")}
        if not all(torch.is_tensor(v) for v in state.values()):
            problem = "its state_dict holds entries that are not tensors"
        else:
            problem = _shape_problem(_expected_shapes(meta, config), state)
    if problem is not None:
        raise UserError(f"{path}: {problem}; {FIX}")


def _config(meta: Mapping[str, Any], path):
    try:
        return SegtrainConfig.model_validate(meta["config"])
    except ValidationError as exc:
        raise UserError(f"{path}: the config in its 'segtrain' entry is invalid ({config_errors(exc)}); {FIX}") from None


def _expected_shapes(meta: Mapping[str, Any], config) -> dict[str, tuple]:
    """The weight names and shapes of the network ``meta`` describes, built without memory (``meta`` device)."""
    mode = meta.get("mode") or mode_of(int(meta["num_classes"]))
    with torch.device("meta"):
        network = build_model(meta["in_channels"], meta["num_classes"], config.model, mode)
    return {name: tuple(value.shape) for name, value in network.state_dict().items()}


def _shape_problem(expected: Mapping[str, tuple], state: Mapping[str, Any]) -> str | None:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        names = (f"lacks {missing[0]}" if missing else "") + (" and " if missing and unexpected else "") + \
                (f"holds the unknown {unexpected[0]}" if unexpected else "")
        count = len(missing) + len(unexpected)
        return f"its weights do not fit the network its config describes: it {names}" + \
               (f" ({count} names differ)" if count > 1 else "")
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            return (f"its weights do not fit the network its config describes: {name} has shape "
                    f"{list(state[name].shape)}, the network {list(shape)} (another width or depth)")
    return None


def load_weights(model, state: Mapping[str, Any], path: Path | str | None = None) -> None:
    """``model.load_state_dict(state)``; a mismatch is one :class:`UserError` line naming ``path``."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        detail = details[0] if details else str(exc).splitlines()[0]
        where = path if path is not None else "checkpoint"
        raise UserError(f"{where}: its weights do not fit the network its config describes ({detail[:200]}); "
                        f"{FIX}") from None
