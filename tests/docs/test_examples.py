"""The guide's worked examples: every script in docs/examples runs, prints the right numbers, and
every output quoted in docs/*.md is exactly what its script prints.

A quoted output is a fenced ``text`` block right after a line
``<!-- output of docs/examples/NAME.py -->``; ``python docs/sync_outputs.py`` refreshes them.
The scripts run once per session, a few side by side, each in an empty temporary folder (which must
stay empty: the examples write nothing). Every script is quoted in some guide, and the guides built
on them quote at least one each; the numbers that matter are checked here one by one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
MARKER = re.compile(r"^<!-- output of (docs/examples/[A-Za-z0-9_]+\.py) -->$")
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Each example's finished process, keyed by its path from the repository root.

    At most one script per CPU core runs at a time, so each gets its :data:`TIMEOUT_S` to itself
    however many examples there are.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1")  # several torch processes side by side on a small machine
    folders = {script: tmp_path_factory.mktemp(script.stem) for script in EXAMPLES}

    def run(script: Path) -> subprocess.CompletedProcess | str:
        try:
            return subprocess.run([sys.executable, str(script)], cwd=folders[script], env=env, text=True,
                                  capture_output=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return f"{script.relative_to(ROOT).as_posix()} ran longer than {TIMEOUT_S} s"

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        finished = dict(zip(EXAMPLES, pool.map(run, EXAMPLES)))
    done = {}
    for script, result in finished.items():
        name, cwd = script.relative_to(ROOT).as_posix(), folders[script]
        if isinstance(result, str):
            pytest.fail(result)
        assert not any(cwd.iterdir()), f"{name} wrote files: {sorted(p.name for p in cwd.iterdir())}"
        done[name] = result
    return done


def _out(outputs, stem: str) -> str:
    result = outputs[f"docs/examples/{stem}.py"]
    assert result.returncode == 0, f"{stem}.py failed:\n{result.stderr}"
    return result.stdout


def _lines(outputs, stem: str) -> list[str]:
    return [line.strip() for line in _out(outputs, stem).splitlines()]


def _row(lines: list[str], *cells: str) -> bool:
    """Whether some line consists of exactly these whitespace-separated cells."""
    return any(line.split() == list(cells) for line in lines)


def quoted_blocks(path: Path) -> list[tuple[str, int, str]]:
    """``(script, line number, quoted text)`` for every marked block of ``path``."""
    lines = path.read_text().splitlines(keepends=True)
    blocks = []
    for i, line in enumerate(lines):
        match = MARKER.match(line.rstrip("\n"))
        if not match:
            continue
        assert i + 1 < len(lines) and lines[i + 1].rstrip("\n") == "```text", (
            f"{path.name}:{i + 2}: a ```text block must follow the marker for {match[1]}")
        end = next((k for k in range(i + 2, len(lines)) if lines[k].rstrip("\n") == "```"), None)
        assert end is not None, f"{path.name}:{i + 2}: the block for {match[1]} is not closed"
        blocks.append((match[1], i + 1, "".join(lines[i + 2 : end])))
    return blocks


@pytest.mark.parametrize("script", [p.relative_to(ROOT).as_posix() for p in EXAMPLES])
def test_example_runs_cleanly(outputs, script):
    result = outputs[script]
    assert result.returncode == 0, f"{script} exited with {result.returncode}:\n{result.stderr}"
    assert result.stdout.strip(), f"{script} printed nothing"


def test_quoted_outputs_are_what_the_scripts_print(outputs):
    guides = sorted(DOCS.glob("*.md"))
    quoted = [(guide, *block) for guide in guides for block in quoted_blocks(guide)]
    assert quoted, "no quoted outputs found in docs/*.md"
    for guide, script, line, text in quoted:
        assert script in outputs, f"{guide.name}:{line} quotes {script}, which does not exist"
        assert text == outputs[script].stdout, (
            f"{guide.name}:{line}: the block differs from what {script} prints now; "
            "run `python docs/sync_outputs.py` and check the prose around it")


WORKED_GUIDES = ("concepts.md", "data.md", "planner.md", "losses_and_metrics.md", "findings.md")
"""The guides whose numbers come from the example scripts; each quotes at least one."""


def test_every_example_is_quoted_in_some_guide():
    quoted = {script for guide in sorted(DOCS.glob("*.md")) for script, _, _ in quoted_blocks(guide)}
    missing = {p.relative_to(ROOT).as_posix() for p in EXAMPLES} - quoted
    assert not missing, f"example scripts quoted in no guide: {sorted(missing)}"
    for name in WORKED_GUIDES:
        assert quoted_blocks(DOCS / name), f"{name} quotes no example script"


def test_convolution(outputs):
    lines = _lines(outputs, "convolution")
    assert "first row: 12 12 17" in lines  # the classic exercise
    assert "first row: 51 66 20" in lines  # the course-notes exercise
    for row in (["51", "66", "20"], ["31", "49", "101"], ["15", "53", "-2"]):
        assert _row(lines, *row)
    assert lines.count("torch.nn.functional.conv2d gives the same: True") == 2
    assert lines.count("conv2d equals it: False") == 2  # conv2d is a cross-correlation ...
    assert lines.count("conv2d with the kernel flipped 180 degrees equals it: True") == 2  # ... of the flipped kernel
    assert "output transposed (filled column by column): True" in lines
    assert "kernel flipped (true convolution): False" in lines and "stride 2: False" in lines


def test_gradient_descent(outputs):
    lines = _lines(outputs, "gradient_descent")
    assert _row(lines, "0", "1", "11", "0.89")
    assert _row(lines, "1", "0.89", "10.34", "0.7866")
    assert _row(lines, "2", "0.7866", "9.7196", "0.689404")
    assert "x_1 .. x_4: 0.89, 0.7866, 0.689404, 0.59803976" in lines  # torch.optim.SGD agrees
    assert "largest difference from the exact iterates over 400 steps below 1e-12: True" in lines
    assert "first k with |x_k + 5/6| < 1e-6: 234" in lines
    assert any(line.startswith("k = 400") and "x_k = -0.833333333" in line for line in lines)
    verdicts = {line.split()[0]: line.split(maxsplit=5)[-1] for line in lines if re.match(r"^(0\.\d+|1/3) ", line)}
    assert verdicts == {"0.01": "converges", "0.1": "converges", "0.3": "converges",
                        "1/3": "oscillates for ever", "0.34": "diverges", "0.5": "diverges"}


def test_cross_entropy(outputs):
    lines = _lines(outputs, "cross_entropy")
    assert _row(lines, "0", "1.0", "inf", "inf", "100")  # target 0, prediction 1: infinite; torch clamps to 100
    assert _row(lines, "1", "1.0", "nan", "0", "0")  # target 1, prediction 1: 0 (nan without 0 ln 0 = 0)
    assert _row(lines, "1", "0.5", "0.693147", "0.693147", "0.693147")
    assert "ln 2 = 0.693147" in lines
    assert "float32: sigmoid(z) rounds to exactly 1.0 from z = 17 on" in lines
    assert _row(lines, "100", "100", "100", "0", "100", "1")  # through sigmoid: gradient 0; with logits: 1
    assert _row(lines, "1000", "1000", "100", "0", "1000", "1")
    assert "z = 100: 100" in lines and "z = 1000: 1000" in lines  # segtrain's own loss


def test_steps_and_epochs(outputs):
    lines = _lines(outputs, "steps_and_epochs")
    assert any(line.endswith("train 140, val 30, test 30") for line in lines)
    assert "patches: 4 tiles of 128x128 per 256x256 image x 140 images = 560" in lines
    assert "steps per epoch (weight updates): ceil(560 / 16) = 35" in lines
    assert "samples seen: 8 x 2 x 35 x 10 = 5600 = 10 x 560 patches" in lines
    for item in ("patches = 560", "effective_batch = 16", "steps_per_epoch = 35", "total_steps = 350",
                 "iterations = 700", "samples_seen = 5600", "warmup_steps = 10"):
        assert item in lines  # segtrain's planner agrees with the arithmetic


def test_learning_rate_schedule(outputs):
    lines = _lines(outputs, "learning_rate_schedule")
    for step, multiplier in (("0", "0.032258"), ("29", "0.967742"), ("30", "1.000000"), ("515", "0.505000"),
                             ("999", "0.010003")):
        assert any(line.split()[:2] == [step, multiplier] for line in lines), step
    assert lines.count("the formula above gives the same multiplier at every step: True") == 2


def test_lr_range_test(outputs):
    lines = _lines(outputs, "lr_range_test")
    for curve in ("clean, fastest fall 1e-3", "3% noise", "3% noise, NaN from step 90"):
        row = next(line for line in lines if line.startswith(curve + " "))
        assert row[len(curve):].split()[0] == "9.11e-04", row
    assert _row(lines, "flat", "none", "5.86e-03", "None")


def test_fitting(outputs):
    text = _out(outputs, "fitting")
    assert "no problems found in 10 epochs" in text
    assert "warning [overfitting] validation loss has risen for 4 epochs since epoch 7" in text
    assert "best.ckpt keeps epoch 6" in text
    assert "warning [underfitting] the losses barely fell over 5 epochs" in text


# ---- docs/data.md -------------------------------------------------------------------------------


def test_data_check(outputs):
    lines = _lines(outputs, "data_check")
    assert "gray16.png   shape (24, 32, 1), uint16, values 0..65535" in lines
    assert "rgba.png     shape (24, 32, 3), uint8, values 0..255" in lines  # alpha dropped
    assert "a palette mask reads as its indices: values [0, 2], not the colours it shows" in lines
    assert any(line.startswith("gray8 and gray16") and float(line.split()[-1]) < 1e-5 for line in lines)
    assert "notice: 4 masks hold 0/255: read as 0/1" in lines
    assert "binary: 4 image/mask pairs, gray, 2 classes: OK" in lines
    assert any(line.startswith("report: ok True, n_pairs 4") and "label_mapping {0: 0, 255: 1}" in line
               for line in lines)
    assert any("label_mapping {0: 0, 3: 1, 7: 2}" in line for line in lines)
    assert any(line.startswith("error: colour/masks: 3 colour-coded RGB masks and no colour/classes.json")
               for line in lines)
    assert "class_names ['ground', 'sky', 'water']" in _out(outputs, "data_check")
    assert "label_mapping {0: 0, 1: 1, 255: 2}" in _out(outputs, "data_check")  # 255 is a class, not ignored
    assert _out(outputs, "data_check").count("(exit code 2)") == 1  # only the colour masks without classes.json
    assert any(line.startswith("report: mask_format 'lossy', num_classes 2") for line in lines)


def test_data_errors(outputs):
    text = _out(outputs, "data_errors")
    errors = [line for line in _lines(outputs, "data_errors") if line.startswith("error: DATA/")]
    assert len(errors) == 6 + 6  # six problems, once without and once with --num-classes 2
    for fragment in ("DATA/images/img_4.jpg: same stem as img_4.png", "DATA/images/img_5.png: no mask",
                     "DATA/masks/img_9.png: no image", "DATA/masks/img_1.png: size 20x32 (HxW) differs",
                     "DATA/masks/img_2.png: value 2 on only 1 pixel", "DATA/images/img_3.png: truncated or corrupt",
                     "the masks hold 3 classes (values 0, 1, 2) but --num-classes is 2"):
        assert fragment in text
    assert "segtrain.check: ok False, 6 problems, 4 complete pairs" in text
    assert "the masks look like instance masks (one id per object: 10 to 12 ids per mask)" in text
    assert "wrote 3 images and boundary masks (33 objects) to cells_boundary" in text
    assert "cells_boundary: 3 image/mask pairs, gray, 3 classes: OK" in text
    assert "0 2 1 1 1 1 1 2 2 1 1 1 1 1 1 2 0 2" in text  # the touching objects stay apart


def test_data_split(outputs):
    lines = _lines(outputs, "data_split")
    for n, counts in (("20", "train 14, val 3, test 3"), ("200", "train 140, val 30, test 30"),
                      ("1000", "train 700, val 150, test 150")):
        assert f"{n} images: {counts}" in lines
    assert "the same with the stems in reverse order: True" in lines
    assert "no split file: random 70%/15%/15% split with seed 0" in lines
    assert sum(line.split(": ")[0] in ("an unknown stem", "a stem in two splits", "paths instead of stems",
                                       "no val key", "an empty train list") and ": error: " in line
               for line in lines) == 5
    random_line = next(line for line in lines if line.startswith("random split by frame:"))
    grouped_line = next(line for line in lines if line.startswith("grouped by video"))
    assert random_line.endswith("videos on more than one side: 8")
    assert grouped_line.endswith("videos on more than one side: 0")


# ---- docs/planner.md ----------------------------------------------------------------------------


def test_plan_decisions(outputs):
    lines = _lines(outputs, "plan_decisions")
    assert any(line.startswith("patch_size               256") and "(480 px)" in line for line in lines)
    assert any(line.startswith("precision                bf16-mixed") for line in lines)
    assert any(line.startswith("batch_size               8") and "(16)" in line and "(64)" in line for line in lines)
    assert "doubling 8 -> 16 raises patches/s by 10.2%, less than 15%: batch 8" in lines
    assert "patches: ceil(480 / 256) x ceil(640 / 256) = 6 per image x 120 images = 720" in lines
    assert any(line.startswith("patches                  720") for line in lines)
    assert any(line.startswith("steps_per_epoch          90") for line in lines)
    assert any(line.startswith("loss                     ce+dice") for line in lines)
    assert any(line.startswith("lr                       0.001414") and "square-root rule (x1.41)" in line
               for line in lines)
    assert ("plan: steps_per_epoch = 37: reduced from ceil(720 / 8) so that validation runs at least 3 times "
            "in the budget") in lines
    assert any(line.startswith("plan: epochs = 3:") for line in lines)
    assert any(line.startswith("one epoch of 90 steps") and "120 s hold 1" in line for line in lines)
    assert "overridden: batch_size, accumulate, epochs, lr, schedule, loss" in lines
    assert any(line.startswith("steps_per_epoch          23") for line in lines)  # ceil(720 / (16 x 2))
    assert any(line.startswith("iterations               460") for line in lines)  # 230 updates x accumulate 2
    assert ("lr = 0.002: 0.001 at batch 4 (suggestion 0.001 checked by trials: 0.001), rescaled to batch 8 by the "
            "linear rule (x2)") in lines
    assert "epochs = 6: ceil(max_steps 500 / 90 steps per epoch)" in lines
    assert "lr = 0.002: adamw default (the range test is switched off)" in lines


# ---- docs/losses_and_metrics.md -----------------------------------------------------------------


def _loss_rows(lines: list[str]) -> dict[str, list[list[float]]]:
    """Rows of the loss tables: name -> the numbers of each row so named (by hand, segtrain[, reference])."""
    rows: dict[str, list[list[float]]] = {}
    for line in lines:
        match = re.match(r"^(\S.*?)\s{2,}(-?\d+\.\d{6})\s+(-?\d+\.\d{6})(?:\s+(-?\d+\.\d{6})\s+(torch|MONAI))?", line)
        if match:
            rows.setdefault(match[1], []).append([float(v) for v in match.groups()[1:4] if v is not None])
    return rows


def test_losses_worked(outputs):
    lines = _lines(outputs, "losses_worked")
    rows = _loss_rows(lines)
    referenced = [values for name in rows for values in rows[name] if len(values) == 3]
    assert len(referenced) == 12  # ce x2, dice, jaccard, tversky, focal x2 (binary); ce x3, dice, focal (multiclass)
    for values in referenced:
        assert max(values) - min(values) < 1e-6, values  # by hand = segtrain = torch or MONAI
    for name in ("tversky, gamma 0.75 (focal)", "lovasz (hinge)", "boundary", "dice, ignore_index 255",
                 "ce, ignore_index 255", "lovasz (softmax)"):
        (hand, ours), = rows[name]
        assert hand == ours, name
    assert rows["dice"] == [[0.327322] * 3]
    assert rows["ce (binary cross-entropy)"] == [[0.327025] * 3]
    assert rows["lovasz (hinge)"] == [[0.785714] * 2]
    assert rows["focal (gamma 2)"] == [[0.106887] * 3, [0.188519] * 3]  # binary, multiclass
    assert "class pixels [6, 5, 5] -> frequency weights median(f) / f_c: 0.8333, 1.0000, 1.0000" in lines
    assert "--loss dice+ce: 1 x dice + 1 x ce = 1 x 0.404417 + 1 x 0.556310 = 0.960727" in lines
    differences = [line for line in lines if line.startswith("largest difference segtrain - by hand")]
    assert len(differences) == 3
    for line in differences:
        numbers = [float(v.rstrip(";")) for v in re.findall(r"\d\.\de[-+]\d+;?", line)]
        assert numbers[0] < 1e-12 and all(n < 1e-6 for n in numbers[1:]), line


def test_metrics_regions(outputs):
    lines = _lines(outputs, "metrics_regions")
    assert "confusion matrix (rows truth 0, 1; columns prediction 0, 1): [[10, 1], [1, 4]]" in lines
    assert _row(lines, "1", "iou", "2/3", "=", "0.666667", "0.666667", "0.666667")
    assert _row(lines, "1", "dice", "4/5", "=", "0.800000", "0.800000", "0.800000")  # hand = segtrain = torchmetrics
    assert _row(lines, "0", "dice", "10/11", "=", "0.909091", "0.909091", "0.909091")
    assert _row(lines, "pixel", "accuracy", "7/8", "=", "0.875000", "0.875000", "0.875000")
    assert _row(lines, "mean", "over", "images,", "class", "0", "67/80", "=", "0.837500", "0.837500", "0.837500")
    assert _row(lines, "mean", "over", "images,", "class", "2", "7/9", "=", "0.777778", "0.777778", "0.777778")
    assert _row(lines, "mean", "over", "images", "1753/2160", "=", "0.811574", "0.811574", "0.811574")
    assert _row(lines, "pooled,", "class", "0", "11/13", "=", "0.846154", "0.846154", "0.846154")
    assert "images in the mean over images, per class: [2, 2, 1]" in lines
    dice = next(line for line in lines if line.startswith("Dice per class, mean over images:"))
    ours, reference = dice.split("segtrain ")[1].split("  torchmetrics ")
    assert ours == reference


def test_metrics_boundary(outputs):
    lines = _lines(outputs, "metrics_boundary")
    assert _row(lines, "hd95", "1.144975", "1.144975", "1.144974")  # MONAI computes in float32
    assert _row(lines, "Hausdorff", "distance", "(percentile", "100)", "1.414214", "1.414214", "1.414214")
    assert any(line.startswith("boundary F1 at tolerance 1 px:")
               and line.endswith("F1 by hand 0.962963, segtrain 0.962963") for line in lines)
    assert "object missed (prediction empty): segtrain hd95 11.313708, boundary F1 0.0; MONAI hd95 nan" in lines
    assert "both empty: segtrain hd95 None, boundary F1 None; MONAI hd95 nan" in lines
    assert "row error: by hand 0.750000 px, segtrain 0.750000 px" in lines
    assert "angle error: by hand 2.506071 degrees, segtrain 2.506071 degrees" in lines


# ---- docs/findings.md ---------------------------------------------------------------------------


def _emitted_codes() -> set[str]:
    """Every finding code written in the diagnosis sources: ``Finding("code", ...`` or ``code = "code"``."""
    codes = set()
    for path in (ROOT / "src" / "segtrain" / "diagnosis").glob("*.py"):
        text = path.read_text()
        codes |= set(re.findall(r'Finding\(\s*"([a-z_]+)"', text)) | set(re.findall(r'\bcode = "([a-z_]+)"', text))
    return codes


def test_every_finding_code_is_catalogued_and_described():
    from segtrain.diagnosis.detectors import CODES

    assert _emitted_codes() == set(CODES)
    guide = (DOCS / "findings.md").read_text()
    for code in CODES:
        assert f"### `{code}`" in guide, f"findings.md has no section for {code}"


def test_findings(outputs):
    from segtrain.diagnosis.detectors import CODES

    catalogue = _out(outputs, "findings_catalogue")
    assert f"{len(CODES)} finding codes:" in catalogue
    shown = "".join(_out(outputs, stem) for stem in ("findings_failed_steps", "findings_learning",
                                                      "findings_resources", "findings_doctor"))
    for code in CODES:
        assert f"[{code}]" in shown, f"no example shows {code}"
    failed = _out(outputs, "findings_failed_steps")
    assert "error [labels_out_of_range] the masks contain label values [255] but the model has 2 classes" in failed
    assert "warning [lr_too_high] the learning rate 0.05 is too high: the training loss rose from 0.47 to 4000" \
        in failed
    assert "fix: lower the learning rate to about 0.005 (--lr 0.005)" in failed
    learning = _out(outputs, "findings_learning")
    assert "fix: clip the gradients with --clip-grad 1 (about 2x the median norm 0.5" in learning
    assert "warning [overfitting] validation loss has risen for 4 epochs since epoch 6" in learning
    assert "it predicted 15% at epoch 1, so the prediction collapsed" in learning
    # the thresholds findings.md states in words
    assert "multiplied by 0.5 (train.recovery_lr_factor); a failure after 3 roll-backs" in failed
    assert "lr_too_high: the loss at least 10 x its running minimum (rolling median of 5 steps) for 3 steps" in failed
    assert "exploding_gradients: a norm above 10 x the median of the previous 50" in learning
    assert "vanishing_gradients: median first/last layer-group norm below 0.001" in learning
    assert ("loss_not_falling: over the first 100 steps (at least 20 recorded), the mean of the last fifth "
            "at least 0.95") in learning
    assert "predicts_background: in the last 2 epochs less than 0.1 x" in learning
    assert "class_zero_dice: a foreground class below Dice 0.01 over the last 3 epochs while another reaches 0.1" \
        in learning
    resources = _out(outputs, "findings_resources")
    assert "data_loading: the median share of the training time spent waiting for batches above 50%" in resources
    assert "memory_high: peak memory above 90% of the memory available" in resources
    doctor = _lines(outputs, "findings_doctor")
    assert "2 warnings:" in doctor
    assert "runs/r1/findings.json holds the same 2 findings: True" in doctor
    assert doctor.count("(exit code 0)") == 1 and doctor.count("(exit code 2)") == 1
