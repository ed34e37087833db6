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


def logits_to_classes(logits: torch.Tensor, mode: str | None = None, threshold: float = 0.5) -> torch.Tensor:
    """Decisions from logits (see :func:`segtrain.models.decision.decide`)."""
    from segtrain.models.decision import decide

    return decide(logits, mode, threshold)


def logits_to_probabilities(logits: torch.Tensor, mode: str | None = None) -> torch.Tensor:
    """Probabilities from logits (see :func:`segtrain.models.decision.probabilities`)."""
    from segtrain.models.decision import probabilities

    return probabilities(logits, mode)
