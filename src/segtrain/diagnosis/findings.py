"""The structured result of a detector, and its JSON file.

A :class:`Finding` is what code acts on (``code``, ``severity``, ``evidence``) and what a person
reads (``message``, ``fix``); nothing needs to parse the message.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

SEVERITIES = ("error", "warning", "info")
"""From the most to the least serious; findings are ordered this way."""


@dataclass(frozen=True)
class Finding:
    """One problem (or notable fact) found in a run's history.

    Parameters
    ----------
    code : str
        Stable identifier of the cause, e.g. ``"overfitting"``; see ``detectors.CODES``.
    severity : str
        ``"error"`` (training failed or its result is wrong), ``"warning"`` (training worked
        but a change would clearly help) or ``"info"`` (worth knowing, nothing to fix).
    message : str
        One or two sentences in plain words, with the numbers behind them.
    fix : str
        The suggested change, with concrete flags and values; empty when there is none.
    evidence : dict
        The JSON-serialisable numbers behind the message (non-finite floats are stored as the
        strings ``"nan"``, ``"inf"``, ``"-inf"`` so that the file stays strict JSON).
    epoch, step : int or None
        Where the problem starts, when it has a place.

    Findings compare by all fields and hash by all but ``evidence``, so they can be put in sets.

    Raises
    ------
    ValueError
        If ``severity`` is not one of :data:`SEVERITIES`.
    """

    code: str
    severity: str
    message: str
    fix: str
    evidence: dict = field(default_factory=dict, hash=False)
    epoch: int | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the fields (``evidence`` copied), ready for :func:`json.dumps`."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "evidence": json.loads(json.dumps(self.evidence)),
            "epoch": self.epoch,
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        """The finding that :meth:`to_dict` wrote; unknown keys are ignored."""
        return cls(
            code=str(d["code"]),
            severity=str(d["severity"]),
            message=str(d.get("message", "")),
            fix=str(d.get("fix", "")),
            evidence=dict(d.get("evidence") or {}),
            epoch=None if d.get("epoch") is None else int(d["epoch"]),
            step=None if d.get("step") is None else int(d["step"]),
        )

    def format(self) -> str:
        """``"<severity> [<code>] <message>"`` and, when there is a fix, ``"  fix: <fix>"`` below."""
        text = f"{self.severity} [{self.code}] {self.message}"
        return f"{text}\n  fix: {self.fix}" if self.fix else text


def write_findings(path: Path | str, findings: Iterable[Finding]) -> None:
    """Write ``findings`` as a JSON list to ``path``, atomically.

    The list goes to a temporary file in the same folder, which then replaces ``path``
    (:func:`os.replace`), so a reader never sees half a file.
    """
    path = Path(path)
    text = json.dumps([f.to_dict() for f in findings], indent=1) + "\n"
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_findings(path: Path | str) -> list[Finding]:
    """The findings :func:`write_findings` wrote to ``path``; ``[]`` when the file does not exist.

    Raises
    ------
    ValueError
        If the file is not a JSON list of findings.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of findings")
    try:
        return [Finding.from_dict(item) for item in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a list of findings ({exc})") from exc
