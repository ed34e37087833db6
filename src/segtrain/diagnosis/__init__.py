"""Diagnosis of a training run: pure detectors over its recorded histories.

A run folder's ``metrics.csv``, ``steps.csv``, ``grads.csv`` and ``events.jsonl`` are read into
a :class:`RunHistory`; each detector turns it into structured :class:`Finding` objects (a stable
code, a severity, a message with the numbers, a concrete fix). Detectors never print, write or
act. The package imports the standard library only, so ``segtrain doctor`` starts fast::

    from segtrain.diagnosis import diagnose_run, format_findings
    print(format_findings(diagnose_run("runs/r1")))

Names load on first use.
"""

from __future__ import annotations

_NAMES = {
    "Finding": "findings",
    "read_findings": "findings",
    "write_findings": "findings",
    "RunHistory": "history",
    "column": "history",
    "ALL_DETECTORS": "detectors",
    "run_detectors": "detectors",
    "diagnose": "doctor",
    "diagnose_run": "doctor",
    "format_findings": "doctor",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        from importlib import import_module

        return getattr(import_module(f"segtrain.diagnosis.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'segtrain.diagnosis' has no attribute {name!r}")
