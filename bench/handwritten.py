"""The training loop a typical user writes by hand for 2D binary segmentation (benchmark baseline).

This file stands for what someone writes from the MONAI tutorials when they have a folder of
PNG images and masks and want a U-Net: everything in memory, a fixed resize, flips, Adam, and
keeping the best weights by validation Dice. It deliberately does not import segtrain; it uses
only torch, monai, numpy, PIL and the standard library.

Data: ``DATA/images/*.png`` and ``DATA/masks/*.png`` paired by file stem, and a split file
``DATA/split.json`` (or ``--split``) of the form ``{"train": [stems], "val": [stems], "test": [stems]}``.

The exact recipe:

- Images are read with PIL ``.convert("L")`` (grayscale, RGB and RGBA alike become one channel),
  float32 scaled to [0, 1]. Mask pixels > 0 are class 1, zero is class 0.
- All train and validation images and masks are loaded into memory and resized to 256x256 with
  ``torch.nn.functional.interpolate`` (images bilinear, masks nearest).
- Augmentation: random horizontal flip and random vertical flip, each with p = 0.5, per sample.
- Batch size 8, shuffled every epoch (``DataLoader``, last partial batch kept), float32.
- Model: ``monai.networks.nets.UNet(spatial_dims=2, in_channels=1, out_channels=2,
  channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2), num_res_units=2)``.
- Loss: ``monai.losses.DiceCELoss(to_onehot_y=True, softmax=True)`` with labels as (B, 1, H, W) long.
- Optimizer: ``torch.optim.Adam(model.parameters(), lr=1e-3)``, no scheduler.
- Training runs epoch after epoch until the wall-clock budget (``--budget`` seconds, default 300)
  is used up. The clock starts after data loading and covers training and validation; it is
  checked after every step and after every validation, and the loop stops once it reaches the
  budget. After each epoch the validation Dice of class 1 (pooled over all validation pixels, at
  256x256) is computed and the weights of the best epoch are kept; if the budget runs out in the
  middle of an epoch, one last validation is done at that point (so the last check may run a
  little past the budget).
- Test, with the best weights: each test image is resized to 256x256, predicted (argmax), the
  class map is resized back to the original size (nearest) and compared with the original mask.
  TP, FP and FN of class 1 are pooled over all test pixels at the original resolution;
  Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN).
- ``--seed`` (default 0) seeds torch, numpy and Python's random; ``torch.set_num_threads`` is
  called only when ``--threads`` is given.

Usage:

    .venv/bin/python bench/handwritten.py DATA [--budget 300] [--json]

With ``--json`` the last line of stdout is one JSON object with the keys method, data, budget_s,
train_seconds, epochs, steps, best_epoch, best_val_dice, test_dice, test_iou, n_test. Other scripts
can load this file with importlib and call ``run(data, budget_s, seed=0, split=None)``, which
returns the same dict. Progress messages go to stderr.
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


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_png(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.png"
    if path.exists():
        return path
    matches = [p for p in folder.glob(f"{stem}.*") if p.suffix.lower() == ".png"]
    if not matches:
        raise FileNotFoundError(f"no PNG for {stem!r} in {folder}")
    return matches[0]


def read_image(path: Path) -> np.ndarray:
    """(H, W) float32 in [0, 1]."""
    return np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0


def read_mask(path: Path) -> np.ndarray:
    """(H, W) int64, 1 where the mask is nonzero."""
    mask = np.asarray(Image.open(path))
    if mask.ndim == 3:
        mask = mask.any(axis=-1)
    return (mask > 0).astype(np.int64)


def resize_image(image: np.ndarray) -> torch.Tensor:
    """(H, W) array -> (1, SIZE, SIZE) float tensor, bilinear."""
    t = torch.from_numpy(image)[None, None]
    return F.interpolate(t, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0]


def resize_mask(mask: np.ndarray) -> torch.Tensor:
    """(H, W) array -> (1, SIZE, SIZE) long tensor, nearest."""
    t = torch.from_numpy(mask).float()[None, None]
    return F.interpolate(t, size=(SIZE, SIZE), mode="nearest")[0].long()


def load_resized(data: Path, stems: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    images, masks = [], []
    for stem in stems:
        images.append(resize_image(read_image(find_png(data / "images", stem))))
        masks.append(resize_mask(read_mask(find_png(data / "masks", stem))))
    return torch.stack(images), torch.stack(masks)


class FlipDataset(torch.utils.data.Dataset):
    """In-memory (N, 1, H, W) images and masks with random horizontal and vertical flips."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor):
        self.images, self.masks = images, masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image, mask = self.images[i], self.masks[i]
        if torch.rand(1).item() < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        if torch.rand(1).item() < 0.5:
            image, mask = image.flip(-2), mask.flip(-2)
        return image, mask


