import json

import pytest

from segtrain.data.split import load_split, random_split, resolve_split
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
