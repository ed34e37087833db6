"""Datasets and the LightningDataModule.

Training draws random patches (see :mod:`segtrain.data.loaders.patches` and
:mod:`segtrain.data.loaders.sources`): an image is decoded when first drawn and kept, as read, while the
cache's byte budget lasts; beyond it images are read from disk at every draw, so memory does not
grow with the dataset. TIFFs too large for memory are read window by window
(:mod:`segtrain.data.loaders.windowed`). Validation reads whole images, which the module scores through
tiled inference, or band by band for images too large for memory.

Randomness is explicit: :class:`SeededSampler` yields ``(index, seed)`` pairs from one
seeded generator, and every random choice of a sample derives from its seed, so a run is
reproducible whatever the number of loader workers.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from segtrain.config.schema import AugmentConfig
from segtrain.data.discovery import Sample
from segtrain.data.labels import LabelSpec, read_labels
from segtrain.data.loaders.patches import tiles_per_image
from segtrain.data.sample_io import read_sample_image
from segtrain.data.loaders.sources import DecodedPair, SourceCache, channel_moments, draw_patch
from segtrain.data.rescale import input_size, resize_image, resize_labels
from segtrain.data.loaders.augment import augment
from segtrain.data.normalize import normalize
from segtrain.data.loaders.windowed import windowed_pair
from segtrain.data.windows import is_large


def load_pair(sample: Sample, labels: LabelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Normalised ``(C, H, W)`` float32 image and its int64 labels (``(H, W)``, or ``(L, H, W)`` multilabel)."""
    return normalize(read_sample_image(sample)), read_labels(sample, labels)


def sample_files(sample: Sample) -> list:
    """The image of a sample, then its mask file(s): what an error while loading it names."""
    labels = getattr(sample, "labels", None)
    return [sample.image, *(path for _, path in labels)] if labels else [sample.image, sample.mask]


class TrainPatches(Dataset):
    """Random augmented patches; its length is the number of covering tiles of all images.

    ``cache_bytes`` is this process's budget for decoded images (see
    :class:`~segtrain.data.loaders.sources.SourceCache`); 0 reads every draw from disk. ``scale`` is the
    planned input scale (:func:`~segtrain.data.rescale.input_size`): images and labels are resized when
    decoded, and ``sizes`` (full-resolution) count the tiles at that scale.
    """

    def __init__(
        self,
        samples: list[Sample],
        sizes: list[tuple[int, int]],
        patch: int,
        labels: LabelSpec,
        augment_config: AugmentConfig,
        ignore_index: int | None = None,
        cache_bytes: int = 0,
        scale=1.0,
    ):
        self.samples, self.patch, self.labels = samples, patch, labels
        self.augment_config, self.ignore_index = augment_config, ignore_index
        self.scale = scale
        self.ends = np.cumsum([tiles_per_image(*input_size(h, w, scale, patch), patch) for h, w in sizes])
        self.cache = SourceCache(cache_bytes)
        # images too large for memory are read by windows; their statistics and class index are
        # gathered here, once, in the main process (loader processes receive them ready)
        self.windowed = {number: windowed_pair(sample, labels, ignore_index)
                         for number, sample in enumerate(samples) if is_large(sample)}

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def files(self, item: tuple[int, int]) -> list:
        """The files behind the patch ``item`` (for error messages)."""
        return sample_files(self.samples[self.sample_of(item[0])])

    def sample_of(self, index: int) -> int:
        """The number of the image (in ``samples``) that patch ``index`` comes from."""
        return int(np.searchsorted(self.ends, index, side="right"))

    def source(self, number: int):
        """Image ``number`` ready for patch drawing: read by windows if it is too large for memory,
        else from the cache, or decoded now."""
        windowed = self.windowed.get(number)
        if windowed is not None:
            return windowed
        return self.cache.get(number, lambda: self._decode(number))

    def _decode(self, number: int) -> DecodedPair:
        sample = self.samples[number]
        image, labels = read_sample_image(sample), read_labels(sample, self.labels)
        size = input_size(*labels.shape[-2:], self.scale, self.patch)
        if size == labels.shape[-2:]:
            return DecodedPair(image, labels, self.patch, self.ignore_index)
        # the image's own statistics, as validation and prediction normalise before they resize
        moments = channel_moments(image)
        return DecodedPair(resize_image(image, size), resize_labels(labels, size), self.patch, self.ignore_index,
                           moments=moments)

    def __getitem__(self, item: tuple[int, int]):
        """An augmented ``(C, P, P)`` patch, its labels and the number of its image in ``samples``."""
        index, seed = item
        rng = np.random.default_rng(seed)
        number = self.sample_of(index)
        image, mask = draw_patch(self.source(number), self.patch, rng, self.augment_config.rare_class_share)
        image, mask = augment(image, mask, rng, self.augment_config)
        return torch.from_numpy(image), torch.from_numpy(mask), number


