"""An independent scorer for predicted masks: pooled Dice/IoU (binary) or mIoU/mean Dice (multiclass)
at the original resolution, from mask files alone.

It imports neither segtrain nor bench/handwritten.py (numpy and PIL only; ``tifffile`` only as a
fallback for a TIFF that PIL cannot open), so the benchmark does not trust either side's own
scoring. The definitions are those of bench/handwritten.py:

- Truth: ``DATA/masks/<stem>.<png|jpg|jpeg|tif|tiff>``. With ``DATA/classes.json``
  (``{"name": raw value}`` or ``{"name": [r, g, b]}``, in class order) the i-th entry's value or
  colour is class i and the number of classes is the number of entries; a value not listed is an
  error. Without it the task is binary: pixels > 0 in any channel (alpha left out) are class 1.
- Predictions: ``PRED/<stem>.png`` (or ``.tif``/``.tiff``), one per stem, the size of the truth.
  How the values are read (``values``):

  * ``"raw"``: the dataset's own mask values (what ``segtrain predict`` writes whenever the
    training masks' value -> class mapping can be inverted, see
    ``src/segtrain/inference/writers.py``: a 0/255 dataset gets 0/255 masks back, a 0/1/2 one
    gets 0/1/2; colour-coded datasets get RGB masks in the classes' colours);
  * ``"index"``: class indices (what segtrain writes when two raw values share a class, and what
    bench/handwritten.py writes);
  * ``"auto"`` (default): decided once for the whole folder. Binary without classes.json: pixels
    > 0 are class 1 (right for 0/1 and 0/255 alike). Otherwise ``raw`` when every predicted value
    (packed colour for RGB predictions) is one of the dataset's values, else ``index`` when every
    value is below the number of classes, else an error. Where both fit, ``raw`` wins, as that is
    what segtrain writes for an invertible mapping; the decision is reported.

- Scores: a (K, K) confusion matrix (truth x prediction) pooled over all pixels of all images.
  Per class c: TP, FP, FN of c, IoU = TP / (TP + FP + FN), Dice = 2TP / (2TP + FP + FN), both 1.0
  when TP + FP + FN = 0. Binary (K = 2): the headline is Dice of class 1 (IoU of class 1 beside it).
  Multiclass: mIoU (the headline) and mean Dice over the classes present (TP + FP + FN > 0),
  background included.

    .venv/bin/python bench/scoring.py PRED DATA [--split test] [--values auto] [--json]
    .venv/bin/python bench/scoring.py --self-check
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
PRED_SUFFIXES = (".png", ".tif", ".tiff")


def _find(folder: Path, stem: str, suffixes=SUFFIXES) -> Path:
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        if path.exists():
            return path
    matches = sorted(p for p in folder.glob(f"{stem}.*") if p.suffix.lower() in suffixes)
    if not matches:
        raise FileNotFoundError(f"no file for {stem!r} ({'/'.join(suffixes)}) in {folder}")
    return matches[0]


def _read(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image)
    except Exception:
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise
        import tifffile  # large or exotic TIFFs (segtrain writes huge masks as TIFF by windows)

        return np.asarray(tifffile.imread(path))


def _pack(arr: np.ndarray) -> np.ndarray:
    """(H, W, >=3) -> int64 R*65536 + G*256 + B; (H, W) gray g -> (g, g, g) packed."""
    if arr.ndim == 2:
        g = arr.astype(np.int64)
        return (g << 16) | (g << 8) | g
    rgb = arr[..., :3].astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _single(arr: np.ndarray, path: Path) -> np.ndarray:
    """A value mask stored with channels (gray as RGB, palette + alpha) -> (H, W)."""
    if arr.ndim == 2:
        return arr
    first = arr[..., 0]
    if arr.shape[-1] >= 3 and not (np.array_equal(first, arr[..., 1]) and np.array_equal(first, arr[..., 2])):
        raise ValueError(f"{path}: an RGB mask with differing channels, but the classes are values, not colours")
    return first


def class_mapping(data: Path) -> tuple[dict[int, int] | None, bool]:
    """``DATA/classes.json`` as (raw value or packed colour -> class index, colour?); (None, False) without one."""
    path = Path(data) / "classes.json"
    if not path.exists():
        return None, False
    entries = list(json.loads(path.read_text()).values())
    colour = isinstance(entries[0], list)
    values = [(int(v[0]) << 16) | (int(v[1]) << 8) | int(v[2]) for v in entries] if colour else [int(v) for v in entries]
    if len(set(values)) != len(values):
        raise ValueError(f"{path}: two classes share a value")
    return {v: i for i, v in enumerate(values)}, colour


def _lookup(raw: np.ndarray, mapping: dict[int, int], path: Path) -> np.ndarray:
    out = np.full(raw.shape, -1, dtype=np.int64)
    for value, index in mapping.items():
        out[raw == value] = index
    if (out < 0).any():
        raise ValueError(f"{path}: values {np.unique(raw[out < 0])[:8].tolist()} are not classes of classes.json")
    return out


def read_truth(path: Path, mapping: dict[int, int] | None, colour: bool) -> np.ndarray:
    """(H, W) int64 class indices of a dataset mask."""
    arr = _read(path)
    if mapping is None:
        if arr.ndim == 3:
            arr = arr[..., :-1] if arr.shape[-1] in (2, 4) else arr
            arr = arr.any(axis=-1)
        return (arr > 0).astype(np.int64)
    raw = _pack(arr) if colour else _single(arr, path).astype(np.int64)
    return _lookup(raw, mapping, path)


def _pred_raw(arr: np.ndarray, colour: bool, path: Path) -> np.ndarray:
    """A prediction's values as int64: packed colours for an RGB prediction of a colour dataset."""
    if colour and arr.ndim == 3 and arr.shape[-1] >= 3:
        return _pack(arr)
    return _single(arr, path).astype(np.int64)


