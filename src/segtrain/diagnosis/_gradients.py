"""Detectors over the gradient norms: exploding (spikes, growth) and vanishing (early layers starved).

The total norm comes from ``steps.csv``'s ``grad_norm`` (every step) or, for runs without it,
from ``grads.csv`` (the L2 norm over the layer groups' norms, every few steps).
"""

from __future__ import annotations

import math
from typing import Any

from segtrain.diagnosis._numbers import finite, is_finite, median, num, rounded, safe
from segtrain.diagnosis._steps import lr_at
from segtrain.diagnosis.findings import Finding
from segtrain.diagnosis.history import RunHistory, has_column

SPIKE_RATIO = 10.0
"""A norm above this many times the running median of the previous norms is a spike; healthy
norms wander within 2-3x of their median."""

SPIKE_WINDOW = 50
"""Previous norms in the running median (recent enough to follow a slow drift)."""

SPIKE_MIN_HISTORY = 10
"""Previous norms needed before a spike can be called; the first steps' norms vary most."""

GROWTH_RATIO = 100.0
"""The median norm of the last tenth of the records this many times that of the first tenth
is sustained growth (two orders of magnitude; healthy norms fall or grow a few times)."""

GRAD_MIN_RECORDS = 3
"""Records needed to judge growth or vanishing at all."""

CLIP_FACTOR = 2.0
"""The suggested clipping threshold, as a multiple of the median norm before the trouble:
it leaves ordinary steps untouched and cuts the spikes."""

VANISH_RATIO = 1e-3
"""The median ratio of the first layer group's norm to the last's below which early layers
barely learn (three orders of magnitude)."""

VANISH_ZERO_SHARE = 0.5
"""The share of records in which the first group's norm is exactly 0 (and the last's is not)
that means the early layers receive no gradient at all."""


def gradient_norms(history: RunHistory) -> list[tuple[int, float]]:
    """``(step, total norm)`` pairs with finite norms: ``steps.grad_norm``, else ``grads.csv``."""
    if has_column(history.steps, "grad_norm"):
        return [(r["step"], r["grad_norm"]) for r in history.steps if is_finite(r.get("grad_norm"))]
    groups = history.group_names
    out = []
    for row in history.grads:
        values = finite(row.get(g) for g in groups)
        if values:
            out.append((row["step"], math.sqrt(sum(v * v for v in values))))
    return out


def _spikes(norms: list[tuple[int, float]]) -> list[dict[str, float]]:
    spikes = []
    for i, (step, norm) in enumerate(norms):
        previous = [n for _, n in norms[max(0, i - SPIKE_WINDOW):i]]
        if len(previous) >= SPIKE_MIN_HISTORY:
            m = median(previous)
            if m > 0 and norm > SPIKE_RATIO * m:
                spikes.append({"step": step, "norm": norm, "median": m, "ratio": norm / m})
    return spikes


