import math

import numpy as np
import pytest
import torch

from segtrain.metrics import confusion_metric, scores_from_confusion
from segtrain.metrics.reductions import class_scores, confusion_counts, mean_over_classes, mean_over_images


def _random_batch(seed: int, num_classes: int, n: int = 4, shape=(24, 32), keep: float = 0.7):
    g = torch.Generator().manual_seed(seed)
    truth = torch.randint(0, num_classes, (n, *shape), generator=g)
    noise = torch.randint(0, num_classes, (n, *shape), generator=g)
    prediction = torch.where(torch.rand(n, *shape, generator=g) < keep, truth, noise)
    return prediction, truth


# ---- hand-computed tables ---------------------------------------------------------------


def test_confusion_counts_hand_case():
    truth = np.array([[0, 0, 1], [1, 2, 255]])
    prediction = np.array([[0, 1, 1], [2, 2, 0]])
    cm = confusion_counts(prediction, truth, 3, ignore_index=255)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_confusion_counts_rejects_out_of_range_and_shape_mismatch():
    with pytest.raises(ValueError, match="outside"):
        confusion_counts(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="outside"):
        confusion_counts(np.array([0, 1]), np.array([0, 255]), 3)  # 255 not declared ignored
    with pytest.raises(ValueError, match="shape"):
        confusion_counts(np.zeros((2, 2), int), np.zeros((2, 3), int), 3)


