"""Start-up time of `segtrain --help`, side by side with a bare interpreter and with `import torch`.

What it measures: the wall time of fresh processes of

- ``python -c pass``          (the interpreter alone: the floor),
- ``python -c "import torch"`` (what a command pays once it needs torch),
- ``segtrain --help``         (the installed entry point, ``.venv/bin/segtrain``),

each the best of ``--repeats`` runs, interleaved (one of each per round, so all three see the same
load on a shared machine), and the ratios between them. Issue 7's target for ``segtrain --help``
is under 0.3 s; it is printed beside the measurement, not asserted (the machine's speed and load
decide the absolute figure).

It then runs ``python -X importtime -m segtrain.cli.app --help`` once and lists the slowest
top-level imports and any heavy library (torch, lightning, numpy, ...) that ``--help`` loads:
with lazy imports there should be none.

Run (about 15 s on a 2-core CPU, most of it ``import torch``; ``--quick``: 3 rounds, about 7 s):

    .venv/bin/python bench/startup.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.3
"""Issue 7: `segtrain --help` should start in under 0.3 s."""
HEAVY = ("torch", "lightning", "pytorch_lightning", "lightning_fabric", "torchmetrics", "monai", "numpy",
         "scipy", "PIL", "tifffile", "matplotlib", "pandas", "pydantic", "yaml", "rich", "skimage")
"""Libraries that a `--help` should not need to import."""
SHOWN = 8
"""Slowest top-level imports listed."""


def entry_point() -> Path:
    """The installed ``segtrain`` script beside this interpreter (``.venv/bin/segtrain``)."""
    script = Path(sys.executable).parent / "segtrain"
    if not script.exists():
        sys.exit(f"{script} not found: install segtrain into this environment first (make demo or pip install -e .)")
    return script


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def import_profile() -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    """Total import seconds of ``--help``, the slowest top-level imports, and the heavy ones loaded.

    Parses ``-X importtime`` (``import time: self [us] | cumulative | package``, nesting shown by
    indentation); a package counts as top-level when it is not indented.
    """
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "segtrain.cli.app", "--help"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    top, heavy = [], {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        cumulative, indent, name = int(match[2]) / 1e6, len(match[3]), match[4]
        if indent <= 1:
            top.append((name, cumulative))
        root = name.split(".")[0]
        if root in HEAVY:
            heavy[root] = max(heavy.get(root, 0.0), cumulative)
    total = sum(seconds for _, seconds in top)
    return total, sorted(top, key=lambda t: -t[1])[:SHOWN], sorted(heavy.items(), key=lambda t: -t[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="rounds, the best of which is kept (default 7; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    python = sys.executable
    commands = {
        "python -c pass": [python, "-c", "pass"],
        'python -c "import torch"': [python, "-c", "import torch"],
        "segtrain --help": [str(entry_point()), "--help"],
    }
    wall(commands["python -c pass"])  # one untimed run of each fills the file cache
    best = {name: wall(command) for name, command in commands.items()}
    for _ in range(repeats - 1):
        for name, command in commands.items():
            best[name] = min(best[name], wall(command))

    floor, torch_s, ours = best["python -c pass"], best['python -c "import torch"'], best["segtrain --help"]
    print(f"best of {repeats} fresh processes each, interleaved; interpreter {python}")
    print()
    header = f"{'command':<26}  {'seconds':>7}  {'/ python -c pass':>16}  {'/ import torch':>14}"
    print(header)
    print("-" * len(header))
    for name, seconds in best.items():
        print(f"{name:<26}  {seconds:>7.3f}  {seconds / floor:>16.2f}  {seconds / torch_s:>14.3f}")
    print()
    verdict = "under" if ours < TARGET_S else "OVER"
    print(f"issue 7 target: segtrain --help under {TARGET_S} s; measured {ours:.3f} s ({verdict} on this machine, "
          f"{ours - floor:.3f} s above the bare interpreter)")

    total, slowest, heavy = import_profile()
    print()
    print(f"python -X importtime -m segtrain.cli.app --help: {total:.3f} s of imports in all; slowest top-level:")
    print("  " + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in slowest))
    print("heavy libraries imported by --help: " + (
        ", ".join(f"{name} ({seconds * 1000:.0f} ms)" for name, seconds in heavy) if heavy else "none"))


if __name__ == "__main__":
    main()
