"""synth noisy: the noise it adds has the sigma asked for; clean and noisy pair by name."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segtrain.errors import UserError
from segtrain.synthetic.noisy import HIGH, LOW, check_noisy_args, synthesize_noisy


def test_measured_sigma_and_pairs(tmp_path):
    synthesize_noisy(tmp_path, n=3, size=64, seed=1, sigma=25)
    names = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "clean").iterdir()) == ["0000.png", "0001.png", "0002.png"]
    diffs = []
    for name in names:
        noisy = np.asarray(Image.open(tmp_path / "images" / name), dtype=np.float64)
        clean = np.asarray(Image.open(tmp_path / "clean" / name), dtype=np.float64)
        assert clean.min() >= LOW - 0.5 and clean.max() <= HIGH + 0.5
        inside = (noisy > 0) & (noisy < 255)  # clipped pixels would bias the estimate
        diffs.append((noisy - clean)[inside])
    measured = np.concatenate(diffs).std()
    assert measured == pytest.approx(25, rel=0.05)


def test_same_seed_same_files(tmp_path):
    synthesize_noisy(tmp_path / "a", n=3, size=32, seed=4)
    synthesize_noisy(tmp_path / "b", n=3, size=32, seed=4)
    assert (tmp_path / "a/images/0001.png").read_bytes() == (tmp_path / "b/images/0001.png").read_bytes()


@pytest.mark.parametrize("args", [(2, 64, 0, 25, None), (5, 8, 0, 25, None), (5, 64, 0, -1, None),
                                  (5, 64, 0, 25, 0)])
def test_bad_arguments_are_one_line(args):
    with pytest.raises(UserError):
        check_noisy_args(*args)
