"""Every segtrain loss on a hand-made 4x4 prediction: by hand, by segtrain, and by a reference.

Run: python docs/examples/losses_worked.py (prints its results; used by docs/losses_and_metrics.md).

"By hand" is plain Python over the 16 pixels in float64 (math and lists, no torch), straight
from each loss's formula. "segtrain" is segtrain.losses on float64 tensors. The reference is
torch's own function (cross-entropy) or MONAI's loss class where one exists. The multiclass part
uses a 4x4 image of 3 classes.
"""

import math
import warnings

import torch
import torch.nn.functional as F

from segtrain.losses import (
    bce_with_logits, boundary_loss, build_loss, class_weights_from_pixels, cross_entropy, dice_loss, focal_loss,
    jaccard_loss, lovasz_hinge, lovasz_softmax, tversky_loss,
)
from segtrain.losses.region import SMOOTH

warnings.filterwarnings("ignore")  # MONAI's deprecation notices
from monai.losses import DiceLoss, FocalLoss, TverskyLoss  # noqa: E402

Z = [[3.0, 2.0, -1.0, -2.0],
     [2.5, 0.5, -0.5, -3.0],
     [-0.5, -1.5, 1.5, -2.5],
     [-2.0, -1.0, -2.0, -4.0]]
"""Binary logits: the network's raw output, one number per pixel (foreground when z > 0)."""
Y = [[1, 1, 0, 0],
     [1, 1, 0, 0],
     [1, 0, 0, 0],
     [0, 0, 0, 0]]
"""Binary truth: 5 foreground pixels."""

z = [v for row in Z for v in row]
y = [v for row in Y for v in row]
p = [1 / (1 + math.exp(-v)) for v in z]
logits = torch.tensor(Z, dtype=torch.float64)[None, None]  # (B, C, H, W) = (1, 1, 4, 4)
labels = torch.tensor(Y)[None]  # (B, H, W) = (1, 4, 4)
rows = []


def row(name: str, hand: float, ours: torch.Tensor, reference: float | None = None, ref_name: str = "") -> None:
    rows.append((name, hand, float(ours), reference, ref_name))


def show_rows() -> None:
    print(f"  {'loss':<34} {'by hand':>10} {'segtrain':>10} {'reference':>10}")
    for name, hand, ours, reference, ref_name in rows:
        ref = "" if reference is None else f"{reference:10.6f}  {ref_name}"
        print(f"  {name:<34} {hand:10.6f} {ours:10.6f} {ref}")
    worst = max(abs(h - o) for _, h, o, _, _ in rows)
    text = f"  largest difference segtrain - by hand: {worst:.1e}"
    references = [abs(o - r) for _, _, o, r, _ in rows if r is not None]
    if references:
        text += f"; segtrain - reference: {max(references):.1e}"
    print(text)
    rows.clear()


print("binary: logits z (foreground when z > 0), truth y, p = sigmoid(z)")
for zr, yr in zip(Z, Y):
    print("  z " + " ".join(f"{v:5.1f}" for v in zr) + "    y " + " ".join(str(v) for v in yr)
          + "    p " + " ".join(f"{1 / (1 + math.exp(-v)):.3f}" for v in zr))
tp = sum(pi * yi for pi, yi in zip(p, y))
fp = sum(pi * (1 - yi) for pi, yi in zip(p, y))
fn = sum((1 - pi) * yi for pi, yi in zip(p, y))
print(f"soft counts: TP = sum p y = {tp:.6f}, FP = sum p (1 - y) = {fp:.6f}, FN = sum (1 - p) y = {fn:.6f}")
print()

# cross-entropy
bce = [-(yi * math.log(pi) + (1 - yi) * math.log(1 - pi)) for pi, yi in zip(p, y)]
row("ce (binary cross-entropy)", sum(bce) / 16, bce_with_logits(logits, labels),
    F.binary_cross_entropy_with_logits(logits[:, 0], labels.double()).item(), "torch BCEWithLogits")
weighted = [-(3 * yi * math.log(pi) + (1 - yi) * math.log(1 - pi)) for pi, yi in zip(p, y)]
row("ce, pos_weight 3", sum(weighted) / 16, bce_with_logits(logits, labels, pos_weight=3.0),
    F.binary_cross_entropy_with_logits(logits[:, 0], labels.double(), pos_weight=torch.tensor(3.0)).item(),
    "torch BCEWithLogits")

# region losses
target = labels[:, None].double()
s = SMOOTH
row("dice", 1 - (2 * tp + s) / (2 * tp + fp + fn + s), dice_loss(logits, labels),
    DiceLoss(sigmoid=True, batch=True)(logits, target).item(), "MONAI DiceLoss")
