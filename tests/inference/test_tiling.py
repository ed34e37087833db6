import math
import threading
import time

import pytest
import torch
from monai.data.utils import compute_importance_map, dense_patch_slices
from monai.inferers import sliding_window_inference

from segtrain.config import ModelConfig
from segtrain.inference.tiling import (
    MAX_WORKERS,
    Tile,
    gaussian_weight,
    logits_to_classes,
    logits_to_probabilities,
    run_tiles,
    spans,
    tile_starts,
    tile_workers,
    tiled_logits,
)
from segtrain.models import build_model


class Identity(torch.nn.Module):
    def forward(self, x):
        return x * 1.0


class FixedConv(torch.nn.Module):
    """A deterministic 5x5 convolution (zero padding, so tile borders matter) and a nonlinearity."""

    def __init__(self, cin=3, cout=2):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, 5, padding=2)
        with torch.no_grad():
            n = self.conv.weight.numel()
            self.conv.weight.copy_(torch.linspace(-1, 1, n).reshape(self.conv.weight.shape))
            self.conv.bias.copy_(torch.linspace(-0.5, 0.5, cout))

    def forward(self, x):
        return torch.tanh(self.conv(x))


class Recorder(torch.nn.Module):
    """Records the batch sizes the network sees and how many calls run at once."""

    def __init__(self, model):
        super().__init__()
        self.model, self.batches = model, []
        self.lock, self.active, self.most_active = threading.Lock(), 0, 0

    def forward(self, x):
        with self.lock:
            self.batches.append(x.shape[0])
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(0.005)  # long enough for the calls of several workers to overlap
        try:
            return self.model(x)
        finally:
            with self.lock:
                self.active -= 1


def monai(model, image, patch, overlap, batch=4):
    with torch.inference_mode():
        return sliding_window_inference(image, (patch, patch), batch, lambda t: model(t).float(), overlap,
                                        mode="gaussian", padding_mode="replicate")


def unet(in_channels=3, classes=3):
    torch.manual_seed(0)
    return build_model(in_channels, classes, ModelConfig(depth=2, width=4)).eval()


