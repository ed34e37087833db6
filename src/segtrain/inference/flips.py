"""Test-time flips: the logits of an image averaged over the mirror images training showed the network.

Only flips the training augmentation used are candidates: a network trained without vertical
flips has never seen a sky at the bottom, and its logits for such an image say nothing useful.
Each flipped image is predicted, its logits flipped back and the logits averaged (the mean of
logits, so the threshold and the argmax downstream stay as they are). Whether a run uses them
is decided on its validation images (:mod:`segtrain.evaluation.refine`).
"""

from __future__ import annotations

from typing import Callable

import torch

Flip = tuple[int, ...]
"""The tensor dimensions one view mirrors: ``()`` is the image itself, ``(-1,)`` left-right."""


def training_flips(hflip: bool | None, vflip: bool | None) -> list[Flip]:
    """The views for test-time flips: the image, and each mirror (and their product) training used."""
    views: list[Flip] = [()]
    if hflip:
        views.append((-1,))
    if vflip:
        views.append((-2,))
    if hflip and vflip:
        views.append((-2, -1))
    return views


def describe(views: list[Flip]) -> str:
    names = {(): "as is", (-1,): "left-right", (-2,): "top-bottom", (-2, -1): "both"}
    return ", ".join(names[v] for v in views)


def averaged_logits(predict: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor,
                    views: list[Flip]) -> torch.Tensor:
    """Mean over ``views`` of ``predict(flipped image)`` flipped back; ``image`` ``(B, C, H, W)``."""
    total = None
    for view in views:
        logits = predict(image.flip(view) if view else image).float()
        logits = logits.flip(view) if view else logits
        total = logits if total is None else total.add_(logits)
    return total / len(views)
