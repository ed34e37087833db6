import pytest

from segtrain.config.schema import SegtrainConfig
from segtrain.data.rescale import FILL, FIT
from segtrain.data.structures import HALF_FILL, HALF_FIT, ClassStructure, Structures
from segtrain.planning.plan import TrainingPlan
from segtrain.planning.resolution import (MAX_CEILING_LOSS, candidates, choose_scale, choose_stem, layout_of,
                                          plan_resolution, regime)


def _structures(ceilings_by_class, shares=None, thin=None):
    shares = shares or [1 / len(ceilings_by_class)] * len(ceilings_by_class)
    thin = thin or [10.0] * len(ceilings_by_class)
    return Structures(8, [ClassStructure(s, t, t, {**c, "1": 1.0}) for c, s, t in zip(ceilings_by_class, shares, thin)],
                      vertical_offset=0.3, horizontal_offset=0.0)


def test_candidates_run_from_one_down_to_the_whole_image():
    whole, factors = candidates([(640, 1024)] * 3, 256)
    assert whole == 0.25
    assert factors == [1.0, 0.7071, 0.5, 0.3536, 0.25]
    assert candidates([(200, 240)], 256) == (1.0, [1.0])


def test_the_most_context_that_keeps_every_important_class():
    sizes = [(512, 512)] * 4
    ceilings = {"0.7071": 0.999, "0.5": 0.995}
    thin = _structures([ceilings, {"0.7071": 0.995, "0.5": 0.97}])  # the second class loses 3% at 0.5
    scale, reason = choose_scale(thin, sizes, 256)
    assert scale == 0.7071 and "0.5: 0.9700 (class 1)" in reason
    easy = _structures([{"0.7071": 1.0, "0.5": 0.999}, {"0.7071": 1.0, "0.5": 0.998}])
    assert choose_scale(easy, sizes, 256)[0] == 0.5


def test_a_class_under_half_a_percent_does_not_veto():
    sizes = [(512, 512)] * 4
    s = _structures([{"0.7071": 1.0, "0.5": 0.999}, {"0.7071": 0.5, "0.5": 0.1}], shares=[0.998, 0.002])
    assert choose_scale(s, sizes, 256)[0] == 0.5


def test_nothing_passes_native_resolution_and_images_that_fit_stay():
    sizes = [(512, 512)] * 4
    s = _structures([{"0.7071": 0.95, "0.5": 0.9}])
    scale, reason = choose_scale(s, sizes, 256)
    assert scale == 1.0 and f"{MAX_CEILING_LOSS:.0%}" in reason
    assert choose_scale(s, [(200, 200)], 256)[0] == 1.0
    assert choose_scale(None, sizes, 256)[0] == 1.0


def test_varied_sizes_fit_each_image_when_that_passes():
    sizes = [(512, 768), (600, 800), (480, 640)]
    s = _structures([{FIT: 0.998, "0.4": 0.998}])
    assert choose_scale(s, sizes, 256)[0] == FIT


def _planner(plan=None):
    class P:
        def __init__(self):
            self.plan, self.given = plan or TrainingPlan(), TrainingPlan()

        def class_name(self, k):
            return f"class {k}"

        def choose(self, name, user, planned):
            value, reason = (user, "user") if user is not None else planned()
            self.plan.set(name, value, reason)
            return value

    return P()


def test_plan_resolution_measures_then_plans_the_patch_for_the_scaled_image():
    calls = []

    def measure(scales, patch):
        calls.append((scales, patch))
        return _structures([{k: 0.999 for k in ("fit", "0.7071", "0.5", "0.3536", "0.25")}])

    p = _planner()
    config = SegtrainConfig.model_validate({"data": {"root": "."}})
    scale, patch, structures = plan_resolution(p, config, measure, [(640, 1024)] * 4, 256, 16)
    assert calls == [([FILL, HALF_FILL, FIT, HALF_FIT, 1.0, 0.7071, 0.5, 0.3536, 0.25, 0.5, 0.35355, 0.25, 0.1768, 0.125], 256)]
    assert scale == 0.25 and patch == 256 and structures is not None
    assert p.plan["stem"] == "full"  # nothing measured at 0.125: the ceiling there is unknown
    assert p.plan["structures"]["class 0"]["ceiling"] == 0.999
    assert regime([(640, 1024)] * 4, scale, patch)[0] == "whole image"
    assert layout_of(structures, scale, [(640, 1024)], patch)["thinnest_px"] == pytest.approx(2.5)