def _growth(norms: list[tuple[int, float]]) -> dict[str, float] | None:
    if len(norms) < 2 * GRAD_MIN_RECORDS:
        return None
    k = max(GRAD_MIN_RECORDS, len(norms) // 10)
    first, last = median(n for _, n in norms[:k]), median(n for _, n in norms[-k:])
    if first > 0 and last >= GROWTH_RATIO * first:
        return {"first": first, "last": last, "ratio": last / first, "records": k, "step": norms[-k][0]}
    return None


def detect_exploding_gradients(history: RunHistory) -> list[Finding]:
    """``exploding_gradients``: spikes above :data:`SPIKE_RATIO` x the running median, or growth
    of :data:`GROWTH_RATIO` x over the run.

    The fix gives ``--clip-grad`` at :data:`CLIP_FACTOR` x the median norm before the trouble.
    When training switched clipping on (a ``clip`` event) and no spike came after it, the
    finding is ``info``; otherwise ``warning``.
    """
    norms = gradient_norms(history)
    spikes, growth = _spikes(norms), _growth(norms)
    if not (spikes or growth):
        return []
    parts, evidence = [], {"records": len(norms)}
    if spikes:
        first = spikes[0]
        worst = max(s["ratio"] for s in spikes)
        times = "once" if len(spikes) == 1 else f"{len(spikes)} times"
        parts.append(f"the gradient norm spiked {times} above {num(SPIKE_RATIO)}x its running median (first at "
                     f"step {first['step']}: {num(first['norm'])} vs median {num(first['median'])}; "
                     f"largest {num(worst)}x)")
        evidence.update(spikes=len(spikes), first_spike_step=first["step"], first_spike_norm=rounded(first["norm"]),
                        median_before=rounded(first["median"]), largest_ratio=rounded(worst))
        before, step = first["median"], first["step"]
    if growth:
        parts.append(f"the gradient norm grew {num(growth['ratio'])}x over the run (median {num(growth['first'])} "
                     f"over the first {growth['records']} records, {num(growth['last'])} over the last)")
        evidence.update(growth_ratio=rounded(growth["ratio"]), median_first=rounded(growth["first"]),
                        median_last=rounded(growth["last"]))
        if not spikes:
            before, step = growth["first"], growth["step"]
    clip = next(iter(history.events_of("clip")), None)
    severity = "warning"
    message = " and ".join(parts)
    if clip is not None:
        clip_step = clip.get("step")
        message += f"; gradient clipping was switched on at step {clip_step} (max norm {num(clip.get('max_norm'))})"
        evidence["clip_step"] = clip_step
        after = [s for s in spikes if is_finite(clip_step) and s["step"] > clip_step]
        if spikes and not after and not growth:
            severity = "info"
    clip_at = CLIP_FACTOR * before
    lr = lr_at(history, step)
    lower = f" (--lr {num(lr / 3)})" if is_finite(lr) else ""
    fix = (f"clip the gradients with --clip-grad {num(clip_at)} (about {num(CLIP_FACTOR)}x the median norm "
           f"{num(before)} before the trouble) or lower the learning rate{lower}")
    evidence["suggested_clip"] = rounded(clip_at)
    return [Finding("exploding_gradients", severity, message, fix, safe(evidence), step=step)]


def detect_vanishing_gradients(history: RunHistory) -> list[Finding]:
    """``vanishing_gradients``: the first layer group's norm orders of magnitude below the last's.

    Fires when the median over ``grads.csv`` records of ``first / last`` is below
    :data:`VANISH_RATIO`, or the first group's norm is exactly 0 in at least
    :data:`VANISH_ZERO_SHARE` of the records.
    """
    groups = history.group_names
    if len(groups) < 2 or len(history.grads) < GRAD_MIN_RECORDS:
        return []
    head, tail = groups[0], groups[-1]
    pairs = [(r.get(head), r.get(tail)) for r in history.grads]
    pairs = [(a, b) for a, b in pairs if is_finite(a) and is_finite(b) and b > 0]
    if len(pairs) < GRAD_MIN_RECORDS:
        return []
    ratio = median(a / b for a, b in pairs)
    zeros = sum(a == 0 for a, _ in pairs)
    if not (ratio < VANISH_RATIO or zeros >= VANISH_ZERO_SHARE * len(pairs)):
        return []
    starved = [g for g in groups[:-1]
               if median(r.get(g, math.nan) / r[tail] for r in history.grads
                         if is_finite(r.get(tail)) and r[tail] > 0) < VANISH_RATIO]
    if zeros >= VANISH_ZERO_SHARE * len(pairs):
        detail = f"the first layer group ({head}) had a gradient norm of exactly 0 in {zeros} of {len(pairs)} records"
    else:
        detail = (f"the first layer group ({head}) gets {num(ratio)} times the gradient norm of the last ({tail}), "
                  f"median over {len(pairs)} records")
    starved_text = f" ({', '.join(starved)} below {num(VANISH_RATIO)}x of {tail})" if starved else ""
    message = f"the gradients vanish towards the input: {detail}{starved_text}; the early layers barely learn"
    fix = ("add normalisation (--norm batch, or --norm group for small batches) or use Kaiming initialisation "
           "(--init kaiming)")
    evidence: dict[str, Any] = {"first_group": head, "last_group": tail, "median_ratio": rounded(ratio),
                                "zero_records": zeros, "records": len(pairs), "starved_groups": starved}
    return [Finding("vanishing_gradients", "warning", message, fix, safe(evidence))]
