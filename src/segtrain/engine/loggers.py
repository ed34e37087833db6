"""Experiment loggers besides segtrain's own CSV files (``train.logger``); Lightning's, not ours."""

from __future__ import annotations

from segtrain.errors import UserError


def experiment_logger(run, name: str):
    """Lightning's logger for ``train.logger`` (``None`` for ``csv``: segtrain's own files suffice).

    ``tensorboard`` writes event files to ``RUN/tensorboard/`` (``tensorboard --logdir RUN``): the
    training loss every step, the learning rate, and the validation scores every epoch. Lightning
    uses the ``tensorboard`` package, or ``tensorboardX`` where only that is installed.
    """
    if name != "tensorboard":
        return None
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=run.tensorboard.parent, name=run.tensorboard.name, version="",
                             default_hp_metric=False)


def check_logger(name: str) -> None:
    """Refuse, before any work, a logger whose package is not installed."""
    if name != "tensorboard":
        return
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        raise UserError("--logger tensorboard needs the tensorboard package: pip install 'segtrain[tensorboard]' "
                        "(or leave --logger out: metrics.csv and steps.csv are always written)")
