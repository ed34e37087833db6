"""A trained network rebuilt from a checkpoint, ready for whole-image inference.

Checkpoints are read with ``torch.load(..., weights_only=True)``: a checkpoint from a
stranger cannot run code. Everything needed to rebuild the network is in its
``"segtrain"`` entry.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segtrain.config.schema import SegtrainConfig
from segtrain.data.normalize import normalize
from segtrain.errors import UserError
from segtrain.inference.checkpoints import load_weights, validate_checkpoint_content, validate_checkpoint_file
from segtrain.inference.flips import averaged_logits, training_flips
from segtrain.inference.postprocess import apply_steps
from segtrain.inference.scaled import scaled_logits
from segtrain.inference.tiling import logits_to_classes, logits_to_probabilities
from segtrain.models import build_model
from segtrain.models.decision import mode_of
from segtrain.runtime.env import detect_machine


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """The checkpoint's content, loaded safely; :class:`UserError` if it is not a segtrain checkpoint."""
    validate_checkpoint_file(path)
    try:
        checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # a truncated, foreign or crafted file: say so in one line
        match = re.search(r"(?:[Uu]nsupported global:?|unsupported GLOBAL) (?:GLOBAL )?([\w.]+)", str(exc))
        if match:
            raise UserError(f"{path}: refused: loading it would call {match.group(1)}, which a segtrain checkpoint "
                            "never holds (checkpoints are loaded as weights only, so no code runs); "
                            "use checkpoints written by segtrain") from None
        raise UserError(f"{path}: not a readable checkpoint ({type(exc).__name__}); train again or pass another run") from None
    validate_checkpoint_content(checkpoint, path)
    return checkpoint


class Predictor:
    """Tiled inference with the network of a checkpoint."""

    def __init__(self, checkpoint: dict[str, Any], device: str = "cpu", bf16: bool | None = None):
        self.meta = checkpoint["segtrain"]
        self.config = SegtrainConfig.model_validate(self.meta["config"])
        self.mode = self.meta.get("mode") or mode_of(int(self.meta["num_classes"]))
        self.threshold = float(self.meta.get("threshold", 0.5))
        self.model = build_model(self.meta["in_channels"], self.meta["num_classes"], self.config.model, self.mode)
        state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
        load_weights(self.model, state)
        self.model.to(device).eval()
        if self.config.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.device = device
        if bf16 is None:
            bf16 = self.config.train.precision == "bf16-mixed" and detect_machine(torch.device(device).type).bf16
        self.bf16 = bf16
        self.patch = int(self.meta["patch_size"])
        self.overlap = self.config.train.val_overlap
        self.scale = self.config.train.scale or 1.0
        """The input scale the network was trained at: images are resized to it, logits resized back."""
        train = self.config.train
        self.tta = bool(self.meta.get("tta", train.tta))
        """Average the logits over the flips training used (chosen on validation after training)."""
        self.views = training_flips(self.config.augment.hflip, self.config.augment.vflip)
        self.postprocess = list(self.meta.get("postprocess", train.postprocess or []))
        """Post-processing steps (:mod:`segtrain.inference.postprocess`) applied to each class map."""

    @classmethod
    def from_checkpoint(cls, path: Path | str, device: str = "cpu") -> "Predictor":
        return cls(load_checkpoint(path), device)

    @property
    def in_channels(self) -> int:
        return int(self.meta["in_channels"])

    def logits(self, image: np.ndarray) -> torch.Tensor:
        """Logits ``(1, K, H, W)`` of one ``(H, W, C)`` image as read from disk."""
        if image.shape[-1] != self.in_channels:
            if image.shape[-1] == 1 and self.in_channels == 3:
                image = np.repeat(image, 3, axis=-1)
            elif image.shape[-1] == 3 and self.in_channels == 1:
                image = image.mean(axis=-1, keepdims=True)
        x = torch.from_numpy(normalize(image))[None].to(self.device)
        autocast = torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        views = self.views if self.tta else [()]
        with torch.inference_mode(), autocast:
            return averaged_logits(lambda v: scaled_logits(self.model, v, self.patch, self.overlap, self.scale),
                                   x, views)

    def classes(self, logits: torch.Tensor) -> np.ndarray:
        """``(H, W)`` class indices after the run's post-processing, or ``(L, H, W)`` 0/1 labels in
        multilabel mode."""
        classes = logits_to_classes(logits, self.mode, self.threshold)[0].cpu().numpy()
        if self.postprocess and self.mode != "multilabel":
            classes = apply_steps(classes, self.postprocess)
        return classes

    def probabilities(self, logits: torch.Tensor) -> np.ndarray:
        """``(K, H, W)`` probabilities (see :func:`segtrain.models.decision.probabilities`)."""
        return logits_to_probabilities(logits, self.mode)[0].float().cpu().numpy()
