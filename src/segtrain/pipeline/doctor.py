"""``doctor``: the findings about a run from its recorded histories (also a killed run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segtrain.config.io import (
    load_config,
    read_csv,
    read_plan_file,
    read_run_split,
    read_text,
)
from segtrain.diagnosis.doctor import diagnose, format_findings
from segtrain.diagnosis.findings import write_findings
from segtrain.diagnosis.history import RunHistory
from segtrain.errors import UserError
from segtrain.runtime.record import RunRecord
from segtrain.runtime.rundir import RunDir


def doctor_run(run: Path | str) -> dict[str, Any]:
    """Diagnose the run folder ``run``; writes ``findings.json`` and returns the findings with their text."""
    rundir = RunDir(Path(run))
    if not rundir.path.is_dir() or not (rundir.metrics.exists() or rundir.steps.exists()):
        raise UserError(f"{rundir.path}: not a run folder with training histories ({rundir.metrics.name}, "
                        f"{rundir.steps.name}); pass the --out folder of a 'segtrain train'")
    check_run_files(rundir)
    record = RunRecord.from_run(rundir)  # the facts training handed its diagnosis, from config.yaml and plan.json
    history = RunHistory.load(rundir.histories, record.diagnosis_facts())
    findings = diagnose(history)
    write_findings(rundir.findings, findings)
    return {"run": str(rundir.path), "findings": [f.to_dict() for f in findings],
            "text": format_findings(findings, history)}


RUN_FIX = "the run folder was damaged or edited; restore the file or train again with --out"


def check_run_files(rundir: RunDir) -> None:
    """One line naming the first file of the run folder that is there but damaged: its config, plan,
    split, the per-epoch, per-step and gradient histories (a row that is not numbers) and the findings."""
    if rundir.config.exists():
        load_config(rundir.config)
    if rundir.plan.exists():
        read_plan_file(rundir.plan, RUN_FIX)
    if rundir.split.exists():
        read_run_split(rundir.split)
    for path in (rundir.metrics, rundir.steps, rundir.grads):
        if path.exists():
            read_csv(path, "history file", RUN_FIX, unfinished_ok=True)  # a killed run is diagnosed too
    if rundir.events.exists():
        lines = read_text(rundir.events, "event log", RUN_FIX).splitlines(keepends=True)
        for number, line in enumerate(lines, start=1):
            if line.strip() and line.endswith("\n") and not _event(line):
                raise UserError(f"{rundir.events}: line {number} is not a JSON object; {RUN_FIX}")


def _event(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False