class WholeImages(Dataset):
    """Whole images with their masks, for validation and testing (use batch size 1)."""

    def __init__(self, samples: list[Sample], labels: LabelSpec):
        self.samples, self.labels = samples, labels

    def __len__(self) -> int:
        return len(self.samples)

    def files(self, index: int) -> list:
        """The files behind item ``index`` (for error messages)."""
        return sample_files(self.samples[index])

    def __getitem__(self, index: int):
        """``(image, mask, index)`` tensors; for an image too large for memory (:func:`~segtrain.data.windows.is_large`)
        its image and mask paths as str instead, for the module to score by windows
        (:func:`~segtrain.evaluation.large_scores.confusion_large`)."""
        sample = self.samples[index]
        if is_large(sample):
            return str(sample.image), str(sample.mask), index
        image, mask = load_pair(sample, self.labels)
        return torch.from_numpy(image), torch.from_numpy(mask), index


class SeededSampler(Sampler):
    """One endless, seeded stream of ``(index, seed)`` pairs, cut into epochs of ``length``.

    The stream is a sequence of rounds; round ``r`` is a permutation of the ``n`` indices with
    one seed per sample, both drawn from a generator seeded by ``(seed, r)``. Epoch ``e`` yields
    items ``e * length`` to ``(e + 1) * length - 1`` of the stream, so the patches a run sees
    depend only on the seed and on how many it has drawn, not on where the epochs end: 4 epochs
    of 10 draw exactly what 1 epoch of 40 draws. ``length`` defaults to ``n``.

    Under several processes (``world`` > 1), the stream is cut into global batches of
    ``batch x world`` items and process ``rank`` takes the ``rank``-th run of ``batch`` items of
    each: the processes of one step together draw exactly the items one process with the
    global batch would draw. ``length`` (global items per epoch) must then be a multiple of the
    global batch.
    """

    def __init__(self, n: int, seed: int, length: int | None = None, batch: int = 1, rank: int = 0, world: int = 1):
        self.n, self.seed, self.length = n, seed, length or n
        self.batch, self.rank, self.world = batch, rank, world
        if world > 1 and self.length % (batch * world):
            raise ValueError(f"an epoch of {self.length} items is not a whole number of global batches of "
                             f"{batch} x {world}")
        self.epochs_started = 0
        self.skip = 0
        """Global items of the next epoch already consumed before a resume: its first ``__iter__`` starts after them."""

    def __len__(self) -> int:
        return self.length // self.world

    def _round(self, r: int) -> tuple[list[int], list[int]]:
        state = int(np.random.SeedSequence([self.seed, r]).generate_state(1, dtype=np.uint64)[0])
        generator = torch.Generator().manual_seed(state)
        order = torch.randperm(self.n, generator=generator)
        seeds = torch.randint(0, 2**62, (self.n,), generator=generator)
        return order.tolist(), seeds.tolist()

    def stream(self, start: int, count: int):
        """Items ``start .. start + count - 1`` of the stream."""
        r, cached = -1, ([], [])
        for k in range(start, start + count):
            if k // self.n != r:
                r = k // self.n
                cached = self._round(r)
            yield cached[0][k % self.n], cached[1][k % self.n]

    def shard(self, start: int, count: int):
        """This process's items of the global items ``start .. start + count - 1``."""
        if self.world == 1:
            yield from self.stream(start, count)
            return
        step = self.batch * self.world
        for first in range(start, start + count, step):
            yield from self.stream(first + self.rank * self.batch, self.batch)

    def __iter__(self):
        if self.position is not None:  # where a (resumed) run stands, from its trainer's counters
            self.epochs_started, self.skip = self.position()
        start, skip = self.epochs_started * self.length, min(self.skip, self.length)
        self.epochs_started += 1
        self.skip = 0
        return self.shard(start + skip, self.length - skip)

    position = None
    """``position() -> (epoch, global items already consumed in it)``; set by :class:`ResumableLoader`."""


