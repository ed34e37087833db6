import pytest
import torch
from monai.losses import DiceLoss, TverskyLoss

from loss_helpers import random_case, with_ignored
from segtrain.losses import dice_loss, jaccard_loss, tversky_loss

S = 1e-5

# p = sigmoid(0, 0, 100, -100) = (1/2, 1/2, 1, 0) against labels (1, 0, 1, 0):
# TP = 1/2 + 1 = 3/2, FP = 1/2, FN = 1/2
HAND_LOGITS = torch.tensor([0.0, 0.0, 100.0, -100.0], dtype=torch.float64).view(1, 1, 1, 4)
HAND_LABELS = torch.tensor([[[1, 0, 1, 0]]])


def test_hand_computed_binary():
    # Dice (2 TP + s) / (2 TP + FP + FN + s) = (3 + s) / (4 + s)
    assert dice_loss(HAND_LOGITS, HAND_LABELS).item() == pytest.approx(1 - (3 + S) / (4 + S), abs=1e-12)
    # Jaccard (2 TP + s) / (2 (TP + FP + FN) + s) = (3 + s) / (5 + s)
    assert jaccard_loss(HAND_LOGITS, HAND_LABELS).item() == pytest.approx(1 - (3 + S) / (5 + S), abs=1e-12)
    # Tversky 0.3 / 0.7: (1.5 + s) / (1.5 + 0.15 + 0.35 + s) = (1.5 + s) / (2 + s), about 3/4
    ti = (1.5 + S) / (2 + S)
    assert tversky_loss(HAND_LOGITS, HAND_LABELS).item() == pytest.approx(1 - ti, abs=1e-12)
    assert tversky_loss(HAND_LOGITS, HAND_LABELS, gamma=2).item() == pytest.approx((1 - ti) ** 2, abs=1e-12)
    # alpha 1, beta 0 ignores the false negatives: (1.5 + s) / (1.5 + 0.5 + s)
    assert tversky_loss(HAND_LOGITS, HAND_LABELS, alpha=1, beta=0).item() == pytest.approx(1 - ti, abs=1e-12)
    # alpha 0, beta 0 gives (TP + s) / (TP + s) = 1: loss 0
    assert tversky_loss(HAND_LOGITS, HAND_LABELS, alpha=0, beta=0).item() == pytest.approx(0, abs=1e-12)


def test_absent_classes():
    big = 100.0
    # two pixels, truth (0, 1), hard predictions (0, 1): class 1 perfect, class 2 absent from both -> s/s = 1
    logits = torch.tensor([[big, -big], [-big, big], [-big, -big]], dtype=torch.float64).view(1, 3, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    for loss in (dice_loss, jaccard_loss, tversky_loss):
        assert loss(logits, labels).item() == pytest.approx(0, abs=1e-12)
    # predict class 2 where the truth is 1: class 1 has FN = 1 -> s / (1 + s); class 2 has FP = 1 -> same
    logits = torch.tensor([[big, -big], [-big, -big], [-big, big]], dtype=torch.float64).view(1, 3, 1, 2)
    assert dice_loss(logits, labels).item() == pytest.approx(1 - S / (1 + S), abs=1e-12)
    assert jaccard_loss(logits, labels).item() == pytest.approx(1 - S / (2 + S), abs=1e-12)
    # Tversky: class 1 (0 + s) / (0.7 + s), class 2 (0 + s) / (0.3 + s)
    expected = 1 - (S / (0.7 + S) + S / (0.3 + S)) / 2
    assert tversky_loss(logits, labels).item() == pytest.approx(expected, abs=1e-12)


def test_tversky_half_half_is_dice_up_to_the_smoothing():
    # (TP + s) / (TP + FP/2 + FN/2 + s) vs Dice's (TP + s/2) / (TP + FP/2 + FN/2 + s/2): equal when s -> 0
    logits, labels = random_case("multiclass", seed=1)
    tversky = tversky_loss(logits, labels, alpha=0.5, beta=0.5).item()
    assert tversky == pytest.approx(dice_loss(logits, labels).item(), abs=1e-6)


@pytest.mark.parametrize("loss", [dice_loss, jaccard_loss, tversky_loss])
@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_better_prediction_scores_lower(loss, mode):
    logits, labels = random_case(mode, seed=2)
    if mode == "multiclass":
        right = 6 * (2 * torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).double() - 1)
    else:
        right = 6 * (2 * (labels.unsqueeze(1) if mode == "binary" else labels).double() - 1)
    closer = 0.5 * logits + 0.5 * right
    assert loss(right, labels) < loss(closer, labels) < loss(logits, labels)


