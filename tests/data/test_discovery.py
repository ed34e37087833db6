"""Tests for segtrain.data.discovery: pairing images and masks by stem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.datasets import make_dataset
from segtrain.data.discovery import Sample, discover
from segtrain.errors import UserError


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)
    return path


def test_valid_dataset_pairs_every_stem_sorted(tiny_dataset: Path) -> None:
    found = discover(tiny_dataset)
    assert found.problems == []
    assert found.notices == []
    assert found.root == tiny_dataset
    assert [s.stem for s in found.samples] == [f"img_{i:03d}" for i in range(6)]
    first = found.samples[0]
    assert first == Sample("img_000", tiny_dataset / "images" / "img_000.png",
                           tiny_dataset / "masks" / "img_000.png")


def test_accepts_str_root_and_keeps_relative_paths(tmp_path: Path, monkeypatch) -> None:
    make_dataset(tmp_path / "data" / "x", n=2)
    monkeypatch.chdir(tmp_path)
    found = discover("data/x")
    assert found.samples[0].image == Path("data/x/images/img_000.png")


def test_samples_are_sorted_by_stem(tmp_path: Path) -> None:
    for stem in ("c", "a", "b"):
        _png(tmp_path / "images" / f"{stem}.png")
        _png(tmp_path / "masks" / f"{stem}.png")
    assert [s.stem for s in discover(tmp_path).samples] == ["a", "b", "c"]


def test_image_without_mask_is_a_problem(tiny_dataset: Path) -> None:
    (tiny_dataset / "masks" / "img_002.png").unlink()
    found = discover(tiny_dataset)
    image = tiny_dataset / "images" / "img_002.png"
    assert found.problems == [
        f"{image}: no mask; add {tiny_dataset / 'masks' / 'img_002.png'} or remove the image"
    ]
    assert "img_002" not in [s.stem for s in found.samples]
    assert len(found.samples) == 5


def test_mask_without_image_is_a_problem(tiny_dataset: Path) -> None:
    mask = _png(tiny_dataset / "masks" / "orphan.png")
    found = discover(tiny_dataset)
    assert found.problems == [
        f"{mask}: no image; add {tiny_dataset / 'images' / 'orphan.png'} or remove the mask"
    ]
    assert len(found.samples) == 6


def test_missing_mask_fix_suggests_the_extension_the_masks_use(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n=2, mask_ext=".tif")
    _png(root / "images" / "extra.png")
    (problem,) = discover(root).problems
    assert f"add {root / 'masks' / 'extra.tif'} or remove the image" in problem


def test_duplicate_stems_are_problems_and_not_paired(tiny_dataset: Path) -> None:
    _png(tiny_dataset / "images" / "img_001.jpg")
    _png(tiny_dataset / "masks" / "img_003.tif")
    found = discover(tiny_dataset)
    assert len(found.problems) == 2
    img_line, mask_line = found.problems
    assert img_line.startswith(f"{tiny_dataset / 'images' / 'img_001.jpg'}: same stem as img_001.png")
    assert "keep one file per stem" in img_line
    assert str(tiny_dataset / "masks" / "img_003.png") in mask_line
    assert "img_003.tif" in mask_line
    assert [s.stem for s in found.samples] == ["img_000", "img_002", "img_004", "img_005"]


def test_hidden_files_other_extensions_and_folders_are_ignored(tiny_dataset: Path) -> None:
    _png(tiny_dataset / "images" / ".hidden.png")
    _png(tiny_dataset / "masks" / ".hidden.png")
    (tiny_dataset / "images" / "notes.txt").write_text("hello")
    (tiny_dataset / "images" / "sub.png").mkdir()
    (tiny_dataset / "masks" / "img_000.bmp").write_bytes(b"BM")
    found = discover(tiny_dataset)
    assert found.problems == []
    assert len(found.samples) == 6
    assert any("notes.txt" in n and "ignored 1 file" in n for n in found.notices)
    assert any("img_000.bmp" in n for n in found.notices)


def test_extensions_are_case_insensitive(tmp_path: Path) -> None:
    _png(tmp_path / "images" / "a.PNG")
    _png(tmp_path / "masks" / "a.Png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "images" / "b.JPEG", format="JPEG")
    _png(tmp_path / "masks" / "b.TIFF")  # content does not matter to discovery
    found = discover(tmp_path)
    assert found.problems == []
    assert [(s.image.name, s.mask.name) for s in found.samples] == [("a.PNG", "a.Png"), ("b.JPEG", "b.TIFF")]


def test_jpeg_mask_is_paired_with_a_lossy_notice(tiny_dataset: Path) -> None:
    old = tiny_dataset / "masks" / "img_004.png"
    new = tiny_dataset / "masks" / "img_004.jpg"
    old.rename(new)
    found = discover(tiny_dataset)
    assert found.problems == []
    assert any(s.mask == new for s in found.samples)
    assert found.notices == [
        f"{new}: lossy format; values near class boundaries may be wrong, save masks as PNG"
    ]


def test_many_jpeg_masks_give_one_summary_notice(tiny_dataset: Path) -> None:
    for mask in sorted((tiny_dataset / "masks").iterdir()):
        mask.rename(mask.with_suffix(".jpeg"))
    found = discover(tiny_dataset)
    assert len(found.samples) == 6
    assert len(found.notices) == 1
    assert "6 masks in JPEG format" in found.notices[0]
    assert "lossy format" in found.notices[0]


def test_empty_masks_folder_reports_every_image(tiny_dataset: Path) -> None:
    for mask in (tiny_dataset / "masks").iterdir():
        mask.unlink()
    found = discover(tiny_dataset)
    assert found.samples == []
    assert len(found.problems) == 6
    assert all(": no mask; add " in p for p in found.problems)


def test_missing_root_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UserError) as info:
        discover(missing)
    assert str(info.value) == f"{missing}: no such folder; pass the folder that holds images/ and masks/"


def test_root_that_is_a_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        discover(path)


def test_missing_masks_folder_raises(tmp_path: Path) -> None:
    _png(tmp_path / "images" / "a.png")
    with pytest.raises(UserError) as info:
        discover(tmp_path)
    masks = tmp_path / "masks"
    assert str(info.value) == f"{masks}: missing; put one mask per image in {masks}/<stem>.png"


def test_missing_images_folder_raises_and_hints_loose_images(tmp_path: Path) -> None:
    (tmp_path / "masks").mkdir()
    _png(tmp_path / "a.png")
    with pytest.raises(UserError) as info:
        discover(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'images'}: missing")
    assert "found 1 image files directly in" in message
    assert "\n" not in message


def test_images_folder_without_images_raises(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "readme.txt").write_text("no images here")
    _png(tmp_path / "images" / ".hidden.png")
    with pytest.raises(UserError) as info:
        discover(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'images'}: no images (.png, .jpg, .tif) found (only readme.txt); ")


def test_system_files_are_skipped_silently_and_odd_masks_explained(tmp_path: Path) -> None:
    _png(tmp_path / "images" / "a.png")
    _png(tmp_path / "masks" / "a.png")
    _png(tmp_path / "images" / "b.png")
    (tmp_path / "masks" / "b.bmp").write_bytes(b"BM")
    for folder in ("images", "masks"):
        (tmp_path / folder / "Thumbs.db").write_bytes(b"\0")
        (tmp_path / folder / "desktop.ini").write_text("[x]")
    found = discover(tmp_path)
    assert not any("Thumbs.db" in n or "desktop.ini" in n for n in found.notices)
    assert found.problems == [f"{tmp_path / 'images' / 'b.png'}: no mask (b.bmp is not a mask format: save it as "
                              f".png or .tif); add {tmp_path / 'masks' / 'b.png'} or remove the image"]
