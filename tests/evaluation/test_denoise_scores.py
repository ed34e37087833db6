"""PSNR by hand, SSIM at its fixed points, the Gaussian baseline chosen on validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segtrain.data.denoise import data_range
from segtrain.evaluation.denoise import gaussian, psnr, ssim


def test_psnr_of_a_known_mse():
    a = np.zeros((10, 10))
    b = np.full((10, 10), 5.0)  # MSE 25
    assert psnr(a, b, 255.0) == pytest.approx(10 * math.log10(255**2 / 25))  # 34.151 dB
    assert psnr(a, b, 255.0) == pytest.approx(34.1514, abs=1e-4)


def test_psnr_of_a_half_changed_image():
    a = np.zeros((2, 2))
    b = np.array([[0.0, 2.0], [0.0, 2.0]])  # MSE (0 + 4 + 0 + 4) / 4 = 2
    assert psnr(a, b, 1.0) == pytest.approx(10 * math.log10(1 / 2))
    assert psnr(a, a, 1.0) == math.inf


def test_ssim_is_one_for_identical_and_lower_for_noisy():
    rng = np.random.default_rng(0)
    clean = rng.uniform(50, 200, (48, 48))
    assert ssim(clean, clean, 255.0) == pytest.approx(1.0, abs=1e-6)
    noisy = clean + rng.normal(0, 25, clean.shape)
    assert ssim(noisy, clean, 255.0) < 0.9


def test_gaussian_filter_lowers_the_noise_of_a_flat_image():
    rng = np.random.default_rng(1)
    clean = np.full((64, 64, 1), 120.0)
    noisy = clean + rng.normal(0, 25, clean.shape)
    assert psnr(gaussian(noisy, 2.0), clean, 255) > psnr(noisy, clean, 255) + 10


def test_peak_is_255_for_8_bit_else_the_clean_range():
    assert data_range("uint8") == 255.0
    assert data_range("uint16", np.array([100.0, 4100.0])) == 4000.0
