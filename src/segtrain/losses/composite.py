"""A weighted sum of loss terms built from a spec such as ``dice+ce`` (what training calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from segtrain.config.loss_spec import parse_loss_spec
from segtrain.config.schema import LossConfig
from segtrain.losses.boundary import boundary_loss
from segtrain.losses.ce import bce_with_logits, cross_entropy
from segtrain.losses.contract import MODES, resolve_mode
from segtrain.losses.focal import focal_loss
from segtrain.losses.lovasz import lovasz_hinge, lovasz_softmax
from segtrain.losses.region import dice_loss, jaccard_loss, tversky_loss

if TYPE_CHECKING:
    from segtrain.config.schema import LossConfig


class CompositeLoss(torch.nn.Module):
    """``forward(logits, labels)`` = the sum of ``weight x term`` (one shared mode and ignore index).

    Parameters
    ----------
    terms : sequence of (name, weight)
        Canonical names from :data:`~segtrain.config.loss_spec.LOSS_NAMES`, as returned by
        :func:`~segtrain.config.loss_spec.parse_loss_spec`.
    mode : {"binary", "multiclass", "multilabel"}
    ignore_index : int, optional
    options : LossConfig
        Term parameters (focal gamma/alpha, Tversky alpha/beta/gamma, label smoothing, boundary warm-up).
    ce_weight : list of float, optional
        Multiclass cross-entropy class weights.
    pos_weight : float, optional
        Binary/multilabel BCE positive weight.
    total_steps : int, optional
        Training steps, for the boundary warm-up.

    Attributes
    ----------
    terms : list of (str, float)
    step : int
        Set by the caller before each training step; drives the boundary warm-up.
    last_values : dict of str to float
        Each term's (unweighted) value at the last call, for logging.

    Notes
    -----
    The boundary term's effective weight is ``weight * min(1, step / (boundary_warmup * total_steps))``;
    the full weight when ``total_steps`` is None or ``boundary_warmup`` is 0. The module holds no
    parameters or buffers, so it adds nothing to a checkpoint's state dict.
    """

    def __init__(
        self,
        terms: Sequence[tuple[str, float]],
        mode: str,
        *,
        ignore_index: int | None = None,
        options: "LossConfig",
        ce_weight: Sequence[float] | None = None,
        pos_weight: float | None = None,
        total_steps: int | None = None,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        self.terms = [(str(name), float(weight)) for name, weight in terms]
        if not self.terms:
            raise ValueError("a composite loss needs at least one term")
        self.mode = mode
        self.ignore_index = ignore_index
        self.options = options
        self.ce_weight = None if ce_weight is None else [float(w) for w in ce_weight]
        self.pos_weight = pos_weight
        self.total_steps = total_steps
        self.step = 0
        self._last: dict[str, torch.Tensor] = {}

    @property
    def last_values(self) -> dict[str, float]:
        """Each term's detached value at the last call (reading it synchronises with the device)."""
        return {name: float(value) for name, value in self._last.items()}

    def term_weight(self, name: str) -> float:
        """The effective weight of term ``name`` at :attr:`step` (only ``boundary`` varies)."""
        weight = dict(self.terms)[name]
        warmup = self.options.boundary_warmup
        if name != "boundary" or not self.total_steps or warmup <= 0:
            return weight
        return weight * min(1.0, self.step / (warmup * self.total_steps))

    def _term(self, name: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        o, common = self.options, {"mode": self.mode, "ignore_index": self.ignore_index}
        if name == "ce":
            if self.mode == "multiclass":
                return cross_entropy(logits, labels, weight=self.ce_weight, label_smoothing=o.label_smoothing, **common)
            return bce_with_logits(logits, labels, pos_weight=self.pos_weight, **common)
        if name == "dice":
            return dice_loss(logits, labels, **common)
        if name == "jaccard":
            return jaccard_loss(logits, labels, **common)
        if name == "tversky":
            return tversky_loss(logits, labels, alpha=o.tversky_alpha, beta=o.tversky_beta, gamma=o.tversky_gamma,
                                **common)
        if name == "focal":
            return focal_loss(logits, labels, gamma=o.focal_gamma, alpha=o.focal_alpha, **common)
        if name == "lovasz":
            if self.mode == "multiclass":
                return lovasz_softmax(logits, labels, **common)
            return lovasz_hinge(logits, labels, **common)
        if name == "boundary":
            return boundary_loss(logits, labels, **common)
        raise ValueError(f"unknown loss term {name!r}")

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        resolve_mode(logits, labels, self.mode)
        total = None
        for name, _ in self.terms:
            value = self._term(name, logits, labels)
            self._last[name] = value.detach()
            weighted = self.term_weight(name) * value
            total = weighted if total is None else total + weighted
        return total

    def _term_text(self, name: str) -> str:
        o = self.options
        if name == "ce":
            if self.mode == "multiclass":
                extras = []
                if self.ce_weight is not None:
                    extras.append("class weights " + ", ".join(f"{w:.3g}" for w in self.ce_weight))
                if o.label_smoothing:
                    extras.append(f"label smoothing {o.label_smoothing:g}")
                return "ce" + (f" ({'; '.join(extras)})" if extras else "")
            return "bce" + (f" (pos_weight {self.pos_weight:.3g})" if self.pos_weight is not None else "")
        if name == "tversky":
            gamma = f", gamma {o.tversky_gamma:g}" if o.tversky_gamma != 1 else ""
            return f"tversky (alpha {o.tversky_alpha:g}, beta {o.tversky_beta:g}{gamma})"
        if name == "focal":
            alpha = f", alpha {o.focal_alpha:g}" if o.focal_alpha is not None else ""
            return f"focal (gamma {o.focal_gamma:g}{alpha})"
        if name == "lovasz":
            return "lovasz softmax" if self.mode == "multiclass" else "lovasz hinge"
        if name == "boundary" and self.total_steps and o.boundary_warmup > 0:
            return f"boundary (warm-up over {o.boundary_warmup:.0%} of steps)"
        return name

    def describe(self) -> str:
        """One line, e.g. ``"0.5 x focal (gamma 2) + 1 x dice"``."""
        return " + ".join(f"{weight:g} x {self._term_text(name)}" for name, weight in self.terms)

    def extra_repr(self) -> str:
        return f"{self.describe()}; mode={self.mode}, ignore_index={self.ignore_index}"


def build_loss(
    spec: str,
    mode: str,
    *,
    ignore_index: int | None = None,
    options: "LossConfig | None" = None,
    class_weights: Sequence[float] | None = None,
    total_steps: int | None = None,
) -> CompositeLoss:
    """The training loss for a spec such as ``"dice+ce"`` or ``"dice:1,focal:0.5"``.

    Parameters
    ----------
    spec : str
        Parsed by :func:`~segtrain.config.loss_spec.parse_loss_spec`. ``ce`` is BCE in binary and
        multilabel mode and softmax cross-entropy in multiclass mode; ``lovasz`` is the hinge or
        the softmax version likewise.
    mode : {"binary", "multiclass", "multilabel"}
    ignore_index : int, optional
    options : LossConfig, optional
        ``None`` means ``LossConfig()`` defaults.
    class_weights : sequence of float, optional
        Resolved per-class weights for the ``ce`` term (e.g. from
        :func:`~segtrain.losses.weights.class_weights_from_pixels`); when ``None``, an explicit
        list in ``options.class_weights`` is used. Multiclass: one per class, the CE ``weight``.
        Binary: two, giving ``pos_weight = w1 / w0`` unless ``options.pos_weight`` is set.
        Ignored when the spec has no ``ce`` term.

    Returns
    -------
    CompositeLoss

    Raises
    ------
    ValueError
        A bad spec or mode; ``options.class_weights == "frequency"`` with no ``class_weights``
        given (the caller computes them); binary weights that are not two with ``w0 > 0``;
        class weights in multilabel mode (use ``options.pos_weight``).
    """
    options = LossConfig() if options is None else options
    terms = parse_loss_spec(spec)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    pos_weight, ce_weight = options.pos_weight, None
    weights = class_weights
    if weights is None and isinstance(options.class_weights, list):
        weights = options.class_weights
    if any(name == "ce" for name, _ in terms):
        if weights is None and options.class_weights == "frequency":
            raise ValueError("loss.class_weights is 'frequency' but no class weights were given: compute them "
                             "with segtrain.losses.class_weights_from_pixels and pass class_weights=")
        if weights is not None:
            weights = [float(w) for w in weights]
            if mode == "multilabel":
                raise ValueError("class weights are not used in multilabel mode; set loss.pos_weight instead")
            if mode == "multiclass":
                ce_weight = weights
            elif len(weights) != 2 or weights[0] <= 0:
                raise ValueError(f"binary mode needs two class weights (background > 0, foreground), got {weights}")
            elif pos_weight is None:
                pos_weight = weights[1] / weights[0]
    return CompositeLoss(terms, mode, ignore_index=ignore_index, options=options, ce_weight=ce_weight,
                         pos_weight=pos_weight, total_steps=total_steps)