def test_class_scores_hand_case_and_absent_class_policy():
    # truth x prediction. class 0: TP=3 FP=1 FN=1; class 1: TP=2 FP=1 FN=2;
    # class 2: absent from truth but predicted once (TP=0, FP=1, FN=0); class 3: absent from both.
    cm = np.array([[3, 1, 0, 0], [1, 2, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    s = class_scores(cm)
    assert s["iou"][:3] == pytest.approx([3 / 5, 2 / 5, 0.0])
    assert s["dice"][:3] == pytest.approx([6 / 8, 4 / 7, 0.0])
    assert s["precision"][:3] == pytest.approx([3 / 4, 2 / 3, 0.0])
    assert s["recall"][:2] == pytest.approx([3 / 4, 2 / 4])
    assert math.isnan(s["recall"][2])  # 0/0: nothing of class 2 in the truth
    assert all(math.isnan(s[k][3]) for k in ("iou", "dice", "precision", "recall"))
    means = mean_over_classes(s)
    assert means["iou"] == pytest.approx((3 / 5 + 2 / 5 + 0.0) / 3)  # class 3 skipped, class 2 counts 0
    assert means["recall"] == pytest.approx((3 / 4 + 2 / 4) / 2)


def test_mean_over_images_hand_case():
    # image A: classes 0, 1, 2 all present; image B: class 2 absent from truth and prediction.
    a = np.array([[4, 0, 0], [0, 2, 2], [0, 0, 4]])  # IoU: 1, 2/4, 4/6
    b = np.array([[3, 1, 0], [1, 3, 0], [0, 0, 0]])  # IoU: 3/5, 3/5, undefined
    result = mean_over_images([class_scores(a), class_scores(b)], 3)
    per_class = result["per_class"]["iou"]
    assert per_class == pytest.approx([(1 + 3 / 5) / 2, (2 / 4 + 3 / 5) / 2, 4 / 6])  # class 2: image A only
    assert result["n_images"]["iou"].tolist() == [2, 2, 1]
    assert result["iou"] == pytest.approx(per_class.mean())


def test_mean_over_images_undefined_everywhere_is_nan_and_skipped():
    result = mean_over_images([class_scores(np.array([[5, 0], [0, 0]]))], 2)
    assert math.isnan(result["per_class"]["dice"][1])
    assert result["dice"] == pytest.approx(1.0)


def test_scores_from_confusion_accepts_numpy_and_reports_mean_precision_recall():
    scores = scores_from_confusion(np.array([[5, 1], [2, 4]]))
    assert scores["mean_precision"] == pytest.approx((5 / 7 + 4 / 5) / 2)
    assert scores["mean_recall"] == pytest.approx((5 / 6 + 4 / 6) / 2)


# ---- ordering -------------------------------------------------------------------------------


@pytest.mark.parametrize("num_classes", [2, 4])
def test_better_prediction_scores_higher(num_classes):
    truth = _random_batch(1, num_classes)[1].numpy()
    scores = []
    for keep in (0.3, 0.6, 0.9):
        rng = np.random.default_rng(5)
        noise = rng.integers(0, num_classes, truth.shape)
        prediction = np.where(rng.random(truth.shape) < keep, truth, noise)
        per_image = [class_scores(confusion_counts(p, t, num_classes)) for p, t in zip(prediction, truth)]
        pooled = class_scores(sum(confusion_counts(p, t, num_classes) for p, t in zip(prediction, truth)))
        scores.append((mean_over_classes(pooled)["iou"], mean_over_images(per_image, num_classes)["dice"]))
    assert scores[0][0] < scores[1][0] < scores[2][0]
    assert scores[0][1] < scores[1][1] < scores[2][1]


# ---- against torchmetrics -----------------------------------------------------------------


@pytest.mark.parametrize("num_classes", [2, 5])
def test_confusion_counts_match_torchmetrics(num_classes):
    prediction, truth = _random_batch(2, num_classes)
    truth[:, :2] = 255
    reference = confusion_metric(num_classes, ignore_index=255)
    reference.update(prediction, truth)
    ours = confusion_counts(prediction.numpy(), truth.numpy(), num_classes, ignore_index=255)
    assert np.array_equal(ours, reference.compute().numpy())


@pytest.mark.parametrize("num_classes", [2, 5])
def test_pooled_scores_match_torchmetrics(num_classes):
    from torchmetrics.classification import MulticlassJaccardIndex
    from torchmetrics.segmentation import DiceScore

    prediction, truth = _random_batch(3, num_classes)
    pooled = class_scores(sum(confusion_counts(p, t, num_classes) for p, t in zip(prediction.numpy(), truth.numpy())))
    iou = MulticlassJaccardIndex(num_classes, average=None)(prediction, truth)
    dice = DiceScore(num_classes, average="none", input_format="index", aggregation_level="global")(prediction, truth)
    np.testing.assert_allclose(pooled["iou"], iou.numpy(), atol=1e-5)
    np.testing.assert_allclose(pooled["dice"], dice.numpy(), atol=1e-5)


@pytest.mark.parametrize("num_classes", [2, 5])
def test_mean_over_images_matches_torchmetrics_samplewise(num_classes):
    """MeanIoU(per_class) and DiceScore(samplewise) skip classes absent from both, like us."""
    from torchmetrics.classification import MulticlassPrecision, MulticlassRecall
    from torchmetrics.segmentation import DiceScore, MeanIoU

    prediction, truth = _random_batch(4, num_classes, n=5, shape=(6, 6))
    # make class absences happen: image 0 holds no class-1 pixel in truth or prediction,
    # image 1 predicts class 1 where the truth has none
    truth[0][truth[0] == 1] = 0
    prediction[0][prediction[0] == 1] = 0
    truth[1][truth[1] == 1] = 0
    prediction[1, 0, 0] = 1
    per_image = [class_scores(confusion_counts(p, t, num_classes)) for p, t in zip(prediction.numpy(), truth.numpy())]
    ours = mean_over_images(per_image, num_classes)["per_class"]

    iou = MeanIoU(num_classes, per_class=True, input_format="index")(prediction, truth)
    dice = DiceScore(num_classes, average="none", input_format="index", aggregation_level="samplewise")(
        prediction, truth
    )
    kwargs = dict(average=None, multidim_average="samplewise", zero_division=math.nan, validate_args=False)
    precision = MulticlassPrecision(num_classes, **kwargs)(prediction, truth).nanmean(0)
    recall = MulticlassRecall(num_classes, **kwargs)(prediction, truth).nanmean(0)
    np.testing.assert_allclose(ours["iou"], iou.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours["dice"], dice.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours["precision"], precision.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours["recall"], recall.numpy(), atol=1e-5)
    assert per_image[0]["iou"][1] != per_image[0]["iou"][1]  # NaN: skipped
    assert per_image[1]["iou"][1] == 0.0  # predicted but absent from truth: 0
