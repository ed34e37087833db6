"""Gradient norms by layer group, and clipping by the total norm.

A U-Net's layer groups, in network order from the input side to the output side, are its
encoder levels ``enc0 .. encD`` (``encD`` is the bottleneck), its decoder levels from the
deepest ``dec{D-1}`` to the shallowest ``dec0`` (each with its up-sampling convolution) and the
``head``. Other models are grouped by their top-level children. Vanishing gradients show as
the early groups' norms orders of magnitude below the late ones; exploding gradients as a
total norm far above its usual value.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def layer_groups(model: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """``(name, parameters)`` per layer group, input side first; parameters without gradients left out."""
    if hasattr(model, "encoders") and hasattr(model, "decoders") and hasattr(model, "ups"):
        groups = [(f"enc{i}", list(m.parameters())) for i, m in enumerate(model.encoders)]
        for i in reversed(range(len(model.decoders))):
            groups.append((f"dec{i}", list(model.ups[i].parameters()) + list(model.decoders[i].parameters())))
        groups.append(("head", list(model.head.parameters())))
    else:
        groups = [(name, list(child.parameters())) for name, child in model.named_children()]
    groups = [(name, [p for p in params if p.requires_grad]) for name, params in groups]
    return [(name, params) for name, params in groups if params]


def group_norms(groups: list[tuple[str, list[nn.Parameter]]]) -> tuple[float, dict[str, float]]:
    """Total L2 norm of all gradients and the L2 norm of each group's (parameters without a gradient count 0).

    One fused ``_foreach_norm`` over all gradients, then one transfer to the host.
    """
    grads, owners = [], []
    for index, (_, params) in enumerate(groups):
        for p in params:
            if p.grad is not None:
                grads.append(p.grad)
                owners.append(index)
    if not grads:
        return 0.0, {name: 0.0 for name, _ in groups}
    norms = torch.stack([n.float() for n in torch._foreach_norm(grads)]).cpu().tolist()
    squares = [0.0] * len(groups)
    for owner, norm in zip(owners, norms):
        squares[owner] += norm * norm
    total = math.sqrt(sum(squares))
    return total, {name: math.sqrt(s) for (name, _), s in zip(groups, squares)}


def total_norm(parameters) -> float:
    """L2 norm of all gradients (``nan`` or ``inf`` when any gradient is not finite)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([n.float() for n in torch._foreach_norm(grads)])))


def clip_to(parameters, total: float, max_norm: float) -> bool:
    """Scale all gradients by ``max_norm / total`` when ``total > max_norm`` (as ``clip_grad_norm_``); True if clipped."""
    if not math.isfinite(total) or total <= max_norm:
        return False
    grads = [p.grad for p in parameters if p.grad is not None]
    torch._foreach_mul_(grads, max_norm / (total + 1e-6))
    return True
