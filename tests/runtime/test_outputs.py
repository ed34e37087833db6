"""The output-path guard, the marker of what segtrain wrote, and undoing what a refused command made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segtrain.errors import UserError
from segtrain.runtime.outputs import (
    MARKER,
    claim,
    created_mark,
    guard_output,
    owns,
    read_marker,
    remove_created,
    written_by_segtrain,
)


def _dataset(root: Path) -> Path:
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        (root / sub / "0000.png").write_bytes(b"png")
    return root


def test_a_new_folder_and_an_empty_one_are_free(tmp_path):
    assert guard_output(tmp_path / "new" / "run") == (tmp_path / "new" / "run").resolve()
    (tmp_path / "empty").mkdir()
    guard_output(tmp_path / "empty", overwrite=True)


@pytest.mark.parametrize("where", ["is", "inside", "contains"])
def test_the_dataset_folder_being_read_is_refused(tmp_path, where):
    data = _dataset(tmp_path / "d")
    out = {"is": data, "inside": data / "images", "contains": tmp_path}[where]
    with pytest.raises(UserError, match="being read; pass an --out outside it$"):
        guard_output(out, datasets=[data])


def test_links_and_dots_are_resolved_before_comparing(tmp_path):
    data = _dataset(tmp_path / "d")
    (tmp_path / "link").symlink_to(data)
    with pytest.raises(UserError, match=r"link/runs: lies inside the folder"):
        guard_output(tmp_path / "link" / "runs", datasets=[data])
    with pytest.raises(UserError, match="being read"):
        guard_output(tmp_path / "elsewhere" / ".." / "d" / "masks", datasets=[data])


def test_a_shared_folder_may_contain_the_dataset_but_not_lie_in_it(tmp_path):
    data = _dataset(tmp_path / "d")
    guard_output(tmp_path, kind="shared", datasets=[data], names=["lr_find.csv"])
    with pytest.raises(UserError, match="lies inside"):
        guard_output(data / "images", kind="shared", datasets=[data], names=["lr_find.csv"])


@pytest.mark.parametrize("path,reason", [("/", "system folder"), ("/etc", "system folder"),
                                         ("/usr/share/x", "lies in the system folder"), ("/usr/local", "system folder")])
def test_system_folders_are_refused(path, reason):
    with pytest.raises(UserError, match=reason):
        guard_output(path, flag="--out")


def test_a_project_under_usr_local_is_not_a_system_folder(tmp_path):
    guard_output("/usr/local/src/project/runs/r1")


def test_the_home_folder_itself_is_refused_but_a_file_in_it_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(UserError, match="your home folder itself"):
        guard_output(tmp_path)
    guard_output(tmp_path / "runs" / "r1")
    guard_output(tmp_path / "plan.json", kind="file")
    guard_output(tmp_path, kind="shared", names=["lr_find.csv"])


def test_an_input_file_is_never_replaced(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("x")
    with pytest.raises(UserError, match="cfg.yaml: is the input file, which would be replaced"):
        guard_output(config, kind="file", inputs=[config])
    with pytest.raises(UserError, match="would replace the input"):
        guard_output(tmp_path, kind="shared", inputs=[config], names=["cfg.yaml"])


def test_a_file_segtrain_did_not_write_is_refused_and_its_own_is_replaced(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    with pytest.raises(UserError, match="plan.json: exists and was not written by segtrain; pass another --out"):
        guard_output(plan, kind="file")
    claim(tmp_path, "plan", ["plan.json"])
    guard_output(plan, kind="file")
    assert read_marker(tmp_path)["files"] == ["plan.json"] and not owns(tmp_path)


def test_a_folder_with_foreign_entries(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    guard_output(mine, names=["config.yaml"])  # beside the user's files, nothing replaced
    with pytest.raises(UserError, match="notes.txt.*--overwrite removes only what segtrain wrote"):
        guard_output(mine, names=["config.yaml"], overwrite=True)
    with pytest.raises(UserError, match="mine/notes.txt: exists and was not written by segtrain"):
        guard_output(mine)  # names=None: the folder must be new, empty or segtrain's
    (mine / "config.yaml").write_text("the user's")
    with pytest.raises(UserError, match="mine/config.yaml: exists and was not written"):
        guard_output(mine, names=["config.yaml"])


def test_a_folder_holding_a_dataset_is_refused(tmp_path):
    data = _dataset(tmp_path / "d")
    with pytest.raises(UserError, match=r"holds a dataset \(images/\)"):
        guard_output(data, names=["run"])


def test_a_claimed_folder_is_segtrains_and_its_marker_says_so(tmp_path):
    claim(tmp_path / "out", "predict", ["a.png"])
    marker = json.loads((tmp_path / "out" / MARKER).read_text())
    assert marker["by"] == "segtrain" and marker["verb"] == "predict" and marker["owner"] is True
    (tmp_path / "out" / "a.png").write_bytes(b"mask")
    assert written_by_segtrain(tmp_path / "out", "a.png") and owns(tmp_path / "out")
    guard_output(tmp_path / "out", names=["a.png"], overwrite=True)


def test_a_run_folder_from_before_markers_is_recognised(tmp_path):
    run = tmp_path / "old"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("x")
    (run / "plan.json").write_text("{}")
    guard_output(run, names=["config.yaml", "plan.json"], overwrite=True)


def test_remove_created_undoes_new_folders_and_new_entries_only(tmp_path):
    (tmp_path / "given").mkdir()
    (tmp_path / "given" / "notes.txt").write_text("the user's")
    mark = created_mark()
    claim(tmp_path / "new" / "deep", "synth horizon")
    claim(tmp_path / "given", "lr-find", ["lr_find.csv"])
    (tmp_path / "given" / "lr_find.csv").write_text("x")
    claim(tmp_path / "kept", "train", keep=lambda: True)
    remove_created(mark)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in (tmp_path / "given").iterdir()] == ["notes.txt"]
    assert (tmp_path / "kept").is_dir()
