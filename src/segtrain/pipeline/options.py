"""The options of the verbs: how a keyword option becomes a config key.

(To become the one option table: flag <-> config key <-> resume rule.)
"""

from __future__ import annotations

from typing import Any

_SECTIONS = {
    "split_file": "data", "num_classes": "data", "norm": "model", "init": "model", "class_weights": "loss",
}


def nested_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """Keyword options -> a nested config dict (``budget`` -> ``train.budget_s``; None means not given)."""
    nested: dict[str, Any] = {"data": {}, "model": {}, "train": {}, "loss": {}}
    for name, value in options.items():
        if name == "budget":
            name = "budget_s"
        if name == "split":
            name, value = "split_file", None if value is None else str(value)
        nested[_SECTIONS.get(name, "train")][name] = value
    return nested
