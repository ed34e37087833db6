"""The training loop a typical user writes by hand for 2D segmentation (benchmark baseline of issue 15).

This file stands for what someone writes from the MONAI tutorials in an afternoon when they have
a folder of images and masks and want a U-Net: everything in memory, every image resized whole
to 256x256, horizontal flips, Adam, and keeping the best weights by validation score. It
deliberately does not import segtrain (nor bench/scoring.py); it uses only torch, monai, numpy,
PIL and the standard library.

Data: ``DATA/images/<stem>.<png|jpg|jpeg|tif|tiff>`` and ``DATA/masks/<stem>.<...>`` paired by
file stem, a split file ``DATA/split.json`` (or ``--split``) of the form
``{"train": [stems], "val": [stems], "test": [stems]}``, and optionally ``DATA/classes.json``.

The exact recipe:

- Classes: with ``DATA/classes.json`` (``{"name": raw mask value, ...}`` or ``{"name": [r, g, b], ...}``,
  in class order), the number of classes is the number of entries and the mask value (or colour)
  of the i-th entry is class i; a mask value not listed there is an error. Without it the task is
  binary: mask pixels > 0 (in any channel, alpha left out) are class 1, zero is class 0. Two
  classes is "binary", more is "multiclass".
- Images: when the first training image is a colour image (PIL mode RGB, RGBA, P, CMYK, ...),
  every image is read with ``.convert("RGB")`` (3 input channels); otherwise with ``.convert("L")``
  (1 channel; 16-bit and float gray images are scaled by their own min and max instead). 8-bit
  values are divided by 255, so inputs are float32 in [0, 1].
- All train and validation images and masks are loaded into memory and resized whole to 256x256
  with ``torch.nn.functional.interpolate`` (images bilinear, ``align_corners=False``; masks nearest),
  whatever their size or aspect ratio.
- Augmentation: a random horizontal flip with p = 0.5 per sample, nothing else.
- Batch size 8, shuffled every epoch (``DataLoader``, last partial batch kept), float32.
- Model: ``monai.networks.nets.UNet(spatial_dims=2, in_channels=1 or 3, out_channels=K,
  channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2), num_res_units=2)`` (K = 2 when binary).
- Loss: ``monai.losses.DiceCELoss(to_onehot_y=True, softmax=True)`` with labels as (B, 1, H, W) long.
- Optimizer: ``torch.optim.Adam(model.parameters(), lr=1e-3)``, no scheduler.
- Training runs epoch after epoch until the wall-clock budget (``--budget`` seconds, default 300)
  is used up. The clock starts after data loading and covers training and validation; it is
  checked after every step and after every validation, and the loop stops once it reaches the
  budget. After each epoch the validation score (at 256x256, pooled over all validation pixels:
  Dice of class 1 when binary, mIoU when multiclass) is computed and the weights of the best epoch
  are kept; if the budget runs out in the middle of an epoch, one last validation is done at that
  point (so the last check may run a little past the budget).
- Test, with the best weights: each test image is resized to 256x256 and predicted; the **logits**
  are resized back to the image's original size (bilinear, ``align_corners=False``) and the class
  map is their argmax there, compared with the original mask. A confusion matrix is pooled over
  all test pixels at the original resolution. Binary: TP, FP, FN of class 1,
  Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN) (both 1.0 when there is no class 1 in
  truth or prediction). Multiclass: per class c the pooled TP, FP, FN of c; IoU_c and Dice_c as
  above; mIoU and mean Dice are the means over the classes present (TP + FP + FN > 0), background
  included. bench/scoring.py computes the same numbers from mask files, independently.
- ``--seed`` (default 0) seeds torch, numpy and Python's random; ``torch.set_num_threads`` is
  called only when ``--threads`` is given.

Usage:

    .venv/bin/python bench/handwritten.py DATA [--budget 300] [--json] [--pred-out DIR]

With ``--json`` the last line of stdout is one JSON object with the keys method, data, budget_s,
kind, num_classes, in_channels, metric, score, train_seconds, wall_seconds, epochs, steps,
best_epoch, best_val_score, best_val_dice (the same number, kept for older scripts), test_dice
(binary: Dice of class 1; multiclass: mean Dice), test_iou (binary: IoU of class 1; multiclass:
mIoU), test_miou, test_mean_dice, per_class, confusion, n_test. ``score`` is test_dice when binary
and test_miou when multiclass. Other scripts can load this file with importlib and call
``run(data, budget_s, seed=0, split=None, pred_out=None)``, which returns the same dict; with
``pred_out`` the test class maps are also written there as ``<stem>.png`` (class indices).
Progress messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from PIL import Image

SIZE = 256
BATCH = 8
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_file(folder: Path, stem: str) -> Path:
    """``folder/<stem>.<suffix>`` for the first suffix of SUFFIXES found (any case)."""
    for suffix in SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.exists():
            return path
    matches = sorted(p for p in folder.glob(f"{stem}.*") if p.suffix.lower() in SUFFIXES)
    if not matches:
        raise FileNotFoundError(f"no image file for {stem!r} in {folder}")
    return matches[0]


def is_colour(path: Path) -> bool:
    with Image.open(path) as image:
        return image.mode not in GRAY_MODES


def read_image(path: Path, colour: bool) -> np.ndarray:
    """(C, H, W) float32 in [0, 1], C = 3 when ``colour`` else 1."""
    with Image.open(path) as image:
        if colour:
            return np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            arr = np.asarray(image, dtype=np.float32)
            lo, hi = float(arr.min()), float(arr.max())
            return ((arr - lo) / (hi - lo if hi > lo else 1.0))[None]
        return np.asarray(image.convert("L"), dtype=np.float32)[None] / 255.0


def read_classes(data: Path) -> tuple[dict[int, int] | None, bool]:
    """classes.json as (raw value or packed colour -> class index, colour?); (None, False) without one."""
    path = data / "classes.json"
    if not path.exists():
        return None, False
    entries = list(json.loads(path.read_text()).values())
    colour = isinstance(entries[0], list)
    if colour:
        entries = [(r << 16) | (g << 8) | b for r, g, b in entries]
    return {int(value): index for index, value in enumerate(entries)}, colour


def read_mask(path: Path, mapping: dict[int, int] | None = None, colour: bool = False) -> np.ndarray:
    """(H, W) int64 class indices (see the module docstring for the rule)."""
    with Image.open(path) as image:
        mask = np.asarray(image)
    if mapping is None:
        if mask.ndim == 3:
            if mask.shape[-1] in (2, 4):  # drop alpha
                mask = mask[..., :-1]
            mask = mask.any(axis=-1)
        return (mask > 0).astype(np.int64)
    if colour:
        if mask.ndim == 2:
            mask = np.repeat(mask[..., None], 3, axis=-1)
        rgb = mask[..., :3].astype(np.int64)
        raw = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    else:
        raw = (mask[..., 0] if mask.ndim == 3 else mask).astype(np.int64)
    out = np.full(raw.shape, -1, dtype=np.int64)
    for value, index in mapping.items():
        out[raw == value] = index
    if (out < 0).any():
        unknown = np.unique(raw[out < 0])[:8].tolist()
        raise ValueError(f"{path}: mask values {unknown} are not in classes.json")
    return out


def resize_image(image: np.ndarray) -> torch.Tensor:
    """(C, H, W) array -> (C, SIZE, SIZE) float tensor, bilinear."""
    t = torch.from_numpy(np.ascontiguousarray(image))[None]
    return F.interpolate(t, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0]


def resize_mask(mask: np.ndarray) -> torch.Tensor:
    """(H, W) array -> (1, SIZE, SIZE) long tensor, nearest."""
    t = torch.from_numpy(mask).float()[None, None]
    return F.interpolate(t, size=(SIZE, SIZE), mode="nearest")[0].long()


class FlipDataset(torch.utils.data.Dataset):
    """In-memory (N, C, H, W) images and (N, 1, H, W) masks with a random horizontal flip."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor):
        self.images, self.masks = images, masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image, mask = self.images[i], self.masks[i]
        if torch.rand(1).item() < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        return image, mask


