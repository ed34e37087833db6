r"""Lovász losses: the convex Lovász extension of the Jaccard loss (IoU surrogate).

Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss: a tractable surrogate for the
optimization of the intersection-over-union measure in neural networks", CVPR 2018.

For a ground-truth set :math:`G` and a set :math:`M` of mispredicted pixels the Jaccard loss is
:math:`\Delta_J(M) = |M| / |G \cup M|`. Given per-pixel errors :math:`m \ge 0` sorted in
decreasing order :math:`m_{\pi_1} \ge \dots \ge m_{\pi_n}`, its Lovász extension is

.. math:: \bar\Delta_J(m) = \sum_{i=1}^n m_{\pi_i} g_i, \qquad
          g_i = \Delta_J(\{\pi_1..\pi_i\}) - \Delta_J(\{\pi_1..\pi_{i-1}\}),

equivalently :math:`\int_0^\infty \Delta_J(\{i : m_i \ge t\})\,dt`. At 0/1 errors it is
exactly the Jaccard loss. All pixels of the batch are pooled (Berman's ``per_image=False``).

Ignored pixels get error 0 and truth 0: they sort behind every positive error, so they change
neither a product :math:`m_{\pi_i} g_i` with :math:`m_{\pi_i} > 0` nor :math:`|G|` -- the result
is exactly that of dropping them, without data-dependent shapes or host synchronisation.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from segtrain.losses.contract import clean_labels, compute_dtype, one_hot, resolve_mode, sigmoid_inputs, valid_mask


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """The Lovász gradient ``g`` of the Jaccard loss, per column of ``gt_sorted`` ``(N, K)``.

    ``gt_sorted`` holds 0/1 ground truth ordered by decreasing error along dim 0.
    """
    gts = gt_sorted.sum(0)
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)  # >= 1 from the first row on
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]], dim=0)


def _lovasz_per_column(errors: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``(K,)`` Lovász extensions of the Jaccard loss for errors and 0/1 truth of shape ``(N, K)``."""
    errors_sorted, order = torch.sort(errors, dim=0, descending=True)
    grad = lovasz_grad(torch.gather(gt, 0, order))
    return (errors_sorted * grad).sum(0)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    """``(B, K, H, W)`` to ``(B*H*W, K)``."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def lovasz_hinge(
    logits: torch.Tensor, labels: torch.Tensor, *, mode: str | None = None, ignore_index: int | None = None
) -> torch.Tensor:
    r"""Lovász hinge loss (binary, and multilabel one channel at a time).

    Parameters
    ----------
    logits : Tensor, shape (B, 1, H, W) (binary) or (B, C, H, W) (multilabel)
    labels : Tensor, shape (B, H, W) (binary) or (B, C, H, W) (multilabel), values in {0, 1}
    mode : {"binary", "multilabel"}, optional
    ignore_index : int, optional

    Returns
    -------
    Tensor
        Scalar: per channel, with signs :math:`s = 2y - 1` and hinge errors
        :math:`m = \max(0, 1 - z s)` over the valid pixels of the whole batch, the Lovász
        extension :math:`\bar\Delta_J(m)`; then the mean over channels. Every channel counts,
        also one without positives (it then scores the largest hinge error, since
        :math:`\Delta_J` of any non-empty set is 1 there). 0 with zero gradient when everything
        is ignored.
    """
    mode = resolve_mode(logits, labels, mode)
    if mode == "multiclass":
        raise ValueError("lovasz_hinge needs binary or multilabel mode; use lovasz_softmax for multiclass")
    logits, target, valid = sigmoid_inputs(logits, labels, mode, ignore_index)
    valid = valid.to(logits.dtype)
    errors = F.relu(1 - logits * (2 * target - 1)) * valid
    return _lovasz_per_column(_flatten(errors), _flatten(target * valid)).mean()


def lovasz_softmax(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    classes: str = "present",
    mode: str | None = None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    r"""Lovász-softmax loss (multiclass).

    Parameters
    ----------
    logits : Tensor, shape (B, C, H, W), C >= 2
    labels : Tensor, shape (B, H, W), integer in 0..C-1
    classes : {"present", "all"}
        ``"present"`` (default, as Berman et al.): average over the classes that occur in the
        valid pixels of the batch's truth -- a class absent from the truth is skipped, whatever
        is predicted for it. ``"all"``: average over all C classes (an absent class then scores
        its largest error).
    mode : {"multiclass"}, optional
    ignore_index : int, optional

    Returns
    -------
    Tensor
        Scalar: per class ``c`` (background included), with :math:`p_c` the softmax and
        errors :math:`m = |[y = c] - p_c|` over the valid pixels of the whole batch, the Lovász
        extension :math:`\bar\Delta_{J_c}(m)`; the mean over the chosen classes. With hard
        one-hot probabilities it equals the mean over present classes of ``1 - IoU``.
        0 with zero gradient when everything is ignored.
    """
    mode = resolve_mode(logits, labels, mode)
    if mode != "multiclass":
        raise ValueError(f"lovasz_softmax needs multiclass mode, got {mode}; use lovasz_hinge")
    if classes not in ("present", "all"):
        raise ValueError(f"classes must be 'present' or 'all', got {classes!r}")
    logits = compute_dtype(logits)
    valid = valid_mask(labels, ignore_index)
    target = clean_labels(labels, valid).long()
    valid = valid.unsqueeze(1).to(logits.dtype)
    fg = one_hot(target, logits.shape[1], logits.dtype) * valid
    errors = (fg - torch.softmax(logits, dim=1)).abs() * valid
    per_class = _lovasz_per_column(_flatten(errors), _flatten(fg))
    if classes == "all":
        return per_class.mean()
    present = (fg.sum((0, 2, 3)) > 0).to(per_class.dtype)
    return (per_class * present).sum() / present.sum().clamp_min(1)


def lovasz_loss(
    logits: torch.Tensor, labels: torch.Tensor, *, mode: str | None = None, ignore_index: int | None = None
) -> torch.Tensor:
    """:func:`lovasz_softmax` in multiclass mode, :func:`lovasz_hinge` otherwise."""
    mode = resolve_mode(logits, labels, mode)
    if mode == "multiclass":
        return lovasz_softmax(logits, labels, mode=mode, ignore_index=ignore_index)
    return lovasz_hinge(logits, labels, mode=mode, ignore_index=ignore_index)
