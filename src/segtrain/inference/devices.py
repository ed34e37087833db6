"""Which device a trained run predicts on: ``--device auto|cpu|cuda|cuda:N|mps``.

``auto`` picks the accelerator the run trained on when this machine has it (a run trained on a
GPU is evaluated and predicted on a GPU), else the CPU. Precision follows the device: the
predictor uses bfloat16 where the run trained in bf16 and the device supports it
(:func:`segtrain.runtime.env.detect_machine`).
"""

from __future__ import annotations

import re

import torch

from segtrain.errors import UserError

_FORM = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(requested: str | None, trained_on: str | None = None, flag: str = "--device") -> str:
    """The torch device string for ``requested``; a device this machine lacks is refused in one line."""
    requested = (requested or "auto").strip().lower()
    if not _FORM.match(requested):
        raise UserError(f"{flag} {requested!r}: choose auto, cpu, cuda, cuda:N or mps")
    if requested == "auto":
        trained = (trained_on or "cpu").split(":")[0]
        if trained == "cuda" and torch.cuda.is_available():
            return "cuda"
        if trained == "mps" and _mps():
            return "mps"
        return "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"{flag} {requested}: this machine has no CUDA GPU that torch can use; "
                            "pass --device cpu (or auto)")
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UserError(f"{flag} {requested}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                            f"numbered from 0; pass --device cuda:0 or auto")
    if requested == "mps" and not _mps():
        raise UserError(f"{flag} mps: this machine has no Apple GPU that torch can use; pass --device cpu (or auto)")
    return requested


def _mps() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
