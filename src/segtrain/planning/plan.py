"""The plan of a run as a record: values with their reasons and sources, as JSON and as text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlanItem:
    value: Any
    reason: str
    source: str = "planned"  # "planned", "user" or "plan file"


@dataclass
class TrainingPlan:
    """Planned values by name, in reading order, plus the fingerprint and warnings."""

    items: dict[str, PlanItem] = field(default_factory=dict)
    fingerprint: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    lr_curve: Any = None  # the range test's LRCurve and LRSuggestion, when it ran
    lr_suggestion: Any = None

    def set(self, name: str, value: Any, reason: str, source: str = "planned") -> None:
        self.items[name] = PlanItem(value, reason, source)

    def __getitem__(self, name: str) -> Any:
        return self.items[name].value

    def __contains__(self, name: str) -> bool:
        return name in self.items

    def get(self, name: str, default: Any = None) -> Any:
        return self.items[name].value if name in self.items else default

    def to_dict(self) -> dict[str, Any]:
        """One flat JSON object: every value by name, then ``reasons``, ``sources``, ``overridden``."""
        data: dict[str, Any] = {name: item.value for name, item in self.items.items()}
        data["reasons"] = {name: item.reason for name, item in self.items.items()}
        data["sources"] = {name: item.source for name, item in self.items.items()}
        data["overridden"] = [name for name, item in self.items.items() if item.source == "user"]
        data["warnings"] = list(self.warnings)
        data["fingerprint"] = self.fingerprint
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingPlan":
        reasons, sources = data.get("reasons", {}), data.get("sources", {})
        plan = cls(fingerprint=data.get("fingerprint", {}), warnings=list(data.get("warnings", [])))
        for name, reason in reasons.items():
            plan.set(name, data.get(name), reason, sources.get(name, "planned"))
        return plan

    def format(self) -> str:
        """The plan as aligned text lines: name, value, reason; user values marked with ``*``."""
        width = max(len(name) for name in self.items)
        lines = ["plan:"]
        for name, item in self.items.items():
            if isinstance(item.value, dict):
                value = "(see reason)" if len(str(item.value)) > 24 else str(item.value)
                reason = item.reason + ": " + ", ".join(f"{k} {v}" for k, v in item.value.items())
            else:
                value = f"{item.value:.4g}" if isinstance(item.value, float) else str(item.value)
                reason = item.reason
            mark = "*" if item.source == "user" else " "
            lines.append(f" {mark}{name:<{width}}  {value:<12} {reason}")
        if any(item.source == "user" for item in self.items.values()):
            lines.append("  (* given by the user)")
        return "\n".join(lines)