@pytest.mark.parametrize("h, w, patch", [(64, 64, 32), (70, 100, 32), (20, 30, 32), (257, 33, 64)])
def test_tile_and_blend_round_trip(h, w, patch):
    image = torch.arange(2 * h * w, dtype=torch.float32).reshape(1, 2, h, w)
    out = tiled_logits(Identity(), image, patch, overlap=0.25)
    assert out.shape == image.shape
    assert torch.allclose(out, image, rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize("size, patch, overlap", [
    (32, 32, 0.25), (33, 32, 0.25), (100, 32, 0.25), (4096, 256, 0.25), (257, 64, 0.1), (97, 32, 0.7),
    (200, 16, 0.0), (50, 10, 0.99), (1000, 256, 0.5),
])
def test_tile_starts_are_monai_grid(size, patch, overlap):
    step = max(int(patch * (1 - overlap)), 1) if size != patch else patch
    expected = sorted({s[0].start for s in dense_patch_slices((size,), (patch,), (step,))})
    assert tile_starts(size, patch, overlap) == expected
    assert tile_starts(size, patch, overlap)[-1] == size - patch


def test_gaussian_weight_is_monai_importance_map():
    for h, w in [(256, 256), (32, 48), (7, 5)]:
        ref = compute_importance_map((h, w), mode="gaussian", sigma_scale=0.125)
        assert torch.equal(gaussian_weight(h, w), ref)


@pytest.mark.parametrize("shape, patch, overlap", [
    ((1, 3, 70, 100), 32, 0.25),
    ((1, 3, 257, 33), 64, 0.1),   # one side shorter than a tile
    ((1, 3, 97, 131), 32, 0.7),
    ((1, 3, 64, 64), 64, 0.25),   # exactly one tile
    ((1, 3, 20, 30), 32, 0.5),    # smaller than a tile both ways
    ((3, 3, 45, 77), 32, 0.25),   # B > 1, batches cross images
])
@pytest.mark.parametrize("make", [unet, FixedConv], ids=["unet", "conv"])
def test_equals_monai_sliding_window(shape, patch, overlap, make):
    model = make()
    image = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    ours = tiled_logits(model, image, patch, overlap, tiles_per_batch=3)
    ref = monai(model, image, patch, overlap)
    assert ours.shape == ref.shape and ours.dtype == torch.float32
    assert (ours - ref).abs().max().item() < 1e-4


def test_batch_size_does_not_change_the_result():
    model, image = FixedConv(), torch.randn(2, 3, 90, 70, generator=torch.Generator().manual_seed(2))
    results = [tiled_logits(model, image, 32, 0.25, tiles_per_batch=n) for n in (1, 4, 100)]
    for other in results[1:]:
        assert (other - results[0]).abs().max().item() < 1e-5


@pytest.mark.parametrize("tiles_per_batch", [1, 3, 8])
def test_tiles_held_at_once_are_bounded(tiles_per_batch):
    image = torch.randn(2, 3, 100, 130)
    model = Recorder(FixedConv()).eval()
    tiled_logits(model, image, 32, 0.25, tiles_per_batch)
    tiles = 2 * len(tile_starts(100, 32, 0.25)) * len(tile_starts(130, 32, 0.25))
    assert max(model.batches) <= tiles_per_batch
    assert sum(model.batches) == tiles
    assert len(model.batches) == math.ceil(tiles / tiles_per_batch)
    assert model.most_active <= tile_workers(model, image.device)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_batches_in_flight_are_bounded_and_in_order(workers):
    image = torch.randn(1, 3, 150, 150)
    model = Recorder(FixedConv())
    tiles = [Tile(0, r, c) for r in spans(150, 32, 0.25) for c in spans(150, 32, 0.25)]
    seen = []
    for k, (done, logits) in enumerate(run_tiles(model, image, tiles, 32, 2, workers=workers), start=1):
        assert len(model.batches) <= k + workers  # started calls: the one yielded plus at most `workers` more
        assert logits.shape[0] == len(done) <= 2
        seen += done
    assert seen == tiles  # in the order of the grid, so sums add up in MONAI's order
    assert model.most_active <= workers


def test_workers_do_not_change_the_result_and_restore_threads():
    model, image = unet(), torch.randn(2, 3, 90, 110, generator=torch.Generator().manual_seed(4))
    threads = torch.get_num_threads()
    tiles = [Tile(b, r, c) for b in range(2) for r in spans(90, 32, 0.25) for c in spans(110, 32, 0.25)]
    one = torch.cat([x for _, x in run_tiles(model, image, tiles, 32, 3, workers=1)])
    many = torch.cat([x for _, x in run_tiles(model, image, tiles, 32, 3, workers=2)])
    assert (one - many).abs().max().item() < 1e-5
    assert torch.get_num_threads() == threads


def test_thread_count_restored_after_a_failing_network():
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("broken")

    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="broken"):
        list(run_tiles(Broken(), torch.zeros(1, 1, 100, 100), [Tile(0, r, r) for r in spans(100, 32, 0.25)],
                       32, 1, workers=2))
    assert torch.get_num_threads() == threads


def test_one_worker_for_a_network_in_training_mode():
    model = FixedConv().train()
    assert tile_workers(model, torch.device("cpu")) == 1
    assert tile_workers(model.eval(), torch.device("cpu")) == min(MAX_WORKERS, torch.get_num_threads())


def test_channels_last_model_and_bf16_autocast():
    model = unet().to(memory_format=torch.channels_last)
    image = torch.randn(1, 3, 75, 90, generator=torch.Generator().manual_seed(3))
    ref = monai(model, image, 32, 0.25)
    assert (tiled_logits(model, image, 32, 0.25) - ref).abs().max().item() < 1e-4
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        half = tiled_logits(model, image, 32, 0.25)
    assert half.dtype == torch.float32  # the blend stays float32 under autocast
    assert 0 < (half - ref).abs().max().item() < 0.05 * ref.abs().max().item() + 1e-2  # bf16 ran, in the workers too


def test_output_is_an_ordinary_tensor_without_graph():
    model = FixedConv()
    out = tiled_logits(model, torch.randn(1, 3, 40, 40), 32)
    assert not out.requires_grad and not out.is_inference()
    out /= 2  # callers may change it in place


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="tiles_per_batch"):
        tiled_logits(Identity(), torch.zeros(1, 1, 40, 40), 32, tiles_per_batch=0)
    with pytest.raises(ValueError, match="overlap"):
        tiled_logits(Identity(), torch.zeros(1, 1, 40, 40), 32, overlap=1.0)


def test_classes_and_probabilities():
    one = torch.tensor([[[[-1.0, 2.0]]]])
    assert logits_to_classes(one).tolist() == [[[0, 1]]]
    p = logits_to_probabilities(one)
    assert p.shape == (1, 2, 1, 2)
    assert torch.allclose(p.sum(1), torch.ones(1, 1, 2))
    many = torch.tensor([[[[0.0]], [[3.0]], [[1.0]]]])
    assert logits_to_classes(many).tolist() == [[[1]]]
