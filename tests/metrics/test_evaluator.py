import json
import math
import warnings

import numpy as np
import pytest
import torch

from segtrain.metrics import SegmentationEvaluator, boundary_f1, hd95


def _noisy(rng: np.random.Generator, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """A plausible prediction: the truth moved by a pixel or two, with one wrong block."""
    pred = np.roll(truth, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
    r, c = rng.integers(0, truth.shape[0] - 8), rng.integers(0, truth.shape[1] - 8)
    pred[r : r + 8, c : c + 8] = rng.integers(0, num_classes)
    return pred


def _images(rng, label_map, num_classes: int, n: int = 3):
    truths = [label_map(rng, num_classes, shape=(40, 48)) for _ in range(n)]
    return [(_noisy(rng, t, num_classes), t) for t in truths]


def _monai_hd95_per_class(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    from monai.metrics import compute_hausdorff_distance

    def onehot(x):
        return torch.nn.functional.one_hot(torch.from_numpy(x).long(), num_classes).permute(2, 0, 1)[None].float()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd = compute_hausdorff_distance(onehot(pred), onehot(truth), include_background=False, percentile=95)
    return hd[0].numpy().astype(np.float64)  # classes 1..C-1


# ---- against references ---------------------------------------------------------------------


@pytest.mark.parametrize("num_classes", [2, 3])
def test_pooled_and_per_image_numbers_match_torchmetrics_and_monai(rng, label_map, num_classes):
    from torchmetrics.classification import MulticlassJaccardIndex
    from torchmetrics.segmentation import DiceScore, MeanIoU

    images = _images(rng, label_map, num_classes)
    evaluator = SegmentationEvaluator(num_classes)
    rows = [evaluator.add(f"img{i}", p, t) for i, (p, t) in enumerate(images)]
    result = evaluator.result()
    preds = torch.from_numpy(np.stack([p for p, _ in images]))
    truths = torch.from_numpy(np.stack([t for _, t in images]))

    # pooled, per class
    iou = MulticlassJaccardIndex(num_classes, average=None)(preds, truths).numpy()
    dice = DiceScore(num_classes, average="none", input_format="index", aggregation_level="global")(preds, truths)
    np.testing.assert_allclose([c["iou"] for c in result["per_class"]], iou, atol=1e-5)
    np.testing.assert_allclose([c["dice"] for c in result["per_class"]], dice.numpy(), atol=1e-5)
    np.testing.assert_allclose(result["reductions"]["pooled"]["per_class"]["iou"], iou, atol=1e-5)
    assert result["reductions"]["mean_over_classes"]["iou"] == pytest.approx(iou.mean(), abs=1e-5)

    # mean over images, per class
    iou_images = MeanIoU(num_classes, per_class=True, input_format="index")(preds, truths).numpy()
    dice_images = DiceScore(num_classes, average="none", input_format="index")(preds, truths).numpy()
    over_images = result["reductions"]["mean_over_images"]
    np.testing.assert_allclose(over_images["per_class"]["iou"], iou_images, atol=1e-5)
    np.testing.assert_allclose(over_images["per_class"]["dice"], dice_images, atol=1e-5)
    assert over_images["iou"] == pytest.approx(iou_images.mean(), abs=1e-5)

    # per image: region scores and boundary scores
    monai = np.stack([_monai_hd95_per_class(p, t, num_classes) for p, t in images])  # (N, C-1)
    for (p, t), row, monai_row in zip(images, rows, monai):
        pt, tt = torch.from_numpy(p)[None], torch.from_numpy(t)[None]
        if num_classes == 2:
            ref_iou = MulticlassJaccardIndex(2, average=None)(pt, tt)[1].item()
            ref_dice = DiceScore(2, include_background=False, average="none", input_format="index")(pt, tt).item()
        else:
            ref_iou = MulticlassJaccardIndex(num_classes, average="macro")(pt, tt).item()
            ref_dice = DiceScore(num_classes, average="macro", input_format="index")(pt, tt).item()
        assert row["iou"] == pytest.approx(ref_iou, abs=1e-5)
        assert row["dice"] == pytest.approx(ref_dice, abs=1e-5)
        assert row["hd95"] == pytest.approx(monai_row.mean(), abs=1e-5)
        assert row["boundary_f1"] == pytest.approx(
            np.mean([boundary_f1(p == c, t == c, 2) for c in range(1, num_classes)])
        )
    per_class_hd = monai.mean(0)
    for c in range(1, num_classes):
        assert result["per_class"][c]["hd95"] == pytest.approx(per_class_hd[c - 1], abs=1e-5)
    assert result["per_class"][0]["hd95"] is None and result["per_class"][0]["boundary_f1"] is None
    assert result["hd95"] == pytest.approx(per_class_hd.mean(), abs=1e-5)
    assert result["n_images"] == 3 and [r["stem"] for r in result["per_image"]] == ["img0", "img1", "img2"]


# ---- policies ---------------------------------------------------------------------------------


def test_class_absent_from_an_image_is_skipped_from_its_mean_over_images():
    evaluator = SegmentationEvaluator(3, class_names=["bg", "a", "b"])
    truth_a = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]])
    pred_a = np.array([[0, 0, 1, 1], [0, 0, 1, 2], [2, 2, 2, 2], [2, 2, 2, 0]])
    # image A IoU: class 0: 4/5, class 1: 3/4, class 2: 7/9
    truth_b = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]])
    pred_b = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 1]])
    # image B IoU: class 0: 7/8, class 1: 8/9, class 2: absent from both -> skipped
    evaluator.add("a", pred_a, truth_a)
    row_b = evaluator.add("b", pred_b, truth_b)
    assert row_b["iou"] == pytest.approx((7 / 8 + 8 / 9) / 2)  # the image's own mean skips class 2 too
    result = evaluator.result()
    over_images = result["reductions"]["mean_over_images"]
    per_class = [(4 / 5 + 7 / 8) / 2, (3 / 4 + 8 / 9) / 2, 7 / 9]
    assert over_images["per_class"]["iou"] == pytest.approx(per_class)
    assert over_images["n_images"]["iou"] == [2, 2, 1]
    assert over_images["iou"] == pytest.approx(sum(per_class) / 3)
    assert result["per_class"][2]["name"] == "b"
    # boundary scores: class 2 is undefined in image b and enters its mean from image a only
    assert result["per_class"][2]["hd95"] == pytest.approx(hd95(pred_a == 2, truth_a == 2))


