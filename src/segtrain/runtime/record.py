"""The typed record of one run: the facts saved in every checkpoint and handed to the diagnosis.

A run's facts come from its resolved config, its plan and its data (channels, classes, labels).
:class:`RunRecord` holds them in one place; :meth:`RunRecord.to_dict` is the ``"segtrain"``
entry of every checkpoint (read by the predictor, the report and ``train --resume``), and
:meth:`RunRecord.from_dict` reads it back, also from checkpoints written before a key existed:
a missing fact is taken from the saved config, else left ``None``. The diagnosis (which imports
nothing of ours) receives :meth:`RunRecord.diagnosis_facts`, a plain dict.

Two producers build it: training (``engine/fit.py``, from the resolved config, the plan and the
checked data) and ``segtrain doctor RUN`` (:meth:`RunRecord.from_run`, from the run folder's
``config.yaml`` and ``plan.json`` alone).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from segtrain._version import __version__
from segtrain.config import load_config
from segtrain.runtime.rundir import RunDir

DIAGNOSIS_FACTS = ("num_classes", "class_names", "lr", "precision", "batch_size", "accumulate", "num_workers",
                   "width", "depth", "patch_size", "max_epochs", "memory_allowed_mb")
"""The facts the diagnosis reads (``RunHistory.meta``): they name classes and values in its hints."""

# fact -> (section, key) of the config it defaults to when a record (an older checkpoint) lacks it
_FROM_CONFIG = {"num_classes": ("data", "num_classes"), "class_names": ("data", "class_names"),
                "label_mapping": ("data", "label_mapping"), "colour_masks": ("data", "colour_masks"),
                "multilabel": ("data", "multilabel"), "threshold": ("train", "threshold"),
                "patch_size": ("train", "patch_size"), "lr": ("train", "lr"), "accumulate": ("train", "accumulate"),
                "batch_size": ("train", "batch_size"), "num_workers": ("train", "num_workers"),
                "precision": ("train", "precision"), "max_epochs": ("train", "epochs"),
                "width": ("model", "width"), "depth": ("model", "depth")}


@dataclass
class RunRecord:
    """The facts about one run that its files do not say plainly (see the module docstring).

    ``config`` is the fully resolved config as JSON; the other fields repeat what code reads
    often, typed. ``extra`` keeps keys of a checkpoint this version does not know, so a record
    read and written again loses nothing.
    """

    config: dict[str, Any] = field(default_factory=dict)
    in_channels: int | None = None
    num_classes: int | None = None
    mode: str | None = None
    """``binary``, ``multiclass`` or ``multilabel``."""
    label_mapping: dict[int, int] | None = None
    colour_masks: bool = False
    class_names: list[str] | None = None
    multilabel: list[str] | None = None
    class_weights: list[float] | None = None
    threshold: float = 0.5
    patch_size: int | None = None
    lr: float | None = None
    total_steps: int | None = None
    warmup_steps: int | None = None
    accumulate: int = 1
    batch_size: int | None = None
    """Patches per forward pass (one micro-batch)."""
    num_workers: int | None = None
    precision: str | None = None
    width: int | None = None
    depth: int | None = None
    max_epochs: int | None = None
    """The planned epochs; ``None`` when the run trains until its budget is used."""
    memory_allowed_mb: float | None = None
    """The memory a CPU training step was planned to stay within (``plan.json`` ``memory.allowed_mb``)."""
    version: str | None = None
    """The segtrain version that trained the run."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config, plan: Mapping[str, Any] | None = None, **facts: Any) -> "RunRecord":
        """The record of a run from its resolved config (a ``SegtrainConfig``), its plan (a
        ``TrainingPlan`` or the ``plan.json`` dict) and the ``facts`` only the data knows
        (``in_channels``, ``mode``, ``class_weights``, the label keys of ``LabelSpec.to_meta()``)."""
        plan = plan if plan is not None else {}
        record = cls._filled(config.model_dump(mode="json"), {**facts, "version": facts.get("version", __version__)})
        for name in ("patch_size", "lr", "total_steps", "warmup_steps", "accumulate", "batch_size", "num_workers",
                     "precision"):
            if plan.get(name) is not None:
                setattr(record, name, plan.get(name))
        epochs = plan.get("epochs")
        if isinstance(epochs, int) and epochs > 0:
            record.max_epochs = epochs
        memory = plan.get("memory")
        if isinstance(memory, dict) and memory.get("allowed_mb") is not None:
            record.memory_allowed_mb = float(memory["allowed_mb"])
        record.accumulate = int(record.accumulate or 1)
        return record

    @classmethod
    def from_run(cls, run: RunDir) -> "RunRecord":
        """The record ``segtrain doctor`` rebuilds from the run folder's ``config.yaml`` and ``plan.json``
        (an empty record when the folder has no config; a missing or unreadable plan counts as none)."""
        if not run.config.exists():
            return cls()
        try:
            plan = json.loads(run.plan.read_text())
        except (OSError, ValueError):
            plan = {}
        return cls.from_config(load_config(run.config), plan if isinstance(plan, dict) else {}, version=None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunRecord":
        """A record from a checkpoint's ``"segtrain"`` dict, also one written before some keys existed."""
        return cls._filled(dict(data.get("config") or {}), {k: v for k, v in data.items() if k != "config"})

    @classmethod
    def _filled(cls, config: dict[str, Any], given: Mapping[str, Any]) -> "RunRecord":
        names = {f.name for f in fields(cls)} - {"config", "extra"}
        values = {k: v for k, v in given.items() if k in names and v is not None}
        for name, (section, key) in _FROM_CONFIG.items():
            if name not in values and (config.get(section) or {}).get(key) is not None:
                values[name] = config[section][key]
        if isinstance(values.get("label_mapping"), dict):
            values["label_mapping"] = {int(k): int(v) for k, v in values["label_mapping"].items()}
        extra = {k: v for k, v in given.items() if k not in names and k != "extra"}
        return cls(config=config, **values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``"segtrain"`` dict: every field by name, then the ``extra`` keys."""
        data = asdict(self)
        extra = data.pop("extra")
        order = ("version", "config", "in_channels", "num_classes", "mode")
        return {**{k: data.pop(k) for k in order}, **data, **extra}

    def diagnosis_facts(self) -> dict[str, Any]:
        """What the diagnosis reads (:data:`DIAGNOSIS_FACTS`), as a plain dict."""
        return {name: getattr(self, name) for name in DIAGNOSIS_FACTS}
