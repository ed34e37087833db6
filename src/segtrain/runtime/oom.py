"""The one out-of-memory predicate: what the batch probe and the training step both treat as "out of memory".

torch is imported only when the predicate runs, so this module (like the rest of the runtime)
stays importable without it: ``segtrain --help`` and ``segtrain check`` never load torch.
"""

from __future__ import annotations

OOM_WORDS = ("out of memory",)
"""Words of any error message that mean out of memory (CUDA's ``CUDA out of memory. Tried to allocate ...``)."""
ALLOCATOR_WORDS = ("can't allocate memory",)
"""Words of a ``RuntimeError`` raised when the CPU allocator fails (``DefaultCPUAllocator: can't allocate memory``)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says that the device (GPU or CPU) ran out of memory.

    True for ``torch.OutOfMemoryError`` (also ``torch.cuda.OutOfMemoryError``), for any error whose
    message says "out of memory", and for a ``RuntimeError`` saying the CPU allocator "can't
    allocate memory".
    """
    import torch

    kinds = tuple(k for k in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None))
                  if isinstance(k, type))
    if kinds and isinstance(exc, kinds):
        return True
    message = str(exc).lower()
    if any(words in message for words in OOM_WORDS):
        return True
    return isinstance(exc, RuntimeError) and any(words in message for words in ALLOCATOR_WORDS)
