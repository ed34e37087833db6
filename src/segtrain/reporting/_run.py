"""The files of a run folder, read once and forgivingly: a missing or broken file reads as empty."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segtrain.reporting._figure import read_json
from segtrain.runtime.rundir import RunDir

SPLITS = ("train", "val", "test")


def _yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _jsonl(path: Path) -> list[dict]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


@dataclass
class RunFiles:
    """What a run folder holds (see the README's *Run folder*); absent files are empty values.

    Attributes
    ----------
    path : Path
        The run folder.
    config, plan, split : dict
        ``config.yaml``, ``plan.json``, ``split.json``.
    evaluation : dict or None
        ``evaluation.json`` (test scores), ``None`` before ``segtrain evaluate``.
    findings : list or None
        ``findings.json``, ``None`` when absent.
    refinement : dict or None
        ``refinement.json`` (test-time flips and post-processing tried on validation), when written.
    events : list of dict
        ``events.jsonl``.
    command : str or None
        ``command.txt`` (the command line), when recorded.
    """

    path: Path
    config: dict = field(default_factory=dict)
    plan: dict = field(default_factory=dict)
    split: dict = field(default_factory=dict)
    evaluation: dict | None = None
    findings: list | None = None
    refinement: dict | None = None
    events: list = field(default_factory=list)
    command: str | None = None

    @classmethod
    def load(cls, run: Path | str) -> "RunFiles":
        files = RunDir(Path(run))
        plan, split = read_json(files.plan), read_json(files.split)
        evaluation, findings = read_json(files.evaluation), read_json(files.findings)
        refinement = read_json(files.refinement)
        try:
            command = files.command.read_text().strip() or None
        except OSError:
            command = None
        return cls(
            path=files.path,
            config=_yaml(files.config),
            plan=plan if isinstance(plan, dict) else {},
            split=split if isinstance(split, dict) else {},
            evaluation=evaluation if isinstance(evaluation, dict) else None,
            findings=findings if isinstance(findings, list) else None,
            refinement=refinement if isinstance(refinement, dict) else None,
            events=_jsonl(files.events),
            command=command,
        )

    @property
    def folder(self) -> RunDir:
        """The paths of the run folder's files (``folder.metrics``, ``folder.steps``, ...)."""
        return RunDir(self.path)

    def section(self, name: str) -> dict[str, Any]:
        """One section of ``config.yaml`` (``data``, ``model``, ``train``, ...), ``{}`` when absent."""
        value = self.config.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def checkpoint(self) -> Path:
        return self.folder.best

    @property
    def data_root(self) -> Path | None:
        """The dataset folder: ``config.yaml`` ``data.root``, or else the folder ``evaluation.json``
        was scored on (``evaluate --data``) when only that one exists; ``None`` when neither is recorded."""
        roots = [Path(r) for r in (self.section("data").get("root"), (self.evaluation or {}).get("data")) if r]
        return next((r for r in roots if r.is_dir()), roots[0] if roots else None)

    @property
    def multilabel(self) -> list[str] | None:
        labels = self.section("data").get("multilabel")
        return [str(label) for label in labels] if labels else None

    @property
    def class_names(self) -> list[str]:
        """Display name of each output class (each label for multilabel runs)."""
        data = self.section("data")
        if self.multilabel:
            return self.multilabel
        if data.get("class_names"):
            return [str(name) for name in data["class_names"]]
        per_class = (self.evaluation or {}).get("per_class") or []
        if per_class and all("name" in row for row in per_class):
            return [str(row["name"]) for row in per_class]
        n = data.get("num_classes") or (self.plan.get("fingerprint") or {}).get("num_classes") or 2
        return [str(k) for k in range(int(n))]

    @property
    def overlay_names(self) -> list[str]:
        """Names for colouring masks: background first (``"none"`` for multilabel runs)."""
        return ["none", *self.multilabel] if self.multilabel else self.class_names

    def stems(self, split: str) -> list[str]:
        value = self.split.get(split)
        return [str(s) for s in value] if isinstance(value, list) else []