def test_class_predicted_but_absent_from_truth_scores_zero():
    evaluator = SegmentationEvaluator(3)
    truth = np.zeros((6, 6), int)
    truth[:3] = 1
    pred = truth.copy()
    pred[5, 5] = 2
    row = evaluator.add("x", pred, truth)
    over_images = evaluator.result()["reductions"]["mean_over_images"]
    assert over_images["per_class"]["iou"][2] == 0.0 and over_images["per_class"]["dice"][2] == 0.0
    assert over_images["per_class"]["recall"][2] is None  # 0/0
    assert row["hd95"] == pytest.approx((0.0 + math.hypot(6, 6)) / 2)  # class 1 exact, class 2 hallucinated
    assert row["boundary_f1"] == pytest.approx(0.5)


def test_ignored_pixels_change_nothing():
    rng = np.random.default_rng(3)
    truth = np.zeros((30, 30), int)
    truth[8:20, 5:25] = 1
    pred = np.roll(truth, 2, axis=0)
    truth_ignored = truth.copy()
    truth_ignored[:, :3] = 255
    results = []
    for garbage in (0, 1):
        evaluator = SegmentationEvaluator(2, ignore_index=255)
        p = pred.copy()
        p[:, :3] = garbage if garbage == 0 else rng.integers(0, 2, (30, 3))
        evaluator.add("x", p, truth_ignored)
        results.append(evaluator.result())
    assert results[0] == results[1]
    assert results[0]["n_pixels"] == 30 * 27


# ---- horizon ------------------------------------------------------------------------------------


def test_binary_horizon_evaluation(horizon):
    evaluator = SegmentationEvaluator(2, class_names=["ground", "sky"])
    for i, slope in enumerate((0.0, 0.1, -0.2)):
        truth = horizon((60, 80), slope=slope, row0=25.0, sky=1)
        pred = np.concatenate([np.ones((3, 80), int), truth[:-3]])  # 3 rows lower
        row = evaluator.add(f"shift{i}", pred, truth)
        assert row["horizon_row_error_px"] == pytest.approx(3.0)
    truth = horizon((100, 80), slope=0.0, row0=50.0, sky=1)
    row = evaluator.add("tilt", horizon((100, 80), slope=1.0, row0=10.0, sky=1), truth)  # 45 degrees
    assert row["horizon_angle_error_deg"] == pytest.approx(45.0)
    result = evaluator.result()
    assert result["horizon_angle_error_deg"] == pytest.approx(45.0 / 4)
    assert result["horizon_row_error_px"] == pytest.approx((3 * 3.0 + row["horizon_row_error_px"]) / 4)
    assert result["n_horizon_images"] == 4 and "4 of 4" in result["horizon_note"]


