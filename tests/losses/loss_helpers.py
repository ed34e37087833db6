"""Shared generators for the loss tests: random cases, valid-pixel selection, a tiny overfit run."""

from __future__ import annotations

import torch

SHAPES = {"binary": 1, "multiclass": 3, "multilabel": 3}


def random_case(mode: str, batch: int = 2, channels: int | None = None, size: tuple[int, int] = (6, 7),
                seed: int = 0, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits ``(B, C, H, W)`` and labels of the mode's shape."""
    gen = torch.Generator().manual_seed(seed)
    c = channels or SHAPES[mode]
    logits = (2 * torch.randn(batch, c, *size, generator=gen)).to(dtype)
    if mode == "multiclass":
        labels = torch.randint(0, c, (batch, *size), generator=gen)
    elif mode == "binary":
        labels = torch.randint(0, 2, (batch, *size), generator=gen)
    else:
        labels = torch.randint(0, 2, (batch, c, *size), generator=gen)
    return logits, labels


def with_ignored(labels: torch.Tensor, ignore_index: int, share: float = 0.3, seed: int = 1) -> torch.Tensor:
    """``labels`` with about ``share`` of the pixels (all channels of them, in multilabel mode) set to ignore."""
    gen = torch.Generator().manual_seed(seed)
    b, h, w = labels.shape[0], labels.shape[-2], labels.shape[-1]
    drop = torch.rand(b, h, w, generator=gen) < share
    out = labels.clone()
    if labels.dim() == 4:
        out[drop.unsqueeze(1).expand_as(labels)] = ignore_index
    else:
        out[drop] = ignore_index
    return out


def valid_only(tensor: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The kept pixels of ``(B, H, W)`` or ``(B, K, H, W)`` as one image ``(1, H=1, W=N)`` /
    ``(1, K, 1, N)``; ``keep`` is a ``(B, H, W)`` boolean mask."""
    if tensor.dim() == 3:
        return tensor[keep].view(1, 1, -1)
    flat = tensor.permute(1, 0, 2, 3)[:, keep]  # (K, N)
    return flat.unsqueeze(0).unsqueeze(2)


def synthetic_batch(mode: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2x1x16x16 smooth random image whose label is a pointwise threshold of it (so two 3x3
    convs can learn it): binary ``x > 0``; multiclass the bands ``x <= -0.2``, ``-0.2 < x <= 0.5``,
    ``x > 0.5``; multilabel ``(x > 0, x > 0.6, x < -0.4)``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.randn(2, 1, 20, 20, generator=gen), 5, stride=1)[..., :16, :16] * 5
    if mode == "binary":
        return x, (x[:, 0] > 0).long()
    if mode == "multiclass":
        return x, (x[:, 0] > -0.2).long() + (x[:, 0] > 0.5).long()
    return x, torch.cat([x > 0, x > 0.6, x < -0.4], dim=1).long()


def mean_iou(logits: torch.Tensor, labels: torch.Tensor, mode: str) -> float:
    """Mean IoU of the decided labels over the foreground classes (channels) present."""
    if mode == "multiclass":
        pred = logits.argmax(1)
        pairs = [(pred == c, labels == c) for c in range(1, logits.shape[1])]
    elif mode == "binary":
        pairs = [(logits[:, 0] > 0, labels == 1)]
    else:
        pairs = [(logits[:, k] > 0, labels[:, k] == 1) for k in range(logits.shape[1])]
    ious = [float((p & t).sum()) / float((p | t).sum()) for p, t in pairs if bool(t.any())]
    return sum(ious) / len(ious)


def overfit(loss_fn, mode: str, steps: int = 300, lr: float = 0.01, seed: int = 0) -> tuple[float, float, float]:
    """Train two 3x3 convs (8 hidden channels) with Adam on one synthetic batch.

    Returns ``(first loss, last loss, mean foreground IoU)``. ``loss_fn.step`` is set before each
    step when it has one (the composite's boundary warm-up)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: threads only add overhead on a shared machine
    try:
        return _train(loss_fn, mode, steps, lr, seed)
    finally:
        torch.set_num_threads(threads)


def _train(loss_fn, mode: str, steps: int, lr: float, seed: int) -> tuple[float, float, float]:
    torch.manual_seed(seed)
    x, y = synthetic_batch(mode, seed)
    out = 1 if mode == "binary" else 3
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, out, 3, padding=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    first = None
    for step in range(steps):
        if hasattr(loss_fn, "step"):
            loss_fn.step = step
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        first = float(loss.detach()) if first is None else first
    with torch.no_grad():
        logits = model(x)
        return first, float(loss_fn(logits, y)), mean_iou(logits, y, mode)
