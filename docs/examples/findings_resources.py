"""Findings about time, memory and how training ended, from small made-up histories.

Run: python docs/examples/findings_resources.py (prints its results; used by docs/findings.md).

metrics.csv records per epoch the share of the training time spent waiting for data
(data_share) and the peak memory against the memory available; events.jsonl records why
training stopped, out-of-memory retries and data-loading workers that could not start. Here the
records are written by hand and segtrain's detectors read them as `segtrain doctor` does.
"""

from segtrain.diagnosis import RunHistory, diagnose, format_findings
from segtrain.diagnosis import _epochs as rules
from segtrain.diagnosis import _events as events
from segtrain.diagnosis.detectors import run_detectors


def epochs(n, **columns):
    """metrics.csv rows of a run that learns well; extra columns are lists of one value per epoch."""
    rows = []
    for e in range(1, n + 1):
        row = {"epoch": e, "step": 10 * e, "train_loss": 0.6 / e, "val_loss": 0.55 / e, "val_dice": 0.9 - 0.3 / e}
        row.update({name: values[e - 1] for name, values in columns.items()})
        rows.append(row)
    return rows


CASES = {
    "the training step waited for data 62% to 70% of the time": RunHistory(
        epochs=epochs(4, data_share=[0.62, 0.68, 0.70, 0.66]), meta={"num_workers": 2}),
    "peak memory 7600 MB of 8000 MB": RunHistory(
        epochs=epochs(3, peak_memory_mb=[7100.0, 7600.0, 7500.0], memory_limit_mb=[8000.0] * 3),
        meta={"batch_size": 16}),
    "out of memory on the GPU at step 57": RunHistory(epochs=epochs(3), events=[
        {"kind": "oom", "step": 57, "epoch": 2, "micro_batch_before": 32, "micro_batch_after": 16,
         "accumulate_before": 1, "accumulate_after": 2, "device": "cuda:0"}]),
    "no data-loading worker could start": RunHistory(epochs=epochs(3), events=[
        {"kind": "workers", "step": 0, "epoch": 0,
         "reason": "unable to allocate shared memory (shm) for the worker processes"}]),
    "early stopping after 20 validations without a better Dice": RunHistory(epochs=epochs(
        45, val_dice=[0.9 - 0.3 / e if e <= 25 else 0.9 - 0.3 / 25 - 0.001 * (e - 25) for e in range(1, 46)]), events=[
        {"kind": "stop", "step": 450, "epoch": 45, "reason": "early_stopping",
         "detail": "validation Dice did not improve for 20 validations", "best_epoch": 25, "best_score": 0.888,
         "patience": 20, "monitor": "val/dice"}]),
    "training stopped for a reason the detectors do not know": RunHistory(epochs=epochs(3), events=[
        {"kind": "stop", "step": 30, "epoch": 3, "reason": "cancelled", "detail": "a stopper of your own"}]),
    "Ctrl-C at step 42, nothing ran after it": RunHistory(epochs=epochs(3), steps=[{"step": k} for k in range(1, 43)],
        events=[{"kind": "interrupted", "step": 42, "epoch": 4, "checkpoint_saved": True}]),
    "the budget was used (a normal end)": RunHistory(epochs=epochs(3), events=[
        {"kind": "stop", "step": 30, "epoch": 3, "reason": "budget", "detail": "the wall-clock budget was used"}]),
}

for name, history in CASES.items():
    print(f"--- {name}")
    print(format_findings(diagnose(history), history))


def broken_detector(history):
    raise KeyError("val_dice")


print("--- a detector that raises (run_detectors with one broken detector)")
print(format_findings(run_detectors(RunHistory(epochs=epochs(3)), [broken_detector])))

print("--- the thresholds behind these findings (segtrain/diagnosis/_epochs.py, _events.py)")
print("data_loading: the median share of the training time spent waiting for batches above "
      f"{rules.DATA_SHARE_LIMIT:.0%}")
print(f"memory_high: peak memory above {rules.MEMORY_SHARE_LIMIT:.0%} of the memory available in any epoch")
print(f"stops that give no finding: {', '.join(events.NORMAL_STOPS)}")