def test_windowed_images_stay_at_their_resolution_and_the_user_wins():
    config = SegtrainConfig.model_validate({"data": {"root": "."}})
    scale, patch, _ = plan_resolution(_planner(), config, lambda *a: pytest.fail("measured"), [(4000, 4000)], 256, 16,
                                      windowed=True)
    assert scale == 1.0 and patch == 256
    config = SegtrainConfig.model_validate({"data": {"root": "."}, "train": {"scale": 0.5}})
    scale, patch, _ = plan_resolution(_planner(), config, lambda *a: pytest.fail("measured"), [(512, 512)], 256, 16)
    assert scale == 0.5 and patch == 256
    assert regime([(512, 512)], 0.5, 256)[0] == "whole image"
    crops = regime([(1024, 1024)], 1.0, 256)
    assert crops[0] == "crops" and "6%" in crops[1]


def test_the_stem_is_strided_only_when_half_the_scale_keeps_every_ceiling():
    keeps = _structures([{"0.5": 0.999, "0.25": 0.995}, {"0.5": 0.998, "0.25": 0.992}])
    stem, reason = choose_stem(keeps, 0.5)
    assert stem == "strided" and "0.9920 (class 1)" in reason
    loses = _structures([{"0.5": 0.999, "0.25": 0.995}, {"0.5": 0.998, "0.25": 1 - MAX_CEILING_LOSS - 0.001}])
    stem, reason = choose_stem(loses, 0.5)
    assert stem == "full" and "0.9890 (class 1)" in reason
    fitted = _structures([{FIT: 0.999, HALF_FIT: 0.995}])
    assert choose_stem(fitted, FIT)[0] == "strided"
    assert choose_stem(_structures([{FIT: 0.999, HALF_FIT: 0.95}]), FIT)[0] == "full"
    assert choose_stem(None, 0.5)[0] == "full"
    rare = _structures([{"0.25": 0.999}, {"0.25": 0.5}], shares=[0.999, 0.001])  # under half a percent: no veto
    assert choose_stem(rare, 0.5)[0] == "strided"


def test_the_planned_stem_follows_the_measurement_and_the_user_wins():
    def measure(scales, patch):
        return _structures([{str(k): 0.999 for k in ("fit", "fit/2", "0.7071", "0.5", "0.3536", "0.25", "0.1768",
                                                      "0.125")}])

    p = _planner()
    config = SegtrainConfig.model_validate({"data": {"root": "."}})
    plan_resolution(p, config, measure, [(640, 1024)] * 4, 256, 16)
    assert p.plan["stem"] == "strided"
    p = _planner()
    config = SegtrainConfig.model_validate({"data": {"root": "."}, "model": {"stem": "full"}})
    plan_resolution(p, config, measure, [(640, 1024)] * 4, 256, 16)
    assert p.plan["stem"] == "full"


def test_images_that_are_not_square_fill_the_patch_when_that_keeps_the_ceilings():
    photos = [(480, 640)] * 4
    passes = _structures([{FILL: 0.999, "0.4": 0.995, "0.5657": 0.999}])
    scale, reason = choose_scale(passes, photos, 256)
    assert scale == FILL and "1.33x" in reason
    assert regime(photos, FILL, 256) == ("whole image", "a median image (480x640) is resized to fill the 256x256 "
                                                         "patch: each step sees whole scenes")
    fails = _structures([{FILL: 0.97, "0.4": 0.995}])
    assert choose_scale(fails, photos, 256)[0] == 0.4
    square = _structures([{FILL: 1.0, "0.5": 0.999}])
    assert choose_scale(square, [(512, 512)] * 4, 256)[0] == 0.5  # filling a square image changes nothing
    strips = _structures([{FILL: 1.0, "0.25": 0.999}])
    assert choose_scale(strips, [(300, 1024)] * 4, 256)[0] == 0.25  # 3.4:1: more than MAX_STRETCH
