"""``segtrain export RUN --format onnx|torchscript``: the network in a portable file, with what surrounds it.

The file holds :class:`~segtrain.exporting.graph.WholeImageNetwork`: input ``image`` ``(1, C, H, W)``
float32 intensities as the image file holds them (any range), output ``logits`` ``(1, K, H, W)``,
height and width free (at least the network's multiple on each side). Normalisation, the input
scale, the padding and the resizing back are inside; the decision (sigmoid threshold or argmax),
the class values of the masks, test-time flips and post-processing are not: they are written
beside it, in ``<file>.json`` and (ONNX) the model's metadata under ``segtrain``. The export is
checked on the run's validation images (:mod:`segtrain.exporting.parity`) before it is reported;
a file that fails the check is removed.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from segtrain._version import __version__
from segtrain.data.discovery import discover
from segtrain.data.layouts import LayoutOptions
from segtrain.data.sample_io import read_sample_image
from segtrain.data.windows import is_large
from segtrain.errors import UserError
from segtrain.exporting.graph import Core, WholeImageNetwork
from segtrain.exporting.parity import Parity, check_parity
from segtrain.inference.predictor import Predictor
from segtrain.inference.writers import mask_values

logger = logging.getLogger("segtrain")

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
PARITY_IMAGES = 4
"""Validation images the parity check uses (the first ones of the run's split)."""
EXAMPLE_SIDE = 256
"""Side of the example input the network is traced or exported with (any size works afterwards)."""


@dataclass
class Exported:
    path: Path
    metadata: Path
    format: str
    parity: Parity


def metadata(predictor: Predictor, fmt: str) -> dict:
    """Everything around the network a user of the exported file needs, as plain JSON."""
    meta, config = predictor.meta, predictor.config
    values = mask_values(meta["label_mapping"])
    return {
        "segtrain_version": __version__,
        "format": fmt,
        "input": {"name": "image", "layout": "NCHW", "dtype": "float32", "channels": predictor.in_channels,
                  "values": "intensities as the image file holds them (any range)",
                  "min_side": int(predictor.model.multiple)},
        "output": {"name": "logits", "layout": "NCHW", "channels": int(predictor.model.head.out_channels)},
        "inside": ["per-image, per-channel z-score (std floor 1e-6)",
                   f"resize to the input scale {predictor.scale!r} (bilinear, antialiased)",
                   f"overlapping tiles of {predictor.patch} px (overlap {predictor.overlap}), replicate-padded to "
                   "whole steps, through the U-Net as one batch, blended with Gaussian weights",
                   "the mean over the test-time flips the run kept (test_time_flips)",
                   "crop, and bilinear resize of the logits back to the input size"],
        "mode": predictor.mode,
        "decision": ("foreground where sigmoid(logit) > threshold" if predictor.mode == "binary" else
                     "the class of the largest logit" if predictor.mode == "multiclass" else
                     "each label where sigmoid(logit) > threshold"),
        "threshold": predictor.threshold,
        "scale": predictor.scale,
        "patch_size": predictor.patch,
        "segtrain_predict": {"tiles": predictor.patch, "overlap": predictor.overlap, "blending": "gaussian",
                             "postprocess": predictor.postprocess,
                             "note": "the exported file tiles as predict does, except that its last tiles see replicate padding"},
        "test_time_flips": ([list(v) for v in predictor.views[1:]] if predictor.tta else []),
        "num_classes": int(meta["num_classes"]),
        "class_values": {str(k): v for k, v in (values or {}).items()},
        "class_names": meta.get("class_names") or config.data.class_names,
        "multilabel": meta.get("multilabel"),
    }


def validation_images(predictor: Predictor, run) -> tuple[list[np.ndarray], str]:
    """Up to :data:`PARITY_IMAGES` validation images of the run that fit in memory, and where they came
    from; random images of twice the patch size when the dataset is no longer where the run read it."""
    root = predictor.config.data.root
    try:
        stems = json.loads(run.split.read_text()).get("val") or []
        layout = LayoutOptions.from_config(predictor.config.data)
        available = {s.stem: s for s in discover(root, layout).samples} if root is not None else {}
    except (OSError, ValueError, AttributeError, UserError):
        stems, available = [], {}
    samples = [available[s] for s in stems if s in available and not is_large(available[s])][:PARITY_IMAGES]
    if samples:
        return [read_sample_image(s) for s in samples], f"validation images of {root}"
    rng = np.random.default_rng(0)
    side = 2 * predictor.patch + 7  # not a multiple of anything: the padding is exercised too
    images = [rng.random((side, side + 24, predictor.in_channels)).astype(np.float32) * 255 for _ in range(2)]
    return images, f"random images ({root} holds none of the run's validation images)"


def export_run(run, predictor: Predictor, fmt: str, out: Path, images: list[np.ndarray]) -> Exported:
    """Write ``out`` (and ``out.json``) in ``fmt``, check parity on ``images``; remove both if it fails."""
    flips = [list(view) for view in predictor.views[1:]] if predictor.tta else []
    graph = WholeImageNetwork(Core(predictor.model), predictor.model.multiple, predictor.scale,
                              predictor.patch, flips, predictor.overlap).eval().float()
    predictor.model.float()
    example = torch.zeros(1, predictor.in_channels, EXAMPLE_SIDE, EXAMPLE_SIDE)
    info = metadata(predictor, fmt)
    partial = out.with_name(f".{out.name}.partial")
    try:
        run_exported = _write(graph, example, fmt, partial, info)
        parity = check_parity(run_exported, graph, predictor, images)
        if not parity.ok:
            raise RuntimeError(f"{out}: the exported network disagrees with PyTorch ({parity.describe()}); "
                               "this is a bug in segtrain's export, please report it")
        info["parity"] = parity.to_dict()
        if fmt == "onnx":
            _set_onnx_metadata(partial, info)
        os.replace(partial, out)
    finally:
        if partial.exists():
            partial.unlink()
    sidecar = out.with_name(out.name + ".json")
    sidecar.write_text(json.dumps(info, indent=1) + "\n")
    return Exported(out, sidecar, fmt, parity)


def _write(graph: torch.nn.Module, example: torch.Tensor, fmt: str, path: Path, info: dict):
    """Export ``graph`` to ``path``; returns a function running the written file on a numpy input."""
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(graph.core, example)  # the U-Net: convolutions only, any multiple size
            scripted = torch.jit.script(WholeImageNetwork(traced, graph.multiple, _scale(graph), graph.patch,
                                                          graph.flips, graph.overlap))
        scripted.save(str(path), _extra_files={"segtrain.json": json.dumps(info)})
        loaded = torch.jit.load(str(path))

        def run_torchscript(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return loaded(torch.from_numpy(x)).numpy()
        return run_torchscript
    try:
        import onnxruntime
    except ImportError:
        raise UserError("--format onnx needs onnx and onnxruntime: pip install onnx onnxruntime onnxscript "
                        "(or the export extra of segtrain)") from None
    dim = torch.export.Dim
    side = int(graph.multiple)
    shapes = {"image": {2: dim("height", min=side, max=65536), 3: dim("width", min=side, max=65536)}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _quiet_exporter()
        program = torch.onnx.export(graph, (example,), dynamo=True, dynamic_shapes=shapes,
                                    input_names=["image"], output_names=["logits"], verbose=False)
        program.save(str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run_onnx(x: np.ndarray) -> np.ndarray:
        return session.run(["logits"], {"image": x})[0]
    return run_onnx


def _scale(graph: WholeImageNetwork):
    return "fill" if graph.fill else "fit" if graph.fit else graph.factor


def _quiet_exporter() -> None:
    for name in ("torch.onnx", "torch._export", "torch.export", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _set_onnx_metadata(path: Path, info: dict) -> None:
    import onnx

    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "segtrain", json.dumps(info)
    onnx.save(model, str(path))
