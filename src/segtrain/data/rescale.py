"""Resampling images and label maps to a planned input scale (numpy and Pillow only).

A run trained at scale ``s`` sees every image resized to ``round(H * s) x round(W * s)``:
images with Pillow's bilinear filter, which widens its support when it shrinks (an antialiased
resize, what ``torch.nn.functional.interpolate(..., antialias=True)`` reproduces at inference);
label maps by the majority of the source pixels under each target pixel (a box filter on each
class's indicator, then the most covered class), so a thin class is kept where it covers the
most of a target pixel instead of appearing or vanishing at random as nearest-neighbour
sampling would make it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


FIT = "fit"
"""The scale that resizes each image so its long side fills the patch (see :func:`input_size`)."""
FILL = "fill"
"""The scale that resizes each image to fill the square patch: both sides, so the aspect ratio changes
(and is restored when the logits are resized back)."""


def input_size(height: int, width: int, scale, patch: int) -> tuple[int, int]:
    """The size an image of ``height x width`` is trained and predicted at, for a plan's ``scale``
    (a factor; :data:`FIT`: its long side resized to ``patch``; :data:`FILL`: ``patch x patch``)."""
    if scale == FILL:
        return patch, patch
    factor = patch / max(height, width) if scale == FIT else float(scale)
    return (height, width) if factor == 1.0 else scaled_size(height, width, factor)


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(round(height * scale), round(width * scale))``, at least 1 pixel each."""
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def _resize_plane(plane: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
    out = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F").resize(
        (size[1], size[0]), resample=resample)
    return np.asarray(out, dtype=np.float32)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, C)`` image resized to ``size = (h, w)``: float32, channel by channel, antialiased bilinear."""
    if image.shape[:2] == tuple(size):
        return image.astype(np.float32, copy=False)
    planes = [_resize_plane(image[..., c], size, Image.Resampling.BILINEAR) for c in range(image.shape[-1])]
    return np.stack(planes, axis=-1)


def class_coverage(labels: np.ndarray, size: tuple[int, int], values) -> np.ndarray:
    """``(len(values), h, w)``: the share of each target pixel that each label value covers (box filter)."""
    return np.stack([_resize_plane((labels == v).astype(np.float32), size, Image.Resampling.BOX) for v in values])


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` class map (or ``(L, H, W)`` 0/1 multilabel channels) resized to ``size`` by majority.

    Every value present (an ignore value included) competes for each target pixel; multilabel
    channels are resized one by one and keep a label where it covers at least half the pixel.
    """
    if labels.shape[-2:] == tuple(size):
        return labels
    if labels.ndim == 3:
        return np.stack([(class_coverage(channel, size, [1])[0] >= 0.5).astype(labels.dtype) for channel in labels])
    values = np.unique(labels)
    if values.size == 1:
        return np.full(size, values[0], dtype=labels.dtype)
    return values[np.argmax(class_coverage(labels, size, values), axis=0)].astype(labels.dtype)
