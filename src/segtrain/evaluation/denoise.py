"""Scores of a denoising run against clean images: PSNR and SSIM, next to the noisy input and a Gaussian filter.

A Noise2Void run's validation loss compares predictions with *noisy* values at the blind spots:
its floor is the noise variance, so it tells whether training still improves, not how clean the
output is. Quality is measured only where ``DATA/clean/<stem>.*`` exists, on the test split:

- ``PSNR = 10 log10(peak^2 / MSE)`` in dB, with ``peak`` 255 for 8-bit images, else the clean
  image's range (:func:`segtrain.data.denoise.data_range`); the mean over images is reported;
- SSIM with an 11x11 Gaussian window (sigma 1.5, K1 0.01, K2 0.03, Wang et al. 2004; torchmetrics);
- baselines on the same images: the noisy input itself, and ``scipy.ndimage.gaussian_filter`` at
  the sigma with the best mean PSNR on the *validation* images (chosen there, never on the test).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from segtrain.config import load_config
from segtrain.config.io import read_run_split
from segtrain.data.denoise import data_range, discover_noisy
from segtrain.data.readers import read_image
from segtrain.errors import UserError
from segtrain.inference.denoise import Denoiser
from segtrain.runtime.rundir import RunDir, write_json

SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
"""Gaussian filter widths (pixels) tried on the validation images."""
NO_CLEAN = ("no clean images (DATA/clean/<stem>.*) for the {split} split: the denoising cannot be scored. "
            "The validation loss is no quality score: it compares the output with noisy values at the blind "
            "spots, so its floor is the noise variance; add clean images to measure PSNR and SSIM")


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """Peak signal-to-noise ratio of ``a`` against ``b`` in dB (``inf`` for identical arrays)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """Structural similarity of ``a`` against ``b`` (``(H, W)`` or ``(H, W, C)``; mean over channels)."""
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    def tensor(x):
        x = np.asarray(x, np.float64)
        x = x[..., None] if x.ndim == 2 else x
        return torch.from_numpy(x.transpose(2, 0, 1).copy())[None]

    return float(structural_similarity_index_measure(tensor(a), tensor(b), data_range=peak, kernel_size=11,
                                                     sigma=1.5))


def gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` ``(H, W, C)`` smoothed by a Gaussian of ``sigma`` pixels in each channel."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.asarray(image, np.float32), sigma=(sigma, sigma, 0), mode="reflect")


def _pairs(noisy_set, stems):
    for stem in stems:
        if stem in noisy_set.clean:
            noisy = read_image(noisy_set.images[stem]).astype(np.float32)
            clean = read_image(noisy_set.clean[stem]).astype(np.float32)
            if clean.shape != noisy.shape:
                raise UserError(f"{noisy_set.clean[stem]}: {clean.shape} but its noisy image is {noisy.shape}; "
                                "a clean image must match its noisy image")
            yield stem, noisy, clean


def best_sigma(noisy_set, val_stems) -> tuple[float | None, dict]:
    """The Gaussian sigma with the best mean validation PSNR, and the mean PSNR of each sigma tried."""
    pairs = list(_pairs(noisy_set, val_stems))
    if not pairs:
        return None, {}
    scores = {s: float(np.mean([psnr(gaussian(n, s), c, data_range(noisy_set.dtype, c)) for _, n, c in pairs]))
              for s in SIGMAS}
    return max(scores, key=scores.get), scores


def score_images(denoiser: Denoiser, noisy_set, stems, sigma: float | None) -> list[dict]:
    """Per image: PSNR and SSIM of the noisy input, the Gaussian filter and the network, against clean."""
    rows = []
    for stem, noisy, clean in _pairs(noisy_set, stems):
        peak = data_range(noisy_set.dtype, clean)
        outputs = {"noisy": noisy, "n2v": denoiser.denoise(noisy)}
        if sigma is not None:
            outputs["gaussian"] = gaussian(noisy, sigma)
        row = {"stem": stem, "peak": peak}
        for name, out in outputs.items():
            row[name] = {"psnr": psnr(out, clean, peak), "ssim": ssim(out, clean, peak)}
        rows.append(row)
    return rows


def _summary(rows: list[dict], names) -> dict:
    return {name: {k: float(np.mean([r[name][k] for r in rows])) for k in ("psnr", "ssim")} for name in names
            if rows and name in rows[0]}


def evaluate_denoise(run: Path | str, data: Path | str | None = None, split: str = "test",
                     device: str = "cpu") -> dict:
    """Score a denoising run's best checkpoint on ``split``; writes ``RUN/evaluation.json``."""
    if split not in ("test", "val", "train"):
        raise UserError(f"--split {split!r}: choose test, val or train")
    rundir = RunDir.open(run)
    config = load_config(rundir.config)
    noisy_set = discover_noisy(data or config.data.root)
    stems = read_run_split(rundir.split)
    result: dict = {"task": "denoise", "split": split, "n_images": len(stems.get(split, []))}
    if not any(s in noisy_set.clean for s in stems.get(split, [])):
        result.update(scored=False, reason=NO_CLEAN.format(split=split))
        write_json(rundir.evaluation, result)
        return result
    sigma, tried = best_sigma(noisy_set, stems.get("val", []))
    denoiser = Denoiser.from_checkpoint(rundir.checkpoint(), device)
    rows = score_images(denoiser, noisy_set, stems[split], sigma)
    result.update(scored=True, n_scored=len(rows), **_summary(rows, ("noisy", "gaussian", "n2v")),
                  gaussian_sigma=sigma, gaussian_sigmas_tried={str(k): v for k, v in tried.items()},
                  gaussian_chosen_on="validation" if sigma is not None else None,
                  gain_db=float(np.mean([r["n2v"]["psnr"] - r["noisy"]["psnr"] for r in rows])),
                  per_image=rows, peak_rule="255 for 8-bit images, else the clean image's range")
    write_json(rundir.evaluation, result)
    return result


def read_evaluation(run: Path | str) -> dict | None:
    """A denoising run's ``evaluation.json``, or None when absent or unreadable."""
    try:
        data = json.loads(RunDir(Path(run)).evaluation.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("task") == "denoise" else None
