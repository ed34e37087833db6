"""Tests for segtrain.data.convert: instance masks to semantic or boundary masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from helpers.datasets import write_pairs
from segtrain.data.check.dataset import check_dataset
from segtrain.data.convert import convert_instances, instance_boundaries
from segtrain.errors import UserError


def _touching() -> np.ndarray:
    """Two 4x4 squares side by side (ids 3 and 9) in a 8x12 mask."""
    ids = np.zeros((8, 12), np.uint8)
    ids[2:6, 2:6] = 3
    ids[2:6, 6:10] = 9
    return ids


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_boundary_of_two_touching_squares() -> None:
    expected = np.array([
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        [0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0],
        [0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ], bool)
    np.testing.assert_array_equal(instance_boundaries(_touching()), expected)


@pytest.mark.parametrize("to", ["semantic", "boundary"])
def test_convert_writes_a_new_dataset(tmp_path: Path, to: str) -> None:
    data = write_pairs(tmp_path / "data", {"a": _touching(), "b": np.zeros((8, 12), np.uint8)})
    (data / "split.json").write_text('{"train": ["a"], "val": ["b"], "test": []}')
    before = _snapshot(data)
    counts = convert_instances(data, tmp_path / "out", to=to)
    assert _snapshot(data) == before  # the source is untouched
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.png", "b.png"]
    assert (out / "images" / "a.png").read_bytes() == (data / "images" / "a.png").read_bytes()
    assert (out / "split.json").read_text() == (data / "split.json").read_text()
    mask = _read(out / "masks" / "a.png")
    assert mask.dtype == np.uint8
    if to == "semantic":
        np.testing.assert_array_equal(mask, _touching() != 0)
        assert json.loads((out / "classes.json").read_text()) == {"background": 0, "object": 1}
        assert counts == {"pairs": 2, "objects": 2, "object_pixels": 32, "boundary_pixels": 0}
    else:
        # the two squares are apart: their interiors are separate blobs of class 1
        assert mask[3, 3] == 1 and mask[3, 8] == 1 and mask[3, 5] == 2 and mask[3, 6] == 2
        np.testing.assert_array_equal(mask == 2, instance_boundaries(_touching()))
        assert json.loads((out / "classes.json").read_text()) == {"background": 0, "object": 1, "boundary": 2}
        assert counts == {"pairs": 2, "objects": 2, "object_pixels": 32, "boundary_pixels": 24}
    report = check_dataset(out)
    assert report.ok, report.problems
    assert report.num_classes == (2 if to == "semantic" else 3)
    names = ["background", "object"] + (["boundary"] if to == "boundary" else [])
    assert report.class_names == names


def test_convert_reads_16bit_ids(tmp_path: Path) -> None:
    data = write_pairs(tmp_path / "data", {"a": _touching()})
    ids = _touching().astype(np.uint16) * 1000
    (data / "masks" / "a.png").unlink()
    tifffile.imwrite(data / "masks" / "a.tif", ids)
    convert_instances(data, tmp_path / "out", to="boundary")
    np.testing.assert_array_equal(_read(tmp_path / "out" / "masks" / "a.png") == 2, instance_boundaries(ids))


def test_convert_refuses_a_non_empty_or_nested_out(tmp_path: Path) -> None:
    data = write_pairs(tmp_path / "data", {"a": _touching()})
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = _snapshot(tmp_path)
    with pytest.raises(UserError, match=f"^{out}: not empty; pass a new or empty output folder$"):
        convert_instances(data, out)
    with pytest.raises(UserError, match="inside the dataset folder"):
        convert_instances(data, data / "converted")
    with pytest.raises(UserError, match="--to ring: unknown target"):
        convert_instances(data, tmp_path / "new", to="ring")
    assert _snapshot(tmp_path) == before
    assert not (data / "converted").exists() and not (tmp_path / "new").exists()


def test_convert_into_an_empty_folder_and_cleanup_on_bad_mask(tmp_path: Path) -> None:
    data = write_pairs(tmp_path / "data", {"a": _touching(), "b": _touching()})
    empty = tmp_path / "empty"
    empty.mkdir()
    assert convert_instances(data, empty)["pairs"] == 2
    (data / "masks" / "b.png").write_bytes(b"")
    with pytest.raises(UserError, match="b.png: empty file"):
        convert_instances(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()
