"""Planning without its slow memory measurement, for tests about training rather than planning."""

from __future__ import annotations


def stand_in_memory_fit():
    """A fixed memory fit (200 MB + about 10 MB per sample) in place of measuring steps in a fresh process."""
    from segtrain.planning import batch

    return lambda *args, **kwargs: batch.fit_memory({1: 200 * 2**20, 2: 210 * 2**20, 4: 230 * 2**20})
