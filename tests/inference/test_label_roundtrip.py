"""Label values round-trip: whatever values the training masks held come back from ``predict``.

8-bit masks come back as uint8 PNGs, 16-bit ones as uint16 PNGs, values above 65535 as uint32 TIFFs
(``<stem>.tif``: PNG holds 16 bits at most), never clipped to 65535. The end-to-end cases train a
tiny run for a few epochs, predict its training images and compare the values read back.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from helpers.datasets import make_dataset
from segtrain.inference.writers import mask_dtype, mask_suffix, mask_values, write_mask


@pytest.mark.parametrize("values,dtype,suffix", [
    ({0: 0, 1: 255}, np.uint8, ".png"),
    ({0: 0, 1: 300, 2: 65535}, np.uint16, ".png"),
    ({0: 0, 1: 70000, 2: 2**31 - 1}, np.uint32, ".tif"),
    ({0: -5, 1: 3}, np.int32, ".tif"),
    (None, np.uint8, ".png"),
])
def test_the_format_holds_every_value(values, dtype, suffix):
    assert mask_dtype(values, 3) == np.dtype(dtype)
    assert mask_suffix(values) == suffix
    assert mask_suffix(values, colour=True) == ".png"


def test_a_32_bit_mask_is_written_as_tiff_not_clipped(tmp_path):
    values = mask_values({0: 0, 2**31 - 1: 1, 70000: 2})
    written = write_mask(tmp_path / "a.png", np.array([[0, 1], [2, 1]]), values)
    assert written == tmp_path / "a.tif" and not (tmp_path / "a.png").exists()
    back = tifffile.imread(written)
    assert back.dtype == np.uint32 and back.tolist() == [[0, 2**31 - 1], [70000, 2**31 - 1]]


def test_every_mask_of_a_run_has_the_same_format(tmp_path):
    """The format follows the mapping, not the pixels of one prediction: only background -> still 32 bits."""
    values = mask_values({0: 0, 2**31 - 1: 1})
    assert write_mask(tmp_path / "b.png", np.zeros((2, 2), int), values).suffix == ".tif"


def _remap(root, values, bits):
    for path in sorted((root / "masks").iterdir()):
        index = np.array(Image.open(path))
        out = np.array(values, dtype={8: np.uint8, 16: np.uint16, 32: np.uint32}[bits])[index]
        path.unlink()
        if bits == 32:  # PNG holds 16 bits at most
            tifffile.imwrite(path.with_suffix(".tif"), out)
        else:
            Image.fromarray(out).save(path)


@pytest.mark.parametrize("bits,values", [(8, [0, 7, 200]), (16, [0, 300, 65535]), (32, [0, 2**31 - 1, 2**32 - 1])])
def test_mask_values_come_back_from_predict(bits, values, tmp_path):
    from segtrain import api

    data = make_dataset(tmp_path / "data", n=6, size=(32, 32), classes=3)
    _remap(data, values, bits)
    api.train(data, tmp_path / "run", epochs=3, batch_size=2, lr=1e-2, precision="32", lr_find=False,
              num_workers=0, report=False, progress=False)
    written = api.predict(tmp_path / "run", [data / "images"], tmp_path / "pred")
    got, suffixes, dtypes = set(), set(), set()
    for path in written:
        arr = tifffile.imread(path) if path.suffix == ".tif" else np.array(Image.open(path))
        got |= set(np.unique(arr).tolist())
        suffixes.add(path.suffix)
        dtypes.add(arr.dtype)
    assert got <= set(values) and max(values) in got, (got, values)
    assert suffixes == {".tif" if bits == 32 else ".png"}
    assert dtypes == {np.dtype({8: np.uint8, 16: np.uint16, 32: np.uint32}[bits])}
