"""``segtrain export RUN --format bioimageio``: a bioimage.io model package (zip) for Fiji/deepImageJ, QuPath, ilastik.

The package holds the TorchScript file of ``--format torchscript`` (the whole-image network: normalisation,
scale, tiling and blending inside, any image size of at least the network's multiple; checked against
PyTorch on the run's validation images first), a test input (a validation image, cropped to at most
:data:`TEST_SIDE` pixels) and the network's output for it, a cover image (the test image beside its
class map), a README and the ``rdf.yaml`` (model spec 0.5). It is reported only once bioimage.io's own
checks pass on the written zip (:func:`validate`: ``bioimageio.core.test_model`` when the core is installed,
else ``bioimageio.spec.load_description`` and the test output reproduced from the packaged file).

The output is the logits (``(1, K, H, W)``): the decision (``sigmoid > threshold`` for one channel, the
largest channel otherwise) and the class values of the masks are in the README and in ``segtrain.json``
(an attachment of the package, the sidecar of the other formats).
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from segtrain._version import __version__
from segtrain.errors import UserError
from segtrain.exporting.formats import export_run
from segtrain.exporting.parity import Parity
from segtrain.inference.predictor import Predictor

logger = logging.getLogger("segtrain")

MISSING = "export --format bioimageio needs the bioimageio extra: pip install 'segtrain2d[bioimageio]'"
TEST_SIDE = 256
"""The test input is at most this many pixels high and wide (the package stays small)."""
UNET = "10.1007/978-3-319-24574-4_28"
"""DOI of Ronneberger et al. 2015, U-Net, cited by the package."""


def require_bioimageio():
    """``bioimageio.spec``'s model v0.5 module, or one line naming the extra."""
    try:
        from bioimageio.spec.model import v0_5
    except ImportError:
        raise UserError(MISSING) from None
    return v0_5


def export_package(run, predictor: Predictor, out: Path, images: list[np.ndarray]) -> tuple[Path, Parity, str]:
    """Write the package ``out`` (a zip) and check it with bioimage.io's validator (:func:`validate`); returns it,
    the parity of its network with PyTorch, and what the validator passed."""
    v0_5 = require_bioimageio()
    with tempfile.TemporaryDirectory(prefix="segtrain-bioimageio-") as tmp:
        folder = Path(tmp)
        exported = export_run(run, predictor, "torchscript", folder / "weights.pt", images)
        test_input = _test_input(images[0], predictor.in_channels, int(predictor.model.multiple))
        test_output = _run(folder / "weights.pt", test_input)
        np.save(folder / "test_input.npy", test_input)
        np.save(folder / "test_output.npy", test_output)
        _cover(test_input, test_output, predictor, folder / "cover.png")
        info = json.loads(exported.metadata.read_text())
        (folder / "segtrain.json").write_text(json.dumps(info, indent=1) + "\n")
        (folder / "README.md").write_text(_readme(run, info, exported.parity))
        descr = _description(v0_5, folder, run, predictor, info, float(test_output.max()))
        from bioimageio.spec import save_bioimageio_package

        partial = out.with_name(f".{out.name}.partial.zip")
        try:
            save_bioimageio_package(descr, output_path=partial)
            validator = validate(partial, out)
            partial.replace(out)
        finally:
            if partial.exists():
                partial.unlink()
    return out, exported.parity, validator


