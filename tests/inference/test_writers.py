import numpy as np
from PIL import Image

from segtrain.inference.writers import mask_values, write_mask


def test_masks_written_in_the_training_masks_values(tmp_path):
    classes = np.array([[0, 1], [1, 0]])
    values = mask_values({0: 0, 255: 1})
    assert values == {0: 0, 1: 255}
    write_mask(tmp_path / "a.png", classes, values)
    assert np.array_equal(np.array(Image.open(tmp_path / "a.png")), [[0, 255], [255, 0]])


def test_ambiguous_mapping_writes_indices(tmp_path):
    assert mask_values({0: 0, 1: 1, 255: 1}) is None
    write_mask(tmp_path / "b.png", np.array([[2, 0]]), None)
    assert np.array(Image.open(tmp_path / "b.png")).tolist() == [[2, 0]]
