"""Network builders."""

from segtrain.models.unet import UNet, build_model

__all__ = ["UNet", "build_model"]