def validate(package: Path, out: Path) -> str:
    """bioimage.io's checks of the written zip; what passed, or a :class:`UserError` saying what failed.

    With ``bioimageio.core``: its ``test_model`` (the description, then inference on the test input against
    the test output, at several sizes). Without it: ``bioimageio.spec.load_description`` (the description
    and its files) and the package's TorchScript file run here on its test input against its test output."""
    try:
        import bioimageio.core as core
    except ImportError:
        core = None
    if core is not None:
        summary = core.test_model(package, weight_format="torchscript", devices=["cpu"])
        failed = [d.name for d in summary.details if d.status == "failed"]
        if summary.status != "passed":
            raise UserError(f"{out}: bioimage.io's test_model refused the package ({'; '.join(failed[:3])}); "
                            "this is a bug in segtrain's export, please report it")
        return "bioimageio.core.test_model: passed"
    from bioimageio.spec import load_description

    described = load_description(package)
    status = getattr(described.validation_summary, "status", "failed")
    if status not in ("passed", "valid-format"):
        raise UserError(f"{out}: bioimage.io's load_description refused the package ({status}); this is a bug in "
                        "segtrain's export, please report it")
    with tempfile.TemporaryDirectory(prefix="segtrain-bioimageio-check-") as tmp:
        with zipfile.ZipFile(package) as archive:
            archive.extractall(tmp)
        folder = Path(tmp)
        got = _run(folder / "weights.pt", np.load(folder / "test_input.npy"))
        difference = float(np.abs(got - np.load(folder / "test_output.npy")).max())
    if not difference <= 1e-4:
        raise UserError(f"{out}: the packaged network does not reproduce its test output (max difference "
                        f"{difference:.2e}); this is a bug in segtrain's export, please report it")
    return f"bioimageio.spec.load_description: {status}; test output reproduced (max difference {difference:.1e})"


