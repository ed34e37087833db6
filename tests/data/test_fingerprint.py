import numpy as np
import pytest
from PIL import Image

from segtrain.data.check.dataset import check_dataset
from segtrain.data.fingerprint import fingerprint


def _write(root, stem, image, mask):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{stem}.png")
    Image.fromarray(mask).save(root / "masks" / f"{stem}.png")


def test_fingerprint_by_hand(tmp_path):
    # a: 4x4 image of value 10, mask a quarter foreground; b: 4x8 image half 0 half 20, empty mask; c: outside the split
    a_mask = np.zeros((4, 4), np.uint8)
    a_mask[:2, :2] = 1
    _write(tmp_path, "a", np.full((4, 4), 10, np.uint8), a_mask)
    b_image = np.zeros((4, 8), np.uint8)
    b_image[:, 4:] = 20
    _write(tmp_path, "b", b_image, np.zeros((4, 8), np.uint8))
    _write(tmp_path, "c", np.full((6, 6), 255, np.uint8), np.ones((6, 6), np.uint8))
    report = check_dataset(tmp_path)
    fp = fingerprint(report, ["a", "b"])
    assert fp.n_images == 2 and fp.channels == 1 and fp.num_classes == 2
    assert fp.height == {"min": 4, "median": 4, "max": 4}
    assert fp.width == {"min": 4, "median": 6, "max": 8}
    assert fp.distinct_sizes == 2
    # 4 foreground pixels of 16 + 32 labelled pixels
    assert fp.class_fractions == pytest.approx([44 / 48, 4 / 48])
    assert fp.smallest_class_fraction == pytest.approx(4 / 48)
    assert fp.empty_mask_share == 0.5
    # per-image means 10 and 10, second moments 100 and 200: std = sqrt(150 - 100)
    assert fp.intensity["min"] == 0 and fp.intensity["max"] == 20
    assert fp.intensity["mean"] == pytest.approx(10.0)
    assert fp.intensity["std"] == pytest.approx(np.sqrt(50.0))
    assert fp.to_dict()["label_mapping"] == {"0": 0, "1": 1}