def _monai_args(mode):
    if mode == "binary":
        return {"sigmoid": True}, lambda y: y.unsqueeze(1)
    if mode == "multiclass":
        return {"softmax": True, "to_onehot_y": True, "include_background": False}, lambda y: y.unsqueeze(1)
    return {"sigmoid": True}, lambda y: y


@pytest.mark.filterwarnings("ignore:single channel prediction")
@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("seed", [0, 1])
def test_dice_and_jaccard_match_monai(mode, seed):
    logits, labels = random_case(mode, channels=4 if mode != "binary" else None, seed=seed)
    kwargs, target = _monai_args(mode)
    ref = DiceLoss(batch=True, **kwargs)(logits, target(labels))
    assert dice_loss(logits, labels, mode=mode).item() == pytest.approx(ref.item(), abs=1e-10)
    ref = DiceLoss(batch=True, jaccard=True, **kwargs)(logits, target(labels))
    assert jaccard_loss(logits, labels, mode=mode).item() == pytest.approx(ref.item(), abs=1e-10)


@pytest.mark.filterwarnings("ignore:single channel prediction")
@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("alpha, beta", [(0.3, 0.7), (0.8, 0.2)])
def test_tversky_matches_monai(mode, alpha, beta):
    logits, labels = random_case(mode, channels=4 if mode != "binary" else None, seed=5)
    kwargs, target = _monai_args(mode)
    ref = TverskyLoss(alpha=alpha, beta=beta, batch=True, **kwargs)(logits, target(labels))
    ours = tversky_loss(logits, labels, alpha=alpha, beta=beta, mode=mode)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-10)
    # focal Tversky: our mean over channels of (1 - TI) ** gamma from MONAI's per-channel scores
    per_channel = TverskyLoss(alpha=alpha, beta=beta, batch=True, reduction="none", **kwargs)(logits, target(labels))
    ours = tversky_loss(logits, labels, alpha=alpha, beta=beta, gamma=0.75, mode=mode)
    assert ours.item() == pytest.approx((per_channel ** 0.75).mean().item(), abs=1e-10)


@pytest.mark.filterwarnings("ignore:single channel prediction")
@pytest.mark.parametrize("mode", ["binary", "multiclass"])
def test_ignore_index_matches_monai(mode):
    logits, labels = random_case(mode, seed=6)
    labels = with_ignored(labels, 255)
    kwargs, target = _monai_args(mode)
    ref = DiceLoss(batch=True, ignore_index=255, **kwargs)(logits, target(labels))
    assert dice_loss(logits, labels, ignore_index=255).item() == pytest.approx(ref.item(), abs=1e-10)
    ref = TverskyLoss(batch=True, alpha=0.3, beta=0.7, ignore_index=255, **kwargs)(logits, target(labels))
    assert tversky_loss(logits, labels, ignore_index=255).item() == pytest.approx(ref.item(), abs=1e-10)


def test_float32_matches_monai_within_1e_5():
    logits, labels = random_case("multiclass", channels=5, size=(32, 32), seed=7, dtype=torch.float32)
    kwargs, target = _monai_args("multiclass")
    ref = DiceLoss(batch=True, **kwargs)(logits, target(labels))
    assert abs(dice_loss(logits, labels).item() - ref.item()) < 1e-5
