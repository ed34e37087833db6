"""One tiny trained and evaluated run, shared by the report tests (trained once per session).

Planning's memory measurement (a fresh process per batch size) is replaced by a stand-in fit:
these tests are about what the report reads from a run folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.planning import stand_in_memory_fit
from helpers.datasets import make_dataset

TINY = "model: {width: 4, depth: 2}\n"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder of 2 epochs on 10 gray 32x32 images; ``train`` also wrote ``evaluation.json`` and ``report.html``."""
    import segtrain
    from segtrain.planning import batch

    root = tmp_path_factory.mktemp("report")
    data = make_dataset(root / "data", n=10, size=(32, 32))
    config = root / "tiny.yaml"
    config.write_text(TINY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch, "measure_cpu_memory", stand_in_memory_fit())
        segtrain.train(data, root / "run", epochs=2, batch_size=2, patch_size=32, precision="32", lr=1e-3,
                       lr_find=False, progress=False, config=config)
    return root / "run"


@pytest.fixture(scope="session")
def tiny_report(tiny_run) -> Path:
    """``report.html`` of :func:`tiny_run`, as ``train`` wrote it at the end of the run; treat as read-only."""
    return tiny_run / "report.html"
