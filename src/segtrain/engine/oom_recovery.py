"""Out-of-memory recovery inside a training step: free memory, halve the micro-batch, run the step again.

A loader batch is one weight update cut into ``module.micro_batches`` pieces whose gradients add
up (:class:`segtrain.engine.module.SegmentationModule`). When the forward or backward pass of a
piece runs out of memory, the partial gradients are dropped, memory is freed and the number of
pieces doubles (the micro-batch halves); the same step then runs again from its start. The
effective batch and the schedule do not change, and no update is lost. Each recovery is
returned as a dict that the step's record carries (:class:`segtrain.engine.guard.TrainingGuard`
writes it to ``events.jsonl`` and warns).

There is no smaller micro-batch than 1, and on several devices the processes would no longer
agree on their pieces: both end the run with a :class:`~segtrain.errors.UserError` naming the
patch size and the options to change.
"""

from __future__ import annotations

import gc
import math
from typing import Callable, TypeVar

import torch

from segtrain.errors import UserError
from segtrain.runtime.oom import is_out_of_memory

T = TypeVar("T")


def run_recovering(step: Callable[[], T], module, batch: int, recoveries: list[dict]) -> T:
    """``step()``, run again after every out-of-memory error with the module's micro-batch halved.

    Parameters
    ----------
    step : callable
        The forward and backward passes of one weight update over ``batch`` samples.
    module : SegmentationModule
        Whose ``micro_batches`` is doubled after each out-of-memory error.
    batch : int
        Samples in the loader batch (the effective batch of this process).
    recoveries : list
        Each recovery's facts are appended (see :func:`shrink_micro_batch`).

    Errors other than out-of-memory are raised unchanged.
    """
    while True:
        try:
            return step()
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_out_of_memory(exc):
                raise
            recoveries.append(shrink_micro_batch(module, exc, batch))


def shrink_micro_batch(module, exc: BaseException, batch: int) -> dict:
    """Free memory and halve the micro-batch (double the pieces) after an out-of-memory error.

    Returns ``{"micro_batch_before", "micro_batch_after", "accumulate_before", "accumulate_after",
    "device"}``; raises :class:`~segtrain.errors.UserError` when the micro-batch is already 1 or
    the run uses several devices.
    """
    before_size = math.ceil(batch / module.micro_batches)
    module.optimizers().zero_grad(set_to_none=True)
    del exc
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if before_size <= 1 or module.trainer.world_size > 1:
        where = "even at micro-batch 1" if before_size <= 1 else "on one of several devices"
        raise UserError(f"out of memory {where} (patch {module.meta['patch_size']}); "
                        "use a smaller --patch-size or --batch-size") from None
    before = module.micro_batches
    module.micro_batches = min(batch, before * 2)
    return {"micro_batch_before": before_size, "micro_batch_after": math.ceil(batch / module.micro_batches),
            "accumulate_before": before, "accumulate_after": module.micro_batches,
            "device": str(module.device)}
