"""The quickstart runs: docs/examples/quickstart.sh goes from synthetic data to a trained, scored,
reported and diagnosed run with tiny values, and docs/quickstart.md shows only commands that the script runs or that the
command line accepts."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from PIL import Image

from segtrain.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "quickstart.md"
SCRIPT = ROOT / "docs" / "examples" / "quickstart.sh"
KNOB = " $OPTIONS"  # the script's test-only extra options; the guide shows the line without it
TINY = {
    "N": "16", "SIZE": "64", "BUDGET": "1m",
    # one epoch of 3 steps; a given precision skips the speed probe, --no-lr-find the range test
    "OPTIONS": "--epochs 1 --batch-size 4 --patch-size 64 --precision 32 --no-lr-find",
}


def _bash_lines(text: str) -> list[str]:
    """The lines of every ```bash block, stripped, without comments."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", text, re.M | re.S)
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _script_commands() -> set[str]:
    return {line.strip().replace(KNOB, "") for line in SCRIPT.read_text().splitlines()
            if line.strip().startswith("segtrain ")}


def _parse(line: str) -> None:
    """Parse a ``segtrain ...`` line with the real command tree, as the shell would split it."""
    args = shlex.split(line)[1:]
    command, path = typer.main.get_command(app), ["segtrain"]
    while getattr(command, "commands", None) and args and args[0] in command.commands:
        path.append(args[0])
        command = command.commands[args.pop(0)]
    command.make_context(" ".join(path), args)  # raises on an unknown option or a missing argument


def test_script_is_strict_bash():
    assert "set -euo pipefail" in SCRIPT.read_text()


def test_every_command_shown_is_in_the_script():
    shown = [line for line in _bash_lines(GUIDE.read_text()) if line.startswith("segtrain ")]
    assert len(shown) >= 5, shown
    missing = [line for line in shown if line not in _script_commands()]
    assert not missing, f"docs/quickstart.md shows commands that docs/examples/quickstart.sh does not run: {missing}"


def test_every_setting_shown_is_the_scripts_default():
    script = SCRIPT.read_text()
    for line in _bash_lines(GUIDE.read_text()):
        setting = re.fullmatch(r"([A-Z_]+)=(\S+)", line)
        if setting:
            name, value = setting.groups()
            assert re.search(rf"^{name}=(\$\{{{name}:-{re.escape(value)}\}}|{re.escape(value)})\s", script, re.M), (
                f"docs/quickstart.md sets {line}, docs/examples/quickstart.sh does not")


def test_every_inline_command_parses():
    spans = re.findall(r"`(segtrain [^`]+)`", GUIDE.read_text())
    assert spans
    for span in spans:
        try:
            _parse(span)
        except Exception as exc:  # a usage error of the real command line
            pytest.fail(f"docs/quickstart.md: `{span}` is refused by the command line: {exc}")


def test_make_targets_exist():
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    for line in _bash_lines(GUIDE.read_text()):
        if line.startswith("make "):
            assert set(line.split()[1:]) <= targets, line


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The script's finished process and its work folder, run once with tiny values."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "segtrain").exists():
        pytest.skip("the segtrain console script is not installed beside this python (pip install -e .)")
    cwd = tmp_path_factory.mktemp("quickstart")
    work = cwd / "work"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", WORK=str(work), **TINY)
    done = subprocess.run(["bash", str(SCRIPT)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return done, work


@pytest.mark.slow
def test_quickstart_runs(quickstart):
    done, work = quickstart
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"quickstart.sh exited with {done.returncode}:\n{output[-4000:]}"
    run = work / "run"
    for name in ("run/plan.json", "data/images", "data/masks", "run/config.yaml", "run/checkpoints/best.ckpt",
                 "run/report.html", "run/evaluation.json", "run/findings.json"):
        assert (work / name).exists(), f"{name} missing after quickstart.sh:\n{output[-4000:]}"
    scores = json.loads((run / "evaluation.json").read_text())
    assert scores["split"] == "test" and scores["n_images"] >= 1 and 0 <= scores["dice"] <= 1
    masks = sorted((work / "predictions").glob("*.png"))
    assert [m.stem for m in masks] == sorted(p.stem for p in (work / "data" / "images").iterdir())
    assert Image.open(masks[0]).size == (int(TINY["SIZE"]), int(TINY["SIZE"]))
    assert "run summary" in output and re.search(rf"^report +{re.escape(str(run))}/report.html$", output, re.M)
    assert f"wrote {TINY['N']} mask(s)" in output  # predict
    assert re.search(r"no problems found|finding", output)  # doctor
