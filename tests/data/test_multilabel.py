import numpy as np
import pytest
import tifffile
from PIL import Image

from segtrain.data.loaders.datamodule import load_pair
from segtrain.data.discovery import discover
from segtrain.data.labels import LabelSpec
from segtrain.data.multilabel import is_multilabel, label_names, read_multilabel
from segtrain.data.loaders.sources import DecodedPair, draw_patch
from segtrain.data.readers import ReadError


def _image(path, h=8, w=10):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w), dtype=np.uint8)).save(path)


def _per_label_set(root, stems=("a", "b"), labels=("cloud", "sky")):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for stem in stems:
        _image(root / "images" / f"{stem}.png")
        for k, label in enumerate(labels):
            m = np.zeros((8, 10), np.uint8)
            m[k : k + 3, :] = 255
            Image.fromarray(m).save(root / "masks" / f"{stem}_{label}.png")
    return root


def test_per_label_files_are_grouped_by_image(tmp_path):
    found = discover(_per_label_set(tmp_path / "d"))
    assert not found.problems
    assert [s.stem for s in found.samples] == ["a", "b"]
    assert [label for label, _ in found.samples[0].labels] == ["cloud", "sky"]
    assert is_multilabel(found.samples) and label_names(found.samples) == ["cloud", "sky"]
    stack = read_multilabel(found.samples[0], ["cloud", "sky"])
    assert stack.shape == (2, 8, 10) and stack.dtype == np.uint8
    assert stack[0, :3].all() and not stack[0, 3:].any() and stack[1, 1:4].all()
    assert (stack.sum(0) == 2).any()  # rows 1-2 carry both labels: multilabel, not multiclass


def test_single_suffix_is_one_mask_per_image_not_multilabel(tmp_path):
    root = _per_label_set(tmp_path / "d", labels=("mask",))
    found = discover(root)
    assert not found.problems and all(not s.labels for s in found.samples)
    assert found.samples[0].mask.name == "a_mask.png"
    assert any("<stem>_mask" in n for n in found.notices)


@pytest.mark.parametrize("pages", [True, False])
def test_multipage_tiff_masks(tmp_path, pages):
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    _image(root / "images" / "a.png")
    stack = np.zeros((3, 8, 10), np.uint8)
    stack[0, :2] = 1
    stack[2, 5:] = 1
    if pages:  # one page per label
        with tifffile.TiffWriter(root / "masks" / "a.tif") as tif:
            for page in stack:
                tif.write(page)
    else:  # one page holding a (3, H, W) gray stack (tifffile would call 3 planes RGB unless told)
        tifffile.imwrite(root / "masks" / "a.tif", stack, photometric="minisblack")
    found = discover(root)
    assert is_multilabel(found.samples) and label_names(found.samples) == ["label0", "label1", "label2"]
    spec = LabelSpec({0: 0, 1: 1, 255: 1}, multilabel=("label0", "label1", "label2"))
    _, labels = load_pair(found.samples[0], spec)
    np.testing.assert_array_equal(labels, stack)


def test_bad_channel_values_and_missing_label_are_one_line(tmp_path):
    root = _per_label_set(tmp_path / "d")
    Image.fromarray(np.full((8, 10), 7, np.uint8)).save(root / "masks" / "a_sky.png")
    sample = discover(root).samples[0]
    with pytest.raises(ReadError, match="a_sky.png: multilabel channel holds values 7"):
        read_multilabel(sample, ["cloud", "sky"])
    with pytest.raises(ReadError, match="a_rain.png: missing label mask"):
        read_multilabel(sample, ["cloud", "rain", "sky"])


def test_patches_crop_every_label_alike():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 20, 30)).astype(np.float32)
    mask = np.zeros((2, 20, 30), np.int64)
    mask[0, 15:, 25:] = 1  # rare label in a corner
    mask[1, :, :4] = 1
    image[0] = mask[0] * 10 + mask[1] * 100  # the image encodes the labels: crops must stay aligned
    source = DecodedPair(np.moveaxis(image, 0, -1), mask, 8)
    seen_rare = 0
    for _ in range(30):
        x, y = draw_patch(source, 8, rng, rare_class_share=1.0)
        assert x.shape == (1, 8, 8) and y.shape == (2, 8, 8)
        raw = x[0] * source.std[0] + source.mean[0]  # undo the image's normalisation
        np.testing.assert_allclose(raw, y[0] * 10 + y[1] * 100, atol=1e-4)
        seen_rare += int(y[0].any())
    assert seen_rare >= 5  # crops centred on a label present, chosen uniformly among 3 choices
