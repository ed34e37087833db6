"""Tests for segtrain.data.readers: decoding images and masks, and read errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile

from segtrain.data.readers import ColourMaskError, ReadError, image_size, read_image, read_mask
from segtrain.errors import UserError

H, W = 20, 30


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(123)


def _gray8(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(H, W), dtype=np.uint8)


def _rgb8(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# --- images: PNG / JPEG -------------------------------------------------------------

def test_png_gray8(tmp_path, rng) -> None:
    data = _gray8(rng)
    Image.fromarray(data).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.shape == (H, W, 1) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., 0], data)


def test_png_gray16(tmp_path, rng) -> None:
    data = rng.integers(0, 65536, size=(H, W), dtype=np.uint16)
    Image.fromarray(data).save(tmp_path / "a.png")
    img = read_image(str(tmp_path / "a.png"))
    assert img.shape == (H, W, 1) and img.dtype == np.uint16
    np.testing.assert_array_equal(img[..., 0], data)


def test_png_rgb(tmp_path, rng) -> None:
    data = _rgb8(rng)
    Image.fromarray(data).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, data)


def test_png_rgba_drops_alpha(tmp_path, rng) -> None:
    data = rng.integers(0, 256, size=(H, W, 4), dtype=np.uint8)
    Image.fromarray(data, "RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.shape == (H, W, 3)
    np.testing.assert_array_equal(img, data[..., :3])


def test_png_la_becomes_gray(tmp_path, rng) -> None:
    gray = _gray8(rng)
    Image.merge("LA", [Image.fromarray(gray), Image.fromarray(_gray8(rng))]).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.shape == (H, W, 1)
    np.testing.assert_array_equal(img[..., 0], gray)


def test_palette_image_becomes_rgb_colours(tmp_path) -> None:
    indices = np.zeros((H, W), np.uint8)
    indices[:, W // 2:] = 1
    im = Image.fromarray(indices)
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    im.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.shape == (H, W, 3)
    assert img[0, 0].tolist() == [10, 20, 30]
    assert img[0, -1].tolist() == [200, 100, 50]


def test_one_bit_png(tmp_path) -> None:
    data = np.zeros((H, W), bool)
    data[2:5, 3:9] = True
    Image.fromarray(data).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    assert set(np.unique(read_image(tmp_path / "b.png")).tolist()) == {0, 255}
    mask = read_mask(tmp_path / "b.png")
    np.testing.assert_array_equal(mask, data.astype(np.uint8))


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".JPG"])
def test_jpeg_rgb_and_gray(tmp_path, ext) -> None:
    smooth = np.tile(np.linspace(0, 255, W, dtype=np.uint8), (H, 1))
    rgb = np.stack([smooth, smooth[::-1], np.full_like(smooth, 128)], axis=-1)
    Image.fromarray(rgb).save(tmp_path / f"c{ext}", quality=95)
    Image.fromarray(smooth).save(tmp_path / f"g{ext}", quality=95)
    img = read_image(tmp_path / f"c{ext}")
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    assert np.abs(img.astype(int) - rgb).mean() < 4
    gray = read_image(tmp_path / f"g{ext}")
    assert gray.shape == (H, W, 1)
    assert np.abs(gray[..., 0].astype(int) - smooth).mean() < 4


# --- images: TIFF ---------------------------------------------------------------------

def test_tiff_gray8_and_gray16(tmp_path, rng) -> None:
    g8 = _gray8(rng)
    g16 = rng.integers(0, 65536, size=(H, W), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", g8)
    tifffile.imwrite(tmp_path / "b.TIFF", g16)
    a, b = read_image(tmp_path / "a.tif"), read_image(tmp_path / "b.TIFF")
    assert (a.shape, a.dtype) == ((H, W, 1), np.uint8)
    assert (b.shape, b.dtype) == ((H, W, 1), np.uint16)
    np.testing.assert_array_equal(a[..., 0], g8)
    np.testing.assert_array_equal(b[..., 0], g16)


def test_tiff_rgb_interleaved(tmp_path, rng) -> None:
    data = _rgb8(rng)
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), data)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_tiff_planar_is_transposed(tmp_path, rng, channels) -> None:
    planar = rng.integers(0, 65536, size=(channels, H, W), dtype=np.uint16)
    if channels == 3:
        tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    else:
        tifffile.imwrite(tmp_path / "p.tif", planar, photometric="minisblack")
    img = read_image(tmp_path / "p.tif")
    kept = channels if channels != 3 else 3  # 4 gray pages are 4 channels (pages are channels, none is alpha)
    expected = np.moveaxis(planar, 0, -1)[..., :kept]
    assert img.shape == (H, W, kept) and img.dtype == np.uint16
    np.testing.assert_array_equal(img, expected)


def test_tiff_float_stays_float32(tmp_path, rng) -> None:
    data = rng.normal(size=(H, W)).astype(np.float64)
    tifffile.imwrite(tmp_path / "f.tif", data)
    img = read_image(tmp_path / "f.tif")
    assert img.dtype == np.float32
    np.testing.assert_allclose(img[..., 0], data.astype(np.float32))


def test_tiff_stack_image_raises(tmp_path, rng) -> None:
    tifffile.imwrite(tmp_path / "s.tif", rng.integers(0, 255, size=(7, H, W), dtype=np.uint8))
    with pytest.raises(ReadError, match="s.tif: unsupported multi-page TIFF"):
        read_image(tmp_path / "s.tif")


# --- image_size ---------------------------------------------------------------------

def test_image_size_reads_headers(tmp_path, rng) -> None:
    Image.fromarray(_rgb8(rng)).save(tmp_path / "a.png")
    Image.fromarray(_rgb8(rng)).save(tmp_path / "a.jpg")
    tifffile.imwrite(tmp_path / "a.tif", _gray8(rng))
    tifffile.imwrite(tmp_path / "p.tif", rng.integers(0, 9, (3, H, W), dtype=np.uint8),
                     photometric="rgb", planarconfig="separate")
    for name in ("a.png", "a.jpg", "a.tif", "p.tif"):
        assert image_size(tmp_path / name) == (H, W), name


def test_image_size_of_bad_files_raises(tmp_path) -> None:
    (tmp_path / "e.png").write_bytes(b"")
    (tmp_path / "g.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(ReadError, match="e.png: empty file"):
        image_size(tmp_path / "e.png")
    with pytest.raises(ReadError, match="g.tif"):
        image_size(tmp_path / "g.tif")


# --- masks ----------------------------------------------------------------------------

def test_palette_mask_gives_indices_not_colours(tmp_path) -> None:
    indices = np.zeros((H, W), np.uint8)
    indices[5:10] = 2
    indices[:, :4] = 1
    im = Image.fromarray(indices)
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    im.save(tmp_path / "m.png")
    assert Image.open(tmp_path / "m.png").mode == "P"
    mask = read_mask(tmp_path / "m.png")
    assert mask.shape == (H, W) and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, indices)


def test_gray_mask_keeps_raw_values(tmp_path) -> None:
    data = np.zeros((H, W), np.uint8)
    data[3:7] = 255
    Image.fromarray(data).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), data)


def test_16bit_png_mask(tmp_path) -> None:
    data = np.arange(H * W, dtype=np.uint16).reshape(H, W) * 50
    Image.fromarray(data).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.dtype == np.uint16
    np.testing.assert_array_equal(mask, data)


def test_rgb_mask_with_equal_channels_gives_first_channel(tmp_path) -> None:
    data = np.zeros((H, W), np.uint8)
    data[:, 10:] = 3
    Image.fromarray(np.stack([data] * 3, axis=-1)).save(tmp_path / "m.png")
    rgba = np.dstack([data, data, data, np.full_like(data, 255)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), data)
    np.testing.assert_array_equal(read_mask(tmp_path / "a.png"), data)


def test_colour_mask_raises(tmp_path) -> None:
    data = np.zeros((H, W, 3), np.uint8)
    data[:5, :, 0] = 255
    data[5:10, :, 1] = 255
    Image.fromarray(data).save(tmp_path / "c.png")
    with pytest.raises(ColourMaskError) as info:
        read_mask(tmp_path / "c.png")
    assert isinstance(info.value, ReadError)
    assert str(info.value).startswith(
        f"{tmp_path / 'c.png'}: colour-coded RGB mask; list the colours in {tmp_path.parent / 'classes.json'}")


def test_tiff_masks(tmp_path) -> None:
    data = np.zeros((H, W), np.uint8)
    data[4:8] = 2
    tifffile.imwrite(tmp_path / "m.tif", data)
    tifffile.imwrite(tmp_path / "n.tif", data.astype(np.int16) - 1)
    tifffile.imwrite(tmp_path / "f.tif", data.astype(np.float32))
    mask = read_mask(tmp_path / "m.tif")
    assert mask.shape == (H, W) and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, data)
    negative = read_mask(tmp_path / "n.tif")
    assert negative.dtype == np.int32 and negative.min() == -1
    floats = read_mask(tmp_path / "f.tif")
    assert floats.dtype.kind in "iu"
    np.testing.assert_array_equal(floats, data)


def test_non_integer_float_mask_raises(tmp_path) -> None:
    tifffile.imwrite(tmp_path / "f.tif", np.full((H, W), 0.5, np.float32))
    with pytest.raises(ReadError, match="non-integer"):
        read_mask(tmp_path / "f.tif")


def test_multipage_tiff_mask_raises_with_page_count(tmp_path) -> None:
    tifffile.imwrite(tmp_path / "m.tif", np.zeros((3, H, W), np.uint8), photometric="minisblack")
    with pytest.raises(ReadError) as info:
        read_mask(tmp_path / "m.tif")
    assert str(info.value).startswith(f"{tmp_path / 'm.tif'}: multi-page TIFF mask (3 pages); ")


# --- broken files -----------------------------------------------------------------------

@pytest.mark.parametrize("reader", [read_image, read_mask])
def test_truncated_png_raises(tmp_path, rng, reader) -> None:
    Image.fromarray(_gray8(rng)).save(tmp_path / "t.png")
    path = _truncate(tmp_path / "t.png")
    with pytest.raises(ReadError) as info:
        reader(path)
    assert str(info.value).startswith(f"{path}: truncated or corrupt file")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_png_cut_after_the_pixel_data_raises(tmp_path) -> None:
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "m.png")
    full = (tmp_path / "m.png").read_bytes()
    for cut in (12, 16, 20):  # IEND chunk; + IDAT CRC; + zlib checksum
        (tmp_path / "m.png").write_bytes(full[:-cut])
        with pytest.raises(ReadError, match="m.png: truncated or corrupt file"):
            read_mask(tmp_path / "m.png")


@pytest.mark.parametrize("name", ["t.tif", "t.jpg"])
def test_truncated_tiff_and_jpeg_raise(tmp_path, rng, name) -> None:
    path = tmp_path / name
    data = _rgb8(rng)
    if name.endswith(".tif"):
        tifffile.imwrite(path, data, photometric="rgb")
    else:
        Image.fromarray(data).save(path)
    _truncate(path, 0.4)
    with pytest.raises(ReadError, match=name):
        read_image(path)


@pytest.mark.parametrize("name", ["z.png", "z.jpg", "z.tif"])
@pytest.mark.parametrize("reader", [read_image, read_mask])
def test_zero_byte_file_raises(tmp_path, name, reader) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(ReadError) as info:
        reader(path)
    assert str(info.value) == f"{path}: empty file (0 bytes); re-export the file or remove it"


@pytest.mark.parametrize("name", ["g.png", "g.tif"])
def test_garbage_file_raises(tmp_path, name) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG this is not really an image" * 10)
    with pytest.raises(ReadError, match=name):
        read_image(path)


def test_missing_file_raises_user_error(tmp_path) -> None:
    with pytest.raises(UserError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_read_error_message_format() -> None:
    err = ReadError("data/a.png", "broken", "fix it")
    assert isinstance(err, UserError)
    assert str(err) == "data/a.png: broken; fix it"
    assert err.path == Path("data/a.png")
    assert str(ReadError("whole message")) == "whole message"


# --- masks read as colours --------------------------------------------------------------

def _packed(r: int, g: int, b: int) -> int:
    return r * 65536 + g * 256 + b


def test_colour_read_of_rgb_and_rgba_masks(tmp_path) -> None:
    data = np.zeros((H, W, 3), np.uint8)
    data[:5] = (255, 0, 0)
    data[5:10] = (0, 128, 64)
    Image.fromarray(data).save(tmp_path / "c.png")
    Image.fromarray(np.dstack([data, np.full((H, W), 200, np.uint8)]), "RGBA").save(tmp_path / "a.png")
    for name in ("c.png", "a.png"):
        mask = read_mask(tmp_path / name, colour=True)
        assert mask.shape == (H, W) and mask.dtype == np.int32
        assert mask[0, 0] == _packed(255, 0, 0) and mask[7, 3] == _packed(0, 128, 64) and mask[-1, -1] == 0


def test_colour_read_of_palette_gray_and_one_bit_masks(tmp_path) -> None:
    indices = np.zeros((H, W), np.uint8)
    indices[:, :4] = 1
    im = Image.fromarray(indices)
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    im.save(tmp_path / "p.png")
    palette = read_mask(tmp_path / "p.png", colour=True)
    assert palette[0, 0] == _packed(200, 100, 50) and palette[0, -1] == _packed(10, 20, 30)
    np.testing.assert_array_equal(read_mask(tmp_path / "p.png"), indices)  # default: indices
    gray = np.full((H, W), 7, np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    assert np.all(read_mask(tmp_path / "g.png", colour=True) == _packed(7, 7, 7))
    bits = np.zeros((H, W), bool)
    bits[0, 0] = True
    Image.fromarray(bits).save(tmp_path / "b.png")
    one_bit = read_mask(tmp_path / "b.png", colour=True)
    assert one_bit[0, 0] == _packed(255, 255, 255) and one_bit[1, 1] == 0


def test_colour_read_of_16bit_values_raises(tmp_path) -> None:
    Image.fromarray(np.full((H, W), 300, np.uint16)).save(tmp_path / "m.png")
    with pytest.raises(ReadError, match="m.png: values 300..300 do not fit 8-bit colours"):
        read_mask(tmp_path / "m.png", colour=True)


def test_colour_read_of_rgb_tiff(tmp_path) -> None:
    data = np.zeros((H, W, 3), np.uint8)
    data[:, 3:] = (1, 2, 3)
    tifffile.imwrite(tmp_path / "c.tif", data, photometric="rgb")
    with pytest.raises(ColourMaskError):
        read_mask(tmp_path / "c.tif")
    assert read_mask(tmp_path / "c.tif", colour=True)[0, 5] == _packed(1, 2, 3)


def test_content_must_match_the_suffix(tmp_path) -> None:
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(tmp_path / "a.png", format="JPEG")
    with pytest.raises(ReadError, match=r"a\.png: holds JPEG data but is named \.png; rename it to a\.jpg"):
        read_image(tmp_path / "a.png")
    with pytest.raises(ReadError, match="holds JPEG data"):
        read_mask(tmp_path / "a.png")
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(tmp_path / "b.jpg", format="PNG")
    with pytest.raises(ReadError, match=r"b\.jpg: holds PNG data but is named \.jpg; rename it to b\.png"):
        read_image(tmp_path / "b.jpg")


# --- GIF, compressed TIFF, page stacks, 16-bit classes (issue 18) ------------------------------------------

def test_gif_masks_and_images(tmp_path) -> None:
    manual = np.zeros((H, W), np.uint8)
    manual[5:9, 3:20] = 255  # DRIVE's 21_manual1.gif: vessels 255 on 0
    Image.fromarray(manual).save(tmp_path / "21_manual1.gif")
    mask = read_mask(tmp_path / "21_manual1.gif")
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, manual)  # gray values, not the indices of GIF's reordered palette
    image = read_image(tmp_path / "21_manual1.gif")
    assert image.shape == (H, W, 1)
    np.testing.assert_array_equal(image[..., 0], manual)


@pytest.mark.parametrize("compression", ["lzw", "zstd", "deflate"])
def test_compressed_tiff_is_read(tmp_path, rng, compression) -> None:
    pytest.importorskip("imagecodecs")
    data = rng.integers(0, 65536, size=(H, W), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", data, compression=compression)
    np.testing.assert_array_equal(read_image(tmp_path / "c.tif")[..., 0], data)
    labels = (data % 3).astype(np.uint8)
    tifffile.imwrite(tmp_path / "m.tif", labels, compression=compression)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.tif"), labels)


@pytest.mark.parametrize(("compression", "name"), [("lzw", "LZW"), ("zstd", "ZSTD")])
def test_a_missing_codec_is_named_not_called_corrupt(tmp_path, monkeypatch, compression, name) -> None:
    pytest.importorskip("imagecodecs")
    import types

    import tifffile.tifffile as tt

    tifffile.imwrite(tmp_path / "c.tif", np.zeros((H, W), np.uint8), compression=compression)
    monkeypatch.setattr(tt, "imagecodecs", types.SimpleNamespace())  # as if imagecodecs were not installed
    monkeypatch.setattr(tt.TIFF.DECOMPRESSORS, "_codecs", {})  # forget the decoders already looked up
    with pytest.raises(ReadError) as info:
        read_image(tmp_path / "c.tif")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'c.tif'}: {name} compression, a codec that is not installed (")
    assert "pip install imagecodecs" in message and "corrupt" not in message and "\n" not in message


def test_a_stack_of_up_to_four_pages_is_channels_and_a_page_reads_alone(tmp_path, rng) -> None:
    pages = rng.integers(0, 255, size=(2, H, W), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "s.tif", pages, photometric="minisblack")
    image = read_image(tmp_path / "s.tif")
    assert image.shape == (H, W, 2)  # both pages kept: neither is alpha
    np.testing.assert_array_equal(image, np.moveaxis(pages, 0, -1))
    np.testing.assert_array_equal(read_image(tmp_path / "s.tif", page=1)[..., 0], pages[1])
    np.testing.assert_array_equal(read_mask(tmp_path / "s.tif", page=0), pages[0])
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((5, H, W), np.uint8), photometric="minisblack")
    with pytest.raises(ReadError, match="big.tif: unsupported multi-page TIFF of 5 pages with a one-page mask; up to 4"):
        read_image(tmp_path / "big.tif")


def test_16bit_png_mask_values_above_255_are_classes(tmp_path) -> None:
    from segtrain.data.check.dataset import check_dataset

    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "masks").mkdir()
    for k in range(2):
        mask = np.zeros((H, W), np.uint16)
        mask[:, 10:20], mask[:, 20:] = 300, 1000
        Image.fromarray(mask).save(tmp_path / "d" / "masks" / f"m{k}.png")
        Image.fromarray(np.full((H, W), 9, np.uint8)).save(tmp_path / "d" / "images" / f"m{k}.png")
    report = check_dataset(tmp_path / "d")
    assert report.ok, report.problems
    assert report.label_mapping == {0: 0, 300: 1, 1000: 2}
    assert report.class_pixels == [2 * H * 10] * 3
