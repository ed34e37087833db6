"""How a dataset's masks become training labels: one description, used everywhere.

:class:`LabelSpec` holds what ``check`` found out about the masks (the raw value or packed
colour of each class, whether masks are colour-coded, multilabel label names) and travels in
checkpoints, so training, validation, evaluation and prediction read masks the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segtrain.data.discovery import Sample
from segtrain.data.label_mapping import IGNORE_LABEL, apply_label_mapping
from segtrain.data.multilabel import read_multilabel
from segtrain.data.sample_io import read_roi, read_sample_mask


@dataclass(frozen=True)
class LabelSpec:
    """Raw mask value (or packed colour ``R*65536 + G*256 + B``) -> class index, and how to read masks."""

    mapping: dict[int, int]
    colour: bool = False
    class_names: tuple[str, ...] | None = None
    multilabel: tuple[str, ...] | None = field(default=None)

    @classmethod
    def from_report(cls, report) -> "LabelSpec":
        """The spec ``check_dataset`` inferred."""
        names = getattr(report, "class_names", None)
        labels = getattr(report, "multilabel", None)
        return cls(
            {int(k): int(v) for k, v in report.label_mapping.items()},
            bool(getattr(report, "colour_masks", False)),
            tuple(names) if names else None,
            tuple(labels) if labels else None,
        )

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> "LabelSpec":
        """The spec saved in a checkpoint's ``segtrain`` entry."""
        names, labels = meta.get("class_names"), meta.get("multilabel")
        return cls(
            {int(k): int(v) for k, v in meta["label_mapping"].items()},
            bool(meta.get("colour_masks", False)),
            tuple(names) if names else None,
            tuple(labels) if labels else None,
        )

    def to_meta(self) -> dict[str, Any]:
        return {
            "label_mapping": dict(self.mapping),
            "colour_masks": self.colour,
            "class_names": list(self.class_names) if self.class_names else None,
            "multilabel": list(self.multilabel) if self.multilabel else None,
        }


def read_labels(sample: Sample, spec: LabelSpec) -> np.ndarray:
    """The labels of one sample: ``(H, W)`` int64 class indices, or ``(L, H, W)`` 0/1 for multilabel masks.

    Raw values the spec maps to :data:`~segtrain.data.label_mapping.IGNORE_LABEL` (``--ignore-index``) and every
    pixel outside the sample's region of interest carry that label."""
    if spec.multilabel:
        labels = read_multilabel(sample, spec.multilabel).astype(np.int64)
    else:
        labels = apply_label_mapping(read_sample_mask(sample, colour=spec.colour), spec.mapping)
    inside = read_roi(sample, labels.shape[-2:])
    if inside is not None:
        labels[..., ~inside] = IGNORE_LABEL
    return labels