def decide_values(values: set[int], mapping: dict[int, int] | None, k: int) -> str:
    """How a folder of predictions holding ``values`` is read (see the module docstring)."""
    if mapping is None:
        return "nonzero"
    if values <= set(mapping):
        return "raw"
    if all(0 <= v < k for v in values):
        return "index"
    raise ValueError(f"predicted values {sorted(values)[:8]} are neither the dataset's values "
                     f"{sorted(mapping)[:8]} nor class indices 0..{k - 1}")


def confusion(pred: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """(k, k) pixel counts, truth x prediction."""
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in size")
    if pred.size and (pred.min() < 0 or pred.max() >= k):
        raise ValueError(f"predicted classes outside 0..{k - 1}")
    index = truth.reshape(-1).astype(np.int64) * k + pred.reshape(-1).astype(np.int64)
    return np.bincount(index, minlength=k * k).reshape(k, k).astype(np.int64)


def scores_from_confusion(conf: np.ndarray) -> dict:
    """Pooled per-class and summary scores of a (K, K) truth x prediction matrix."""
    conf = np.asarray(conf, dtype=np.int64)
    k = len(conf)
    tp = np.diag(conf).astype(np.float64)
    fp = conf.sum(axis=0) - tp
    fn = conf.sum(axis=1) - tp
    union = tp + fp + fn
    present = union > 0
    iou = np.ones(k)
    dice = np.ones(k)
    iou[present] = tp[present] / union[present]
    dice[present] = 2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])
    miou = float(iou[present].mean()) if present.any() else 1.0
    mean_dice = float(dice[present].mean()) if present.any() else 1.0
    binary = k == 2
    return {
        "kind": "binary" if binary else "multiclass",
        "num_classes": k,
        "metric": "dice" if binary else "miou",
        "score": float(dice[1]) if binary else miou,
        "dice": float(dice[1]), "iou": float(iou[1]),
        "miou": miou, "mean_dice": mean_dice,
        "per_class": [{"class": c, "iou": float(iou[c]), "dice": float(dice[c]), "present": bool(present[c]),
                       "tp": int(tp[c]), "fp": int(fp[c]), "fn": int(fn[c])} for c in range(k)],
        "confusion": conf.tolist(),
    }


