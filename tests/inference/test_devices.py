import pytest
import torch

from segtrain.errors import UserError
from segtrain.inference.devices import resolve_device


def test_auto_follows_the_accelerator_the_run_trained_on_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto", "cuda") == "cuda"
    assert resolve_device("auto", "cpu") == "cpu"      # a CPU run stays on the CPU
    assert resolve_device("cuda:1", "cpu") == "cuda:1"
    with pytest.raises(UserError, match="2 CUDA GPU"):
        resolve_device("cuda:2")


def test_auto_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None, "cuda") == "cpu"
    with pytest.raises(UserError, match="--device cuda: this machine has no CUDA GPU"):
        resolve_device("cuda")