def confusion(pred: torch.Tensor, truth: torch.Tensor, k: int) -> np.ndarray:
    """(k, k) pixel counts, truth x prediction, of two class maps of the same shape."""
    index = truth.reshape(-1).long() * k + pred.reshape(-1).long()
    return torch.bincount(index, minlength=k * k).reshape(k, k).numpy().astype(np.int64)


def scores(conf: np.ndarray) -> dict:
    """Pooled scores of a (K, K) confusion matrix (truth x prediction): per class Dice and IoU
    (1.0 where TP + FP + FN = 0), binary Dice/IoU of class 1, and the means over present classes."""
    tp = np.diag(conf).astype(np.float64)
    fp = conf.sum(axis=0) - tp
    fn = conf.sum(axis=1) - tp
    present = (tp + fp + fn) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(present, tp / (tp + fp + fn), 1.0)
        dice = np.where(present, 2 * tp / (2 * tp + fp + fn), 1.0)
    return {
        "dice": float(dice[1]), "iou": float(iou[1]),
        "miou": float(iou[present].mean()) if present.any() else 1.0,
        "mean_dice": float(dice[present].mean()) if present.any() else 1.0,
        "per_class": [{"class": c, "iou": float(iou[c]), "dice": float(dice[c]), "present": bool(present[c]),
                       "tp": int(tp[c]), "fp": int(fp[c]), "fn": int(fn[c])} for c in range(len(tp))],
    }