def _test_input(image: np.ndarray, channels: int, multiple: int) -> np.ndarray:
    """``(1, C, h, w)`` float32 from an ``(H, W[, C])`` image: its centre, at most :data:`TEST_SIDE` pixels and a
    multiple of the network's ``multiple`` on each side (the sizes the description declares)."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]
    h, w = array.shape[:2]
    th, tw = (max(multiple, min(TEST_SIDE, side) // multiple * multiple) for side in (h, w))
    top, left = max(0, (h - th) // 2), max(0, (w - tw) // 2)
    array = array[top:top + th, left:left + tw, :channels]
    return np.ascontiguousarray(np.moveaxis(array, -1, 0)[None])


def _run(weights: Path, x: np.ndarray) -> np.ndarray:
    import torch

    network = torch.jit.load(str(weights))
    with torch.inference_mode():
        return network(torch.from_numpy(x)).numpy().astype(np.float32)


def _cover(x: np.ndarray, logits: np.ndarray, predictor: Predictor, path: Path) -> None:
    """The test image (left) beside its class map (right): 2:1, as bioimage.io asks of covers."""
    from PIL import Image

    gray = x[0].mean(axis=0)
    low, high = np.percentile(gray, [1, 99])
    gray = np.clip((gray - low) / max(high - low, 1e-6), 0, 1)
    if logits.shape[1] == 1:
        classes = (1 / (1 + np.exp(-logits[0, 0])) > predictor.threshold).astype(np.float32)
    else:
        classes = logits[0].argmax(axis=0) / max(1, logits.shape[1] - 1)
    side = np.concatenate([gray, classes], axis=1)
    Image.fromarray((side * 255).astype(np.uint8)).resize((512, 256)).save(path)


def _channel_names(v0_5, prefix: str, n: int):
    return [v0_5.Identifier(f"{prefix}{i}") for i in range(n)]


def _description(v0_5, folder: Path, run, predictor: Predictor, info: dict, largest: float):
    """The model description (spec 0.5) of the files in ``folder``; ``largest``: the largest test output.

    The reproduction tolerance is bioimage.io's default (1e-3 absolute and relative) unless that is more than
    1% of the largest test output (a barely trained network), which the spec refuses: then a tenth of that."""
    import torch

    multiple = int(info["input"]["min_side"])
    space_in = [v0_5.SpaceInputAxis(id=v0_5.AxisId(a), size=v0_5.ParameterizedSize(min=multiple, step=multiple))
                for a in ("y", "x")]
    space_out = [v0_5.SpaceOutputAxis(id=v0_5.AxisId(a), size=v0_5.SizeReference(
        tensor_id=v0_5.TensorId("image"), axis_id=v0_5.AxisId(a))) for a in ("y", "x")]
    outputs = int(info["output"]["channels"])
    names = info.get("multilabel") or info.get("class_names")
    out_names = [v0_5.Identifier(str(n)) for n in names] if names and len(names) == outputs and all(
        str(n).isidentifier() for n in names) else _channel_names(v0_5, "logit", outputs)
    image = v0_5.InputTensorDescr(
        id=v0_5.TensorId("image"), description="image intensities as the image file holds them (any range)",
        axes=[v0_5.BatchAxis(size=1),
              v0_5.ChannelAxis(channel_names=_channel_names(v0_5, "channel", predictor.in_channels)),
              *space_in],
        test_tensor=v0_5.FileDescr(source=folder / "test_input.npy"),
        data=v0_5.IntervalOrRatioDataDescr(type="float32"))
    logits = v0_5.OutputTensorDescr(
        id=v0_5.TensorId("logits"), description=info["decision"],
        axes=[v0_5.BatchAxis(size=1), v0_5.ChannelAxis(channel_names=out_names), *space_out],
        test_tensor=v0_5.FileDescr(source=folder / "test_output.npy"),
        data=v0_5.IntervalOrRatioDataDescr(type="float32"))
    name = f"segtrain U-Net {Path(run.path).resolve().name}"
    return v0_5.ModelDescr(
        name=name[:128],
        description=f"2D {info['mode']} segmentation U-Net trained with segtrain {__version__}; "
                    "outputs logits: " + info["decision"],
        authors=[v0_5.Author(name="segtrain")],
        cite=[v0_5.CiteEntry(text="Ronneberger, Fischer, Brox: U-Net (MICCAI 2015)", doi=v0_5.Doi(UNET))],
        license=v0_5.LicenseId("MIT"),
        documentation=v0_5.FileDescr(source=folder / "README.md"),
        covers=[v0_5.FileDescr(source=folder / "cover.png")],
        attachments=[v0_5.FileDescr(source=folder / "segtrain.json")],
        tags=["segmentation", "2d", "unet", "segtrain", "pytorch"],
        inputs=[image], outputs=[logits],
        config=v0_5.Config(bioimageio=v0_5.BioimageioConfig(reproducibility_tolerance=[
            v0_5.ReproducibilityTolerance(absolute_tolerance=max(0.0, min(1e-3, 1e-3 * largest)))])),
        weights=v0_5.WeightsDescr(torchscript=v0_5.TorchscriptWeightsDescr(
            source=folder / "weights.pt", pytorch_version=v0_5.Version(torch.__version__.split("+")[0]))),
    )


def _readme(run, info: dict, parity: Parity) -> str:
    values = info.get("class_values") or {}
    classes = "\n".join(f"- channel/class {k}: mask value {v}" for k, v in values.items()) or "- class indices"
    return f"""# segtrain U-Net ({Path(run.path).name})

A 2D {info['mode']} segmentation U-Net trained with segtrain {__version__}.

## Input
`image`: `(1, C, H, W)` float32, the intensities as the image file holds them (any range),
C = {info['input']['channels']};
H and W any size of at least {info['input']['min_side']} pixels. Inside the network: {'; '.join(info['inside'])}.

## Output
`logits`: `(1, K, H, W)` float32, K = {info['output']['channels']}. Decision: {info['decision']}
(threshold {info['threshold']}).

Classes and the values segtrain writes into masks:
{classes}

Post-processing that `segtrain predict` applies after the decision (not in this network):
{info['segtrain_predict']['postprocess'] or 'none'}.

## Validation
Before this package was written, the network in it was compared with the PyTorch network on the run's
validation images: {parity.describe()}. segtrain reports the package only after bioimage.io's validator
passed it (the description, and the test input against the test output). The run's own test scores are in
its `evaluation.json` and `report.html`.
"""