class ResumableLoader(DataLoader):
    """A DataLoader over a :class:`SeededSampler` that starts each pass where the run stands.

    :meth:`follow` ties the sampler to a Lightning loop: every pass starts at the loop's epoch
    and skips the batches it has already processed in it (restored from a checkpoint, they say
    exactly where an interrupted run stopped), so a resumed run draws the patches the
    interrupted one would have drawn next, whether it stopped mid-epoch or at an epoch's end.
    ``state_dict`` makes Lightning treat the loader as resumable; the position itself always
    comes from the loop's counters.
    """

    def follow(self, fit_loop) -> None:
        def position() -> tuple[int, int]:
            epoch = fit_loop.epoch_progress.current.completed
            done = fit_loop.epoch_loop.batch_progress.current.processed
            if done >= len(self):  # the epoch is over: the next one starts afresh
                return epoch + 1, 0
            return epoch, done * self.batch_size * self.sampler.world

        self.sampler.position = position

    def state_dict(self) -> dict:
        position = self.sampler.position
        epoch, skip = position() if position is not None else (self.sampler.epochs_started, 0)
        return {"epoch": epoch, "skip": skip}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to load: the position comes from the restored loop (see :meth:`follow`)."""


class _Shard(Sampler):
    """Every ``world``-th index from ``rank``, in order: this process's share of the validation images."""

    def __init__(self, n: int, rank: int, world: int):
        self.indices = list(range(rank, n, world))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        return iter(self.indices)


class SegmentationDataModule(L.LightningDataModule):
    """Training patches and whole validation images for one run.

    One loader batch is one weight update: ``batch_size`` is the effective batch of one process
    (the module cuts it into micro-batches); under several processes each draws its own share of
    every global batch (see :class:`SeededSampler`), and ``samples_per_epoch`` counts global items. Steps per epoch are ``ceil(patches / batch_size)`` (the last, smaller
    batch is kept), or ``ceil(samples_per_epoch / batch_size)`` when the plan sets the steps per epoch.
    """

    def __init__(
        self,
        train: TrainPatches,
        val: WholeImages,
        batch_size: int,
        num_workers: int,
        seed: int,
        samples_per_epoch: int | None = None,
    ):
        super().__init__()
        self.train_set, self.val_set = train, val
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.samples_per_epoch = samples_per_epoch

    def _loader_options(self) -> dict:
        workers = self.num_workers
        return {"num_workers": workers, "persistent_workers": workers > 0}

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_and_world()
        loader = ResumableLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=SeededSampler(len(self.train_set), self.seed, self.samples_per_epoch, self.batch_size, rank, world),
            **self._loader_options(),
        )
        if self.trainer is not None:
            loader.follow(self.trainer.fit_loop)
        return loader

    def val_dataloader(self) -> DataLoader:
        rank, world = self._rank_and_world()
        if world == 1:
            return DataLoader(self.val_set, batch_size=1, shuffle=False, **self._loader_options())
        # each process scores its share; the confusion counts are summed across processes (torchmetrics)
        return DataLoader(self.val_set, batch_size=1, sampler=_Shard(len(self.val_set), rank, world),
                          **self._loader_options())

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