def headline(conf: np.ndarray) -> float:
    """The score the loop selects and reports: Dice of class 1 when binary, else mIoU."""
    s = scores(conf)
    return s["dice"] if len(conf) == 2 else s["miou"]


def load_resized(data: Path, stems: list[str], colour: bool, mapping, colour_masks: bool):
    images, masks = [], []
    for stem in stems:
        images.append(resize_image(read_image(find_file(data / "images", stem), colour)))
        masks.append(resize_mask(read_mask(find_file(data / "masks", stem), mapping, colour_masks)))
    return torch.stack(images), torch.stack(masks)


@torch.no_grad()
def validate(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, k: int, device) -> float:
    model.eval()
    conf = np.zeros((k, k), dtype=np.int64)
    for i in range(0, len(images), BATCH):
        pred = model(images[i : i + BATCH].to(device)).argmax(dim=1, keepdim=True).cpu()
        conf += confusion(pred, masks[i : i + BATCH], k)
    model.train()
    return headline(conf)


@torch.no_grad()
def test(model: torch.nn.Module, data: Path, stems: list[str], k: int, colour: bool, mapping, colour_masks: bool,
         device, pred_out: Path | None = None) -> np.ndarray:
    """The pooled (k, k) test confusion matrix at the original resolution (logits resized back)."""
    model.eval()
    conf = np.zeros((k, k), dtype=np.int64)
    if pred_out is not None:
        Path(pred_out).mkdir(parents=True, exist_ok=True)
    for stem in stems:
        image = read_image(find_file(data / "images", stem), colour)
        truth = torch.from_numpy(read_mask(find_file(data / "masks", stem), mapping, colour_masks))
        if truth.shape != image.shape[1:]:
            raise ValueError(f"{stem}: image {image.shape[1:]} and mask {tuple(truth.shape)} differ in size")
        logits = model(resize_image(image)[None].to(device))
        logits = F.interpolate(logits, size=tuple(truth.shape), mode="bilinear", align_corners=False)
        pred = logits.argmax(dim=1)[0].cpu()
        conf += confusion(pred, truth, k)
        if pred_out is not None:
            Image.fromarray(pred.numpy().astype(np.uint8)).save(Path(pred_out) / f"{stem}.png")
    return conf


