"""`segtrain doctor RUN` on a run folder written by hand: a run that was killed during epoch 9.

Run: python docs/examples/findings_doctor.py (prints its results; used by docs/findings.md).

The folder holds what training writes: metrics.csv (one row per epoch), steps.csv (one row per
weight update) and events.jsonl (one rolled-back step). The run was killed while it wrote its
last metrics.csv row, so that row is cut off. The folder lives in a temporary folder that is
removed at the end; the command runs in this process, so its output is what a terminal shows.
"""

import contextlib
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path

from segtrain.cli.app import main


def cli(*args: str) -> tuple[int, str]:
    """Run `segtrain ARGS` in this process: its exit code and what it printed."""
    printed = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
        sys.argv = ["segtrain", *args]
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    return code, printed.getvalue()


train_loss = [0.62, 0.45, 0.34, 0.26, 0.20, 0.16, 0.13, 0.10]
val_loss = [0.58, 0.43, 0.33, 0.27, 0.25, 0.28, 0.31, 0.35]
val_dice = [0.48, 0.61, 0.72, 0.79, 0.82, 0.81, 0.79, 0.77]
metrics = ["epoch,step,train_loss,val_loss,val_dice,lr,data_share"]
metrics += [f"{e},{20 * e},{t},{v},{d},0.001,0.08"
            for e, (t, v, d) in enumerate(zip(train_loss, val_loss, val_dice), start=1)]
metrics.append("9,180,0.09,0.3")  # the row the kill cut off
steps = ["step,epoch,lr,loss,grad_norm"]
steps += [f"{s},{(s - 1) // 20 + 1},0.001,{0.65 * math.exp(-s / 60):.4f},0.5" for s in range(1, 171)]
event = {"kind": "nonfinite", "step": 77, "epoch": 4, "loss": float("nan"), "lr": 0.001, "what": "loss",
         "precision": "bf16-mixed", "evidence": {"labels_out_of_range": [], "num_classes": 2, "nonfinite_inputs": [],
                                                 "fp32_finite": True},
         "action": "rolled back to the weights of step 70, skipped the batch, learning rate x0.5, "
                   "now 0.0005 at its peak",
         "recoveries": 1}

with tempfile.TemporaryDirectory() as tmp:
    here = os.getcwd()
    os.chdir(tmp)  # relative paths, so the output below does not show a random temporary folder
    try:
        run = Path("runs/r1")
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text("\n".join(metrics))
        (run / "steps.csv").write_text("\n".join(steps) + "\n")
        (run / "events.jsonl").write_text(json.dumps(event) + "\n")
        print("$ segtrain doctor runs/r1")
        code, printed = cli("doctor", "runs/r1")
        print(printed.rstrip("\n"))
        print(f"(exit code {code})")
        print()
        print("$ segtrain doctor runs/r1 --json   (shortened: the code, severity, epoch, step and evidence)")
        code, printed = cli("doctor", "runs/r1", "--json")
        result = json.loads(printed)
        for finding in result["findings"]:
            print(f"  {finding['code']} ({finding['severity']}), epoch {finding['epoch']}, step {finding['step']}: "
                  f"{json.dumps(finding['evidence'])}")
        written = json.loads((run / "findings.json").read_text())
        print(f"runs/r1/findings.json holds the same {len(written)} findings: "
              f"{[f['code'] for f in written] == [f['code'] for f in result['findings']]}")
        print()
        print("$ segtrain doctor runs")
        code, printed = cli("doctor", "runs")
        print(printed.rstrip("\n"))
        print(f"(exit code {code})")
    finally:
        os.chdir(here)
