"""The network of a run wrapped with everything ``predict`` does around it, as one exportable module.

:class:`WholeImageNetwork` takes an image as the user has it, ``(1, C, H, W)`` float32 intensities
in any range, and returns logits ``(1, K, H, W)`` at its size:

1. each channel is z-scored over the image, as :func:`segtrain.data.normalize.normalize` does;
2. the image is resized to the run's input scale (bilinear with antialiasing, as training resized it):
   a factor, ``fit`` (its long side to the patch) or ``fill`` (the square patch);
3. it is cut into overlapping tiles of the training patch, as ``predict`` cuts it (the step
   ``int(patch * (1 - overlap))``; an axis shorter than a tile padded on both sides), the tiles go
   through the network as one batch, and their logits are blended with MONAI's Gaussian weights
   (:func:`~segtrain.inference.tiling.gaussian_weight`);
4. with test-time flips (when the run kept them), steps 3 is repeated on each mirrored view, its
   logits mirrored back and averaged, as ``predict`` does;
5. the logits are resized (bilinear) back to ``H x W``.

It differs from ``predict`` in one way, by design: the whole image goes through the network at
once, not by overlapping tiles blended with Gaussian weights (a loop over a data-dependent
number of tiles has no portable form in ONNX). A fully convolutional network in evaluation mode
gives the same logits away from tile borders; the parity check (:mod:`segtrain.exporting.parity`)
measures how much the two differ on the run's validation images.
"""

from typing import List, Optional

import torch
from torch import nn
from torch.nn import functional as F

from segtrain.data.normalize import STD_FLOOR
from segtrain.data.rescale import FILL, FIT
from segtrain.inference.tiling import gaussian_weight


class Core(nn.Module):
    """The U-Net without its own padding: the input's sides are multiples of ``multiple``."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.core(x)


class WholeImageNetwork(nn.Module):
    """Normalise, resize, pad, predict, crop and resize back (see the module docstring).

    ``core`` maps padded inputs to logits: :class:`Core` of the U-Net, or a traced copy of it
    (TorchScript traces the network and scripts this wrapper, so the sizes stay free).
    """

    flips: List[List[int]]
    """TorchScript needs the type of a list that may be empty (no ``from __future__ import annotations`` here)."""

    def __init__(self, core: nn.Module, multiple: int, scale, patch: int, flips: Optional[List[List[int]]] = None,
                 overlap: float = 0.25):
        super().__init__()
        self.overlap = float(overlap)
        self.step = max(int(patch * (1 - overlap)), 1)
        self.register_buffer("weight", gaussian_weight(patch, patch).reshape(1, 1, patch, patch))
        self.flips = [list(f) for f in flips or []]
        """Test-time flips (dimensions of each mirrored view besides the image itself), as ``predict`` uses them."""
        self.core = core
        self.multiple = int(multiple)
        self.fill = scale == FILL
        self.fit = scale == FIT
        self.factor = 1.0 if scale in (FILL, FIT) else float(scale or 1.0)
        self.patch = int(patch)
        self.std_floor = float(STD_FLOOR)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2], image.shape[-1]
        mean = image.mean(dim=(2, 3), keepdim=True)
        std = image.std(dim=(2, 3), keepdim=True, unbiased=False).clamp_min(self.std_floor)
        x = (image - mean) / std
        resized = self.fill or self.fit or self.factor != 1.0
        if self.fill:
            x = F.interpolate(x, size=(self.patch, self.patch), mode="bilinear", antialias=True, align_corners=False)
        elif self.fit:
            factor = self.patch / max(height, width)
            x = F.interpolate(x, scale_factor=factor, mode="bilinear", antialias=True, align_corners=False,
                              recompute_scale_factor=True)
        elif self.factor != 1.0:
            x = F.interpolate(x, scale_factor=self.factor, mode="bilinear", antialias=True, align_corners=False,
                              recompute_scale_factor=True)
        logits = self._padded(x)
        for dims in self.flips:
            logits = logits + self._padded(x.flip(dims)).flip(dims)
        logits = logits / (1 + len(self.flips))
        if resized:
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        return logits

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` ``(1, C, h, w)``: overlapping tiles through the network, blended by Gaussian weights."""
        h, w = x.shape[-2], x.shape[-1]
        p, step = self.patch, self.step
        top, left = max(p - h, 0) // 2, max(p - w, 0) // 2
        bottom = max(p - h, (step - (h - p) % step) % step) - top
        right = max(p - w, (step - (w - p) % step) % step) - left
        x = F.pad(x, (left, right, top, bottom), mode="replicate")
        height, width = x.shape[-2], x.shape[-1]
        columns = F.unfold(x, p, stride=step)  # (1, C * p * p, tiles)
        count = columns.shape[-1]
        tiles = columns.transpose(1, 2).reshape(count, x.shape[1], p, p)
        logits = self.core(tiles) * self.weight  # (tiles, K, p, p)
        k = logits.shape[1]
        blended = F.fold(logits.reshape(count, k * p * p).transpose(0, 1)[None], (height, width), p, stride=step)
        weights = F.fold(self.weight.reshape(1, p * p, 1).expand(1, p * p, count), (height, width), p, stride=step)
        return (blended / weights)[:, :, top:top + h, left:left + w]
