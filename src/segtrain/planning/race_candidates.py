"""The budget race, as arithmetic over the plan: its candidates, whether it runs, its rounds and its ranking.

No rule sizes the network or the input scale right for every dataset; a short measurement can.
The planner's rules leave a few set-ups they cannot separate (:func:`propose`): the planned one,
its resolution neighbour (a first level at full resolution where the stem rule allowed half, or
twice the planned scale), twice the network's width, a third of the planned rate, and at long
budgets (:data:`LONG_BUDGET_S`) a deeper and a four-times wider network. Each trains for an equal
slice of wall-clock time on the training split and is scored on the validation split by the score
training selects on (validation Dice; mIoU-like for several classes), by successive halving
(:func:`rounds`): the worse half is dropped, the rest get more time, until one remains.

**Ranking rule** (:func:`rank`): the validation score at the end of a candidate's slice; two scores
within :data:`TIE` are a tie, broken by the slope (score gained per second between its last two
validations, from 0 at its start when it validated once), then by the order of proposal.

**When it runs** (:func:`race_setup`): a wall-clock budget, one process, not fine-tuning, a measured
step time, and every candidate's first slice giving at least ``min_steps`` weight updates at its
estimated step time after one validation; while one falls short, the last such candidate in the
order of proposal is left out (fewer candidates, longer slices), and with fewer than two the race is
skipped and the plan says why. The race depends on
measured speed: on another machine the slices hold other numbers of steps and the winner may differ.

Everything here is pure: the runner that trains the candidates is :mod:`segtrain.pipeline.race`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cmp_to_key

from segtrain.planning.lr_check import TRIAL_FACTOR

DEFAULT_SHARE = 0.2
"""Share of the budget the race takes by default."""
MIN_RACE_STEPS = 50
"""Weight updates a candidate's first slice must give (``train.race_min_steps``): fewer, and the
validation score says more about the first steps' noise than about how the set-up learns."""
LONG_BUDGET_S = 1800.0
"""From this budget on (30 minutes) larger set-ups race too: depth + 1 and four times the width."""
MAX_CANDIDATES = 4
MAX_CANDIDATES_LONG = 6
TIE = 0.005
"""Validation scores closer than this are a tie (below the spread between two seeds of one run)."""
MAX_WIDTH = 128
STEM_COST = 3.0
"""A first level at full resolution costs about three times a strided one (bench/RESULTS.md, run 2)."""
DEPTH_COST = 1.15
"""One more level works at 1/2**depth of the resolution: a small share of a step."""


@dataclass(frozen=True)
class Candidate:
    """One set-up of the race: ``changes`` to the plan (``scale``, ``stem``, ``lr``) or the network
    (``width``, ``depth``), why it races, and its estimated step time relative to the planned one."""

    name: str
    changes: dict
    why: str
    cost: float = 1.0

    def to_dict(self) -> dict:
        return {"name": self.name, "changes": dict(self.changes), "why": self.why, "cost": round(self.cost, 3)}


@dataclass
class RaceSetup:
    """A race that will run: its candidates, the seconds of each round's slice, and what was left out."""

    candidates: list[Candidate]
    race_s: float
    rounds: list[int]
    """Candidates racing in each round."""
    slices: list[float]
    """Seconds each candidate trains in each round."""
    left_out: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        rounds = ", ".join(f"round {r + 1}: {n} x {s:.0f} s" for r, (n, s) in enumerate(zip(self.rounds, self.slices)))
        left = "".join(f"; {name} not raced ({why})" for name, why in self.left_out.items())
        return (f"{len(self.candidates)} candidates ({', '.join(c.name for c in self.candidates)}) race for "
                f"{self.race_s:.0f} s by successive halving ({rounds}); ranked by the validation score at the end of "
                f"each slice (ties within {TIE} broken by the slope); the winner continues from its race weights"
                f"{left}. The race depends on the measured speed of this machine")


