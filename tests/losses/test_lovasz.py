import pytest
import torch

from loss_helpers import random_case, with_ignored
from segtrain.losses import lovasz_hinge, lovasz_loss, lovasz_softmax


# --- an independent reference, straight from the definition ------------------------------------
def jaccard_set_loss(mispredicted: set[int], truth: set[int]) -> float:
    """Delta_J(M) = |M| / |G u M|: the Jaccard loss when the pixels in M are mispredicted (0 if both empty)."""
    union = truth | mispredicted
    return len(mispredicted) / len(union) if union else 0.0


def lovasz_extension_reference(errors: list[float], truth: list[int]) -> float:
    """integral_0^inf Delta_J({i : m_i >= t}) dt for m >= 0, evaluated exactly: the set {m_i >= t} only
    changes at the distinct error values v_1 > v_2 > ... > v_k > 0 = v_{k+1}, so the integral is
    sum_j (v_j - v_{j+1}) * Delta_J({i : m_i >= v_j})."""
    g = {i for i, t in enumerate(truth) if t}
    levels = sorted({e for e in errors if e > 0}, reverse=True) + [0.0]
    return sum((hi - lo) * jaccard_set_loss({i for i, e in enumerate(errors) if e >= hi}, g)
               for hi, lo in zip(levels[:-1], levels[1:]))


def hinge_reference(logits: torch.Tensor, labels: torch.Tensor, ignore_index=None) -> float:
    if labels.dim() == 3:
        labels = labels.unsqueeze(1)
    values = []
    for k in range(logits.shape[1]):
        z, y = logits[:, k].flatten().tolist(), labels[:, k].flatten().tolist()
        pairs = [(zi, yi) for zi, yi in zip(z, y) if yi != ignore_index]
        errors = [max(0.0, 1 - zi * (2 * yi - 1)) for zi, yi in pairs]
        values.append(lovasz_extension_reference(errors, [yi for _, yi in pairs]))
    return sum(values) / len(values)


def softmax_reference(logits: torch.Tensor, labels: torch.Tensor, ignore_index=None, classes="present") -> float:
    probs = torch.softmax(logits, 1)
    keep = (labels != ignore_index).flatten() if ignore_index is not None else torch.ones(labels.numel(), dtype=bool)
    y = labels.flatten()[keep].tolist()
    values = []
    for c in range(logits.shape[1]):
        fg = [int(v == c) for v in y]
        if classes == "present" and not any(fg):
            continue
        p = probs[:, c].flatten()[keep].tolist()
        values.append(lovasz_extension_reference([abs(f - q) for f, q in zip(fg, p)], fg))
    return sum(values) / len(values) if values else 0.0
# ------------------------------------------------------------------------------------------------


def test_reference_itself_on_a_hand_case():
    # errors (0, 1.5, 1.2), truth (1, 1, 0), G = {0, 1}: from t = 1.2 to 1.5 only pixel 1 is wrong,
    # Delta_J({1}) = 1/2; from 0 to 1.2 pixels 1 and 2, Delta_J({1, 2}) = 2/3: 0.3/2 + 1.2 * 2/3 = 0.95
    assert lovasz_extension_reference([0.0, 1.5, 1.2], [1, 1, 0]) == pytest.approx(0.95)


def test_hinge_hand_computed():
    # logits (2, -0.5, 0.2), labels (1, 1, 0): hinge errors 1 - z (2y - 1) = (-1 -> 0, 1.5, 1.2): 0.95 as above
    logits = torch.tensor([2.0, -0.5, 0.2], dtype=torch.float64).view(1, 1, 1, 3)
    assert lovasz_hinge(logits, torch.tensor([[[1, 1, 0]]])).item() == pytest.approx(0.95, abs=1e-12)
    # no positives: Delta_J of any non-empty set is 1, so the loss is the largest error, 1 + 0.2
    assert lovasz_hinge(logits, torch.tensor([[[0, 0, 0]]])).item() == pytest.approx(3.0, abs=1e-12)


