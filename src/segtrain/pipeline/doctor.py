"""``doctor``: the findings about a run from its recorded histories (also a killed run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    record = RunRecord.from_run(rundir)  # the facts training handed its diagnosis, from config.yaml and plan.json
    history = RunHistory.load(rundir.histories, record.diagnosis_facts())
    findings = diagnose(history)
    write_findings(rundir.findings, findings)
    return {"run": str(rundir.path), "findings": [f.to_dict() for f in findings],
            "text": format_findings(findings, history)}
