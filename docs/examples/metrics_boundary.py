"""HD95, boundary F1 and the horizon errors on hand-made masks: by hand, by segtrain, and by MONAI.

Run: python docs/examples/metrics_boundary.py (prints its results; used by docs/losses_and_metrics.md).

By hand means plain Python loops: boundary pixels from their definition, every distance between
boundary pixels, percentiles with linear interpolation, and the least-squares horizon lines.
MONAI's compute_hausdorff_distance is the reference for the Hausdorff distance; the boundary F1
and the horizon errors have no reference implementation there.
"""

import math
import warnings

import numpy as np
import torch

from segtrain.metrics import SegmentationEvaluator, boundary_f1, hd95
from segtrain.metrics.horizon import horizon_errors

warnings.filterwarnings("ignore")  # MONAI's notices about empty masks
from monai.metrics import compute_hausdorff_distance  # noqa: E402

H, W = 8, 8
truth = np.zeros((H, W), int)
truth[2:6, 2:6] = 1  # a 4x4 square
pred = np.zeros((H, W), int)
pred[2:7, 3:7] = 1  # one column to the right, one row taller


def show(a: np.ndarray, b: np.ndarray) -> None:
    print("  truth             prediction        (B: boundary pixel, o: inside, .: background)")
    marks = [boundary_marks(a), boundary_marks(b)]
    for r in range(H):
        print("  " + "   ".join(" ".join(m[r]) for m in marks))


def boundary(mask: np.ndarray) -> list[tuple[int, int]]:
    """Foreground pixels with a 4-neighbour that is background or outside the image."""
    out = []
    for r in range(H):
        for c in range(W):
            if mask[r, c] and any(not (0 <= r + dr < H and 0 <= c + dc < W) or not mask[r + dr, c + dc]
                                  for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))):
                out.append((r, c))
    return out


def boundary_marks(mask: np.ndarray) -> list[list[str]]:
    edge = set(boundary(mask))
    return [["B" if (r, c) in edge else "o" if mask[r, c] else "." for c in range(W)] for r in range(H)]


def nearest(points: list, others: list) -> list[float]:
    return [min(math.dist(a, b) for b in others) for a in points]


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks, as numpy.percentile and torch.quantile."""
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def monai_hd(p: np.ndarray, t: np.ndarray, q: float | None = 95) -> float:
    def onehot(mask):
        return torch.from_numpy(np.stack([1 - mask, mask]))[None].float()  # (1, 2, H, W)

    return compute_hausdorff_distance(onehot(p), onehot(t), include_background=False, percentile=q).item()


print("an 8x8 example: the prediction is the true square moved one column right and made one row taller")
show(truth, pred)
edge_t, edge_p = boundary(truth), boundary(pred)
to_truth, to_pred = nearest(edge_p, edge_t), nearest(edge_t, edge_p)
print(f"boundary pixels: truth {len(edge_t)}, prediction {len(edge_p)}")
print("distance from each predicted boundary pixel to the true boundary, sorted: "
      + " ".join(f"{d:.3f}" for d in sorted(to_truth)))
print("distance from each true boundary pixel to the predicted boundary, sorted: "
      + " ".join(f"{d:.3f}" for d in sorted(to_pred)))
hd_hand = max(percentile(to_truth, 95), percentile(to_pred, 95))
hd100_hand = max(max(to_truth), max(to_pred))
print(f"95th percentiles: {percentile(to_truth, 95):.6f} and {percentile(to_pred, 95):.6f}")
print(f"  {'score':<34} {'by hand':>9} {'segtrain':>9} {'MONAI':>9}")
print(f"  {'hd95':<34} {hd_hand:9.6f} {hd95(pred, truth):9.6f} {monai_hd(pred, truth):9.6f}")
print(f"  {'Hausdorff distance (percentile 100)':<34} {hd100_hand:9.6f} {hd95(pred, truth, percentile=100):9.6f} "
      f"{monai_hd(pred, truth, None):9.6f}")
for tolerance in (0, 1, 2):
    precision = sum(d <= tolerance for d in to_truth) / len(to_truth)
    recall = sum(d <= tolerance for d in to_pred) / len(to_pred)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    print(f"  boundary F1 at tolerance {tolerance} px: precision {precision:.6f}, recall {recall:.6f}, "
          f"F1 by hand {f1:.6f}, segtrain {boundary_f1(pred, truth, tolerance):.6f}")

print()
print("empty masks:")
empty = np.zeros((H, W), int)
cases = {"object missed (prediction empty)": (empty, truth), "object invented (truth empty)": (pred, empty),
         "both empty": (empty, empty)}
for name, (p, t) in cases.items():
    ours, f1 = hd95(p, t), boundary_f1(p, t)
    print(f"  {name}: segtrain hd95 {ours if ours is None else f'{ours:.6f}'}, boundary F1 {f1}; "
          f"MONAI hd95 {monai_hd(p, t)}")
print(f"  the image diagonal sqrt(8^2 + 8^2) = {math.hypot(H, W):.6f}")

print()
print("horizon: sky (1) above ground (0), 6 rows x 8 columns")
sky_rows_true = [2, 2, 3, 3, 3, 4, 4, 4]  # sky pixels per column
sky_rows_pred = [1, 2, 2, 2, 3, 3, 3, 3]
horizon_truth = np.array([[int(r < n) for n in sky_rows_true] for r in range(6)])
horizon_pred = np.array([[int(r < n) for n in sky_rows_pred] for r in range(6)])
for a, b in zip(horizon_truth, horizon_pred):
    print("  " + " ".join(map(str, a)) + "   " + " ".join(map(str, b)))


def fit(rows: list[int]) -> tuple[float, float]:
    xs = range(len(rows))
    mx, mr = sum(xs) / len(rows), sum(rows) / len(rows)
    slope = sum((x - mx) * (r - mr) for x, r in zip(xs, rows)) / sum((x - mx) ** 2 for x in xs)
    return slope, mr - slope * mx


(st, it), (sp, ip) = fit(sky_rows_true), fit(sky_rows_pred)
row_error = sum(abs((sp - st) * x + (ip - it)) for x in range(8)) / 8
angle_error = abs(math.degrees(math.atan(sp) - math.atan(st)))
ours = horizon_errors(horizon_pred, horizon_truth, sky_class=1)
print(f"  true line: row = {st:.6f} x + {it:.6f}; predicted line: row = {sp:.6f} x + {ip:.6f}")
print(f"  row error: by hand {row_error:.6f} px, segtrain {ours['row_error_px']:.6f} px")
print(f"  angle error: by hand {angle_error:.6f} degrees, segtrain {ours['angle_error_deg']:.6f} degrees")

evaluator = SegmentationEvaluator(2)
row = evaluator.add("horizon", horizon_pred, horizon_truth)
print(f"  the evaluator's row for this image: dice {row['dice']:.6f}, hd95 {row['hd95']:.6f}, "
      f"boundary_f1 {row['boundary_f1']:.6f}, horizon_row_error_px {row['horizon_row_error_px']:.6f}, "
      f"horizon_angle_error_deg {row['horizon_angle_error_deg']:.6f}")
