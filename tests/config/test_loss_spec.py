import subprocess
import sys

import pytest

from segtrain.losses import LOSS_NAMES, parse_loss_spec


@pytest.mark.parametrize(
    "spec, expected",
    [("dice+ce", [("dice", 1.0), ("ce", 1.0)]),
     ("dice:1,focal:0.5", [("dice", 1.0), ("focal", 0.5)]),
     (" Dice : 2 + CE ", [("dice", 2.0), ("ce", 1.0)]),
     ("bce", [("ce", 1.0)]),
     ("IoU,focal_tversky:0.3", [("jaccard", 1.0), ("tversky", 0.3)]),
     ("lovasz+boundary:1e-1", [("lovasz", 1.0), ("boundary", 0.1)]),
     ("ce+dice+jaccard+tversky+focal+lovasz+boundary", [(name, 1.0) for name in LOSS_NAMES])],
)
def test_good_specs(spec, expected):
    assert parse_loss_spec(spec) == expected


@pytest.mark.parametrize(
    "spec, part",
    [("", "empty loss spec"), ("   ", "empty loss spec"), ("dice+", "empty term"), ("dice,,ce", "empty term"),
     ("dcie+ce", "unknown loss 'dcie'"), ("dice:abc", "bad weight 'abc'"), ("dice:0", "bad weight '0'"),
     ("dice:-1", "bad weight '-1'"), ("dice:inf", "bad weight 'inf'"), ("dice:", "bad weight ''"),
     ("ce+bce", "'ce' appears twice"), ("dice:1:2", "bad weight '1:2'")],
)
def test_bad_specs_give_one_line_naming_the_part_and_the_valid_names(spec, part):
    with pytest.raises(ValueError) as info:
        parse_loss_spec(spec)
    message = str(info.value)
    assert part in message and "\n" not in message
    assert all(name in message for name in LOSS_NAMES)


def test_parsing_does_not_import_torch():
    code = ("import sys; from segtrain.losses import parse_loss_spec; parse_loss_spec('dice+ce'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
