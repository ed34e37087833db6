"""A file that breaks while training, read by a loader worker, is named in one line."""

from __future__ import annotations

import pytest

from helpers.datasets import make_dataset


@pytest.fixture(autouse=True)
def _planning_without_memory_probe(no_memory_probe):
    """Every test here trains; none is about planning."""


def test_a_file_failing_in_a_worker_is_named(tmp_path, monkeypatch):
    import segtrain
    from segtrain.data.loaders import datamodule
    from segtrain.errors import UserError

    data = make_dataset(tmp_path / "data", n=10, size=(32, 32), channels=1, classes=2, seed=5)
    broken = data / "images" / "img_003.png"
    original = datamodule.read_sample_image

    def read_image(sample):  # the file went bad after the check (a disk error, another program)
        if sample.image.name == broken.name:
            raise OSError("image file is truncated (7 bytes not processed)")
        return original(sample)

    monkeypatch.setattr(datamodule, "read_sample_image", read_image)  # forked workers inherit it
    config = tmp_path / "workers.yaml"
    config.write_text("model: {width: 4, depth: 2}\ntrain: {num_workers: 1}\n")
    with pytest.raises(UserError) as error:
        segtrain.train(data, tmp_path / "run", config=config, epochs=2, batch_size=2, patch_size=32,
                       precision="32", lr=1e-3, lr_find=False, progress=False)
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert "img_003.png" in message and "truncated" in message and "worker" not in message.lower()
    assert error.value.worker_traceback is not None  # it was raised in a loader worker process