row("jaccard", 1 - (2 * tp + s) / (2 * (tp + fp + fn) + s), jaccard_loss(logits, labels),
    DiceLoss(sigmoid=True, batch=True, jaccard=True)(logits, target).item(), "MONAI DiceLoss(jaccard)")
ti = (tp + s) / (tp + 0.3 * fp + 0.7 * fn + s)
row("tversky (alpha 0.3, beta 0.7)", 1 - ti, tversky_loss(logits, labels, alpha=0.3, beta=0.7),
    TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7, batch=True)(logits, target).item(), "MONAI TverskyLoss")
row("tversky, gamma 0.75 (focal)", (1 - ti) ** 0.75, tversky_loss(logits, labels, alpha=0.3, beta=0.7, gamma=0.75))

# focal
pt = [pi if yi else 1 - pi for pi, yi in zip(p, y)]
row("focal (gamma 2)", sum(-(1 - q) ** 2 * math.log(q) for q in pt) / 16, focal_loss(logits, labels, gamma=2.0),
    FocalLoss(gamma=2.0, use_softmax=False)(logits, target).item(), "MONAI FocalLoss")
alpha_t = [0.25 if yi else 0.75 for yi in y]
row("focal (gamma 2, alpha 0.25)", sum(-a * (1 - q) ** 2 * math.log(q) for a, q in zip(alpha_t, pt)) / 16,
    focal_loss(logits, labels, gamma=2.0, alpha=0.25),
    FocalLoss(gamma=2.0, alpha=0.25, use_softmax=False)(logits, target).item(), "MONAI FocalLoss")


# Lovasz hinge: errors m = max(0, 1 - z s) with s = 2y - 1, sorted in decreasing order; the loss sums
# m_i times the growth of the Jaccard loss |M| / |G u M| as the i-th pixel joins the mispredicted set M.
def lovasz_by_hand(errors: list[float], truth: list[int]) -> float:
    order = sorted(range(len(errors)), key=lambda i: -errors[i])
    foreground = sum(truth)
    total, previous, wrong = 0.0, 0.0, []
    for i in order:
        wrong.append(i)
        union = foreground + sum(1 for k in wrong if not truth[k])
        jaccard_loss_of_set = len(wrong) / union
        total += errors[i] * (jaccard_loss_of_set - previous)
        previous = jaccard_loss_of_set
    return total


hinge = [max(0.0, 1 - zi * (2 * yi - 1)) for zi, yi in zip(z, y)]
row("lovasz (hinge)", lovasz_by_hand(hinge, y), lovasz_hinge(logits, labels))


