"""A trained run as a Python object: ``segtrain.load(RUN).predict(array)``.

:class:`Model` predicts arrays exactly as ``segtrain predict`` predicts files: the same checkpoint
(best, else last), normalisation, input scale, tiling, test-time flips, threshold, post-processing
and mapping back to the values the training masks used. Only the reading and writing of files
differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from segtrain.config.schema import SegtrainConfig
from segtrain.errors import UserError
from segtrain.inference.devices import resolve_device
from segtrain.inference.predictor import Predictor, load_checkpoint
from segtrain.inference.writers import mask_values
from segtrain.runtime.rundir import RunDir


class Model:
    """The network of a run folder, ready to predict ``numpy`` arrays.

    Attributes
    ----------
    run : Path
        The run folder.
    classes : list of dict
        One entry per class: ``index`` (the network's), ``value`` (the training masks' value for it,
        what :meth:`predict` returns) and ``name``.
    plan : dict
        The run's ``plan.json`` (``{}`` when absent).
    config : SegtrainConfig
        The run's resolved configuration.
    device : str
        Where the network runs.
    """

    def __init__(self, run: Path | str, device: str = "auto"):
        rundir = RunDir.open(run)
        checkpoint = load_checkpoint(rundir.checkpoint())
        trained_on = _plan(rundir).get("device")
        self.device = resolve_device(device, trained_on, flag="device")
        self.predictor = Predictor(checkpoint, device=self.device)
        self.run = rundir.path
        self.plan = _plan(rundir)
        meta = self.predictor.meta
        self._values = mask_values(meta["label_mapping"]) or {}
        names = meta.get("class_names") or self.config.data.class_names or []
        self.classes = [{"index": k, "value": self._values.get(k, k),
                         "name": names[k] if k < len(names) else None} for k in range(int(meta["num_classes"]))]

    @property
    def config(self) -> SegtrainConfig:
        return self.predictor.config

    def __repr__(self) -> str:
        return (f"Model({str(self.run)!r}, {len(self.classes)} classes, {self.predictor.mode}, scale "
                f"{self.predictor.scale!r}, device {self.device!r})")

    def predict(self, image: Any, probabilities: bool = False):
        """The mask of ``image`` (``H x W`` or ``H x W x C``, any dtype segtrain reads).

        Returns the ``(H, W)`` class map in the training masks' own values (``(L, H, W)`` 0/1 for
        multilabel runs; ``(H, W, 3)`` colours for runs trained on colour masks); with
        ``probabilities=True``, ``(mask, probabilities)``, the latter ``(K, H, W)`` float32.
        """
        array = _as_image(image, self.predictor.in_channels)
        logits = self.predictor.logits(array)
        mask = self._mask(self.predictor.classes(logits))
        if probabilities:
            return mask, self.predictor.probabilities(logits)
        return mask

    def _mask(self, classes: np.ndarray) -> np.ndarray:
        if self.predictor.mode == "multilabel":
            return classes.astype(np.uint8)
        lut = np.array([self._values.get(k, k) for k in range(len(self.classes))], dtype=np.int64)
        values = lut[classes]
        if self.predictor.meta.get("colour_masks"):
            return np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=-1).astype(np.uint8)
        for dtype in (np.uint8, np.uint16, np.uint32):
            if values.min(initial=0) >= 0 and values.max(initial=0) <= np.iinfo(dtype).max:
                return values.astype(dtype)
        return values


def _plan(rundir: RunDir) -> dict:
    try:
        plan = json.loads(rundir.plan.read_text())
    except (OSError, ValueError):
        return {}
    return plan if isinstance(plan, dict) else {}


def _as_image(image: Any, channels: int) -> np.ndarray:
    """``(H, W, C)`` from an ``H x W`` or ``H x W x C`` array; refused in one line otherwise."""
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind not in "uif":
        raise UserError(f"predict: an image array of dtype {array.dtype} cannot be read; pass numbers")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4, channels) or min(array.shape[:2]) < 1:
        raise UserError(f"predict: an image array of shape {array.shape} is neither H x W nor H x W x C "
                        f"(C = 1 or 3); this model takes {channels} channel(s)")
    if array.shape[-1] == 4 and channels != 4:
        array = array[..., :3]  # RGBA as read_image reads it: the alpha is dropped
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise UserError("predict: the image array holds NaN or infinite values; replace them first "
                        "(e.g. numpy.nan_to_num)")
    return array
