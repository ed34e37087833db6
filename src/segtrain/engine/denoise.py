"""Training of a denoising (Noise2Void) run: the LightningModule, its trainer and the fit.

The module is a U-Net with a linear output of one channel per input channel, trained on
normalised patches whose blind spots (:mod:`segtrain.data.loaders.n2v`) carry a neighbour's value;
the loss is the mean squared error at the blind spots only (:func:`segtrain.losses.masked.masked_mse`).
Validation computes the same masked loss on whole validation images (tiled as ``predict`` tiles),
with blind spots fixed per image, and ``best.ckpt`` is the checkpoint of the lowest one. The
trainer reuses the segmentation run's pieces: ``metrics.csv`` (:class:`EpochLog`), the budget
clock and its schedule re-planning, periodic and atomic checkpoints, resume state.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader

from segtrain.config.schema import SegtrainConfig
from segtrain.data.loaders.n2v import N2VPatches, N2VWhole
from segtrain.engine.callbacks import AtomicCheckpointIO, EpochLog
from segtrain.engine.replan import ScheduleReplan
from segtrain.engine.resume import PeriodicCheckpoint, ResumeState
from segtrain.engine.stops import PLANNED_END, BudgetStop, StepLimitStop, who_stopped
from segtrain.inference.denoise import OVERLAP, TILE
from segtrain.inference.tiling import tiled_logits
from segtrain.losses.masked import masked_mse
from segtrain.models import build_model
from segtrain.optim.schedules import Schedule

MONITOR = "val/loss"


def build_denoiser(meta: dict) -> torch.nn.Module:
    """The network of a denoising run: ``in_channels`` in, as many out, no output activation."""
    config = SegtrainConfig.model_validate(meta["config"])
    return build_model(meta["in_channels"], meta["in_channels"], config.model, "multiclass")


class DenoiseModule(L.LightningModule):
    """Noise2Void training. ``meta`` (saved in checkpoints as ``"segtrain"``): ``task``, ``config``,
    ``in_channels``, ``mean``, ``std`` (per channel, of the training images), ``patch_size``,
    ``lr``, ``total_steps``, ``warmup_steps``, ``dtype``."""

    def __init__(self, meta: dict):
        super().__init__()
        self.meta = meta
        self.config = SegtrainConfig.model_validate(meta["config"])
        self.model = build_denoiser(meta)
        train = self.config.train
        self.schedule = Schedule(train.schedule or "cosine", meta["total_steps"], meta["warmup_steps"],
                                 train.final_lr_fraction)
        self.last_step = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch, batch_idx):
        noisy, target, mask = batch
        loss = masked_mse(self(noisy), target, mask)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=noisy.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        noisy, target, mask = batch
        pred = tiled_logits(self.model, noisy, max(TILE, self.meta["patch_size"]), OVERLAP)  # as predict tiles
        self.log("val/loss", masked_mse(pred, target, mask), on_epoch=True, batch_size=1, prog_bar=True)

    def configure_optimizers(self):
        train = self.config.train
        params = self.model.parameters()
        if (train.optimizer or "adam") == "sgd":
            optimizer = torch.optim.SGD(params, lr=self.meta["lr"], momentum=0.9)
        elif train.optimizer == "adamw":
            optimizer = torch.optim.AdamW(params, lr=self.meta["lr"], weight_decay=train.weight_decay)
        else:
            optimizer = torch.optim.Adam(params, lr=self.meta["lr"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["segtrain"] = self.meta


def _loaders(meta: dict, paths: dict, plan: dict, seed: int):
    share = plan["n2v_share"]
    length = plan["steps_per_epoch"] * plan["batch_size"]
    patches = N2VPatches(paths["train"], plan["patch_size"], share, meta["mean"], meta["std"], seed, length)
    whole = N2VWhole(paths["val"], share, meta["mean"], meta["std"], seed)
    train = DataLoader(patches, batch_size=plan["batch_size"], shuffle=False, num_workers=0, drop_last=False)
    return train, DataLoader(whole, batch_size=1, num_workers=0)


def _trainer(run, cfg: SegtrainConfig, plan: dict, schedule, progress) -> tuple[L.Trainer, BudgetStop | None]:
    train = cfg.train
    budget = plan.get("budget_s")
    until_budget = budget is not None and train.epochs is None and train.max_steps is None
    callbacks = [
        ModelCheckpoint(dirpath=run.checkpoints, filename="best", monitor=MONITOR, mode="min", save_top_k=1,
                        auto_insert_metric_name=False, enable_version_counter=False),
        ModelCheckpoint(dirpath=run.checkpoints, filename="last", monitor=None, save_top_k=1,
                        enable_version_counter=False),
        EpochLog(run.metrics, None if until_budget else plan["epochs"], budget, num_classes=0, device=plan["device"]),
        PeriodicCheckpoint(run.last, train.checkpoint_every_s),
        ResumeState(),
    ]
    budget_stop = None
    if budget is not None:
        budget_stop = BudgetStop(budget, plan.get("validation_seconds", 0.0))
        callbacks += [budget_stop, ScheduleReplan(budget_stop, schedule)]
    if train.max_steps:
        callbacks.append(StepLimitStop(train.max_steps))
    if train.early_stop_patience:
        callbacks.append(EarlyStopping(MONITOR, mode="min", patience=train.early_stop_patience, check_finite=False,
                                       check_on_train_epoch_end=False))
    trainer = L.Trainer(
        accelerator=plan["device"], devices=1, precision=plan["precision"],
        max_epochs=-1 if until_budget else plan["epochs"], max_steps=train.max_steps or -1,
        callbacks=callbacks, plugins=[AtomicCheckpointIO()], logger=False, enable_model_summary=False,
        enable_progress_bar=bool(progress), num_sanity_val_steps=0, default_root_dir=run.path,
        log_every_n_steps=1, check_val_every_n_epoch=1, deterministic=train.deterministic or None,
    )
    return trainer, budget_stop


def fit_denoise(run, meta: dict, paths: dict, plan: dict, progress=None, resume_from: Path | None = None,
                extend: bool = False) -> dict:
    """Train a Noise2Void network into ``run`` (a ``RunDir``); returns how it went."""
    cfg = SegtrainConfig.model_validate(meta["config"])
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    module = DenoiseModule(meta)
    train_loader, val_loader = _loaders(meta, paths, plan, cfg.train.seed)
    trainer, budget_stop = _trainer(run, cfg, plan, module.schedule, progress)
    if extend and budget_stop is not None:
        budget_stop.fresh = True
    start = time.perf_counter()
    trainer.fit(module, train_loader, val_loader, ckpt_path=resume_from, weights_only=True)
    budget, limit = who_stopped(trainer, BudgetStop), who_stopped(trainer, StepLimitStop)
    early = trainer.early_stopping_callback
    if budget is not None:
        stopped_by = budget.reason
    elif early is not None and early.stopped_epoch:
        stopped_by = "early stopping"
    else:
        stopped_by = PLANNED_END[0] if limit is None else limit.reason
    best = trainer.checkpoint_callback.best_model_score
    return {"best_val_loss": None if best is None else float(best), "epochs": trainer.current_epoch,
            "steps": trainer.global_step, "seconds": time.perf_counter() - start, "stopped_by": stopped_by}
