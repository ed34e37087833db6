import pytest
import torch

from segtrain.metrics import confusion_metric, scores_from_confusion


def test_hand_computed_binary():
    # truth x prediction: TN=5, FP=1, FN=2, TP=4
    scores = scores_from_confusion(torch.tensor([[5, 1], [2, 4]]))
    fg = scores["per_class"][1]
    assert fg["iou"] == pytest.approx(4 / 7)
    assert fg["dice"] == pytest.approx(8 / 11)
    assert fg["precision"] == pytest.approx(4 / 5)
    assert fg["recall"] == pytest.approx(4 / 6)
    assert fg["support"] == 6
    assert scores["pixel_accuracy"] == pytest.approx(9 / 12)
    assert scores["dice"] == fg["dice"] and scores["iou"] == fg["iou"]
    assert scores["headline"] == {"name": "foreground_dice", "value": fg["dice"]}
    assert scores["per_class"][0]["iou"] == pytest.approx(5 / 8)
    assert scores["mean_iou"] == pytest.approx((4 / 7 + 5 / 8) / 2)


def test_class_absent_from_truth_and_prediction_is_undefined_and_skipped():
    scores = scores_from_confusion(torch.tensor([[3, 1, 0], [0, 2, 0], [0, 0, 0]]))
    assert scores["per_class"][2]["iou"] is None and scores["per_class"][2]["dice"] is None
    assert scores["mean_iou"] == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert scores["iou"] == scores["mean_iou"]
    assert scores["headline"] == {"name": "mean_iou", "value": scores["mean_iou"]}


def test_against_torchmetrics_reference():
    from torchmetrics.classification import MulticlassF1Score, MulticlassJaccardIndex

    torch.manual_seed(0)
    truth = torch.randint(0, 4, (3, 20, 20))
    prediction = torch.where(torch.rand(3, 20, 20) < 0.7, truth, torch.randint(0, 4, (3, 20, 20)))
    metric = confusion_metric(4)
    metric.update(prediction, truth)
    scores = scores_from_confusion(metric.compute())
    iou = MulticlassJaccardIndex(4, average=None)(prediction, truth)
    f1 = MulticlassF1Score(4, average=None, multidim_average="global")(prediction, truth)
    for c in range(4):
        assert scores["per_class"][c]["iou"] == pytest.approx(iou[c].item(), rel=1e-5)
        assert scores["per_class"][c]["dice"] == pytest.approx(f1[c].item(), rel=1e-5)


def test_binary_dice_against_monai():
    from monai.metrics import compute_dice

    torch.manual_seed(0)
    truth = torch.randint(0, 2, (1, 16, 16))
    prediction = torch.randint(0, 2, (1, 16, 16))
    metric = confusion_metric(2)
    metric.update(prediction, truth)
    ours = scores_from_confusion(metric.compute())["dice"]
    reference = compute_dice(prediction[:, None].float(), truth[:, None].float(), include_background=True)
    assert ours == pytest.approx(reference.item(), rel=1e-6)


def test_ignore_index_excluded():
    metric = confusion_metric(2, ignore_index=255)
    metric.update(torch.tensor([[0, 1, 1]]), torch.tensor([[0, 1, 255]]))
    scores = scores_from_confusion(metric.compute())
    assert scores["n_pixels"] == 2 and scores["pixel_accuracy"] == 1.0
