"""Plots and the report assembled from a run folder: ``build_report(RUN)`` writes ``RUN/report.html``."""

__all__ = ["build_report"]


def __getattr__(name: str):
    if name == "build_report":  # imported on first use: the report's modules load numpy
        from segtrain.reporting.html import build_report

        return build_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
