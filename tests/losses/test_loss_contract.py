import pytest
import torch

from segtrain.losses import infer_mode
from segtrain.losses.contract import compute_dtype, masked_mean, region_inputs, resolve_mode


@pytest.mark.parametrize(
    "logits_shape, labels_shape, expected",
    [((2, 1, 4, 4), (2, 4, 4), "binary"), ((2, 3, 4, 4), (2, 4, 4), "multiclass"),
     ((2, 3, 4, 4), (2, 3, 4, 4), "multilabel"), ((2, 1, 4, 4), (2, 1, 4, 4), "multilabel")],
)
def test_infer_mode(logits_shape, labels_shape, expected):
    assert infer_mode(torch.zeros(logits_shape), torch.zeros(labels_shape)) == expected


@pytest.mark.parametrize(
    "logits_shape, labels_shape, mode, message",
    [((2, 3, 4, 4), (2, 4, 4), "binary", "1 logit channel"), ((2, 1, 4, 4), (2, 4, 4), "multiclass", "at least 2"),
     ((2, 3, 4, 4), (2, 4, 4), "multilabel", "logits' shape"), ((2, 3, 4, 4), (2, 5, 4), "multiclass", "shape"),
     ((2, 3, 4, 4), (2, 4, 4), "softmax", "unknown mode"), ((3, 4, 4), (3, 4, 4), None, "(B, C, H, W)")],
)
def test_resolve_mode_refuses_mismatched_shapes(logits_shape, labels_shape, mode, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_mode(torch.zeros(logits_shape), torch.zeros(labels_shape), mode)


@pytest.mark.parametrize("dtype, expected", [(torch.float16, torch.float32), (torch.bfloat16, torch.float32),
                                             (torch.float32, torch.float32), (torch.float64, torch.float64)])
def test_compute_dtype_widens_half_types_only(dtype, expected):
    assert compute_dtype(torch.zeros(1, dtype=dtype)).dtype == expected


def test_masked_mean_of_nothing_is_zero():
    values = torch.ones(2, 3, requires_grad=True)
    out = masked_mean(values, torch.zeros(2, 3, dtype=torch.bool))
    out.backward()
    assert out.item() == 0.0 and torch.equal(values.grad, torch.zeros(2, 3))


def test_region_inputs_channels_per_mode():
    labels = torch.tensor([[[0, 1], [2, 255]]])
    probs, target, valid, mode = region_inputs(torch.zeros(1, 3, 2, 2), labels, ignore_index=255)
    assert mode == "multiclass" and probs.shape == (1, 2, 2, 2)  # classes 1 and 2 only
    assert target[0, :, 0, 1].tolist() == [1, 0] and target[0, :, 1, 0].tolist() == [0, 1]
    assert valid[0, 0].tolist() == [[1, 1], [1, 0]]
    assert probs[0, :, 1, 1].tolist() == [0, 0]  # ignored pixel zeroed
    assert torch.allclose(probs[0, :, 0, 0], torch.full((2,), 1 / 3))
    probs, target, _, mode = region_inputs(torch.zeros(1, 3, 2, 2), labels, ignore_index=255, include_background=True)
    assert probs.shape == (1, 3, 2, 2) and target[0, 0, 0, 0] == 1
    probs, target, _, mode = region_inputs(torch.zeros(1, 1, 2, 2), torch.tensor([[[0, 1], [1, 0]]]))
    assert mode == "binary" and probs.shape == (1, 1, 2, 2) and torch.all(probs == 0.5)
    ml = torch.tensor([[[[1, 0]], [[255, 1]]]], dtype=torch.uint8)
    probs, target, valid, mode = region_inputs(torch.zeros(1, 2, 1, 2), ml, ignore_index=255)
    assert mode == "multilabel" and valid[0, :, 0].tolist() == [[1, 1], [0, 1]] and target[0, 1, 0].tolist() == [0, 1]


def test_multilabel_accepts_bool_and_float_labels():
    logits = torch.randn(1, 2, 3, 3)
    labels = torch.rand(1, 2, 3, 3) > 0.5
    a = region_inputs(logits, labels, ignore_index=255)
    b = region_inputs(logits, labels.float())
    assert torch.equal(a.target, b.target) and torch.equal(a.probs, b.probs)
