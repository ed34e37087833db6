import json

import pytest

from segtrain.data.split import from_layout, load_split, random_split, resolve_split
from segtrain.errors import UserError

STEMS = [f"s{i:03d}" for i in range(100)]


def test_random_split_sizes_and_disjoint():
    split = random_split(STEMS, 0.15, 0.15, seed=0)
    assert [len(split[k]) for k in ("train", "val", "test")] == [70, 15, 15]
    assert set(split["train"]) | set(split["val"]) | set(split["test"]) == set(STEMS)
    assert not set(split["train"]) & set(split["test"])


def test_random_split_deterministic_and_order_free():
    a = random_split(STEMS, 0.15, 0.15, seed=3)
    assert random_split(list(reversed(STEMS)), 0.15, 0.15, seed=3) == a
    assert random_split(STEMS, 0.15, 0.15, seed=4) != a


def test_too_few_images():
    with pytest.raises(UserError, match="too few"):
        random_split(["a", "b"], 0.15, 0.15, seed=0)


def test_split_file_precedence(tmp_path):
    stems = ["a", "b", "c", "d"]
    (tmp_path / "split.json").write_text(json.dumps({"train": ["a", "b"], "val": ["c"], "test": ["d"]}))
    split, source = resolve_split(stems, tmp_path, None, 0.15, 0.15, 0)
    assert split["test"] == ["d"] and "found in the dataset folder" in source
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"train": ["c", "d"], "val": ["a"], "test": ["b"]}))
    split, source = resolve_split(stems, tmp_path, other, 0.15, 0.15, 0)
    assert split["train"] == ["c", "d"] and str(other) in source


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"train": ["a"]}', "needs the keys"),
        ('{"train": ["a"], "val": ["a"]}', "in both"),
        ('{"train": ["a"], "val": ["zz"]}', "not in the dataset"),
        ('{"train": [], "val": ["a"]}', "train split is empty"),
    ],
)
def test_bad_split_files(tmp_path, content, message):
    path = tmp_path / "split.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_split(path, ["a", "b"])


def test_a_split_the_folders_leave_out_is_drawn_from_train():
    stems = [f"a{i}" for i in range(10)]
    split, drawn = from_layout(stems, {"train": stems[:8], "val": stems[8:]}, 0.15, 0.2, seed=0)
    assert split["val"] == ["a8", "a9"] and len(split["test"]) == 2 and len(split["train"]) == 6
    assert set(split["train"]) | set(split["test"]) == set(stems[:8])
    assert drawn == " (2 test, seed 0)"
    assert from_layout(stems, {"train": stems[:8], "val": stems[8:]}, 0.15, 0.2, seed=0) == (split, drawn)
    with pytest.raises(UserError, match="give 1 training image"):
        from_layout(stems[:3], {"train": stems[:1], "test": stems[1:3]}, 0.15, 0.15, seed=0)
