"""Denoising with the network of a Noise2Void run: images of any size, tiled and blended, in their own units.

An image is normalised by the training set's per-channel mean and std (saved in the checkpoint),
cut into overlapping tiles whose outputs are blended with Gaussian weights
(:func:`segtrain.inference.tiling.tiled_logits`: no seams), and de-normalised. ``predict`` writes
float32 TIFFs (``<stem>.tif``); ``as_input_range`` rounds and clips to the images' own 8- or
16-bit type instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from segtrain.data.readers import read_image
from segtrain.errors import UserError
from segtrain.inference.checkpoints import load_weights
from segtrain.inference.devices import resolve_device
from segtrain.inference.predictor import load_checkpoint
from segtrain.inference.tiling import tiled_logits
from segtrain.models import build_model
from segtrain.config.schema import SegtrainConfig
from segtrain.runtime.rundir import RunDir

TILE = 256
"""Tile side of prediction: larger than the training patch (more context per tile, fewer seams to
blend), a multiple of every depth's ``2**depth``."""
OVERLAP = 0.5
"""Tiles overlap by half: every pixel then lies within a quarter tile of some tile's centre. Measured with a
random depth-2 network on a 300x300 image: overlap 0.5 kept the tiled output within 5-8% of the output's
spread of a whole-image pass everywhere (64-128 px tiles), overlap 0.25 let single pixels near tile corners
differ by 1.4-1.8 spreads (a denoised image would show them)."""


def is_denoise(meta: dict) -> bool:
    """Whether a checkpoint's ``segtrain`` entry (or a config dict) belongs to a denoising run."""
    config = meta.get("config", meta)
    return meta.get("task") == "denoise" or (config.get("train") or {}).get("task") == "denoise"


class Denoiser:
    """The network of a denoising checkpoint, with its normalisation."""

    def __init__(self, checkpoint: dict, device: str = "cpu", tile: int | None = None):
        self.meta = checkpoint["segtrain"]
        self.config = SegtrainConfig.model_validate(self.meta["config"])
        self.in_channels = int(self.meta["in_channels"])
        self.mean = np.asarray(self.meta["mean"], np.float32)
        self.std = np.asarray(self.meta["std"], np.float32)
        self.device = torch.device(device)
        self.model = build_model(self.in_channels, self.in_channels, self.config.model, "multiclass")
        state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
        load_weights(self.model, state)
        self.model.to(self.device).eval()
        self.tile = int(tile or max(TILE, int(self.meta["patch_size"])))

    @classmethod
    def from_checkpoint(cls, path: Path | str, device: str = "cpu") -> "Denoiser":
        return cls(load_checkpoint(path), device)

    def denoise(self, image: np.ndarray, tile: int | None = None, overlap: float = OVERLAP) -> np.ndarray:
        """The denoised ``(H, W, C)`` float32 image of ``image`` ``(H, W)`` or ``(H, W, C)``, in its units."""
        array = np.asarray(image, dtype=np.float32)
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.shape[-1] != self.in_channels:
            raise UserError(f"predict: an image of shape {np.asarray(image).shape}; this run denoises "
                            f"{self.in_channels}-channel images (H x W{' x C' if self.in_channels > 1 else ''})")
        if not np.isfinite(array).all():
            raise UserError("predict: the image holds NaN or infinite values; replace them first (numpy.nan_to_num)")
        side = int(tile or self.tile)
        x, margin = self._padded(array, side)
        with torch.inference_mode():
            out = tiled_logits(self.model, x, side, overlap)
        return self._back(out, margin, array.shape)

    def whole(self, image: np.ndarray, tile: int | None = None) -> np.ndarray:
        """The denoised image from one pass of the whole (equally padded) image: what tiling must agree with."""
        array = np.asarray(image, dtype=np.float32)
        array = array[..., None] if array.ndim == 2 else array
        x, margin = self._padded(array, int(tile or self.tile))
        with torch.inference_mode():
            out = self.model(x).float()
        return self._back(out, margin, array.shape)

    def _padded(self, array: np.ndarray, side: int) -> tuple[torch.Tensor, int]:
        """The normalised image ``(1, C, H, W)`` mirrored out by a quarter tile on every side.

        The Gaussian blend gives the border rows of an image low weights in every tile, where the
        floor of the weights (``MIN_WEIGHT``) lets a tile's poorly-informed edge count as much as
        another tile's centre; a mirrored margin moves the image's own pixels towards the tiles'
        centres (and gives the network context there instead of zeros)."""
        x = torch.from_numpy(((array - self.mean) / self.std).transpose(2, 0, 1).copy())[None].to(self.device)
        margin = side // 4
        mode = "reflect" if margin < min(array.shape[:2]) else "replicate"
        return F.pad(x, (margin, margin, margin, margin), mode=mode), margin

    def _back(self, out: torch.Tensor, margin: int, shape) -> np.ndarray:
        h, w = shape[:2]
        out = out[0, :, margin:margin + h, margin:margin + w].cpu().numpy().transpose(1, 2, 0)
        return (out * self.std + self.mean).astype(np.float32)


def as_range(image: np.ndarray, dtype: str) -> np.ndarray:
    """A denoised float image rounded and clipped to ``uint8`` or ``uint16`` (float32 kept as it is)."""
    if dtype in ("uint8", "uint16"):
        info = np.iinfo(dtype)
        return np.clip(np.round(image), info.min, info.max).astype(dtype)
    return image.astype(np.float32)


def denoise_files(denoiser: Denoiser, files: list[Path], out: Path, as_input_range: bool = False) -> list[Path]:
    """``out/<stem>.tif`` per input: float32, or the input's own type with ``as_input_range``."""
    import tifffile

    stems = [f.stem for f in files]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise UserError(f"predict: several inputs are named {twice[0]!r}; each writes OUT/<stem>.tif, rename one")
    images = [(f, read_image(f)) for f in files]  # every input readable before anything is written
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, image in images:
        result = denoiser.denoise(image)
        if as_input_range:
            result = as_range(result, str(image.dtype))
        target = out / f"{path.stem}.tif"
        tifffile.imwrite(target, result[..., 0] if result.shape[-1] == 1 else result)
        written.append(target)
    return written


class DenoiseModel:
    """``segtrain.load(RUN)`` of a denoising run: :meth:`predict` gives the denoised float32 array."""

    def __init__(self, run: Path | str, device: str = "auto"):
        rundir = RunDir.open(run)
        try:
            trained_on = json.loads(rundir.plan.read_text()).get("device")
        except (OSError, ValueError, AttributeError):
            trained_on = None
        self.run = rundir.path
        self.device = resolve_device(device, trained_on, flag="device")
        self.denoiser = Denoiser.from_checkpoint(rundir.checkpoint(), self.device)
        self.config = self.denoiser.config

    def __repr__(self) -> str:
        return f"DenoiseModel({str(self.run)!r}, {self.denoiser.in_channels} channel(s), device {self.device!r})"

    def predict(self, image) -> np.ndarray:
        """The denoised image, float32, in the input's units: ``(H, W)`` for a gray ``(H, W)`` input."""
        array = np.asarray(image)
        out = self.denoiser.denoise(array)
        return out[..., 0] if array.ndim == 2 else out
