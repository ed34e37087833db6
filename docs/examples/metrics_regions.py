"""IoU, Dice, precision, recall and pixel accuracy on hand-made 4x4 masks: by hand, by segtrain, by torchmetrics.

Run: python docs/examples/metrics_regions.py (prints its results; used by docs/losses_and_metrics.md).

Part 1 scores the binary 4x4 prediction of the loss example (foreground where the logit is
positive). Part 2 scores two 4x4 images of 3 classes, where class 2 is absent from the second
image, with segtrain's three reductions (pooled, mean over classes, mean over images). By hand
means counting pixels and dividing, in exact fractions.
"""

import warnings
from fractions import Fraction

import numpy as np
import torch

from segtrain.metrics import SegmentationEvaluator

warnings.filterwarnings("ignore")  # torchmetrics' notices about absent classes
from torchmetrics.classification import (  # noqa: E402
    MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex, MulticlassPrecision, MulticlassRecall,
)
from torchmetrics.segmentation import DiceScore, MeanIoU  # noqa: E402

TRUTH = np.array([[1, 1, 0, 0],
                  [1, 1, 0, 0],
                  [1, 0, 0, 0],
                  [0, 0, 0, 0]])
PRED = np.array([[1, 1, 0, 0],
                 [1, 1, 0, 0],
                 [0, 0, 1, 0],
                 [0, 0, 0, 0]])


def grid(a: np.ndarray, b: np.ndarray, left: str, right: str) -> None:
    print(f"  {left:<9} {right}")
    for ra, rb in zip(a, b):
        print("  " + " ".join(map(str, ra)) + "   " + " ".join(map(str, rb)))


def fmt(value) -> str:
    return "undefined" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{float(value):.6f}"


def by_hand(pred: np.ndarray, truth: np.ndarray, c: int) -> dict:
    """Exact fractions from pixel counts; None where the denominator is 0."""
    tp = int(((pred == c) & (truth == c)).sum())
    fp = int(((pred == c) & (truth != c)).sum())
    fn = int(((pred != c) & (truth == c)).sum())

    def ratio(a, b):
        return Fraction(a, b) if b else None

    return {"tp": tp, "fp": fp, "fn": fn, "iou": ratio(tp, tp + fp + fn), "dice": ratio(2 * tp, 2 * tp + fp + fn),
            "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn)}


print("part 1: the binary prediction of the loss example")
grid(TRUTH, PRED, "truth", "prediction")
evaluator = SegmentationEvaluator(2)
evaluator.add("example", PRED, TRUTH)
ours = evaluator.result()
p, t = torch.from_numpy(PRED)[None], torch.from_numpy(TRUTH)[None]
reference = {
    "iou": MulticlassJaccardIndex(2, average=None)(p, t),
    "dice": MulticlassF1Score(2, average=None)(p, t),
    "precision": MulticlassPrecision(2, average=None)(p, t),
    "recall": MulticlassRecall(2, average=None)(p, t),
}
confusion = ours["confusion"]
print(f"confusion matrix (rows truth 0, 1; columns prediction 0, 1): {confusion}")
print("  class  score      by hand         segtrain   torchmetrics")
for c in (0, 1):
    hand = by_hand(PRED, TRUTH, c)
    for name in ("iou", "dice", "precision", "recall"):
        print(f"  {c}      {name:<9}  {str(hand[name]):>5} = {fmt(hand[name])}  {fmt(ours['per_class'][c][name])}  "
              f"{fmt(reference[name][c])}")
hand_accuracy = Fraction(int((PRED == TRUTH).sum()), PRED.size)
accuracy = MulticlassAccuracy(2, average="micro")(p, t)
print(f"  pixel accuracy   {hand_accuracy} = {fmt(hand_accuracy)}  {fmt(ours['pixel_accuracy'])}  {fmt(accuracy)}")
print(f"segtrain's headline for two classes: dice {fmt(ours['dice'])}, iou {fmt(ours['iou'])} (class 1's)")

print()
print("part 2: two images of 3 classes; class 2 is absent from image B (truth and prediction)")
TRUTH_A = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]])
PRED_A = np.array([[0, 0, 1, 1], [0, 0, 1, 2], [2, 2, 2, 2], [2, 2, 2, 0]])
TRUTH_B = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]])
PRED_B = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 1]])
print("image A:")
grid(TRUTH_A, PRED_A, "truth", "prediction")
print("image B:")
grid(TRUTH_B, PRED_B, "truth", "prediction")
evaluator = SegmentationEvaluator(3)
rows = [evaluator.add("A", PRED_A, TRUTH_A), evaluator.add("B", PRED_B, TRUTH_B)]
ours = evaluator.result()
reductions = ours["reductions"]
images = {"A": (PRED_A, TRUTH_A), "B": (PRED_B, TRUTH_B)}
print("IoU by hand, per image and class:")
per_image = {name: [by_hand(pr, tr, c)["iou"] for c in range(3)] for name, (pr, tr) in images.items()}
for name, values in per_image.items():
    print(f"  image {name}: "
          + ", ".join(f"class {c} {v if v is not None else 'undefined'}" for c, v in enumerate(values)))
pooled_pred, pooled_truth = np.concatenate([PRED_A, PRED_B]), np.concatenate([TRUTH_A, TRUTH_B])
pooled = [by_hand(pooled_pred, pooled_truth, c)["iou"] for c in range(3)]
over_images = [sum(v for v in vs if v is not None) / sum(v is not None for v in vs)
               for vs in zip(*per_image.values())]
preds, truths = torch.from_numpy(np.stack([PRED_A, PRED_B])), torch.from_numpy(np.stack([TRUTH_A, TRUTH_B]))
tm_pooled = MulticlassJaccardIndex(3, average=None)(preds, truths)
tm_images = MeanIoU(3, per_class=True, input_format="index")(preds, truths)
mean_pooled = sum(pooled) / 3
mean_images = sum(over_images) / 3
table = [(f"pooled, class {c}", pooled[c], reductions["pooled"]["per_class"]["iou"][c], tm_pooled[c])
         for c in range(3)]
table += [(f"mean over images, class {c}", over_images[c], reductions["mean_over_images"]["per_class"]["iou"][c],
           tm_images[c]) for c in range(3)]
table += [("mean over classes (of pooled)", mean_pooled, reductions["mean_over_classes"]["iou"], tm_pooled.mean()),
          ("mean over images", mean_images, reductions["mean_over_images"]["iou"], tm_images.mean())]
print(f"  {'IoU':<30} {'by hand':>20}  {'segtrain':>9}  torchmetrics")
for label, hand, segtrain_value, reference_value in table:
    print(f"  {label:<30} {str(hand):>9} = {fmt(hand)}  {fmt(segtrain_value)}  {fmt(reference_value)}")
print(f"images in the mean over images, per class: {list(reductions['mean_over_images']['n_images']['iou'])}")
print(f"image B's own IoU (the mean over its classes 0 and 1 only): {fmt(rows[1]['iou'])}")
dice_images = DiceScore(3, average="none", input_format="index")(preds, truths)
print("Dice per class, mean over images:  segtrain "
      + ", ".join(fmt(v) for v in reductions["mean_over_images"]["per_class"]["dice"])
      + "  torchmetrics " + ", ".join(fmt(v) for v in dice_images))
