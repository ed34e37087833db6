"""Diagnose a run: load its histories, run every detector, format the findings for a person."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from segtrain.diagnosis.detectors import run_detectors, sort_findings
from segtrain.diagnosis.findings import Finding
from segtrain.diagnosis.history import RunHistory


def diagnose(history: RunHistory) -> list[Finding]:
    """Every detector's findings for ``history``, most serious first."""
    return run_detectors(history)


def diagnose_run(run_path: Path | str | Mapping[str, Path], meta: dict[str, Any] | None = None) -> list[Finding]:
    """Load the histories of a run and diagnose them.

    Parameters
    ----------
    run_path : Path, str or mapping
        The history files by role (``RunDir.histories``), or a run folder holding them;
        missing history files are treated as empty.
    meta : dict, optional
        Facts the files do not hold (``num_classes``, ``class_names``, ``lr``, ``precision``,
        ``batch_size``, ``num_workers``, ``width``, ...), used to name classes and values.
    """
    return diagnose(RunHistory.load(run_path, meta))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_findings(findings: Iterable[Finding], history: RunHistory | None = None) -> str:
    """The findings as a readable block, most serious first, one :meth:`Finding.format` each.

    When there is no warning or error, the first line says so (``"no problems found in 30
    epochs and 300 steps"`` when ``history`` is given); info findings follow.
    """
    findings = sort_findings(findings)
    problems = [f for f in findings if f.severity in ("error", "warning")]
    lines = []
    if not problems:
        scope = ""
        if history is not None:
            scope = f" in {_plural(history.num_epochs, 'epoch')} and {_plural(history.num_steps, 'step')}"
        lines.append(f"no problems found{scope}")
    else:
        errors = sum(f.severity == "error" for f in problems)
        warnings = len(problems) - errors
        counts = [_plural(errors, "error")] if errors else []
        counts += [_plural(warnings, "warning")] if warnings else []
        lines.append(", ".join(counts) + ":")
    lines.extend(f.format() for f in findings)
    return "\n".join(lines)