def score_folder(pred: Path | str, data: Path | str, stems: list[str] | None = None, split: str = "test",
                 values: str = "auto") -> dict:
    """Score ``pred/<stem>.png`` against ``data/masks`` for ``stems`` (default: ``split`` of ``data/split.json``)."""
    pred, data = Path(pred), Path(data)
    if stems is None:
        stems = json.loads((data / "split.json").read_text())[split]
    if not stems:
        raise ValueError("no stems to score")
    mapping, colour = class_mapping(data)
    k = len(mapping) if mapping else 2
    files = {stem: _find(pred, stem, PRED_SUFFIXES) for stem in stems}
    if values == "auto":
        seen: set[int] = set()
        for stem, path in files.items():
            seen |= set(np.unique(_pred_raw(_read(path), colour, path)).tolist())
        values = decide_values(seen, mapping, k)
    elif mapping is None:
        values = "nonzero" if values == "raw" else values
    conf = np.zeros((k, k), dtype=np.int64)
    for stem, path in files.items():
        truth = read_truth(_find(data / "masks", stem), mapping, colour)
        raw = _pred_raw(_read(path), colour, path)
        if values == "nonzero":
            cls = (raw > 0).astype(np.int64)
        elif values == "raw":
            cls = _lookup(raw, mapping, path)
        elif values == "index":
            cls = raw
        else:
            raise ValueError(f"values={values!r}: choose auto, raw or index")
        try:
            conf += confusion(cls, truth, k)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    result = scores_from_confusion(conf)
    result.update({"n_images": len(stems), "values": values, "pred": str(pred), "data": str(data)})
    return result


