import numpy as np

from segtrain.evaluation.refine import _choose_steps, _Scorer, headline


def test_headline_is_foreground_dice_for_two_classes_and_mean_iou_otherwise():
    # truth rows, prediction columns
    two = np.array([[5, 1], [2, 4]])
    assert np.isclose(headline(two), 2 * 4 / (2 * 4 + 1 + 2))
    three = np.array([[2, 0, 0], [1, 1, 0], [0, 0, 0]])  # class 2 absent everywhere: left out of the mean
    assert np.isclose(headline(three), np.mean([2 / 3, 1 / 2]))


def test_ignored_pixels_do_not_count():
    truth = np.array([[1, 255], [0, 0]])
    scorer = _Scorer([truth], 2, 255)
    assert scorer.score([np.array([[1, 0], [0, 0]])]) == 1.0


def _maps():
    truth = np.zeros((20, 20), np.int64)
    truth[4:12, 4:12] = 1
    prediction = truth.copy()
    prediction[7, 7] = 0          # a hole
    prediction[16:18, 16:18] = 1  # a spurious blob
    return truth, prediction


def test_steps_that_raise_the_validation_score_are_kept():
    truth, prediction = _maps()
    kept, tried = _choose_steps(_Scorer([truth], 2, None), [prediction], 2)
    # the 4-pixel blob is 1% of the image: no remove_small share (sizes below 0.01%, 0.1%, 1%) removes it
    assert kept == ["fill_holes@1", "largest_component@1"]
    assert all(t["kept"] == (t["score"] > t["before"]) for t in tried)


def test_steps_that_lower_the_validation_score_are_rejected():
    # the truth has two objects and a real hole: every candidate can only do harm or nothing
    truth = np.zeros((20, 20), np.int64)
    truth[2:8, 2:8] = 1
    truth[4, 4] = 0
    truth[15:17, 15:17] = 1
    kept, tried = _choose_steps(_Scorer([truth], 2, None), [truth.copy()], 2)
    assert kept == []
    assert {t["step"].split("@")[0].split(":")[0] for t in tried} == {"fill_holes", "largest_component", "remove_small"}
    assert all(t["score"] <= t["before"] for t in tried)
