"""Experiment loggers besides segtrain's own CSV files (``train.logger``); Lightning's, not ours.

segtrain's CSV histories (``metrics.csv``, ``steps.csv``) are always written and stay the source
for ``doctor`` and the report; a logger adds a copy of the same numbers for the user's tools:

- ``tensorboard``: event files in ``RUN/tensorboard/`` (``tensorboard --logdir RUN``);
- ``mlflow``: a run in the tracking store named by ``MLFLOW_TRACKING_URI``, by default a local file
  store ``RUN/mlruns`` (MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is set: segtrain
  sets it for its own default store only); the experiment is ``MLFLOW_EXPERIMENT_NAME`` or ``segtrain``;
- ``wandb``: Weights & Biases, offline into ``RUN/wandb`` unless ``WANDB_MODE=online``.

Each logs the training loss every step, the learning rate, and the validation scores every epoch.
"""

from __future__ import annotations

import importlib.util
import os

from segtrain.errors import UserError

LOGGERS = ("csv", "tensorboard", "mlflow", "wandb")
_PACKAGES = {"tensorboard": (("tensorboard", "tensorboardX"), "pip install tensorboard"),
             "mlflow": (("mlflow",), "pip install mlflow (or mlflow-skinny)"),
             "wandb": (("wandb",), "pip install wandb")}


def experiment_logger(run, name: str):
    """Lightning's logger for ``train.logger`` (``None`` for ``csv``: segtrain's own files suffice)."""
    if name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=run.tensorboard.parent, name=run.tensorboard.name, version="",
                                 default_hp_metric=False)
    if name == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"file:{run.mlruns}"
        if uri == f"file:{run.mlruns}":
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return MLFlowLogger(experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME", "segtrain"),
                            run_name=run.path.name, tracking_uri=uri)
    if name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        return WandbLogger(project=os.environ.get("WANDB_PROJECT", "segtrain"), name=run.path.name,
                           save_dir=str(run.path), offline=os.environ.get("WANDB_MODE", "offline") != "online")
    return None


def check_logger(name: str) -> None:
    """Refuse, before any work, a logger whose package is not installed."""
    if name not in _PACKAGES:
        return
    modules, fix = _PACKAGES[name]
    if all(importlib.util.find_spec(m) is None for m in modules):
        raise UserError(f"--logger {name} needs the {modules[0]} package: {fix} "
                        "(or leave --logger out: metrics.csv and steps.csv are always written)")
