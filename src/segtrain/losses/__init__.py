"""Segmentation losses behind one contract (see :mod:`segtrain.losses.contract`).

Logits ``(B, C, H, W)``; labels ``(B, H, W)`` (binary, multiclass) or ``(B, C, H, W)``
(multilabel); a ``mode`` and an ``ignore_index``. Training builds its loss with
:func:`build_loss` from a spec such as ``"dice+ce"``.

Names are imported lazily, so ``from segtrain.losses import parse_loss_spec`` does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build_loss": "composite",
    "CompositeLoss": "composite",
    "parse_loss_spec": "segtrain.config.loss_spec",
    "LOSS_NAMES": "segtrain.config.loss_spec",
    "infer_mode": "contract",
    "segmentation_loss": "ce",
    "bce_with_logits": "ce",
    "cross_entropy": "ce",
    "dice_loss": "region",
    "jaccard_loss": "region",
    "tversky_loss": "region",
    "focal_loss": "focal",
    "lovasz_hinge": "lovasz",
    "lovasz_softmax": "lovasz",
    "lovasz_loss": "lovasz",
    "boundary_loss": "boundary",
    "signed_distance_maps": "boundary",
    "class_weights_from_pixels": "weights",
    "pos_weight_from_pixels": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = _EXPORTS[name]
        return getattr(importlib.import_module(module if "." in module else f"segtrain.losses.{module}"), name)
    raise AttributeError(f"module 'segtrain.losses' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
