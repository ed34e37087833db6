"""Does the exported file compute what segtrain computes? Measured on the run's own validation images.

Two comparisons per image, both on logits and on the class maps they decide:

- **export**: the exported file (ONNX Runtime or TorchScript) against the same whole-image
  module in PyTorch (:class:`~segtrain.exporting.graph.WholeImageNetwork`): what exporting changed.
  This one must hold: class maps agreeing on at least :data:`MIN_AGREEMENT` of the pixels;
- **predict**: the exported file against ``segtrain predict``'s logits (overlapping tiles with
  Gaussian blending, no test-time flips or post-processing): what whole-image inference changes.
  It is stated, not required; a network trained on patches differs from its tiles mainly along
  tile borders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from segtrain.models.decision import decide

MIN_AGREEMENT = 0.999
"""Share of pixels whose class the exported file must decide as PyTorch does."""


@dataclass
class Parity:
    images: int = 0
    pixels: int = 0
    export_max_abs: float = 0.0
    export_agree: int = 0
    predict_max_abs: float = 0.0
    predict_agree: int = 0
    sizes: list[tuple[int, int]] = field(default_factory=list)

    @property
    def export_agreement(self) -> float:
        return self.export_agree / max(self.pixels, 1)

    @property
    def predict_agreement(self) -> float:
        return self.predict_agree / max(self.pixels, 1)

    @property
    def ok(self) -> bool:
        return self.images > 0 and self.export_agreement >= MIN_AGREEMENT

    def describe(self) -> str:
        return (f"parity on {self.images} validation image(s), {self.pixels / 1e6:.2f} Mpx: against PyTorch max "
                f"|logit difference| {self.export_max_abs:.2e}, class maps agree on "
                f"{100 * self.export_agreement:.3f}% of pixels; against segtrain predict (tiled) "
                f"{self.predict_max_abs:.2e}, {100 * self.predict_agreement:.3f}%")

    def to_dict(self) -> dict:
        return {"images": self.images, "pixels": self.pixels, "sizes": self.sizes,
                "against_pytorch": {"max_abs_logit_difference": self.export_max_abs,
                                    "class_agreement": self.export_agreement},
                "against_predict": {"max_abs_logit_difference": self.predict_max_abs,
                                    "class_agreement": self.predict_agreement},
                "required_class_agreement": MIN_AGREEMENT}


def check_parity(exported: Callable[[np.ndarray], np.ndarray], graph: torch.nn.Module, predictor,
                 images: list[np.ndarray]) -> Parity:
    """Compare ``exported`` (``(1, C, H, W)`` float32 -> logits) with ``graph`` and ``predictor`` on ``images``
    (each ``(H, W, C)`` as read)."""
    parity = Parity()
    for image in images:
        x = np.ascontiguousarray(np.moveaxis(image.astype(np.float32), -1, 0)[None])
        out = torch.from_numpy(np.asarray(exported(x), dtype=np.float32))
        with torch.inference_mode():
            eager = graph(torch.from_numpy(x)).float()
        tiled = predictor.logits(image).float()
        decided = decide(out, predictor.mode, predictor.threshold)
        parity.images += 1
        parity.pixels += int(decided[0].numel()) if predictor.mode != "multilabel" else int(decided.numel())
        parity.sizes.append(tuple(int(v) for v in image.shape[:2]))
        parity.export_max_abs = max(parity.export_max_abs, float((out - eager).abs().max()))
        parity.predict_max_abs = max(parity.predict_max_abs, float((out - tiled).abs().max()))
        parity.export_agree += int((decided == decide(eager, predictor.mode, predictor.threshold)).sum())
        parity.predict_agree += int((decided == decide(tiled, predictor.mode, predictor.threshold)).sum())
    return parity
