import pytest

from segtrain.losses import class_weights_from_pixels, pos_weight_from_pixels


def test_median_frequency_hand_computed():
    # counts 600, 300, 100 of 1000: f = 0.6, 0.3, 0.1; median 0.3 -> 0.3/0.6, 0.3/0.3, 0.3/0.1
    assert class_weights_from_pixels([600, 300, 100]) == pytest.approx([0.5, 1.0, 3.0])


def test_even_number_of_classes_uses_the_mean_of_the_middle_two():
    # f = 0.4, 0.3, 0.2, 0.1: median (0.3 + 0.2) / 2 = 0.25 -> 0.625, 0.8333, 1.25, 2.5
    assert class_weights_from_pixels([40, 30, 20, 10]) == pytest.approx([0.625, 0.25 / 0.3, 1.25, 2.5])


def test_empty_class_gets_weight_one_and_is_left_out_of_the_median():
    # present: f = 0.75, 0.25 -> median 0.5 -> 2/3, 2; class 1 has no pixel -> 1.0
    assert class_weights_from_pixels([75, 0, 25]) == pytest.approx([2 / 3, 1.0, 2.0])
    assert class_weights_from_pixels([0, 0]) == [1.0, 1.0]


def test_rarer_class_weighs_more():
    weights = class_weights_from_pixels([900, 90, 10])
    assert weights[0] < weights[1] < weights[2] and weights[1] == pytest.approx(1.0)


def test_pos_weight_hand_computed():
    assert pos_weight_from_pixels([900, 100]) == pytest.approx(9.0)
    assert pos_weight_from_pixels([100, 300]) == pytest.approx(1 / 3)
    assert pos_weight_from_pixels([100, 0]) == 1.0 and pos_weight_from_pixels([0, 5]) == 1.0


@pytest.mark.parametrize("bad", [[], [-1, 5]])
def test_class_weights_refuse_bad_counts(bad):
    with pytest.raises(ValueError, match="non-negative"):
        class_weights_from_pixels(bad)


@pytest.mark.parametrize("bad", [[1, 2, 3], [5], [-1, 2]])
def test_pos_weight_refuses_bad_counts(bad):
    with pytest.raises(ValueError, match="two non-negative"):
        pos_weight_from_pixels(bad)
