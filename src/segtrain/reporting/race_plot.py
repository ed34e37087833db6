"""The budget race in the report: validation score against seconds, one line per candidate (``race.json``)."""

from __future__ import annotations

from pathlib import Path

from segtrain.reporting._figure import new_figure, read_json, save
from segtrain.reporting._html import Raw, fmt, h3, para, table


def plot_race(race_json: Path | str | None, out: Path | str) -> Path | None:
    """Each candidate's validation score against its own training seconds; ``None`` without a race."""
    record = read_json(race_json)
    if not isinstance(record, dict) or not record.get("candidates"):
        return None
    curves = [(c.get("name", "?"), c.get("curve") or [], c.get("name") == record.get("winner"))
              for c in record["candidates"]]
    if not any(curve for _, curve, _ in curves):
        return None
    fig, ax = new_figure()
    for name, curve, won in curves:
        if not curve:
            continue
        seconds, scores = [p[0] for p in curve], [p[1] for p in curve]
        ax.plot(seconds, scores, "o-", linewidth=2.5 if won else 1.2, markersize=3,
                label=f"{name} (winner)" if won else name)
    ax.set(xlabel="seconds of training (each candidate's own)", ylabel="validation score",
           title="budget race: validation score per candidate")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, out)


def race_parts(record, figure: Raw) -> list[Raw]:
    """The race's subsection: what it was, a row per candidate (its rounds and fate), and the curves."""
    if not isinstance(record, dict) or not record.get("candidates"):
        return []
    rows = []
    for c in record["candidates"]:
        rounds = "; ".join(f"round {r.get('round')}: {fmt(r.get('seconds'))} s, {r.get('steps')} steps, "
                           f"score {fmt(r.get('score'))}" for r in c.get("rounds") or [])
        fate = "winner" if c.get("name") == record.get("winner") else (c.get("dropped") or "-")
        rows.append((c.get("name", "?"), c.get("why", ""), rounds, fate))
    for name, why in (record.get("left_out") or {}).items():
        rows.append((name, "not raced", "-", why))
    intro = (f"{len(record['candidates'])} candidates raced for {fmt(record.get('seconds'))} s of the "
             f"{fmt(record.get('budget_s'))} s budget; the winner, {record.get('winner')}, "
             + ("trained on from its race weights. " if record.get("continued") else "was kept in the plan. ")
             + str(record.get("rule", "")) + ". " + str(record.get("speed", "")))
    return [h3("Budget race"), para(intro), table(["candidate", "why it raced", "rounds", "outcome"], rows), figure]
