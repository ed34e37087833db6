import json

import numpy as np
import pytest
import torch

import segtrain
from helpers.networks import tiny_checkpoint, tiny_run_folder
from segtrain.config.schema import SegtrainConfig
from segtrain.exporting import formats
from segtrain.exporting.parity import Parity
from segtrain.inference.predictor import Predictor
from segtrain.models import build_model


def _run(tmp_path, scale=1.0, stem="full", tta=False, classes=3):
    checkpoint = tiny_checkpoint(classes=classes, depth=2)
    config = checkpoint["segtrain"]["config"]
    config["train"]["scale"], config["model"]["stem"] = scale, stem
    config["augment"]["hflip"] = True
    model = build_model(3, classes, SegtrainConfig.model_validate(config).model)
    checkpoint["state_dict"] = {f"model.{k}": v for k, v in model.state_dict().items()}
    checkpoint["segtrain"]["tta"] = tta
    return tiny_run_folder(tmp_path / "run", checkpoint)


@pytest.mark.parametrize("scale, stem, tta", [(1.0, "full", False), ("fill", "strided", True), (0.5, "full", True)])
def test_torchscript_takes_any_size_and_matches_the_whole_image_network(tmp_path, scale, stem, tta):
    run = _run(tmp_path, scale, stem, tta)
    result = segtrain.export(run, format="torchscript")
    assert result["path"] == str(run / "model.pt")
    info = json.loads((run / "model.pt.json").read_text())
    assert info["parity"]["against_pytorch"]["class_agreement"] == 1.0
    assert info["test_time_flips"] == ([[-1]] if tta else [])
    loaded = torch.jit.load(str(run / "model.pt"))
    predictor = Predictor.from_checkpoint(run / "checkpoints" / "best.ckpt")
    image = np.random.default_rng(3).random((70, 93, 3)).astype(np.float32) * 255
    with torch.inference_mode():
        logits = loaded(torch.from_numpy(np.moveaxis(image, -1, 0)[None].copy()))
    assert logits.shape == (1, 3, 70, 93)
    if scale == "fill":  # one 64x64 input, no tiles: the same numbers as predict
        assert torch.allclose(logits, predictor.logits(image), atol=1e-4)


def test_onnx_export_runs_in_onnxruntime_on_a_large_image(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    run = _run(tmp_path, "fill", "strided", True, classes=2)
    out = tmp_path / "exported" / "net.onnx"
    result = segtrain.export(run, format="onnx", out=out)
    assert result["parity"]["against_pytorch"]["class_agreement"] >= 0.999
    import onnx

    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["segtrain"])["mode"] == "binary"
    session = ort.InferenceSession(str(out))
    image = np.random.default_rng(0).random((1, 3, 2000, 3000)).astype(np.float32) * 255
    logits = session.run(["logits"], {"image": image})[0]
    assert logits.shape == (1, 1, 2000, 3000)
    predictor = Predictor.from_checkpoint(run / "checkpoints" / "best.ckpt")
    predictor.bf16 = False
    reference = predictor.logits(np.moveaxis(image[0], 0, -1))
    agree = ((torch.from_numpy(logits) > 0) == (reference > 0)).float().mean()
    assert agree >= 0.999


def test_an_export_that_fails_its_parity_check_leaves_no_file(tmp_path, monkeypatch):
    run = _run(tmp_path)
    monkeypatch.setattr(formats, "check_parity", lambda *a: Parity(images=1, pixels=100, export_agree=50))
    with pytest.raises(RuntimeError, match="disagrees with PyTorch"):
        segtrain.export(run, format="torchscript")
    assert not list(run.glob("model*")) and not list(run.glob(".model*"))


def test_unknown_format_and_foreign_output_are_refused(tmp_path):
    run = _run(tmp_path)
    with pytest.raises(segtrain.UserError, match="--format 'tflite'"):
        segtrain.export(run, format="tflite")
    mine = tmp_path / "mine.pt"
    mine.write_text("user's file")
    with pytest.raises(segtrain.UserError, match="not written by segtrain"):
        segtrain.export(run, format="torchscript", out=mine)
    assert mine.read_text() == "user's file"


def test_the_exported_tiles_are_predicts_tiles_away_from_the_last_row_and_column(tmp_path):
    run = _run(tmp_path, 1.0, "full", False)
    segtrain.export(run, format="torchscript")
    loaded = torch.jit.load(str(run / "model.pt"))
    predictor = Predictor.from_checkpoint(run / "checkpoints" / "best.ckpt")
    predictor.bf16 = False
    image = np.random.default_rng(5).random((203, 262, 3)).astype(np.float32) * 255  # patch 64: 5 x 6 tiles
    with torch.inference_mode():
        exported = loaded(torch.from_numpy(np.moveaxis(image, -1, 0)[None].copy()))
    reference = predictor.logits(image)
    # predict moves its last tiles back to end on the last pixel; above and left of them both use the same tiles
    assert torch.allclose(exported[..., :203 - 64, :262 - 64], reference[..., :203 - 64, :262 - 64], atol=1e-4)
    agree = (exported.argmax(1) == reference.argmax(1)).float().mean()
    assert agree > 0.9
