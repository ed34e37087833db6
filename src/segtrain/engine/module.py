"""The LightningModule: the training step and validation, nothing else.

Training steps see random patches; validation steps see whole images through the same
tiled inference as ``predict``. Validation scores come from one pooled confusion matrix
(a torchmetrics metric, so it is summed across DDP ranks). The resolved config and the
facts needed to rebuild the network travel inside every checkpoint under ``"segtrain"``.

The optimisation is written out (Lightning's manual optimisation) because a step must be able
to change how it runs: every loader batch is one weight update (the effective batch), cut into
``micro_batches`` pieces whose gradients add up. One step is

1. forward and backward over the micro-batches; an out-of-memory error frees memory, doubles
   the number of pieces (halving the micro-batch) and runs the step again, so the effective batch
   and the schedule do not change (:mod:`segtrain.engine.oom_recovery`);
2. a non-finite loss stops the backward passes (one zero-gradient backward keeps DDP ranks in
   step), and every rank learns that the step failed;
3. at ``on_before_optimizer_step`` (gradients unscaled): the total and per-group gradient norms,
   a non-finite check, and clipping to ``clip_grad``; a failed step drops the gradients, so
   the optimizer changes nothing;
4. the optimizer and the schedule step. The outcome is left in :attr:`last_step` for the
   callbacks (:mod:`segtrain.engine.guard` rolls back and lowers the rate; the logs record it).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch

from segtrain.config.schema import SegtrainConfig
from segtrain.data.discovery import Sample
from segtrain.data.label_mapping import ignore_label
from segtrain.data.labels import LabelSpec
from segtrain.engine.gradients import clip_to, group_norms, layer_groups, total_norm
from segtrain.engine.oom_recovery import run_recovering
from segtrain.evaluation.large_scores import confusion_large
from segtrain.inference.scaled import scaled_logits
from segtrain.inference.tiling import logits_to_classes
from segtrain.losses import build_loss
from segtrain.metrics import confusion_metric, scores_from_confusion
from segtrain.metrics.multilabel import multilabel_counts, scores_from_label_counts
from segtrain.models import build_model
from segtrain.models.decision import mode_of
from segtrain.optim.optimizers import build_optimizer
from segtrain.optim.schedules import Schedule

PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 3
"""``plateau`` schedule: halve the rate after 3 validations without a lower validation loss."""
GRAD_LOG_EVERY = 10
"""Per-group gradient norms are recorded every this many steps (the total norm every step)."""


@dataclass
class StepRecord:
    """What happened in one training step, for the callbacks that record and act."""

    step: int
    loss: float
    problem: str | None = None
    """``"loss"`` or ``"gradients"`` when the step was skipped because one was not finite."""
    grad_norm: float = math.nan
    group_norms: dict[str, float] | None = None
    clipped: bool = False
    oom: list[dict] = field(default_factory=list)
    """Out-of-memory recoveries in this step: ``{"micro_batch_before", "micro_batch_after", ...}``."""


class SegmentationModule(L.LightningModule):
    """U-Net training on one dataset.

    Parameters
    ----------
    meta : dict
        JSON-like facts saved into checkpoints: ``config`` (the resolved config as a dict),
        ``in_channels``, ``num_classes``, ``mode`` (binary, multiclass or multilabel),
        ``label_mapping``, ``patch_size``, ``total_steps``, ``warmup_steps``, ``accumulate``
        (micro-batches per step), and optionally ``class_weights`` (resolved loss weights) and
        ``threshold`` (binary and multilabel decisions).
    """

    def __init__(self, meta: dict[str, Any]):
        super().__init__()
        self.automatic_optimization = False
        self.meta = meta
        self.config = SegtrainConfig.model_validate(meta["config"])
        self.mode = meta.get("mode") or mode_of(meta["num_classes"])
        self.model = build_model(meta["in_channels"], meta["num_classes"], self.config.model, self.mode)
        self.ignore_index = ignore_label(self.config.data)
        self.threshold = float(meta.get("threshold", 0.5))
        if self.mode == "multilabel":
            self.val_confusion = multilabel_counts(meta["num_classes"], self.ignore_index)
        else:
            self.val_confusion = confusion_metric(meta["num_classes"], self.ignore_index)
        self.channels_last = bool(self.config.train.channels_last)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        train = self.config.train
        self.loss_fn = build_loss(train.loss or "ce", self.mode, ignore_index=self.ignore_index,
                                  options=self.config.loss, class_weights=meta.get("class_weights"),
                                  total_steps=meta["total_steps"])
        self.schedule = Schedule(train.schedule or "cosine", meta["total_steps"], meta["warmup_steps"], train.final_lr_fraction)
        self.micro_batches = int(meta.get("accumulate") or 1)
        self.clip_grad = train.clip_grad
        self.groups = layer_groups(self.model)
        # the compiled network serves training only (fixed shapes: one compilation); validation's
        # varying tile batches run eagerly. Kept out of the module's registry so
        # checkpoints hold the network's own parameter names.
        self.__dict__["_train_network"] = torch.compile(self.model) if train.compile else self.model
        self.last_step: StepRecord | None = None
        self._failed: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return (self._train_network if self.training else self.model)(x)

    # --- training -------------------------------------------------------------------------

    def training_step(self, batch, batch_idx):
        images, masks = batch[0], batch[1]
        optimizer = self.optimizers()
        self.loss_fn.step = self.global_step
        self.last_step = record = StepRecord(step=self.global_step + 1, loss=math.nan)
        loss, failed = run_recovering(lambda: self._forward_backward(images, masks), self, images.shape[0], record.oom)
        failed = self.trainer.strategy.reduce_boolean_decision(failed is not None, all=False) and (failed or "loss")
        self._failed = failed or None
        record.loss = float(loss)
        if self.trainer.world_size > 1:  # the loss of the whole global batch, as one process would see it
            record.loss = float(self.trainer.strategy.reduce(torch.tensor(record.loss, device=self.device),
                                                             reduce_op="mean"))
        optimizer.step()  # on_before_optimizer_step checks, records and clips the gradients first
        optimizer.zero_grad(set_to_none=True)
        record.problem = self._failed
        if self.schedule.name != "plateau":
            self.lr_schedulers().step()
        if math.isfinite(record.loss):
            self.log("train/loss", record.loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=images.shape[0])
        return torch.tensor(record.loss)

    def _forward_backward(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, str | None]:
        """Loss over the batch (weighted mean of its micro-batches) and ``"loss"`` if one was not finite."""
        n = images.shape[0]
        size = math.ceil(n / self.micro_batches)
        pieces = list(zip(images.split(size), masks.split(size)))
        total = torch.zeros((), device=images.device)
        for index, (x, y) in enumerate(pieces):
            last = index == len(pieces) - 1
            loss = self.loss_fn(self(x), y)
            if not torch.isfinite(loss):
                with self._synced(True):
                    self.manual_backward(self._zero_loss())
                return loss.detach().float(), "loss"
            weight = x.shape[0] / n
            with self._synced(last):
                self.manual_backward(loss * weight)
            total += loss.detach().float() * weight
        return total, None

    def _zero_loss(self) -> torch.Tensor:
        """Zero, with a zero gradient for every parameter (even non-finite ones): keeps DDP's reduction whole."""
        return sum((p * 0.0).sum() for p in self.model.parameters() if p.requires_grad) * 0.0

    def _synced(self, last: bool):
        """DDP reduces gradients only on the last micro-batch's backward."""
        model = self.trainer.strategy.model if self._trainer is not None else None
        if last or not hasattr(model, "no_sync"):
            return contextlib.nullcontext()
        return model.no_sync()

    def on_before_optimizer_step(self, optimizer) -> None:
        """Gradients are unscaled here: measure them, drop them if the step failed, clip them."""
        record = self.last_step
        params = [p for _, group in self.groups for p in group]
        if record is not None and (record.step % GRAD_LOG_EVERY == 0 or record.step == 1):
            record.grad_norm, record.group_norms = group_norms(self.groups)
        elif record is not None:
            record.grad_norm = total_norm(params)
        if record is not None and self._failed is None and not math.isfinite(record.grad_norm):
            scaler = getattr(self.trainer.precision_plugin, "scaler", None)
            if scaler is None:  # under float16, GradScaler skips such steps itself while it calibrates
                self._failed = "gradients"
        if self._failed:
            for p in params:
                p.grad = None
            return
        if self.clip_grad and record is not None:
            record.clipped = clip_to(params, record.grad_norm, self.clip_grad)

    # --- validation -----------------------------------------------------------------------

    def validation_step(self, batch, batch_idx):
        image, mask, _ = batch
        if isinstance(image, (list, tuple)):  # the paths of an image too large for memory: score it by bands
            self._validate_large(image[0], mask[0])
            return
        logits = scaled_logits(self, image, self.meta["patch_size"], self.config.train.val_overlap,
                               self.config.train.scale or 1.0)
        loss = self.loss_fn(logits, mask)
        self.log("val/loss", loss, on_epoch=True, batch_size=1, sync_dist=True)
        self.val_confusion.update(logits_to_classes(logits, self.mode, self.threshold), mask)

    def _validate_large(self, image: str, mask: str) -> None:
        from pathlib import Path

        sample = Sample(Path(image).stem, Path(image), Path(mask))
        scored = confusion_large(self, sample, LabelSpec.from_meta(self.meta), loss_fn=self.loss_fn,
                                 update=self.val_confusion.update)
        self.log("val/loss", scored.loss, on_epoch=True, batch_size=1, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        counts = self.val_confusion.compute()
        scores = scores_from_label_counts(counts) if self.mode == "multilabel" else scores_from_confusion(counts)
        self.val_confusion.reset()
        for key in ("dice", "iou"):
            value = scores[key]
            self.log(f"val/{key}", float("nan") if value is None else value, prog_bar=key == "dice")
        for entry in scores["per_class"]:
            self.log(f"val/dice_{entry['class']}", float("nan") if entry["dice"] is None else entry["dice"])
        pred, true = foreground_shares(counts, self.mode)
        self.log("val/fg_pred", pred)
        self.log("val/fg_true", true)
        if self.schedule.name == "plateau" and not self.trainer.sanity_checking:
            loss = self.trainer.callback_metrics.get("val/loss")
            if loss is not None:
                self.lr_schedulers().step(float(loss))

    # --- optimizer, checkpoints -----------------------------------------------------------

    def configure_optimizers(self):
        train = self.config.train
        optimizer = build_optimizer(train.optimizer or "adamw", self.model, self.meta["lr"], train.weight_decay)
        if self.schedule.name == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=PLATEAU_FACTOR,
                                                                   patience=PLATEAU_PATIENCE)
        else:
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["segtrain"] = self.meta
        checkpoint["segtrain_state"] = {"micro_batches": self.micro_batches, "clip_grad": self.clip_grad}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("segtrain_state") or {}
        self.micro_batches = int(state.get("micro_batches", self.micro_batches))
        self.clip_grad = state.get("clip_grad", self.clip_grad)


def foreground_shares(counts: torch.Tensor, mode: str) -> tuple[float, float]:
    """Shares of pixels predicted and truly foreground (any class but 0; any label in multilabel mode)."""
    counts = counts.detach().to(torch.float64).cpu()
    if mode == "multilabel":  # (L, 5): tp, fp, tn, fn, support; mean over labels
        tp, fp, tn, fn = counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3]
        total = (tp + fp + tn + fn).clamp(min=1)
        return float(((tp + fp) / total).mean()), float(((tp + fn) / total).mean())
    total = float(counts.sum()) or 1.0
    return float(counts[:, 1:].sum()) / total, float(counts[1:, :].sum()) / total