def run(data: Path, budget_s: float, seed: int = 0, split: Path | None = None, pred_out: Path | None = None) -> dict:
    data = Path(data)
    wall_start = time.perf_counter()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    stems = json.loads(Path(split or data / "split.json").read_text())
    mapping, colour_masks = read_classes(data)
    k = len(mapping) if mapping else 2
    colour = is_colour(find_file(data / "images", stems["train"][0]))
    channels = 3 if colour else 1
    start = time.perf_counter()
    train_images, train_masks = load_resized(data, stems["train"], colour, mapping, colour_masks)
    val_images, val_masks = load_resized(data, stems["val"], colour, mapping, colour_masks)
    log(f"loaded {len(train_images)} train + {len(val_images)} val images ({channels} channel(s), {k} classes) "
        f"in {time.perf_counter() - start:.1f} s")

    loader = torch.utils.data.DataLoader(FlipDataset(train_images, train_masks), batch_size=BATCH, shuffle=True)
    model = UNet(
        spatial_dims=2,
        in_channels=channels,
        out_channels=k,
        channels=(16, 32, 64, 128, 256),
        strides=(2, 2, 2, 2),
        num_res_units=2,
    ).to(device)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    best_score, best_epoch, best_state = -1.0, 0, None
    epoch = steps = 0
    start = time.perf_counter()
    out_of_time = False
    while not out_of_time:
        epoch += 1
        model.train()
        for images, masks in loader:
            images, masks = images.to(device), masks.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(images), masks)
            loss.backward()
            optimizer.step()
            steps += 1
            if time.perf_counter() - start >= budget_s:
                out_of_time = True
                break
        score = validate(model, val_images, val_masks, k, device)
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = {key: v.detach().clone() for key, v in model.state_dict().items()}
        log(f"epoch {epoch}{' (partial)' if out_of_time else ''}: step {steps}, "
            f"loss {loss.item():.4f}, val {'dice' if k == 2 else 'miou'} {score:.4f}, {time.perf_counter() - start:.1f} s")
        if time.perf_counter() - start >= budget_s:
            out_of_time = True
    train_seconds = time.perf_counter() - start

    model.load_state_dict(best_state)
    conf = test(model, data, stems["test"], k, colour, mapping, colour_masks, device, pred_out)
    s = scores(conf)
    binary = k == 2
    return {
        "method": "handwritten-monai",
        "data": str(data),
        "budget_s": budget_s,
        "seed": seed,
        "kind": "binary" if binary else "multiclass",
        "num_classes": k,
        "in_channels": channels,
        "metric": "dice" if binary else "miou",
        "score": round(s["dice"] if binary else s["miou"], 6),
        "train_seconds": round(train_seconds, 2),
        "wall_seconds": round(time.perf_counter() - wall_start, 2),
        "epochs": epoch,
        "steps": steps,
        "best_epoch": best_epoch,
        "best_val_score": round(best_score, 6),
        "best_val_dice": round(best_score, 6),
        "test_dice": round(s["dice"] if binary else s["mean_dice"], 6),
        "test_iou": round(s["iou"] if binary else s["miou"], 6),
        "test_miou": round(s["miou"], 6),
        "test_mean_dice": round(s["mean_dice"], 6),
        "per_class": s["per_class"],
        "confusion": conf.tolist(),
        "n_test": len(stems["test"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with images/, masks/ and split.json")
    parser.add_argument("--budget", type=float, default=300.0, help="training wall-clock seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", type=Path, default=None, help="split file (default DATA/split.json)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--pred-out", type=Path, default=None, help="also write the test class maps here")
    parser.add_argument("--json", action="store_true", help="print a JSON object on the last line")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    result = run(args.data, args.budget, seed=args.seed, split=args.split, pred_out=args.pred_out)
    print(f"{result['method']} on {result['data']} ({result['kind']}, {result['num_classes']} classes, "
          f"{result['in_channels']} channel(s)): {result['epochs']} epochs, {result['steps']} steps "
          f"in {result['train_seconds']:.1f} s (budget {result['budget_s']:g} s)")
    if result["kind"] == "binary":
        tail = f"test Dice {result['test_dice']:.4f}, IoU {result['test_iou']:.4f}"
    else:
        tail = f"test mIoU {result['test_miou']:.4f}, mean Dice {result['test_mean_dice']:.4f}"
    print(f"best epoch {result['best_epoch']} (val {result['metric']} {result['best_val_score']:.4f}); "
          f"{tail} on {result['n_test']} images")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
