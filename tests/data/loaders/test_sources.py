import numpy as np
import pytest

from segtrain.data.loaders.patches import pad_to
from segtrain.data.loaders.sources import DecodedPair, SourceCache, draw_patch
from segtrain.data.normalize import normalize


def _position_coded(h: int, w: int) -> np.ndarray:
    """Labels whose value says where a pixel was: row * w + col."""
    return np.arange(h * w, dtype=np.int64).reshape(h, w)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_patch_equals_the_crop_of_the_normalised_image(dtype):
    rng = np.random.default_rng(1)
    image = (rng.random((40, 56, 3)) * 200 + 10).astype(dtype)
    labels = _position_coded(40, 56)
    source = DecodedPair(image, labels, 16)
    whole = normalize(image)
    draws = np.random.default_rng(7)
    for _ in range(30):
        x, y = draw_patch(source, 16, draws, rare_class_share=0.5)
        top, left = divmod(int(y[0, 0]), 56)
        assert np.array_equal(y, labels[top:top + 16, left:left + 16])
        assert x.dtype == np.float32 and x.shape == (3, 16, 16)
        assert np.array_equal(x, whole[:, top:top + 16, left:left + 16])  # bit for bit, not just close


def test_small_images_are_mirror_padded_after_their_statistics():
    image = np.arange(30, dtype=np.uint8).reshape(5, 6, 1) * 3
    labels = np.arange(30).reshape(5, 6) % 2
    source = DecodedPair(image, labels, 8)
    assert (source.height, source.width) == (8, 8)
    expected_image, expected_labels = pad_to(normalize(image), labels, 8)
    x, y = draw_patch(source, 8, np.random.default_rng(0), rare_class_share=0.0)
    assert np.array_equal(x, expected_image) and np.array_equal(y, expected_labels)


def test_labels_are_stored_compactly_and_returned_as_int64():
    labels = np.array([[0, 1], [2, 1]], dtype=np.int64)
    source = DecodedPair(np.zeros((2, 2, 1), np.uint8), labels, 2)
    assert source.labels.dtype == np.uint8
    assert source.nbytes == 4 + 4
    assert source.crop(0, 0, 2)[1].dtype == np.int64
    wide = DecodedPair(np.zeros((2, 2, 1), np.uint8), labels * 1000, 2)
    assert wide.labels.dtype == np.int16 and wide.crop(0, 0, 2)[1].max() == 2000


def test_rare_class_centring_finds_a_class_of_a_few_pixels():
    labels = np.zeros((64, 64), np.int64)
    labels[50:52, 3:5] = 1  # 4 pixels of 4096
    source = DecodedPair(np.zeros((64, 64, 1), np.uint8), labels, 16)
    rng = np.random.default_rng(0)
    uniform = sum(draw_patch(source, 16, rng, 0.0)[1].any() for _ in range(200))
    steered = sum(draw_patch(source, 16, rng, 1.0)[1].any() for _ in range(200))
    assert uniform < 30  # about 200 x 17 x 17 / 49**2 = 24 expected
    assert steered > 90  # half the draws pick class 1, and each of those contains it


def test_ignore_index_is_not_a_class_to_centre_on():
    labels = np.zeros((32, 32), np.int64)
    labels[0, 0] = 255
    source = DecodedPair(np.zeros((32, 32, 1), np.uint8), labels, 8, ignore_index=255)
    assert source.classes.tolist() == [0]


def test_multilabel_classes_and_locate():
    labels = np.zeros((2, 16, 16), np.int64)
    labels[0, :4, :4] = 1
    labels[1, 10:, 10:] = 1
    source = DecodedPair(np.zeros((16, 16, 1), np.uint8), labels, 8)
    assert sorted(source.classes.tolist()) == [0, 1, 2]
    rng = np.random.default_rng(0)
    for cls in (1, 2):
        row, col = source.locate(cls, rng)
        assert labels[cls - 1, row, col] == 1
    row, col = source.locate(0, rng)
    assert labels[:, row, col].max() == 0


def test_cache_keeps_pairs_within_its_budget():
    pairs = {k: DecodedPair(np.zeros((8, 8, 1), np.uint8), np.zeros((8, 8), np.int64), 8) for k in range(5)}
    loads = []
    cache = SourceCache(budget=3 * pairs[0].nbytes)

    def load(k):
        loads.append(k)
        return pairs[k]

    for k in [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]:
        assert cache.get(k, lambda: load(k)) is pairs[k]
    assert loads == [0, 1, 2, 3, 4, 3, 4]  # the first three stay; the others are read again
    assert cache.used == 3 * pairs[0].nbytes and (cache.hits, cache.misses) == (3, 7)