def propose(plan, *, width: int, depth: int, budget_s: float, fixed: frozenset = frozenset()) -> list[Candidate]:
    """The set-ups the planner's rules cannot separate, in order of priority (the planned one first).

    ``plan`` is the :class:`~segtrain.planning.plan.TrainingPlan`; ``fixed`` names what the user set
    (``width``, ``depth``; plan items given by the user are fixed by their source).
    """
    def free(name):
        return name not in fixed and (name not in plan.items or plan.items[name].source != "user")

    found = [Candidate("planned", {}, "the set-up the planner's rules chose")]
    scale, stem = plan.get("scale"), plan.get("stem")
    if stem == "strided" and free("stem"):
        found.append(Candidate("full first level", {"stem": "full"}, (
            "the stem rule lets the first level work at half resolution (Dice ceiling within 1%); whether the detail "
            "a full-resolution first level keeps is worth a step about 3x as slow is a matter of learning speed"),
            STEM_COST))
    elif isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale < 1 and free("scale"):
        finer = min(1.0, round(float(scale) * 2, 4))
        found.append(Candidate(f"scale {finer:g}", {"scale": finer}, (
            "twice the planned scale: the scale rule takes the most context whose Dice ceiling passes, and cannot "
            "weigh that context against the detail a finer scale keeps")))
    long = budget_s >= LONG_BUDGET_S
    if free("width") and width * 2 <= MAX_WIDTH:
        found.append(Candidate(f"width {width * 2}", {"width": width * 2}, (
            f"twice the channels of width {width}: no rule says whether a wider network learns more per second "
            "than the faster narrow one; the cost is estimated as the square of the width ratio"), 4.0))
    patch = plan.get("patch_size")
    if long and free("depth") and depth < 6 and patch and patch % 2 ** (depth + 1) == 0:
        found.append(Candidate(f"depth {depth + 1}", {"depth": depth + 1}, (
            f"one more level (depth {depth + 1}): more context per pixel for a small share of a step; a long budget "
            "can afford to find out whether it pays"), DEPTH_COST))
    if long and free("width") and width * 4 <= MAX_WIDTH:
        found.append(Candidate(f"width {width * 4}", {"width": width * 4}, (
            f"four times the channels of width {width}: a long budget may train a much larger network far enough"),
            16.0))
    lr = plan.get("lr")
    if lr and free("lr"):
        found.append(Candidate(f"lr/{TRIAL_FACTOR:g}", {"lr": float(lr) / TRIAL_FACTOR}, (
            f"1/{TRIAL_FACTOR:g} of the planned rate {float(lr):.3g}: the rate trials compare the two after a few "
            "steps only; a lower rate that starts slower can end higher")))
    return found[: MAX_CANDIDATES_LONG if long else MAX_CANDIDATES]


def rounds(n: int) -> list[int]:
    """Candidates racing in each round: ``n``, then the better half (``n // 2``), until one remains."""
    out = []
    while n > 1:
        out.append(n)
        n //= 2
    return out


def slices(race_s: float, n: int) -> list[float]:
    """Seconds per candidate in each round: every round gets an equal share of ``race_s``, split among its candidates."""
    schedule = rounds(n)
    return [race_s / (len(schedule) * k) for k in schedule]


def steps_in(slice_s: float, step_s: float, val_s: float, cost: float = 1.0) -> int:
    """Weight updates that fit in a slice after one validation, at ``cost`` times the step time ``step_s``."""
    return max(0, int((slice_s - val_s) / (step_s * cost)))


