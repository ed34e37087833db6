"""The planner's measurements on this machine, gathered behind one object.

:class:`MachineProbes` answers the planner's questions (how fast is a step, does bf16 agree with
float32, how much memory does a step take, which batch fits on the GPU, what does the
learning-rate range test suggest) with real steps of the real network, caching each answer.
The planner only sees this interface, so tests can hand it a stand-in with known numbers.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

import torch

from segtrain.config.schema import ModelConfig
from segtrain.losses import build_loss
from segtrain.models import build_model
from segtrain.models.decision import mode_of
from segtrain.optim.optimizers import build_optimizer
from segtrain.planning.batch import free_gpu, gpu_try_batch, largest_fitting_batch, measure_cpu_memory
from segtrain.planning.lr_check import TRIAL_STEPS, lr_trial
from segtrain.planning.lr_finder import lr_range_test, suggest_lr
from segtrain.planning.measurements import autocast, build_step, precision_agreement, time_steps
from segtrain.runtime.env import available_memory_bytes

LR_TEST_STEPS = 100
"""Steps of the range test, from 1e-7 towards 10 (it stops early when the loss diverges)."""


class MachineProbes:
    """Measurements for one network on one device.

    Parameters
    ----------
    batches : callable
        ``batches(batch_size, patch, count, scale)`` -> iterator of ``count`` real training batches
        ``(images, masks)``; used by the range test only.
    """

    def __init__(self, in_channels: int, num_classes: int, model_config: ModelConfig, device: str,
                 batches: Callable[[int, int, int], Iterator], ignore_index: int | None = None,
                 weight_decay: float = 1e-4, seed: int = 0, mode: str | None = None, loss_options=None,
                 class_weights: list[float] | None = None):
        self.in_channels, self.num_classes, self.model_config = in_channels, num_classes, model_config
        self.mode = mode or mode_of(num_classes)
        self.loss_options, self.class_weights = loss_options, class_weights
        self.device, self.batches, self.ignore_index = device, batches, ignore_index
        self.weight_decay, self.seed = weight_decay, seed
        self._cache: dict = {}
        self.scale = 1.0
        """The input scale the range test draws its patches at (set by the planner once chosen)."""
        self.seconds: dict[str, float] = {}

    def _cached(self, key, compute):
        if key not in self._cache:
            start = time.perf_counter()
            self._cache[key] = compute()
            self.seconds[key[0]] = self.seconds.get(key[0], 0.0) + time.perf_counter() - start
        return self._cache[key]

    def speed(self, batch: int, patch: int, bf16: bool, channels_last: bool) -> tuple[float, float]:
        return self._cached(("speed", batch, patch, bf16, channels_last), lambda: time_steps(
            self.in_channels, self.num_classes, self.model_config, batch, patch, self.device, bf16, channels_last))

    def agreement(self, batch: int, patch: int) -> tuple[float, float]:
        return self._cached(("agreement", batch, patch), lambda: precision_agreement(
            self.in_channels, self.num_classes, self.model_config, batch, patch, self.device))

    def memory(self, patch: int, bf16: bool, channels_last: bool):
        return self._cached(("memory", patch, bf16, channels_last), lambda: measure_cpu_memory(
            self.in_channels, self.num_classes, self.model_config, patch, bf16, channels_last))

    def available_memory(self) -> int:
        return available_memory_bytes()

    def gpu_batch(self, patch: int, bf16: bool, channels_last: bool, cap: int):
        def compute():
            with torch.random.fork_rng(devices=[]):
                make_step = build_step(self.in_channels, self.num_classes, self.model_config, self.device, bf16, channels_last)
                result = largest_fitting_batch(gpu_try_batch(make_step, patch), cap, free_gpu)
                del make_step
                free_gpu()
                return result

        return self._cached(("gpu_batch", patch, bf16, channels_last, cap), compute)

    def lr_test(self, batch: int, patch: int, bf16: bool, channels_last: bool, optimizer: str, loss: str):
        """Run the range test on real training patches; returns ``(LRCurve, LRSuggestion)``."""
        return self._cached(("lr_test", batch, patch, bf16, channels_last, optimizer, loss),
                            lambda: self._lr_test(batch, patch, bf16, channels_last, optimizer, loss))

    def lr_trials(self, batch: int, patch: int, bf16: bool, channels_last: bool, optimizer: str, loss: str,
                  rates: list[float]) -> dict[float, float]:
        """The loss each of ``rates`` reaches in a short trial from the same weights on the same batches
        (:func:`segtrain.planning.lr_check.lr_trial`)."""
        return self._cached(("lr_trials", batch, patch, bf16, channels_last, optimizer, loss, tuple(rates)),
                            lambda: self._lr_trials(batch, patch, bf16, channels_last, optimizer, loss, rates))

    def _fresh_model(self, optimizer_name: str, channels_last: bool):
        """A network seeded as every probe seeds it, on the device in the planned layout, and its optimizer;
        call inside ``torch.random.fork_rng`` so the caller's random state is untouched."""
        memory = torch.channels_last if channels_last else torch.contiguous_format
        torch.manual_seed(self.seed)
        model = build_model(self.in_channels, self.num_classes, self.model_config, self.mode)
        model = model.to(self.device).to(memory_format=memory)
        return model, build_optimizer(optimizer_name, model, 1e-7, self.weight_decay), memory

    def _lr_trials(self, batch, patch, bf16, channels_last, optimizer_name, loss_name, rates):
        with torch.random.fork_rng(devices=[]):
            model, optimizer, memory = self._fresh_model(optimizer_name, channels_last)
            batches = [(images.to(self.device, memory_format=memory), masks.to(self.device))
                       for images, masks, *_ in self.batches(batch, patch, TRIAL_STEPS, self.scale)]
            loss = build_loss(loss_name, self.mode, ignore_index=self.ignore_index, options=self.loss_options,
                              class_weights=self.class_weights)
            return {rate: lr_trial(model, optimizer, batches, loss, rate, lambda: autocast(self.device, bf16))
                    for rate in rates}

    def _lr_test(self, batch, patch, bf16, channels_last, optimizer_name, loss_name):
        with torch.random.fork_rng(devices=[]):
            model, optimizer, memory = self._fresh_model(optimizer_name, channels_last)
            source = iter(self.batches(batch, patch, LR_TEST_STEPS, self.scale))

            def next_batch():
                images, masks = next(source)[:2]
                return images.to(self.device, memory_format=memory), masks.to(self.device)

            loss = build_loss(loss_name, self.mode, ignore_index=self.ignore_index, options=self.loss_options,
                              class_weights=self.class_weights)  # the boundary term at full weight: no warm-up
            curve = lr_range_test(model, optimizer, next_batch, loss,
                                  num_steps=LR_TEST_STEPS, autocast=lambda: autocast(self.device, bf16))
        return curve, suggest_lr(curve.lrs, curve.losses)