# boundary: phi = distance to the object outside it, -(distance to the background - 1) inside,
# divided by the diagonal sqrt(4^2 + 4^2); the loss is the mean of p * phi
def distance(i: int, pixels: list[int]) -> float:
    return min(math.hypot(i // 4 - k // 4, i % 4 - k % 4) for k in pixels)


inside = [i for i in range(16) if y[i]]
outside = [i for i in range(16) if not y[i]]
phi = [(-(distance(i, outside) - 1) if y[i] else distance(i, inside)) / math.hypot(4, 4) for i in range(16)]
row("boundary", sum(pi * f for pi, f in zip(p, phi)) / 16, boundary_loss(logits, labels))
show_rows()
print("signed distance map phi x sqrt(32) (negative inside the object, 0 on its border pixels):")
for r in range(4):
    print("  " + " ".join(f"{phi[4 * r + c] * math.hypot(4, 4) + 0.0:6.3f}" for c in range(4)))

ignored = labels.clone()
ignored[0, 0, 0] = ignored[0, 3, 3] = 255
keep = [i for i in range(16) if i not in (0, 15)]
tp_i = sum(p[i] * y[i] for i in keep)
fp_i = sum(p[i] * (1 - y[i]) for i in keep)
fn_i = sum((1 - p[i]) * y[i] for i in keep)
print()
print("ignore_index 255 on pixels (0, 0) and (3, 3): the same as leaving the two pixels out")
row("dice, ignore_index 255", 1 - (2 * tp_i + s) / (2 * tp_i + fp_i + fn_i + s),
    dice_loss(logits, ignored, ignore_index=255))
row("ce, ignore_index 255", sum(bce[i] for i in keep) / 14, bce_with_logits(logits, ignored, ignore_index=255))
show_rows()

# --- multiclass -------------------------------------------------------------------------------
Y3 = [[0, 0, 1, 1],
      [0, 1, 1, 1],
      [0, 0, 2, 2],
      [0, 2, 2, 2]]
PRED = [[0, 0, 1, 1],
        [0, 0, 1, 1],
        [0, 2, 2, 2],
        [0, 2, 1, 2]]
CONFIDENCE = [[2.0, 1.5, 1.0, 2.5],
              [1.0, 0.5, 2.0, 1.5],
              [3.0, 1.0, 0.5, 2.0],
              [2.0, 1.5, 0.5, 1.0]]
print()
print("multiclass, 3 classes: the logit of the predicted class is its confidence, the other two are 0")
for yr, pr, cr in zip(Y3, PRED, CONFIDENCE):
    print("  truth " + " ".join(map(str, yr)) + "    predicted " + " ".join(map(str, pr))
          + "    confidence " + " ".join(f"{v:.1f}" for v in cr))
Z3 = [[[CONFIDENCE[r][c] if PRED[r][c] == k else 0.0 for c in range(4)] for r in range(4)] for k in range(3)]
logits3 = torch.tensor(Z3, dtype=torch.float64)[None]  # (1, 3, 4, 4)
labels3 = torch.tensor(Y3)[None]
y3 = [v for row_ in Y3 for v in row_]
probs = []  # softmax per pixel
for r in range(4):
    for c in range(4):
        e = [math.exp(Z3[k][r][c]) for k in range(3)]
        probs.append([v / sum(e) for v in e])

ce = [-math.log(probs[i][y3[i]]) for i in range(16)]
row("ce (cross-entropy)", sum(ce) / 16, cross_entropy(logits3, labels3),
    F.cross_entropy(logits3, labels3).item(), "torch cross_entropy")
pixels = [y3.count(k) for k in range(3)]
weights = class_weights_from_pixels(pixels)
w_ce = sum(weights[y3[i]] * ce[i] for i in range(16)) / sum(weights[y3[i]] for i in range(16))
row("ce, class weights (frequency)", w_ce, cross_entropy(logits3, labels3, weight=weights),
    F.cross_entropy(logits3, labels3, weight=torch.tensor(weights, dtype=torch.float64)).item(),
    "torch cross_entropy")
eps = 0.1
smooth_ce = [-(1 - eps) * math.log(probs[i][y3[i]]) - eps / 3 * sum(math.log(q) for q in probs[i]) for i in range(16)]
row("ce, label smoothing 0.1", sum(smooth_ce) / 16, cross_entropy(logits3, labels3, label_smoothing=eps),
    F.cross_entropy(logits3, labels3, label_smoothing=eps).item(), "torch cross_entropy")


def dice_of(k: int) -> float:
    tp_k = sum(probs[i][k] * (y3[i] == k) for i in range(16))
    fp_k = sum(probs[i][k] * (y3[i] != k) for i in range(16))
    fn_k = sum((1 - probs[i][k]) * (y3[i] == k) for i in range(16))
    return (2 * tp_k + s) / (2 * tp_k + fp_k + fn_k + s)


onehot3 = labels3[:, None]
row("dice (classes 1 and 2 averaged)", 1 - (dice_of(1) + dice_of(2)) / 2, dice_loss(logits3, labels3),
    DiceLoss(softmax=True, to_onehot_y=True, include_background=False, batch=True)(logits3, onehot3).item(),
    "MONAI DiceLoss")
focal3 = [-(1 - probs[i][y3[i]]) ** 2 * math.log(probs[i][y3[i]]) for i in range(16)]
monai_focal = FocalLoss(gamma=2.0, use_softmax=True, to_onehot_y=True, reduction="none")(logits3, onehot3)
row("focal (gamma 2)", sum(focal3) / 16, focal_loss(logits3, labels3, gamma=2.0),
    monai_focal.sum(1).mean().item(), "MONAI FocalLoss, summed over C")
lovasz_classes = [lovasz_by_hand([abs((y3[i] == k) - probs[i][k]) for i in range(16)], [int(v == k) for v in y3])
                  for k in range(3)]
row("lovasz (softmax)", sum(lovasz_classes) / 3, lovasz_softmax(logits3, labels3))
show_rows()
print(f"class pixels {pixels} -> frequency weights median(f) / f_c: " + ", ".join(f"{w:.4f}" for w in weights))

print()
print("weighted sums, as --loss builds them:")
for spec in ("dice+ce", "dice:1,focal:0.5"):
    loss = build_loss(spec, "multiclass")
    value = loss(logits3, labels3).item()
    parts = " + ".join(f"{w:g} x {loss.last_values[name]:.6f}" for name, w in loss.terms)
    print(f"  --loss {spec}: {loss.describe()} = {parts} = {value:.6f}")