def affordable(candidates: list[Candidate], race_s: float, step_s: float, val_s: float,
               min_steps: int) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates whose first slice gives at least ``min_steps`` updates, and why the others are left out.

    While one falls short, the last such candidate is left out (the planned set-up, first, never is;
    when it alone falls short the last candidate goes, so the slices grow). Fewer than two: none race.
    """
    kept, left = list(candidates), {}
    while len(kept) >= 2:
        first = slices(race_s, len(kept))[0]
        short = [c for c in kept if steps_in(first, step_s, val_s, c.cost) < min_steps]
        if not short:
            return kept, left
        drop = short[-1] if short[-1] is not kept[0] else kept[-1]
        got = steps_in(first, step_s, val_s, drop.cost)
        left[drop.name] = (f"{got} weight update{'' if got == 1 else 's'} in a {first:.0f} s slice at about {step_s * drop.cost:.2f} s each after "
                           f"a {val_s:.1f} s validation, fewer than {min_steps}")
        kept.remove(drop)
    return [], left


def race_setup(plan, candidates: list[Candidate], *, asked: bool | None, share: float, min_steps: int,
               fine_tuning: bool = False, processes: int = 1) -> tuple[RaceSetup | None, str]:
    """The race to run, or None and why it is skipped (``asked``: ``--race`` True, ``--no-race`` False, else None)."""
    budget, step_s, val_s = plan.get("budget_s"), plan.get("step_seconds"), plan.get("validation_seconds") or 0.0
    given = plan.items.get("race")
    if asked is False:
        return None, "race skipped: --no-race"
    if given is not None and given.source == "plan file":
        return None, "race skipped: the saved plan's race already chose the set-up"
    if budget is None:
        return None, "race skipped: no wall-clock budget to share (--epochs or --max-steps sets the length)"
    if fine_tuning:
        return None, "race skipped: a fine-tuning run keeps its source's network"
    if processes > 1:
        return None, "race skipped: the race runs in one process"
    if not step_s:
        return None, "race skipped: no measured step time to size the slices by"
    if len(candidates) < 2:
        return None, "race skipped: the plan's rules left no other set-up to try"
    race_s = float(budget) * share
    kept, left = affordable(candidates, race_s, float(step_s), float(val_s), min_steps)
    if not kept:
        return None, (f"race skipped: {share:.0%} of the {float(budget):.0f} s budget is too short for two candidates "
                      f"to get {min_steps} weight updates each (train.race_min_steps): "
                      + "; ".join(f"{name}: {why}" for name, why in left.items()))
    return RaceSetup(kept, race_s, rounds(len(kept)), slices(race_s, len(kept)), left), ""


@dataclass
class Standing:
    """A candidate after a round: its last validation score, its slope (score per second) and proposal order."""

    name: str
    score: float
    slope: float
    order: int

    @property
    def key_score(self) -> float:
        return self.score if self.score is not None and math.isfinite(self.score) else -math.inf


def slope(curve: list[tuple[float, float]]) -> float:
    """Score gained per second between the last two validations ``(seconds, score)`` (from 0 at 0 s for one)."""
    points = [(0.0, 0.0)] + [(s, v) for s, v in curve if v is not None and math.isfinite(v)]
    (s0, v0), (s1, v1) = points[-2] if len(points) > 1 else points[-1], points[-1]
    return (v1 - v0) / (s1 - s0) if s1 > s0 else 0.0


def rank(standings: list[Standing]) -> list[Standing]:
    """Best first: the higher score; within :data:`TIE` the higher slope; then the earlier proposal."""
    def compare(a: Standing, b: Standing) -> int:
        if abs(a.key_score - b.key_score) > TIE or not math.isfinite(a.key_score - b.key_score):
            return -1 if a.key_score > b.key_score else 1
        if a.slope != b.slope:
            return -1 if a.slope > b.slope else 1
        return -1 if a.order < b.order else 1

    return sorted(standings, key=cmp_to_key(compare))


def why_dropped(loser: Standing, last_kept: Standing, round_number: int) -> str:
    """The plan's line for a candidate dropped in ``round_number`` behind ``last_kept``."""
    def score(s):
        return "no score" if not math.isfinite(s.key_score) else f"{s.score:.4f}"

    if math.isfinite(loser.key_score) and abs(loser.key_score - last_kept.key_score) <= TIE:
        return (f"round {round_number}: tied with {last_kept.name} ({score(loser)} vs {score(last_kept)}), "
                f"slower gain ({loser.slope:.2e} vs {last_kept.slope:.2e} per s)")
    return f"round {round_number}: {score(loser)} below {last_kept.name}'s {score(last_kept)} (the worse half)"


def summary_lines(record: dict) -> list[str]:
    """The race as printed lines, from its record (``race.json``)."""
    lines = [f"race: {len(record['candidates'])} candidates, {record['seconds']:.0f} s of the {record['budget_s']:.0f} s "
             f"budget (share {record['share']:.0%}); winner: {record['winner']}"]
    for c in record["candidates"]:
        rounds_text = ", ".join(f"round {r['round']} {r['seconds']:.0f} s {r['steps']} steps score "
                                + ("-" if r["score"] is None else f"{r['score']:.4f}") for r in c["rounds"])
        fate = "winner" if c["name"] == record["winner"] else (c.get("dropped") or "")
        lines.append(f"  {c['name']:<18} {rounds_text}; {fate}")
    return lines
