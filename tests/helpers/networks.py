"""Untrained tiny networks as checkpoints, for tests of inference and scoring."""

from __future__ import annotations

import torch

from segtrain.config.schema import SegtrainConfig
from segtrain.models import build_model
from segtrain.models.decision import mode_of


def tiny_checkpoint(classes=2, in_channels=3, patch=64, depth=1, label_mapping=None, ignore_index=None,
                    seed=0) -> dict:
    """A checkpoint dict (``segtrain`` meta and ``state_dict``) of a float32 U-Net of width 4."""
    config = SegtrainConfig.model_validate({"model": {"depth": depth, "width": 4},
                                            "data": {"ignore_index": ignore_index},
                                            "train": {"precision": "32", "channels_last": False}})
    mode = mode_of(classes)
    torch.manual_seed(seed)
    model = build_model(in_channels, classes, config.model, mode)
    meta = {"config": config.model_dump(mode="json"), "num_classes": classes, "in_channels": in_channels,
            "patch_size": patch, "mode": mode, "total_steps": 1, "warmup_steps": 0,
            "label_mapping": label_mapping or {str(i): i for i in range(classes)}}
    return {"segtrain": meta, "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}


def tiny_run_folder(root, checkpoint: dict, plan: dict | None = None):
    """A run folder holding only ``checkpoint`` as ``checkpoints/best.ckpt`` (and ``plan.json``): what
    ``predict``, ``segtrain.load`` and ``export`` need of a run."""
    import json
    from pathlib import Path

    run = Path(root)
    (run / "checkpoints").mkdir(parents=True)
    torch.save(checkpoint, run / "checkpoints" / "best.ckpt")
    (run / "plan.json").write_text(json.dumps(plan or {"device": "cpu"}))
    return run