def pooled_counts(pred: torch.Tensor, truth: torch.Tensor) -> tuple[int, int, int]:
    """TP, FP, FN of class 1 between two class maps of the same shape."""
    p, t = pred == 1, truth == 1
    return int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())


def dice_iou(tp: int, fp: int, fn: int) -> tuple[float, float]:
    """Pooled Dice and IoU of class 1; both 1.0 when neither prediction nor truth has class 1."""
    if tp + fp + fn == 0:
        return 1.0, 1.0
    return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


@torch.no_grad()
def validate(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, device) -> float:
    model.eval()
    tp = fp = fn = 0
    for i in range(0, len(images), BATCH):
        pred = model(images[i : i + BATCH].to(device)).argmax(dim=1, keepdim=True).cpu()
        a, b, c = pooled_counts(pred, masks[i : i + BATCH])
        tp, fp, fn = tp + a, fp + b, fn + c
    model.train()
    return dice_iou(tp, fp, fn)[0]


@torch.no_grad()
def test(model: torch.nn.Module, data: Path, stems: list[str], device) -> tuple[float, float]:
    model.eval()
    tp = fp = fn = 0
    for stem in stems:
        image = read_image(find_png(data / "images", stem))
        truth = torch.from_numpy(read_mask(find_png(data / "masks", stem)))
        pred = model(resize_image(image)[None].to(device)).argmax(dim=1, keepdim=True).float().cpu()
        pred = F.interpolate(pred, size=truth.shape, mode="nearest")[0, 0].long()
        a, b, c = pooled_counts(pred, truth)
        tp, fp, fn = tp + a, fp + b, fn + c
    return dice_iou(tp, fp, fn)


def run(data: Path, budget_s: float, seed: int = 0, split: Path | None = None) -> dict:
    data = Path(data)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    stems = json.loads(Path(split or data / "split.json").read_text())
    start = time.perf_counter()
    train_images, train_masks = load_resized(data, stems["train"])
    val_images, val_masks = load_resized(data, stems["val"])
    log(f"loaded {len(train_images)} train + {len(val_images)} val images "
        f"in {time.perf_counter() - start:.1f} s")

    loader = torch.utils.data.DataLoader(
        FlipDataset(train_images, train_masks), batch_size=BATCH, shuffle=True
    )
    model = UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=2,
        channels=(16, 32, 64, 128, 256),
        strides=(2, 2, 2, 2),
        num_res_units=2,
    ).to(device)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    best_dice, best_epoch, best_state = -1.0, 0, None
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
        dice = validate(model, val_images, val_masks, device)
        if dice > best_dice:
            best_dice, best_epoch = dice, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log(f"epoch {epoch}{' (partial)' if out_of_time else ''}: step {steps}, "
            f"loss {loss.item():.4f}, val dice {dice:.4f}, {time.perf_counter() - start:.1f} s")
        if time.perf_counter() - start >= budget_s:
            out_of_time = True
    train_seconds = time.perf_counter() - start

    model.load_state_dict(best_state)
    test_dice, test_iou = test(model, data, stems["test"], device)
    return {
        "method": "handwritten-monai",
        "data": str(data),
        "budget_s": budget_s,
        "train_seconds": round(train_seconds, 2),
        "epochs": epoch,
        "steps": steps,
        "best_epoch": best_epoch,
        "best_val_dice": round(best_dice, 6),
        "test_dice": round(test_dice, 6),
        "test_iou": round(test_iou, 6),
        "n_test": len(stems["test"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with images/, masks/ and split.json")
    parser.add_argument("--budget", type=float, default=300.0, help="training wall-clock seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", type=Path, default=None, help="split file (default DATA/split.json)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", action="store_true", help="print a JSON object on the last line")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    result = run(args.data, args.budget, seed=args.seed, split=args.split)
    print(f"{result['method']} on {result['data']}: {result['epochs']} epochs, {result['steps']} steps "
          f"in {result['train_seconds']:.1f} s (budget {result['budget_s']:g} s)")
    print(f"best epoch {result['best_epoch']} (val Dice {result['best_val_dice']:.4f}); "
          f"test Dice {result['test_dice']:.4f}, IoU {result['test_iou']:.4f} on {result['n_test']} images")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
