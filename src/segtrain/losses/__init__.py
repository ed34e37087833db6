"""Segmentation losses (one contract: logits (B,C,H,W), labels (B,H,W))."""

from segtrain.losses.factory import build_loss, segmentation_loss

__all__ = ["segmentation_loss"]
