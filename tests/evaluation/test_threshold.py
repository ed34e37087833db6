import numpy as np
import torch

from segtrain.evaluation.threshold import ThresholdCounter


def test_counts_give_exact_dice_per_threshold():
    # 4 foreground pixels with p = 0.3, 0.6, 0.7, 0.9 and 4 background pixels with p = 0.1, 0.2, 0.45, 0.65
    p = torch.tensor([[[0.3, 0.6, 0.7, 0.9, 0.1, 0.2, 0.45, 0.65]]])
    t = torch.tensor([[[1, 1, 1, 1, 0, 0, 0, 0]]])
    counter = ThresholdCounter()
    counter.add(p, t)
    # at 0.5: TP 3 (0.6, 0.7, 0.9), FP 1 (0.65), FN 1 (0.3) -> 6 / 8
    assert np.isclose(counter.dice(0.5), 6 / 8)
    # at 0.25: TP 4, FP 2 (0.45, 0.65) -> 8 / 10
    assert np.isclose(counter.dice(0.25), 8 / 10)
    # at 0.7: TP 2 (0.7, 0.9), FP 0, FN 2 -> 4 / 6
    assert np.isclose(counter.dice(0.7), 4 / 6)
    # 0.25 and 0.30 both reach 8 / 10 (the best); the tie goes to 0.30, nearer to 0.5
    choice = counter.choose()
    assert choice.threshold == 0.3 and np.isclose(choice.dice, 0.8)
    assert np.isclose(choice.dice_at_default, 0.75)


def test_ties_go_to_the_threshold_nearest_one_half():
    counter = ThresholdCounter()
    counter.add(torch.tensor([[[0.01, 0.99]]]), torch.tensor([[[0, 1]]]))
    assert counter.choose().threshold == 0.5  # every candidate separates them perfectly


def test_ignored_pixels_do_not_count():
    counter = ThresholdCounter()
    counter.add(torch.tensor([[[0.9, 0.9]]]), torch.tensor([[[1, 255]]]), ignore_index=255)
    assert counter.dice(0.5) == 1.0
