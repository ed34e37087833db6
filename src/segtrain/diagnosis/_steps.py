"""Detectors over the step-level records: failed steps, the learning rate, the loss's first steps.

Each ``detect_*`` takes a :class:`~segtrain.diagnosis.history.RunHistory` and returns a list of
:class:`~segtrain.diagnosis.findings.Finding`; none prints, writes or acts.
"""

from __future__ import annotations

import math
from typing import Any

from segtrain.diagnosis._numbers import finite, is_finite, mean, num, rolling_median, rounded, safe
from segtrain.diagnosis.findings import Finding
from segtrain.diagnosis.history import RunHistory, column

BLOWUP_RATIO = 10.0
"""A loss this many times its smoothed running minimum has blown up. Healthy per-batch noise
stays within 2-3x of the running level; a too-high learning rate gives 100x-1e8x at once."""

BLOWUP_SUSTAIN = 3
"""Consecutive blown-up steps needed (fewer when the record ends during the blow-up): one bad
batch is a spike, a few in a row is divergence."""

SMOOTH_WINDOW = 5
"""Steps in the rolling median behind the running minimum, so one unusually easy batch (a loss
near 0) does not set the reference."""

RISE_RECENT_STEPS = 5
"""Steps just before a failed step whose mean loss is compared with the earlier level."""

RISE_RATIO = 2.0
"""The recent mean loss must be this many times the earlier (smoothed) minimum to say the loss
was rising before a failed step: clearly above the 1.2-1.5x of healthy noise."""

FIRST_STEPS = 100
"""The loss should fall within this many weight updates in any reasonable setup."""

FIRST_STEPS_MIN = 20
"""Fewer recorded steps than this cannot tell a flat loss from noise."""

NOT_FALLING_RATIO = 0.95
"""The mean loss of the last fifth of the first steps must be below this share of the mean of
the first fifth; a loss that has not lost 5% is not learning."""

LR_IMPLAUSIBLE = 1.0
"""A learning rate at or above this is beyond any sane range for a U-Net (Adam(W) works at
1e-4..1e-2, SGD at 1e-3..1e-1; segtrain's range test stops at 10): a failed step at such a
rate, with clean data, is put down to the rate even when there was no loss history to see it
rise (a failure at the first steps)."""

FULL_PRECISION = ("32", "32-true", "64", "64-true")
"""Precision settings that are not reduced: an overflow there is not a precision problem."""

FAILURE_STOPS = ("nonfinite", "divergence")
"""``stop`` reasons that mean training failed (the other reasons are normal ends)."""


def failure_stop(history: RunHistory) -> dict[str, Any] | None:
    """The first ``stop`` event whose reason is a failure, or ``None``."""
    return next((e for e in history.events_of("stop") if e.get("reason") in FAILURE_STOPS), None)


def outcome(history: RunHistory, events: list[dict[str, Any]]) -> str:
    """How training went on after ``events``: stopped (with the step) or recovered."""
    stop = failure_stop(history)
    if stop is not None:
        return f"training stopped at step {stop.get('step', '?')} (best.ckpt holds the last good weights)"
    action = next((e.get("action") for e in reversed(events) if e.get("action")), None)
    return f"training recovered (last action: {action})" if action else "training went on"


def lr_at(history: RunHistory, step: int | None) -> float:
    """The learning rate at ``step``: from ``steps.csv``, else ``meta['lr']``, else ``nan``."""
    if step is not None:
        for row in history.steps:
            if row["step"] == step and is_finite(row.get("lr")):
                return row["lr"]
    if is_finite(history.meta.get("lr")):
        return float(history.meta["lr"])
    lrs = finite(column(history.steps, "lr")) or finite(column(history.epochs, "lr"))
    return lrs[0] if lrs else math.nan


def _losses_before(history: RunHistory, step: int | None) -> list[float]:
    rows = [r for r in history.steps if step is None or r["step"] < step]
    return finite(column(rows, "loss"))


