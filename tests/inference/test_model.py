import numpy as np
import pytest
from PIL import Image

import segtrain
from helpers.networks import tiny_checkpoint, tiny_run_folder
from segtrain.data.readers import read_image
from segtrain.errors import UserError
from segtrain.inference.model import Model


@pytest.fixture
def run(tmp_path):
    checkpoint = tiny_checkpoint(classes=2, in_channels=3, label_mapping={"0": 0, "255": 1})
    checkpoint["segtrain"]["postprocess"] = ["largest_component@1"]
    return tiny_run_folder(tmp_path / "run", checkpoint)


def _images(folder, n=3):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        Image.fromarray(rng.integers(0, 255, (37 + 9 * k, 50, 3), dtype=np.uint8)).save(folder / f"im{k}.png")
    return sorted(folder.iterdir())


def test_load_predicts_arrays_as_predict_writes_files(run, tmp_path):
    files = _images(tmp_path / "images")
    segtrain.predict(run, files, tmp_path / "pred")
    model = segtrain.load(run)
    assert model.device == "cpu" and [c["value"] for c in model.classes] == [0, 255]
    for file in files:
        written = np.array(Image.open(tmp_path / "pred" / f"{file.stem}.png"))
        mask = model.predict(read_image(file))
        assert mask.dtype == np.uint8 and mask.shape == written.shape
        assert (mask == written).all()


def test_gray_arrays_and_probabilities(run):
    model = Model(run)
    gray = np.random.default_rng(1).random((40, 30)).astype(np.float64)
    mask, probabilities = model.predict(gray, probabilities=True)
    assert mask.shape == (40, 30) and set(np.unique(mask)) <= {0, 255}
    assert probabilities.shape == (2, 40, 30) and np.allclose(probabilities.sum(0), 1, atol=1e-5)
    assert model.predict(gray > 0.5).shape == (40, 30)  # booleans are read as 0/1


@pytest.mark.parametrize("bad, words", [(np.zeros((4, 4, 2, 2)), "shape"), (np.array([["a"]]), "dtype"),
                                        (np.full((8, 8), np.nan), "NaN")])
def test_arrays_it_cannot_read_are_refused_in_one_line(run, bad, words):
    with pytest.raises(UserError, match=words):
        Model(run).predict(bad)


def test_devices_this_machine_lacks_are_refused(run, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA GPU"):
        Model(run, device="cuda")
    with pytest.raises(UserError, match="choose auto, cpu"):
        Model(run, device="tpu")
    assert Model(run, device="auto").device == "cpu"
