"""Detectors over the events training reported: why it stopped, memory retries, worker fallback."""

from __future__ import annotations

from typing import Any

from segtrain.diagnosis._numbers import is_finite, safe
from segtrain.diagnosis._steps import FAILURE_STOPS
from segtrain.diagnosis.findings import Finding
from segtrain.diagnosis.history import RunHistory

NORMAL_STOPS = ("budget", "planned end")
"""``stop`` reasons that need no finding: the run ended as planned."""

MONITOR_WORDS = {"val/dice": "validation Dice", "val/loss": "validation loss", "val/iou": "validation IoU"}
"""Plain words for the monitored metrics of early stopping."""


def _early_stopping(event: dict[str, Any]) -> Finding:
    epoch, best, score = event.get("epoch"), event.get("best_epoch"), event.get("best_score")
    patience = event.get("patience")
    what = MONITOR_WORDS.get(event.get("monitor") or "val/dice", str(event.get("monitor")))
    if patience is not None:
        waited = patience
    else:
        waited = epoch - best if is_finite(epoch) and is_finite(best) else "?"
    best_text = f" (best {score:.2f})" if is_finite(score) else ""
    since = f" since epoch {best}" if best is not None else ""
    message = f"stopped early at epoch {epoch}: {what} has not improved for {waited} epochs{since}{best_text}"
    held = f"epoch {best}" if best is not None else "the best epoch"
    fix = f"nothing to fix: best.ckpt holds {held}; to train on, raise train.early_stop_patience in a --config YAML"
    evidence = {"epoch": epoch, "best_epoch": best, "best_score": score, "patience": patience,
                "monitor": event.get("monitor")}
    return Finding("early_stopping", "info", message, fix, safe(evidence), epoch=epoch, step=event.get("step"))


def detect_stop(history: RunHistory) -> list[Finding]:
    """Why training stopped, when it is worth saying.

    ``early_stopping`` (info) names the epoch, the patience and the best epoch and score. A
    failure stop (non-finite or divergent steps) is covered by the findings of those steps; only
    when the run recorded none of them does ``training_stopped`` (error) report it. Budget and
    planned ends give nothing; other reasons give ``training_stopped`` (info).
    """
    findings = []
    covered = bool(history.events_of("nonfinite") or history.events_of("divergence"))
    for event in history.events_of("stop"):
        reason, detail = event.get("reason"), event.get("detail") or ""
        epoch, step = event.get("epoch"), event.get("step")
        evidence = safe({"reason": reason, "detail": detail})
        if reason == "early_stopping":
            findings.append(_early_stopping(event))
        elif reason in FAILURE_STOPS and not covered:
            kind = "non-finite" if reason == "nonfinite" else "divergent"
            message = (f"training stopped at step {step} because of {kind} steps{': ' + detail if detail else ''} "
                       "(best.ckpt holds the last good weights)")
            fix = "lower the learning rate (`segtrain lr-find DATA`) and try --precision 32"
            findings.append(Finding("training_stopped", "error", message, fix, evidence, epoch=epoch, step=step))
        elif reason not in NORMAL_STOPS + FAILURE_STOPS:
            message = f"training stopped at epoch {epoch}: {reason}{' (' + detail + ')' if detail else ''}"
            findings.append(Finding("training_stopped", "info", message, "", evidence, epoch=epoch, step=step))
    return findings


def detect_interrupted(history: RunHistory) -> list[Finding]:
    """``interrupted`` (warning): the run's last record is a Ctrl-C, and nothing ran after it (a
    resumed run that went on past the interruption gives nothing)."""
    events = history.events_of("interrupted")
    if not events:
        return []
    last = events[-1]
    step = last.get("step") if is_finite(last.get("step")) else 0
    later = [e for e in history.events_of("stop") if is_finite(e.get("step")) and e["step"] > step]
    if later or history.num_steps > step:
        return []
    saved = "last.ckpt holds its weights" if last.get("checkpoint_saved") else "last.ckpt holds the last checkpoint before"
    message = (f"training was interrupted (Ctrl-C) in epoch {last.get('epoch')} at step {step}; {saved}; "
               "the run is unfinished")
    fix = "continue it with: segtrain train --resume RUN (this run folder)"
    return [Finding("interrupted", "warning", message, fix, safe({"epoch": last.get("epoch"), "step": step,
                                                                  "checkpoint_saved": last.get("checkpoint_saved")}),
                    epoch=last.get("epoch"), step=step)]


def detect_oom(history: RunHistory) -> list[Finding]:
    """``out_of_memory`` (info): one finding per recovered out-of-memory error."""
    findings = []
    for event in history.events_of("oom"):
        b0, b1 = event.get("micro_batch_before"), event.get("micro_batch_after")
        a0, a1 = event.get("accumulate_before"), event.get("accumulate_after")
        effective = b0 * a0 if isinstance(b0, int) and isinstance(a0, int) else "?"
        device = event.get("device") or "the device"
        message = (f"out of memory at step {event.get('step')} on {device}: micro-batch halved {b0} -> {b1}, "
                   f"gradient accumulation doubled {a0} -> {a1}; the effective batch ({effective}) and the "
                   "schedule are unchanged")
        fix = f"to skip the retry next time, start with --batch-size {b1} --accumulate {a1}"
        evidence = {k: event.get(k) for k in ("micro_batch_before", "micro_batch_after", "accumulate_before",
                                              "accumulate_after", "device")}
        findings.append(Finding("out_of_memory", "info", message, fix, safe(evidence),
                                epoch=event.get("epoch"), step=event.get("step")))
    return findings


def detect_workers_fallback(history: RunHistory) -> list[Finding]:
    """``workers_fallback`` (warning): data-loading workers could not start (events aggregated)."""
    events = history.events_of("workers")
    if not events:
        return []
    reasons: list[Any] = list(dict.fromkeys(str(e.get("reason") or "no reason given") for e in events))
    times = "" if len(events) == 1 else f" ({len(events)} times)"
    message = (f"data-loading workers could not start{times}: {'; '.join(reasons[:3])}; loading fell back to "
               "the main process, which is slower")
    fix = ("if shared memory is small (in Docker: --shm-size 2g or --ipc host) enlarge it; or set "
           "train.num_workers: 0 in a --config YAML to skip the attempt")
    first = events[0]
    return [Finding("workers_fallback", "warning", message, fix, safe({"count": len(events), "reasons": reasons}),
                    epoch=first.get("epoch"), step=first.get("step"))]
