"""Tests for segtrain.data.classes: classes.json and snapping lossy values to class values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segtrain.data.classes import ClassFile, dominant_values, format_values, read_class_file, snap_values
from segtrain.errors import UserError


def _write(root: Path, text: str) -> Path:
    path = root / "classes.json"
    path.write_text(text)
    return path


def test_no_file_gives_none(tmp_path: Path) -> None:
    assert read_class_file(tmp_path) is None


def test_colour_file_in_class_order(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"sky": [128, 128, 128], "ground": [0, 0, 0], "sun": [255, 0, 0]}')
    classes = read_class_file(tmp_path)
    assert classes == ClassFile(path=path, names=("sky", "ground", "sun"),
                                values=(128 * 65793, 0, 255 * 65536), colour=True)
    assert classes.mapping == {128 * 65793: 0, 0: 1, 255 * 65536: 2}


def test_value_file(tmp_path: Path) -> None:
    _write(tmp_path, '{"background": 0, "cell": 255}')
    classes = read_class_file(tmp_path)
    assert classes.colour is False and classes.names == ("background", "cell")
    assert classes.mapping == {0: 0, 255: 1}


@pytest.mark.parametrize(("text", "what"), [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
    ('[[0, 0, 0], [1, 1, 1]]', "holds a JSON list, not an object of class names"),
    ('{"background": 0}', "lists 1 class, need at least 2 (background and one more)"),
    ('{}', "lists 0 classes, need at least 2"),
    ('{"a": [0, 0, 0], "b": [256, 0, 0]}', 'class "b" has [256, 0, 0], not a colour [r, g, b] (0..255)'),
    ('{"a": [0, 0, 0], "b": [1, 2]}', 'class "b" has [1, 2], not a colour'),
    ('{"a": 0, "b": "red"}', 'class "b" has "red", not a colour'),
    ('{"a": 0, "b": true}', 'class "b" has true, not a colour'),
    ('{"a": 0, "b": 1.5}', 'class "b" has 1.5, not a colour'),
    ('{"a": 0, "b": -1}', 'class "b" has value -1, outside 0..2147483647'),
    ('{"a": [0, 0, 0], "b": 1}', "mixes colours and mask values"),
    ('{"a": [0, 0, 0], "b": [9, 9, 9], "c": [0, 0, 0]}', 'classes "a" and "c" share the colour (0, 0, 0)'),
    ('{"a": 0, "b": 0}', 'classes "a" and "b" share the value 0'),
    ('{"a": 0, "a": 1}', 'lists class "a" twice'),
    ('{"a": 0, " ": 1}', "has an empty class name"),
])
def test_bad_files_raise_one_line(tmp_path: Path, text: str, what: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UserError) as info:
        read_class_file(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}: {what}")
    assert '; write one entry per class in class order, e.g. {"background": [0, 0, 0]' in message
    assert "\n" not in message


def test_format_values_shortens_long_lists() -> None:
    assert format_values([0, 255 * 65536], colour=True) == "(0, 0, 0), (255, 0, 0)"
    assert format_values(range(20)) == "0, 1, 2, 3, 4, 5, ..., 19 (20 values)"


def test_dominant_values_png_and_jpeg() -> None:
    values = np.array([0, 1, 2, 40, 254, 255])
    counts = np.array([5000, 200, 30, 1, 150, 4000])
    # PNG rule: at least 1% of all pixels
    assert dominant_values(values, counts, colour=False, jpeg=False).tolist() == [0, 1, 254, 255]
    # JPEG rule: peaks, with ringing next to a stronger peak dropped
    assert dominant_values(values, counts, colour=False, jpeg=True).tolist() == [0, 255]


def test_snap_values_table() -> None:
    targets = np.array([0, 255])
    values = np.array([0, 3, 250, 255])
    counts = np.array([100, 2, 3, 100])
    assert snap_values(values, counts, targets, False, 0.05) == {3: 0, 250: 255}
    assert snap_values(values, counts, targets, False, 0.01) is None  # 2.4% off the targets
    assert snap_values(np.array([0, 255]), np.array([5, 5]), targets, False, 0.05) == {}
    assert snap_values(values, counts, np.array([0]), False, 0.05) is None  # one target: nothing to tell apart
    # 0, 1, 2 with 2 rare: 2 is as far from 1 as 1 from 0, so it is a class, not noise
    assert snap_values(np.array([0, 1, 2]), np.array([500, 500, 3]), np.array([0, 1]), False, 0.05) is None


def test_snap_values_colours_and_jpeg_gap() -> None:
    red, gray = 255 * 65536, 128 * 65793
    values = np.array([0, 3 * 65536, red - 65536 * 2, gray, 200 * 65536 + 40 * 256 + 40])
    counts = np.array([1000, 5, 5, 1000, 5])
    targets = np.array([0, gray, red])
    # (200, 40, 40) is 79 from red, within half the smallest gap (221 / 2); (100, 160, 0) is not (135)
    assert snap_values(values, counts, targets, True, 0.05) == {3 * 65536: 0, red - 2 * 65536: red,
                                                                200 * 65536 + 40 * 256 + 40: red}
    far = np.array([0, gray, red, 100 * 65536 + 160 * 256])
    assert snap_values(far, np.array([1000, 1000, 1000, 5]), targets, True, 0.05) is None
    assert snap_values(far, np.array([1000, 1000, 1000, 5]), targets, True, 0.05, jpeg=True) is not None


# --- label maps: ids that are not class indices, ignored values (issue 18) ---------------------------------

def test_a_label_map_with_ignore_values(tmp_path: Path) -> None:
    _write(tmp_path, '{"classes": {"road": 7, "sidewalk": 8}, "ignore": [0, 1, 255]}')
    classes = read_class_file(tmp_path)
    assert classes.names == ("road", "sidewalk") and classes.colour is False
    assert classes.mapping == {7: 0, 8: 1} and classes.ignore == (0, 1, 255)
    _write(tmp_path, '{"classes": {"bg": [0, 0, 0], "person": [192, 128, 128]}, "ignore": [[224, 224, 192]]}')
    voc = read_class_file(tmp_path)
    assert voc.colour and voc.ignore == (224 * 65536 + 224 * 256 + 192,)


def test_a_cityscapes_list_of_ids_and_train_ids(tmp_path: Path) -> None:
    _write(tmp_path, json.dumps([{"name": "unlabeled", "id": 0, "train_id": 255},
                                 {"name": "road", "id": 7, "train_id": 0}, {"name": "sidewalk", "id": 8, "trainId": 1},
                                 {"name": "parking", "id": 9, "train_id": 1},
                                 {"name": "license plate", "id": 1, "train_id": -1}]))
    classes = read_class_file(tmp_path)
    assert classes.names == ("road", "sidewalk")
    assert classes.mapping == {7: 0, 8: 1, 9: 1} and classes.ignore == (0, 1)
    _write(tmp_path, json.dumps([{"name": "bg", "color": [0, 0, 0]}, {"name": "aeroplane", "color": [128, 0, 0]}]))
    palette = read_class_file(tmp_path)  # no train ids: the entries are the classes in order
    assert palette.colour and palette.names == ("bg", "aeroplane") and palette.mapping == {0: 0, 128 * 65536: 1}


@pytest.mark.parametrize(("text", "what"), [
    ('{"classes": {"a": 0, "b": 1}, "ignore": [1]}', "value 1 is both a class and ignored"),
    ('{"classes": {"a": 0, "b": 1}, "other": 2}', 'has the key "other"; a label map holds "classes" and "ignore"'),
    ('[{"name": "a", "id": 0, "train_id": 0}, {"name": "b", "id": 1, "train_id": 2}]', "train ids 0, 2 are not 0, 1"),
    ('[{"name": "a", "id": 0}, {"id": 1}]', 'entry 1 needs a "name" and an "id"'),
    ('[{"name": "a", "id": 0}, {"name": "b", "id": 0}]', "lists one id or colour twice"),
])
def test_bad_label_maps_raise_one_line(tmp_path: Path, text: str, what: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UserError) as info:
        read_class_file(tmp_path)
    assert str(info.value).startswith(f"{path}: {what}") and "\n" not in str(info.value)