def test_softmax_at_the_vertices_is_one_minus_iou():
    # hard one-hot probabilities (logits +-1000 in float64: softmax is exactly 0 or 1)
    truth = torch.tensor([[[0, 1], [1, 2]]])
    predicted = torch.tensor([[[0, 1], [2, 3]]])
    logits = 2000 * torch.nn.functional.one_hot(predicted, 4).permute(0, 3, 1, 2).double() - 1000
    # class 0: IoU 1; class 1: G = {1, 2}, P = {1}: IoU 1/2; class 2: G = {3}, P = {2}: IoU 0;
    # class 3 is predicted (pixel 3) but absent from the truth: skipped with classes="present"
    assert lovasz_softmax(logits, truth).item() == pytest.approx((0 + 0.5 + 1) / 3, abs=1e-12)
    # with classes="all" class 3 counts with IoU 0 (loss 1)
    assert lovasz_softmax(logits, truth, classes="all").item() == pytest.approx((0 + 0.5 + 1 + 1) / 4, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_softmax_vertices_random(seed):
    gen = torch.Generator().manual_seed(seed)
    truth = torch.randint(0, 4, (2, 5, 6), generator=gen)
    predicted = torch.randint(0, 4, (2, 5, 6), generator=gen)
    logits = 2000 * torch.nn.functional.one_hot(predicted, 4).permute(0, 3, 1, 2).double() - 1000
    ious = [((predicted == c) & (truth == c)).sum().item() / ((predicted == c) | (truth == c)).sum().item()
            for c in range(4) if (truth == c).any()]
    assert lovasz_softmax(logits, truth).item() == pytest.approx(1 - sum(ious) / len(ious), abs=1e-12)


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
@pytest.mark.parametrize("ignore", [None, 255])
@pytest.mark.parametrize("seed", [0, 1])
def test_hinge_matches_threshold_integral(mode, ignore, seed):
    logits, labels = random_case(mode, seed=seed)
    if ignore is not None:
        labels = with_ignored(labels, ignore, seed=seed)
    ours = lovasz_hinge(logits, labels, ignore_index=ignore).item()
    assert ours == pytest.approx(hinge_reference(logits, labels, ignore), abs=1e-10)


@pytest.mark.parametrize("ignore", [None, 255])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_softmax_matches_threshold_integral(ignore, seed, classes):
    logits, labels = random_case("multiclass", channels=5, seed=seed)
    labels = labels.clamp(max=3)  # class 4 never in the truth
    if ignore is not None:
        labels = with_ignored(labels, ignore, seed=seed)
    ours = lovasz_softmax(logits, labels, ignore_index=ignore, classes=classes).item()
    assert ours == pytest.approx(softmax_reference(logits, labels, ignore, classes), abs=1e-10)


def test_float32_within_1e_5_of_reference():
    logits, labels = random_case("multiclass", channels=3, size=(12, 12), seed=3, dtype=torch.float32)
    assert abs(lovasz_softmax(logits, labels).item() - softmax_reference(logits.double(), labels)) < 1e-5
    logits, labels = random_case("binary", size=(12, 12), seed=3, dtype=torch.float32)
    assert abs(lovasz_hinge(logits, labels).item() - hinge_reference(logits.double(), labels)) < 1e-5


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_better_prediction_scores_lower(mode):
    logits, labels = random_case(mode, seed=5)
    if mode == "multiclass":
        right = 4 * torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).double()
    else:
        right = 2 * (2 * (labels.unsqueeze(1) if mode == "binary" else labels).double() - 1)
    closer = 0.5 * logits + 0.5 * right
    assert lovasz_loss(right, labels) < lovasz_loss(closer, labels) < lovasz_loss(logits, labels)


def test_lovasz_loss_dispatches_on_mode():
    logits, labels = random_case("binary", seed=6)
    assert torch.equal(lovasz_loss(logits, labels), lovasz_hinge(logits, labels))
    logits, labels = random_case("multiclass", seed=6)
    assert torch.equal(lovasz_loss(logits, labels), lovasz_softmax(logits, labels))
    with pytest.raises(ValueError, match="lovasz_softmax"):
        lovasz_hinge(logits, labels)