def loss_rising_before(history: RunHistory, event: dict[str, Any]) -> bool:
    """Whether the training loss was rising before the failed step ``event``.

    True when the loss before it grew to :data:`BLOWUP_RATIO` x its first value, when the event's
    own (finite) loss did, or when the mean of the last :data:`RISE_RECENT_STEPS` losses is
    :data:`RISE_RATIO` x the smoothed minimum of the earlier ones.
    """
    losses = _losses_before(history, event.get("step"))
    if not losses:
        return False
    start = losses[0]
    own = event.get("loss")
    if start > 0 and (max(losses) >= BLOWUP_RATIO * start or (is_finite(own) and own >= BLOWUP_RATIO * start)):
        return True
    k = min(RISE_RECENT_STEPS, len(losses) // 2)
    if k < 1:
        return False
    earlier = min(rolling_median(losses[:-k], SMOOTH_WINDOW))
    return earlier > 0 and mean(losses[-k:]) >= RISE_RATIO * earlier


def nonfinite_cause(history: RunHistory, event: dict[str, Any]) -> str:
    """The likely cause of a ``nonfinite`` event, by priority.

    ``"labels"`` (labels outside the model's classes), ``"inputs"`` (non-finite input values),
    ``"precision"`` (reduced precision overflowed but float32 was finite), ``"lr"`` (the loss
    was rising before, or the rate is at least :data:`LR_IMPLAUSIBLE`) or ``"unknown"``.
    """
    evidence = event.get("evidence") or {}
    if evidence.get("labels_out_of_range"):
        return "labels"
    if evidence.get("nonfinite_inputs"):
        return "inputs"
    precision = str(event.get("precision") or "32")
    if precision not in FULL_PRECISION and evidence.get("fp32_finite") is True:
        return "precision"
    lr = event.get("lr") if is_finite(event.get("lr")) else history.meta.get("lr")
    if loss_rising_before(history, event) or (is_finite(lr) and lr >= LR_IMPLAUSIBLE):
        return "lr"
    return "unknown"


def _count_text(events: list[dict[str, Any]]) -> str:
    whats = sorted({str(e.get("what") or "loss") for e in events})
    verb = "was" if whats == ["loss"] else "were"
    n = len(events)
    times = "1 step" if n == 1 else f"{n} steps"
    return f"the {' or '.join(whats)} {verb} not finite at {times} (first at step {events[0].get('step', '?')})"


def _nonfinite_finding(history: RunHistory, cause: str, events: list[dict[str, Any]]) -> Finding:
    first = events[0]
    stopped = failure_stop(history) is not None
    severity = "error" if stopped or cause in ("labels", "inputs") else "warning"
    precision = str(first.get("precision") or history.meta.get("precision") or "32")
    lr = first.get("lr") if is_finite(first.get("lr")) else lr_at(history, first.get("step"))
    evidence: dict[str, Any] = {
        "count": len(events),
        "steps": [e.get("step") for e in events][:20],
        "what": sorted({str(e.get("what") or "loss") for e in events}),
        "lr": rounded(lr),
        "precision": precision,
        "recoveries": max((e.get("recoveries") or 0 for e in events), default=0),
        "stopped": stopped,
    }
    facts = f"{_count_text(events)}; {outcome(history, events)}"
    if cause == "labels":
        values = sorted({v for e in events for v in (e.get("evidence") or {}).get("labels_out_of_range") or []})
        counts = [(e.get("evidence") or {}).get("num_classes") for e in events]
        k = next((c for c in counts if c), history.meta.get("num_classes"))
        evidence.update(labels_out_of_range=values, num_classes=k)
        classes = f"{k} classes (0..{k - 1})" if k else "fewer classes"
        message = f"the masks contain label values {values} but the model has {classes}, so the loss is undefined: "
        message += facts
        parts = []
        if 255 in values:
            parts.append("if 255 marks pixels to ignore, pass --ignore-index 255 (data.ignore_index: 255), the raw "
                         "mask value: segtrain check then leaves it out of the classes")
        real = [v for v in values if isinstance(v, int) and v != 255]
        if real:
            parts.append(f"if {', '.join(map(str, real))} {'is a real class' if len(real) == 1 else 'are real classes'}"
                         f" use --num-classes {max(real) + 1}, otherwise fix the masks")
        fix = "; ".join(parts or ["fix the masks or --num-classes"]) + "; "
        fix += "`segtrain check DATA` lists the files with these values"
        code = "labels_out_of_range"
    elif cause == "inputs":
        files = list(dict.fromkeys(f for e in events for f in (e.get("evidence") or {}).get("nonfinite_inputs") or []))
        shown = ", ".join(str(f) for f in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        evidence["nonfinite_inputs"] = files[:20]
        message = f"the input images contain non-finite values (NaN or infinity): {shown}; {facts}"
        fix = "fix or remove these images (`segtrain check DATA` lists them)"
        code = "nonfinite_inputs"
    elif cause == "precision":
        message = (f"the loss overflowed in {precision} precision: the same batch recomputed in float32 gave a "
                   f"finite loss; {facts}")
        fix = ("use --precision bf16-mixed (float32's range at the speed of 16-bit) or --precision 32"
               if precision.startswith("16") else "use --precision 32")
        code = "precision_overflow"
    else:
        fp32 = (first.get("evidence") or {}).get("fp32_finite")
        detail = "; in float32 it was not finite either" if fp32 is False else ""
        message = (f"{_count_text(events)} at learning rate {num(lr)} in {precision} precision, cause unknown: "
                   f"the labels and inputs were in range and the loss was not rising before{detail}; "
                   f"{outcome(history, events)}")
        lower = f" (--lr {num(lr / 10)})" if is_finite(lr) else ""
        fix = (f"lower the learning rate{lower} and train in --precision 32; if it recurs, check the images "
               "of those batches with `segtrain check DATA`")
        code = "nonfinite_loss"
    return Finding(code, severity, message, fix, safe(evidence), epoch=first.get("epoch"), step=first.get("step"))


def detect_nonfinite(history: RunHistory) -> list[Finding]:
    """Steps whose loss or gradients were not finite, one finding per likely cause.

    Causes, by priority: ``labels_out_of_range``, ``nonfinite_inputs``, ``precision_overflow``,
    a too-high learning rate (left to :func:`detect_lr_too_high`, which merges it with the
    divergence evidence) and ``nonfinite_loss`` (cause unknown). Severity is ``error`` for the
    data causes and when training stopped, else ``warning`` (training recovered).
    """
    by_cause: dict[str, list[dict[str, Any]]] = {}
    for event in history.events_of("nonfinite"):
        by_cause.setdefault(nonfinite_cause(history, event), []).append(event)
    return [_nonfinite_finding(history, cause, by_cause[cause])
            for cause in ("labels", "inputs", "precision", "unknown") if cause in by_cause]


def steps_blowup(history: RunHistory) -> dict[str, Any] | None:
    """The first sustained blow-up of the training loss in ``steps.csv``, or ``None``.

    A step blows up when its loss is at least :data:`BLOWUP_RATIO` x the running minimum of the
    loss's rolling median (:data:`SMOOTH_WINDOW`) and above the first recorded loss (a loss near
    zero that wobbles by 10x is not diverging). Non-finite losses continue a blow-up but do not
    start one. It counts when :data:`BLOWUP_SUSTAIN` steps in a row blow up, or the record ends
    while it lasts.
    """
    rows = [r for r in history.steps if r.get("loss") is not None]
    losses = column(rows, "loss")
    smooth = rolling_median(losses, SMOOTH_WINDOW)
    first = next((x for x in losses if is_finite(x)), math.nan)
    ref, start, reference = math.inf, None, math.nan
    for i, loss in enumerate(losses):
        if start is None:
            if is_finite(loss) and 0 < ref < math.inf and loss >= BLOWUP_RATIO * ref and loss > first:
                start, reference = i, ref
        elif is_finite(loss) and loss < BLOWUP_RATIO * reference:
            start = None
        if start is not None and i - start + 1 >= BLOWUP_SUSTAIN:
            break
        if start is None and is_finite(smooth[i]):
            ref = min(ref, smooth[i])
    if start is None:
        return None
    blown = finite(losses[start:start + BLOWUP_SUSTAIN])
    return {"step": rows[start]["step"], "epoch": rows[start].get("epoch"), "before": reference,
            "peak": max(blown) if blown else math.nan, "lr": rows[start].get("lr")}


def detect_lr_too_high(history: RunHistory) -> list[Finding]:
    """One ``lr_too_high`` finding from divergence events, failed steps after a rising loss, and
    a sustained blow-up in ``steps.csv``.

    The message names the learning rate and the loss numbers; the fix is a rate 10x below the
    lowest one that still diverged. Severity ``error`` when training stopped on a failure,
    else ``warning``.
    """
    divergences = history.events_of("divergence")
    failed = [e for e in history.events_of("nonfinite") if nonfinite_cause(history, e) == "lr"]
    blowup = steps_blowup(history)
    if not (divergences or failed or blowup):
        return []
    def when(item: dict[str, Any]) -> float:
        return item["step"] if is_finite(item.get("step")) else math.inf

    events = sorted(divergences + failed, key=when)
    lrs = [e["lr"] for e in sorted(events + ([blowup] if blowup else []), key=when) if is_finite(e.get("lr"))]
    if not lrs:
        lrs = [lr_at(history, (blowup or events[0]).get("step"))]
    lr = lrs[0]
    first = min(events[:1] + ([blowup] if blowup else []), key=when)
    step, epoch = first.get("step"), first.get("epoch")
    if blowup:
        evidence_text = (f"the training loss rose from {num(blowup['before'])} to {num(blowup['peak'])} "
                         f"at step {blowup['step']}")
    elif divergences:
        d = divergences[0]
        evidence_text = (f"the training loss jumped from {num(d.get('reference_loss'))} to {num(d.get('loss'))} "
                         f"at step {d.get('step', '?')}")
    else:
        before = _losses_before(history, failed[0].get("step"))
        evidence_text = f"the training loss became non-finite at step {failed[0].get('step', '?')}"
        if len(before) >= 2:
            evidence_text = (f"the training loss rose from {num(before[0])} to {num(max(before))} before it became "
                             f"non-finite at step {failed[0].get('step', '?')}")
    counts = []
    if divergences:
        counts.append(f"{len(divergences)} divergence event{'s' if len(divergences) > 1 else ''}")
    if failed:
        counts.append(f"{len(failed)} non-finite step{'s' if len(failed) > 1 else ''}")
    distinct = list(dict.fromkeys(num(x) for x in lrs))
    tried = f" at learning rates {' -> '.join(distinct[:5])}" if len(distinct) > 1 else ""
    count_text = f" ({' and '.join(counts)}{tried})" if counts else ""
    message = (f"the learning rate {num(lr)} is too high: {evidence_text}{count_text}; "
               f"{outcome(history, events)}")
    lowest = min(x for x in lrs if is_finite(x)) if any(is_finite(x) for x in lrs) else math.nan
    if is_finite(lowest) and lowest / 10 >= LR_IMPLAUSIBLE:  # ten times lower is still far too high
        suggestion = "to a usual rate such as 1e-3 (--lr 1e-3)"
    else:
        suggestion = f"to about {num(lowest / 10)} (--lr {num(lowest / 10)})" if is_finite(lowest) else "about 10x"
    fix = f"lower the learning rate {suggestion}, or run `segtrain lr-find DATA` to pick one"
    evidence = {
        "lr": rounded(lr), "lrs": [rounded(x) for x in lrs][:10], "divergence_events": len(divergences),
        "nonfinite_events": len(failed), "stopped": failure_stop(history) is not None,
        "blowup_step": blowup["step"] if blowup else None,
        "loss_before": rounded(blowup["before"]) if blowup else None,
        "loss_peak": rounded(blowup["peak"]) if blowup else None,
    }
    severity = "error" if failure_stop(history) is not None else "warning"
    return [Finding("lr_too_high", severity, message, fix, safe(evidence), epoch=epoch, step=step)]


def detect_loss_not_falling(history: RunHistory) -> list[Finding]:
    """``loss_not_falling``: the training loss did not fall over the first :data:`FIRST_STEPS`.

    Fires when, over the first ``min(len, FIRST_STEPS)`` steps (at least
    :data:`FIRST_STEPS_MIN`), the mean of the last fifth is at least :data:`NOT_FALLING_RATIO`
    x the mean of the first fifth. A loss that blew up in those steps (:func:`steps_blowup`) is
    left to :func:`detect_lr_too_high`. Severity ``info`` when the loss fell later (a slow start, e.g.
    a warm-up), else ``warning``.
    """
    rows = [r for r in history.steps[:FIRST_STEPS] if is_finite(r.get("loss"))]
    if len(rows) < FIRST_STEPS_MIN:
        return []
    k = len(rows) // 5
    head, tail = rows[:k], rows[-k:]
    a, b = mean(r["loss"] for r in head), mean(r["loss"] for r in tail)
    if not (a > 0 and b >= NOT_FALLING_RATIO * a):
        return []
    blowup = steps_blowup(history)
    if blowup is not None and blowup["step"] <= rows[-1]["step"]:
        return []
    later = [r for r in history.steps[FIRST_STEPS:] if is_finite(r.get("loss"))]
    late = mean(r["loss"] for r in later[-max(k, len(later) // 5):]) if later else math.nan
    fell_later = is_finite(late) and late < NOT_FALLING_RATIO * a
    message = (f"the training loss did not fall over the first {len(rows)} steps: mean {num(a)} over steps "
               f"{head[0]['step']}-{head[-1]['step']}, {num(b)} over steps {tail[0]['step']}-{tail[-1]['step']}")
    if fell_later:
        message += f"; it fell later (to {num(late)} by step {later[-1]['step']}), so this was a slow start"
    lr = lr_at(history, rows[0]["step"])
    lr_text = f"lr {num(lr)}" if is_finite(lr) else "the learning rate"
    fix = (f"check the learning rate ({lr_text} may be too low or too high: `segtrain lr-find DATA`) "
           "and that the masks match the images (`segtrain check DATA`)")
    evidence = {"steps": len(rows), "mean_first": rounded(a), "mean_last": rounded(b), "lr": rounded(lr),
                "mean_later": rounded(late) if later else None}
    return [Finding("loss_not_falling", "info" if fell_later else "warning", message, fix, safe(evidence),
                    epoch=rows[0].get("epoch"), step=rows[0]["step"])]
