"""The dataset fingerprint: the facts about the training images that drive the plan.

Computed from a :class:`~segtrain.data.check.report.CheckReport` (which has read every file once)
for the images of one split, so planning reads nothing again.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass


@dataclass
class Fingerprint:
    """What the planner knows about the training images.

    Attributes
    ----------
    n_images : int
        Images in the split.
    height, width : dict
        ``min``, ``median`` and ``max`` of the image heights and widths in pixels.
    distinct_sizes : int
        Number of different (height, width) pairs.
    channels : int
        Channels per image (1 gray, 3 RGB).
    intensity : dict
        ``min``, ``max``, ``mean`` and ``std`` of the raw pixel values over all images.
    num_classes : int
    label_mapping : dict
        Raw mask value -> class index.
    class_fractions : list of float
        Share of the labelled pixels that belong to each class.
    empty_mask_share : float
        Share of masks with no pixel outside class 0 (the background).
    smallest_class_fraction : float
        The smallest share of any foreground class (class 1 and up).
    ignored_share : float
        Share of all mask pixels ignored (an ignore value's, outside regions of interest); not in ``class_fractions``.
    outside_roi : bool
        The images have regions of interest: pixels outside them are ignored.
    """

    n_images: int
    height: dict
    width: dict
    distinct_sizes: int
    channels: int
    intensity: dict
    num_classes: int
    label_mapping: dict
    class_fractions: list
    empty_mask_share: float
    smallest_class_fraction: float
    ignored_share: float = 0.0
    outside_roi: bool = False

    def to_dict(self) -> dict:
        data = asdict(self)
        data["label_mapping"] = {str(k): int(v) for k, v in self.label_mapping.items()}
        return data


def _spread(values: list[int]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def fingerprint(report, stems: list[str]) -> Fingerprint:
    """Fingerprint of the images ``stems`` of a checked dataset ``report``."""
    sizes = [report.sizes[s] for s in stems]
    stats = [report.intensity[s] for s in stems if s in report.intensity]
    pixels = [report.class_pixels_per_image[s] for s in stems if s in report.class_pixels_per_image]
    totals = [sum(column) for column in zip(*pixels)] if pixels else [0] * report.num_classes
    labelled = sum(totals) or 1
    ignored = sum(report.ignored_per_image.get(s, 0) for s in stems if s in report.class_pixels_per_image)
    fractions = [t / labelled for t in totals]
    empty = sum(1 for counts in pixels if sum(counts[1:]) == 0)
    intensity = {"min": math.nan, "max": math.nan, "mean": math.nan, "std": math.nan}
    if stats:
        means = [m for m, _, _, _ in stats]
        mean = statistics.fmean(means)
        second = statistics.fmean(sd * sd + m * m for m, sd, _, _ in stats)  # equal-size images weigh equally
        intensity = {
            "min": min(lo for _, _, lo, _ in stats),
            "max": max(hi for _, _, _, hi in stats),
            "mean": mean,
            "std": math.sqrt(max(0.0, second - mean * mean)),
        }
    return Fingerprint(
        n_images=len(stems),
        height=_spread([h for h, _ in sizes]),
        width=_spread([w for _, w in sizes]),
        distinct_sizes=len(set(sizes)),
        channels=int(report.channels or 0),
        intensity=intensity,
        num_classes=int(report.num_classes),
        label_mapping=dict(report.label_mapping),
        class_fractions=fractions,
        empty_mask_share=empty / len(pixels) if pixels else 0.0,
        smallest_class_fraction=min(fractions[1:]) if len(fractions) > 1 else 0.0,
        ignored_share=ignored / (sum(totals) + ignored) if ignored else 0.0,
        outside_roi=any(getattr(s, "roi", None) is not None for s in report.samples if s.stem in set(stems)),
    )
