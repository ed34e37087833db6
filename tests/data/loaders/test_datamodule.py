import numpy as np
import torch

from segtrain.config import AugmentConfig
from segtrain.data.loaders.datamodule import SeededSampler, SegmentationDataModule, TrainPatches, WholeImages
from segtrain.data.discovery import discover
from segtrain.data.labels import LabelSpec


def _sets(root, patch=16):
    samples = discover(root).samples
    sizes = [(32, 48)] * len(samples)
    mapping = LabelSpec({0: 0, 1: 1})
    return TrainPatches(samples, sizes, patch, mapping, AugmentConfig()), WholeImages(samples, mapping)


def test_epoch_length_is_covering_tiles(tiny_dataset):
    train, val = _sets(tiny_dataset, patch=16)
    assert len(train) == 6 * 2 * 3
    image, mask, number = train[(5, 123)]
    assert number == train.sample_of(5) == 0  # patch 5 is one of image 0's six tiles
    assert image.shape == (1, 16, 16) and image.dtype == torch.float32
    assert mask.shape == (16, 16) and mask.dtype == torch.int64
    whole_image, whole_mask, index = val[2]
    assert whole_image.shape == (1, 32, 48) and whole_mask.shape == (32, 48) and index == 2


def test_same_seed_same_sample(tiny_dataset):
    train, _ = _sets(tiny_dataset)
    a, b, c = train[(7, 42)], train[(7, 42)], train[(7, 43)]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_sampler_deterministic_new_order_each_epoch_and_length():
    first, second = SeededSampler(10, seed=1), SeededSampler(10, seed=1)
    epoch1, epoch2 = list(first), list(first)
    assert epoch1 == list(second)
    assert epoch1 != epoch2
    assert sorted(i for i, _ in epoch1) == list(range(10))
    longer = list(SeededSampler(4, seed=0, length=10))
    assert len(longer) == 10 and all(0 <= i < 4 for i, _ in longer)


def test_epochs_are_cuts_of_one_stream():
    short = SeededSampler(7, seed=3, length=5)
    four_epochs = [item for _ in range(4) for item in short]
    assert four_epochs == list(SeededSampler(7, seed=3, length=20))
    assert four_epochs[:7] != four_epochs[7:14]  # each round is a new permutation
    assert sorted(i for i, _ in four_epochs[7:14]) == list(range(7))


def test_loader_steps_are_ceiling_of_patches_over_batch(tiny_dataset):
    train, val = _sets(tiny_dataset)
    dm = SegmentationDataModule(train, val, batch_size=5, num_workers=0, seed=0)
    batches = list(dm.train_dataloader())
    assert len(batches) == int(np.ceil(36 / 5))
    assert batches[-1][0].shape[0] == 36 - 5 * 7
    assert len(dm.val_dataloader()) == 6


def test_resumable_loader_starts_where_the_loop_stands(tiny_dataset):
    from types import SimpleNamespace

    from segtrain.data.loaders.datamodule import ResumableLoader

    train, _ = _sets(tiny_dataset)
    stream = list(SeededSampler(len(train), seed=0, length=3 * len(train)))
    loop = SimpleNamespace(epoch_progress=SimpleNamespace(current=SimpleNamespace(completed=1)),
                           epoch_loop=SimpleNamespace(batch_progress=SimpleNamespace(current=SimpleNamespace(processed=2))))
    loader = ResumableLoader(train, batch_size=5, sampler=SeededSampler(len(train), seed=0))
    loader.follow(loop)
    assert list(iter(loader.sampler)) == stream[36 + 10:72]  # epoch 1, after its 2 processed batches
    loop.epoch_loop.batch_progress.current.processed = len(loader)  # an epoch-end checkpoint
    assert list(iter(loader.sampler)) == stream[72:108]
    assert loader.state_dict() == {"epoch": 2, "skip": 0}


def test_patches_at_a_planned_scale_count_and_resize(tiny_dataset):
    samples = discover(tiny_dataset).samples
    mapping = LabelSpec({0: 0, 1: 1})
    train = TrainPatches(samples, [(32, 48)] * len(samples), 16, mapping, AugmentConfig(), scale=0.5)
    assert len(train) == 6 * 1 * 2  # 16x24 at scale 0.5: one row of two tiles per image
    pair = train.source(0)
    assert (pair.height, pair.width) == (16, 24)
    full = TrainPatches(samples, [(32, 48)] * len(samples), 16, mapping, AugmentConfig()).source(0)
    assert np.allclose(pair.mean, full.mean) and np.allclose(pair.std, full.std)  # full-resolution statistics
    image, mask, _ = train[(0, 5)]
    assert image.shape == (1, 16, 16) and set(mask.unique().tolist()) <= {0, 1}
