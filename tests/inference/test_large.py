"""Streamed prediction of TIFFs too large for memory equals the in-memory tiled prediction."""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

import segtrain
from segtrain.config.schema import SegtrainConfig
from segtrain.data.readers import read_image
from segtrain.errors import UserError
from segtrain.inference import files, large
from segtrain.inference.predictor import Predictor
from segtrain.models import build_model
from segtrain.models.decision import mode_of


def checkpoint(classes=2, in_channels=3, patch=256, depth=1, multilabel=None, label_mapping=None):
    config = SegtrainConfig.model_validate({"model": {"depth": depth, "width": 4},
                                            "train": {"precision": "32", "channels_last": False}})
    mode = "multilabel" if multilabel else mode_of(classes)
    torch.manual_seed(0)
    model = build_model(in_channels, classes, config.model, mode)
    meta = {"config": config.model_dump(mode="json"), "num_classes": classes, "in_channels": in_channels,
            "patch_size": patch, "mode": mode,
            "label_mapping": label_mapping or {str(i): i for i in range(classes)}}
    if multilabel:
        meta["multilabel"] = multilabel
    return {"segtrain": meta, "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}


def scene(height, width, channels=3, seed=0):
    """Smooth structures plus noise, so the network's decisions vary across the image."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    base = 120 + 80 * np.sin(x / 57.0) * np.cos(y / 91.0)
    img = base[..., None] + rng.normal(0, 20, (height, width, channels))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_streamed_equals_in_memory_and_never_holds_the_image(tmp_path, monkeypatch):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, scene(3000, 2000))  # uncompressed and contiguous: read through memory mapping
    predictor = Predictor(checkpoint(patch=128), bf16=False)
    reference = predictor.logits(read_image(path))
    cut = float(np.median(predictor.probabilities(reference)[1]))
    predictor.threshold = cut  # an untrained network: cut at its median, so both classes occur

    monkeypatch.setattr(large, "STRIP_BYTES", 2 * 2**20)
    windows = []
    rows = large.ImageWindows.rows

    def recording(self, start, stop):
        windows.append(stop - start)
        return rows(self, start, stop)

    monkeypatch.setattr(large.ImageWindows, "rows", recording)
    tracemalloc.start()
    target = large.predict_large(predictor, path, tmp_path / "out", probabilities=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert target == tmp_path / "out" / "big.tif"
    image_bytes = 3000 * 2000 * 3  # as stored (uint8); the in-memory path also holds 4 times that in float32
    assert peak < image_bytes / 2, f"numpy arrays peaked at {peak / 2**20:.1f} MiB"
    assert max(windows) <= 128 and sum(windows) < 3 * 3000  # statistics pass + overlapping rows of tiles
    probabilities = tifffile.imread(tmp_path / "out" / "big_prob.tif")
    assert probabilities.shape == (2, 3000, 2000)
    assert np.abs(probabilities - predictor.probabilities(reference)).max() < 1e-5
    mask = tifffile.imread(target)
    expected = predictor.classes(reference)
    assert 0.2 < expected.mean() < 0.8
    margin = np.abs(reference[0, 0].numpy() - np.log(cut / (1 - cut)))  # pixels on the cut may go either way
    assert np.array_equal(mask[margin > 1e-4], expected[margin > 1e-4])


@pytest.mark.parametrize("layout", [
    {"tile": (64, 48), "compression": "zlib"},
    {"rowsperstrip": 37, "compression": "zlib"},
    {"tile": (32, 32), "planarconfig": "separate"},
    {},
])
def test_windows_read_what_read_image_reads(tmp_path, layout):
    img = scene(301, 203, channels=4)  # RGBA: alpha is dropped
    data = np.moveaxis(img, -1, 0).copy() if layout.get("planarconfig") else img
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, data, photometric="rgb", extrasamples=["unassalpha"], **layout)
    whole = read_image(path)
    windows = large.open_windows(path)
    try:
        assert windows.shape == whole.shape
        for start, stop in [(0, 1), (0, 64), (50, 170), (290, 301), (0, 301)]:
            assert np.array_equal(windows.rows(start, stop), whole[start:stop])
    finally:
        windows.close()


def test_channel_stats_match_normalize(tmp_path, monkeypatch):
    from segtrain.data.normalize import normalize

    path = tmp_path / "gray.tif"
    tifffile.imwrite(path, scene(257, 300, channels=1)[..., 0])
    monkeypatch.setattr(large, "STRIP_BYTES", 10_000)  # many strips
    windows = large.open_windows(path)
    mean, std = large.channel_stats(windows, in_channels=3)  # gray repeated for an RGB network
    windows.close()
    x = np.repeat(read_image(path), 3, axis=-1).astype(np.float64)
    assert np.allclose(mean, x.mean(axis=(0, 1)), rtol=1e-6)
    assert np.allclose(std, x.std(axis=(0, 1)), rtol=1e-6)
    z = normalize(np.repeat(read_image(path), 3, axis=-1))
    assert abs(float(z.mean())) < 1e-5


def test_should_stream_by_estimated_memory(tmp_path):
    predictor = Predictor(checkpoint(), bf16=False)
    tif, png = tmp_path / "a.tif", tmp_path / "a.png"
    tifffile.imwrite(tif, scene(100, 80))
    from PIL import Image

    Image.fromarray(scene(100, 80)).save(png)
    need = large.in_memory_bytes(100, 80, 3, 1, 2)
    assert large.should_stream(tif, predictor, available=int(need / large.MEMORY_FRACTION) - 1)
    assert not large.should_stream(tif, predictor, available=int(need / large.MEMORY_FRACTION) + 1)
    assert not large.should_stream(png, predictor, available=1)  # only TIFFs are read by windows


def test_refuses_to_write_over_its_input(tmp_path):
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, scene(40, 40))
    with pytest.raises(UserError, match="written over it"):
        large.predict_large(Predictor(checkpoint(), bf16=False), path, tmp_path)


def test_multilabel_masks_by_label(tmp_path):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, scene(300, 270, channels=1)[..., 0])
    predictor = Predictor(checkpoint(classes=2, in_channels=1, patch=64, multilabel=["a", "b"]), bf16=False)
    reference = predictor.logits(read_image(path))
    target = large.predict_large(predictor, path, tmp_path / "out")
    assert target == tmp_path / "out" / "m_a.tif"
    expected = predictor.classes(reference) * 255
    for k, name in enumerate(["a", "b"]):
        margin = np.abs(reference[0, k].numpy()) > 1e-4
        assert np.array_equal(tifffile.imread(tmp_path / "out" / f"m_{name}.tif")[margin], expected[k][margin])


def _run_folder(root: Path, ckpt: dict) -> Path:
    (root / "checkpoints").mkdir(parents=True)
    torch.save(ckpt, root / "checkpoints" / "best.ckpt")
    return root


def test_api_predict_streams_large_tiffs_only(tmp_path, monkeypatch):
    from PIL import Image

    from segtrain.data import readers

    ckpt = checkpoint(patch=64, depth=2, label_mapping={"0": 0, "255": 1})
    run = _run_folder(tmp_path / "run", ckpt)
    tif, png = tmp_path / "in" / "big.tif", tmp_path / "in" / "small.png"
    tif.parent.mkdir()
    tifffile.imwrite(tif, scene(230, 190))
    Image.fromarray(scene(50, 60)).save(png)
    predictor = Predictor(ckpt, bf16=False)
    reference = predictor.logits(read_image(tif))

    read = readers.read_image

    def only_small(path):
        assert Path(path).suffix == ".png", "the large TIFF was read whole"
        return read(path)

    monkeypatch.setattr(readers, "read_image", only_small)
    monkeypatch.setattr(large, "MEMORY_FRACTION", 1e-12)  # every TIFF counts as too large
    written = segtrain.predict(run, [tif, png], tmp_path / "pred", probabilities=True)

    assert written == [tmp_path / "pred" / "big.tif", tmp_path / "pred" / "small.png"]
    mask = tifffile.imread(written[0])
    margin = np.abs(reference[0, 0].numpy()) > 1e-4
    assert set(np.unique(mask)) <= {0, 255}  # written back as the training masks' values
    assert np.array_equal(mask[margin], (predictor.classes(reference) * 255)[margin])
    assert tifffile.imread(tmp_path / "pred" / "big_prob.tif").shape == (2, 230, 190)


def test_colour_masks_are_written_as_rgb(tmp_path):
    from segtrain.inference.writers import mask_values

    sky, ground = (128 << 16) | (128 << 8) | 255, 0
    ckpt = checkpoint(patch=64, label_mapping={str(ground): 0, str(sky): 1})
    ckpt["segtrain"]["colour_masks"] = True
    predictor = Predictor(ckpt, bf16=False)
    path = tmp_path / "c.tif"
    tifffile.imwrite(path, scene(150, 170))
    reference = predictor.logits(read_image(path))
    predictor.threshold = float(np.median(predictor.probabilities(reference)[1]))
    values = mask_values(ckpt["segtrain"]["label_mapping"])
    target = large.predict_large(predictor, path, tmp_path / "out", values=values)
    rgb = tifffile.imread(target)
    assert rgb.shape == (150, 170, 3) and rgb.dtype == np.uint8
    expected = np.where(predictor.classes(reference)[..., None] == 1, [128, 128, 255], [0, 0, 0])
    cut = np.log(predictor.threshold / (1 - predictor.threshold))
    margin = np.abs(reference[0, 0].numpy() - cut) > 1e-4
    assert np.array_equal(rgb[margin], expected[margin])


def _scaled_checkpoint(scale):
    ckpt = checkpoint()
    ckpt["segtrain"]["config"]["train"]["scale"] = scale
    return ckpt


def test_a_scaled_model_refuses_images_it_would_stream_before_writing(tmp_path, monkeypatch):
    big, small = tmp_path / "big.tif", tmp_path / "small.tif"
    tifffile.imwrite(big, scene(64, 64))
    tifffile.imwrite(small, scene(32, 32))
    monkeypatch.setattr(files, "should_stream", lambda path, predictor: path.name == "big.tif")
    predictor = Predictor(_scaled_checkpoint(0.5), bf16=False)
    assert predictor.scale == 0.5
    out = tmp_path / "out"
    with pytest.raises(UserError, match=r"big\.tif: too large for memory.*scale 0\.5"):
        files.predict_files(predictor, [small, big], out)
    assert not out.exists()  # nothing written, not even the small image's mask
    assert [p.name for p in files.predict_files(predictor, [small], out)] == ["small.png"]
