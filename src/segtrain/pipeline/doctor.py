"""``doctor``: the findings about a run from its recorded histories (also a killed run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segtrain.config import load_config
from segtrain.diagnosis.doctor import diagnose, format_findings
from segtrain.diagnosis.findings import write_findings
from segtrain.diagnosis.history import RunHistory
from segtrain.errors import UserError


def doctor_run(run: Path | str) -> dict[str, Any]:
    """Diagnose the run folder ``run``; writes ``findings.json`` and returns the findings with their text."""
    path = Path(run)
    if not path.is_dir() or not ((path / "metrics.csv").exists() or (path / "steps.csv").exists()):
        raise UserError(f"{path}: not a run folder with training histories (metrics.csv, steps.csv); "
                        "pass the --out folder of a 'segtrain train'")
    meta = {}
    if (path / "config.yaml").exists():
        cfg = load_config(path / "config.yaml")
        meta = {"num_classes": cfg.data.num_classes, "class_names": cfg.data.class_names, "lr": cfg.train.lr,
                "precision": cfg.train.precision}
    history = RunHistory.load(path, meta)
    findings = diagnose(history)
    write_findings(path / "findings.json", findings)
    return {"run": str(path), "findings": [f.to_dict() for f in findings], "text": format_findings(findings, history)}
