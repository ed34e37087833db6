"""The guide's worked examples: every script in docs/examples runs, prints the right numbers, and
every output quoted in docs/*.md is exactly what its script prints.

A quoted output is a fenced ``text`` block right after a line
``<!-- output of docs/examples/NAME.py -->``; ``python docs/sync_outputs.py`` refreshes them.
The scripts run once per session, side by side, each in an empty temporary folder (which must stay
empty: the examples write nothing).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
MARKER = re.compile(r"^<!-- output of (docs/examples/[A-Za-z0-9_]+\.py) -->$")
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Each example's finished process, keyed by its path from the repository root."""
    env = dict(os.environ, OMP_NUM_THREADS="1")  # eight torch processes side by side on a small machine
    running = {}
    for script in EXAMPLES:
        cwd = tmp_path_factory.mktemp(script.stem)
        process = subprocess.Popen([sys.executable, str(script)], cwd=cwd, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        running[script.relative_to(ROOT).as_posix()] = (process, cwd)
    done = {}
    for name, (process, cwd) in running.items():
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"{name} ran longer than {TIMEOUT_S} s")
        assert not any(cwd.iterdir()), f"{name} wrote files: {sorted(p.name for p in cwd.iterdir())}"
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
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


def test_every_example_is_quoted_in_the_concept_guide():
    quoted = {script for script, _, _ in quoted_blocks(DOCS / "concepts.md")}
    assert quoted == {p.relative_to(ROOT).as_posix() for p in EXAMPLES}


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
