"""The one out-of-memory predicate, on the errors torch and its allocators really raise."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from segtrain.runtime.oom import is_out_of_memory


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    torch.cuda.OutOfMemoryError("CUDA out of memory"),
    torch.OutOfMemoryError(""),  # the type alone says it
    RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.79 GiB total capacity)"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                 "you tried to allocate 1099511627776 bytes."),
    RuntimeError("HIP OUT OF MEMORY"),
    Exception("cuDNN error: out of memory"),  # (the batch probe's case: any error saying so)
])
def test_out_of_memory_errors(error):
    assert is_out_of_memory(error)


@pytest.mark.parametrize("error", [
    RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)"),
    RuntimeError("CUDA error: device-side assert triggered"),
    ValueError("can't allocate memory"),  # the allocator's words count only on a RuntimeError
    KeyError("memory"),
    MemoryError(),
])
def test_other_errors(error):
    assert not is_out_of_memory(error)


def test_a_real_cpu_allocation_failure():
    try:
        torch.empty(2**62, dtype=torch.uint8)
    except RuntimeError as exc:
        assert is_out_of_memory(exc)
    else:  # pragma: no cover - a machine with 4 EiB of memory
        pytest.skip("the allocation succeeded")


def test_the_module_imports_without_torch():
    code = "import sys, segtrain.runtime.oom; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
