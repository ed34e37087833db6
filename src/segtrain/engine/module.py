"""The LightningModule: training and validation steps, nothing else.

Training steps see random patches; validation steps see whole images through the same
tiled inference as ``predict``. Validation scores come from one pooled confusion matrix
(a torchmetrics metric, so it is summed across DDP ranks). The resolved config and the
facts needed to rebuild the network travel inside every checkpoint under ``"segtrain"``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from segtrain.config.schema import SegtrainConfig
from segtrain.engine.optim import build_optimizer
from segtrain.engine.schedules import Schedule
from segtrain.losses import build_loss
from segtrain.metrics import confusion_metric, scores_from_confusion
from segtrain.metrics.multilabel import multilabel_counts, scores_from_label_counts
from segtrain.models import build_model
from segtrain.models.decision import mode_of
from segtrain.inference.tiling import logits_to_classes, tiled_logits


PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 3
"""``plateau`` schedule: halve the rate after 3 validations without a lower validation loss."""


class SegmentationModule(L.LightningModule):
    """U-Net training on one dataset.

    Parameters
    ----------
    meta : dict
        JSON-like facts saved into checkpoints: ``config`` (the resolved config as a dict),
        ``in_channels``, ``num_classes``, ``mode`` (binary, multiclass or multilabel),
        ``label_mapping``, ``patch_size``, ``total_steps``, ``warmup_steps``, and optionally
        ``class_weights`` (resolved loss weights) and ``threshold`` (binary and multilabel decisions).
    """

    def __init__(self, meta: dict[str, Any]):
        super().__init__()
        self.meta = meta
        self.config = SegtrainConfig.model_validate(meta["config"])
        self.mode = meta.get("mode") or mode_of(meta["num_classes"])
        self.model = build_model(meta["in_channels"], meta["num_classes"], self.config.model, self.mode)
        self.ignore_index = self.config.data.ignore_index
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def training_step(self, batch, batch_idx):
        images, masks = batch
        self.loss_fn.step = self.global_step
        loss = self.loss_fn(self(images), masks)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=images.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        image, mask, _ = batch
        logits = tiled_logits(self, image, self.meta["patch_size"], self.config.train.val_overlap)
        loss = self.loss_fn(logits, mask)
        self.log("val/loss", loss, on_epoch=True, batch_size=1, sync_dist=True)
        self.val_confusion.update(logits_to_classes(logits, self.mode, self.threshold), mask)

    def on_validation_epoch_end(self) -> None:
        counts = self.val_confusion.compute()
        scores = scores_from_label_counts(counts) if self.mode == "multilabel" else scores_from_confusion(counts)
        self.val_confusion.reset()
        for key in ("dice", "iou"):
            value = scores[key]
            self.log(f"val/{key}", float("nan") if value is None else value, prog_bar=key == "dice")

    def configure_optimizers(self):
        train = self.config.train
        optimizer = build_optimizer(train.optimizer or "adamw", self.model, self.meta["lr"], train.weight_decay)
        if self.schedule.name == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=PLATEAU_FACTOR,
                                                                   patience=PLATEAU_PATIENCE)
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "interval": "epoch", "monitor": "val/loss"}}
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["segtrain"] = self.meta