def self_check() -> None:
    """Hand-computed 4x4 cases, written as files and scored through score_folder."""
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    # class 1: TP 3 ((0,2) (0,3) (1,2)), FP 1 ((0,1)), FN 1 ((1,3)): Dice 6/8, IoU 3/5
    mtruth = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]])
    mpred = np.array([[0, 1, 1, 1], [0, 0, 1, 1], [2, 2, 2, 0], [2, 2, 2, 2]])
    # class 0: TP 3 FP 1 FN 1 -> IoU 3/5, Dice 6/8; class 1: TP 4 FP 1 FN 0 -> 4/5, 8/9;
    # class 2: TP 7 FP 0 FN 1 -> 7/8, 14/15; class 3 (value 64) absent from both: left out of the means
    miou, mdice = (3 / 5 + 4 / 5 + 7 / 8) / 3, (6 / 8 + 8 / 9 + 14 / 15) / 3
    raw_of = {0: 0, 1: 128, 2: 255, 3: 64}

    def save(path: Path, arr: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr.astype(np.uint8)).save(path)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # binary dataset, masks 0/255, no classes.json; predictions as 0/255 (raw) and as 0/1 (indices)
        save(tmp / "bin/masks/a.png", truth * 255)
        (tmp / "bin/split.json").write_text(json.dumps({"train": [], "val": [], "test": ["a"]}))
        save(tmp / "pred255/a.png", pred * 255)
        save(tmp / "pred01/a.png", pred)
        for name in ("pred255", "pred01"):
            r = score_folder(tmp / name, tmp / "bin")
            assert r["kind"] == "binary" and abs(r["dice"] - 0.75) < 1e-12 and abs(r["iou"] - 0.6) < 1e-12, r
            assert r["score"] == r["dice"]
        # the same prediction 4x4 split over two images (top and bottom halves) pools to the same score
        save(tmp / "bin2/masks/a.png", truth[:2] * 255)
        save(tmp / "bin2/masks/b.png", truth[2:] * 255)
        (tmp / "bin2/split.json").write_text(json.dumps({"test": ["a", "b"]}))
        save(tmp / "pred2/a.png", pred[:2])
        save(tmp / "pred2/b.png", pred[2:])
        assert abs(score_folder(tmp / "pred2", tmp / "bin2")["dice"] - 0.75) < 1e-12
        # multiclass, classes.json values 0/128/255/64; predictions as raw values and as indices
        lut = np.array([raw_of[c] for c in range(4)])
        save(tmp / "multi/masks/a.png", lut[mtruth])
        (tmp / "multi/classes.json").write_text(json.dumps({"a": 0, "b": 128, "c": 255, "d": 64}))
        (tmp / "multi/split.json").write_text(json.dumps({"test": ["a"]}))
        save(tmp / "mraw/a.png", lut[mpred])
        save(tmp / "midx/a.png", mpred)
        for name, how in (("mraw", "raw"), ("midx", "index")):
            r = score_folder(tmp / name, tmp / "multi")
            assert r["values"] == how, r["values"]
            assert r["kind"] == "multiclass" and r["num_classes"] == 4
            assert abs(r["miou"] - miou) < 1e-12 and abs(r["mean_dice"] - mdice) < 1e-12, r
            assert r["score"] == r["miou"] and not r["per_class"][3]["present"]
        # colour classes.json; an RGB prediction in the colours
        colours = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 255, 0)}
        rgb = lambda m: np.array([[colours[v] for v in row] for row in m], dtype=np.uint8)  # noqa: E731
        (tmp / "col/masks").mkdir(parents=True)
        Image.fromarray(rgb(mtruth)).save(tmp / "col/masks/a.png")
        (tmp / "col/classes.json").write_text(json.dumps({"x": [0, 0, 0], "y": [255, 0, 0], "z": [0, 255, 0]}))
        (tmp / "col/split.json").write_text(json.dumps({"test": ["a"]}))
        (tmp / "cpred").mkdir()
        Image.fromarray(rgb(mpred)).save(tmp / "cpred/a.png")
        r = score_folder(tmp / "cpred", tmp / "col")
        assert r["values"] == "raw" and abs(r["miou"] - miou) < 1e-12, r
        # a prediction of the wrong size is refused
        save(tmp / "bad/a.png", np.zeros((2, 2)))
        try:
            score_folder(tmp / "bad", tmp / "bin")
        except ValueError:
            pass
        else:
            raise AssertionError("a 2x2 prediction of a 4x4 mask was scored")
    print("scoring self-check passed: binary Dice 0.75 / IoU 0.6; multiclass mIoU "
          f"{miou:.6f}, mean Dice {mdice:.6f} (raw values, indices, colours)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pred", type=Path, nargs="?", help="folder of predicted masks <stem>.png")
    parser.add_argument("data", type=Path, nargs="?", help="dataset folder (masks/, split.json, classes.json)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--values", default="auto", choices=("auto", "raw", "index"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--self-check", action="store_true", help="run the hand-computed checks and exit")
    args = parser.parse_args()
    if args.self_check or args.pred is None:
        self_check()
        return
    if args.data is None:
        parser.error("give PRED and DATA")
    r = score_folder(args.pred, args.data, split=args.split, values=args.values)
    if args.json:
        print(json.dumps(r))
        return
    print(f"{r['kind']}, {r['num_classes']} classes, {r['n_images']} images, predictions read as {r['values']}")
    if r["kind"] == "binary":
        print(f"pooled Dice {r['dice']:.4f}, IoU {r['iou']:.4f}")
    else:
        print(f"mIoU {r['miou']:.4f}, mean Dice {r['mean_dice']:.4f}")
    for c in r["per_class"]:
        print(f"  class {c['class']}: IoU {c['iou']:.4f} Dice {c['dice']:.4f}{'' if c['present'] else ' (absent)'}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
