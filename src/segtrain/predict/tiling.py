"""Whole-image inference by overlapping tiles blended with Gaussian weights (MONAI).

Training sees patches; validation, testing and prediction see whole images of any size
through the same function, so the scores measure what ``predict`` delivers.
"""

from __future__ import annotations

import torch


def tiled_logits(
    model: torch.nn.Module,
    image: torch.Tensor,
    patch: int,
    overlap: float = 0.25,
    tiles_per_batch: int = 4,
) -> torch.Tensor:
    """Logits ``(B, K, H, W)`` (float32) of images ``(B, C, H, W)`` of any size.

    Tiles of ``patch x patch`` overlap by ``overlap`` of their size; each tile's logits are
    weighted by a Gaussian centred on the tile, so seams between tiles do not show. Images
    smaller than a tile are padded (edge values) and the padding is cropped away.
    """
    from monai.inferers import sliding_window_inference

    return sliding_window_inference(
        image,
        roi_size=(patch, patch),
        sw_batch_size=tiles_per_batch,
        predictor=lambda tiles: model(tiles).float(),
        overlap=overlap,
        mode="gaussian",
        padding_mode="replicate",
    )


def logits_to_classes(logits: torch.Tensor) -> torch.Tensor:
    """Class indices ``(B, H, W)``: logit > 0 for one channel, argmax over several."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def logits_to_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Per-class probabilities ``(B, K, H, W)``; for one channel, ``K = 2`` (background, foreground)."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)
