import pytest

from segtrain.config.schema import SegtrainConfig
from segtrain.data.rescale import FIT
from segtrain.data.structures import ClassStructure, Structures
from segtrain.planning.plan import TrainingPlan
from segtrain.planning.resolution import MAX_CEILING_LOSS, candidates, choose_scale, layout_of, plan_resolution, regime


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
    assert calls == [([FIT, 1.0, 0.7071, 0.5, 0.3536, 0.25], 256)]
    assert scale == 0.25 and patch == 256 and structures is not None
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
