"""Real datasets from ../shared/data: skipped when the folder is absent."""

from pathlib import Path

import pytest

from segtrain import check

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.parametrize("name, n, channels", [("horizonset_ir", 466, 3), ("isbi2012_em", 30, 1)])
def test_real_datasets_pass_the_check(name, n, channels):
    root = SHARED / name
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    report = check(root)
    assert report.ok, report.problems
    assert report.n_pairs == n and report.num_classes == 2 and report.channels == channels
