"""segtrain: train 2D semantic-segmentation networks from a folder of images and masks.

The public surface is one function per user verb, mirroring the CLI::

    import segtrain
    segtrain.check("data/")
    plan = segtrain.plan("data/", budget="5m")
    run = segtrain.train("data/", out="runs/r1", budget="5m")
    scores = segtrain.evaluate("runs/r1")
    segtrain.predict("runs/r1", ["new.png"], out="pred/")
    model = segtrain.load("runs/r1")           # a Python object: model.predict(array)
    segtrain.export("runs/r1", format="onnx")  # runs/r1/model.onnx, checked against PyTorch

Importing the package is cheap: the verbs (and torch behind them) load on first use.
"""

from __future__ import annotations

from segtrain._version import __version__
from segtrain.errors import UserError

_VERBS = ("check", "plan", "lr_find", "train", "resume", "evaluate", "predict", "doctor", "report", "demo", "synth",
          "load", "export")

__all__ = [*_VERBS, "UserError", "__version__"]


def __getattr__(name: str):
    if name in _VERBS:  # PEP 562: the verbs (and torch behind them) load on first use
        from segtrain import api

        return getattr(api, name)
    raise AttributeError(f"module 'segtrain' has no attribute {name!r}")