def test_horizon_needs_three_quarters_horizon_masks(horizon, blobs, rng):
    truth = horizon((30, 40), slope=0.1, row0=10.0)
    for n_blobs, reported in ((2, True), (3, False)):  # 8 of 10 is enough, 7 of 10 is not
        evaluator = SegmentationEvaluator(2)
        for i in range(10 - n_blobs):
            evaluator.add(f"h{i}", truth, truth)
        for i in range(n_blobs):
            blob = blobs(rng, shape=(30, 40)).astype(int)
            evaluator.add(f"b{i}", blob, blob)
        result = evaluator.result()
        assert (result["horizon_row_error_px"] is not None) is reported
        assert isinstance(result["horizon_note"], str)


def test_no_horizon_scores_for_blobs_or_multiclass(blobs, rng, label_map):
    evaluator = SegmentationEvaluator(2)
    for i in range(3):
        truth = blobs(rng).astype(int)
        row = evaluator.add(str(i), np.roll(truth, 1, axis=1), truth)
        assert "horizon_row_error_px" not in row
    result = evaluator.result()
    assert result["horizon_row_error_px"] is None and result["horizon_angle_error_deg"] is None
    assert "0 of 3" in result["horizon_note"]
    evaluator = SegmentationEvaluator(3)
    truth = label_map(rng, 3)
    evaluator.add("m", truth, truth)
    result = evaluator.result()
    assert result["horizon_row_error_px"] is None and "two-class" in result["horizon_note"]


# ---- report shape -----------------------------------------------------------------------------


def test_result_is_json_serialisable_without_nan():
    evaluator = SegmentationEvaluator(4, tolerance=3)  # class 3 never appears: undefined everywhere
    truth = np.zeros((10, 10), int)
    truth[2:6, 2:6] = 1
    truth[7:, :] = 2
    evaluator.add("x", truth, truth)
    result = evaluator.result()
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text) == result
    assert result["per_class"][3]["iou"] is None and result["per_class"][3]["hd95"] is None
    assert result["boundary_tolerance_px"] == 3
    for key in ("headline", "dice", "iou", "pixel_accuracy", "mean_iou", "mean_dice", "per_class", "n_pixels"):
        assert key in result
    assert set(result["reductions"]) == {"pooled", "mean_over_classes", "mean_over_images"}
    for reduction in result["reductions"].values():
        assert {"description", "iou", "dice", "precision", "recall"} <= set(reduction)
    assert set(result["per_image"][0]) >= {"stem", "dice", "iou", "pixel_accuracy", "hd95", "boundary_f1"}
    empty = SegmentationEvaluator(2).result()
    json.dumps(empty, allow_nan=False)
    assert empty["n_images"] == 0 and empty["hd95"] is None


def test_keeps_no_masks():
    evaluator = SegmentationEvaluator(2)
    truth = np.zeros((64, 64), int)
    truth[10:40, 10:40] = 1
    for i in range(3):
        evaluator.add(str(i), truth, truth)

    def arrays(value):
        if isinstance(value, np.ndarray):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from arrays(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from arrays(v)

    assert max(a.size for a in arrays(vars(evaluator))) <= 4  # counts and per-class numbers only


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        SegmentationEvaluator(1)
    with pytest.raises(ValueError):
        SegmentationEvaluator(2, class_names=["a"])
    with pytest.raises(ValueError):
        SegmentationEvaluator(2).add("x", np.zeros((3, 3), int), np.zeros((3, 4), int))


def test_accepts_boolean_and_uint8_maps(horizon):
    truth = horizon((30, 40), slope=0.1, row0=12.0).astype(np.uint8)
    evaluator = SegmentationEvaluator(2)
    row = evaluator.add("bool", truth.astype(bool), truth)
    assert row["dice"] == 1.0 and row["hd95"] == 0.0 and row["horizon_row_error_px"] == 0.0


def test_result_holds_the_pooled_confusion_matrix():
    import numpy as np

    from segtrain.metrics.evaluator import SegmentationEvaluator

    evaluator = SegmentationEvaluator(2)
    evaluator.add("a", np.array([[0, 1], [1, 1]]), np.array([[0, 0], [1, 1]]))
    evaluator.add("b", np.array([[0, 0], [0, 1]]), np.array([[1, 0], [0, 1]]))
    # truth x prediction: a: (0,0) (0,1) (1,1) (1,1); b: (1,0) (0,0) (0,0) (1,1)
    assert evaluator.result()["confusion"] == [[3, 1], [1, 3]]
