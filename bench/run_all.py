"""Run every benchmark in bench/ one after another and print each one's output under a heading.

The benchmarks, in this order: ``throughput.py`` (segtrain train against a bare loop),
``compute.py`` (the training step's share of the matmul peak), ``inference.py`` (tiled
inference against MONAI's, when present), ``scaling.py`` (memory and epoch time at 1x, 4x, 16x
the data), ``startup.py`` (``segtrain --help`` start-up), then any other script in bench/.
``planner.py`` (test Dice at a fixed budget on the real datasets, about 35 minutes) runs only
with ``--with-planner``; ``handwritten.py`` is its baseline, not a benchmark of its own.

Each runs as its own process with this interpreter, from the repository root, its output shown
as it comes. ``--quick`` is passed to every script that accepts it; a script that does not gets
the smaller options in ``QUICK_OPTIONS`` instead (none: its full run). Every script prints ratios
measured side by side in its own run, so nothing here compares figures across scripts. A
failing script does not stop the others; the exit code is 1 if any failed, and a summary of
exit codes and durations closes the output.

Run (``--quick``: about 2 minutes on a quiet 2-core CPU, up to ten times that when other
programs load it; the full suite several times longer, plus 35 minutes with ``--with-planner``):

    .venv/bin/python bench/run_all.py [--quick] [--with-planner] [--only compute.py scaling.py]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ORDER = ("throughput.py", "compute.py", "inference.py", "scaling.py", "startup.py")
"""Scripts run first, in this order (missing ones are skipped); other bench scripts follow by name."""
NOT_BENCHMARKS = ("run_all.py", "handwritten.py", "scoring.py", "planner.py", "quality.py")
"""This runner, the hand-written baseline and the independent scorer (libraries of the quality
benchmarks, not benchmarks), the 35-minute planner benchmark (added by ``--with-planner``) and
``quality.py`` (segtrain against the hand loop on every real dataset, 10 minutes per dataset and
seed at 5m: run it by itself)."""
QUICK_OPTIONS = {
    "inference.py": ["--size", "1024", "--repeats", "1"],
    "planner.py": ["--budget", "1m"],
}
"""Smaller runs for scripts without a ``--quick`` option of their own."""


def accepts_quick(script: Path) -> bool:
    """Whether the script declares a ``--quick`` option (read from its source, without running it)."""
    return '"--quick"' in script.read_text()


def scripts(with_planner: bool, only: list[str] | None) -> list[Path]:
    found = sorted(p.name for p in BENCH.glob("*.py") if p.name not in NOT_BENCHMARKS)
    names = [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]
    if with_planner and (BENCH / "planner.py").exists():
        names.append("planner.py")
    if only:
        unknown = [n for n in only if n not in names and not (BENCH / n).exists()]
        if unknown:
            sys.exit(f"no such benchmark in {BENCH}: {', '.join(unknown)}")
        names = list(only)
    return [BENCH / n for n in names]


def options(script: Path, quick: bool) -> list[str]:
    if not quick:
        return []
    return ["--quick"] if accepts_quick(script) else list(QUICK_OPTIONS.get(script.name, []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs of every script")
    parser.add_argument("--with-planner", action="store_true", help="also run planner.py (about 35 minutes)")
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", help="run only these scripts (e.g. compute.py)")
    args = parser.parse_args()
    root = BENCH.parent
    summary = []
    for script in scripts(args.with_planner, args.only):
        command = [sys.executable, str(script.relative_to(root)), *options(script, args.quick)]
        shown = " ".join(command[1:])
        print(f"\n{'=' * 100}\n== {shown}\n{'=' * 100}", flush=True)
        start = time.perf_counter()
        code = subprocess.run(command, cwd=root).returncode
        seconds = time.perf_counter() - start
        summary.append((shown, code, seconds))
        print(f"-- {shown}: exit code {code}, {seconds:.0f} s", flush=True)
    print(f"\n{'=' * 100}\n== summary\n{'=' * 100}")
    for shown, code, seconds in summary:
        failed = f"  (exit code {code})" if code else ""
        print(f"{'ok    ' if code == 0 else 'FAILED'}  {seconds:6.0f} s  {shown}{failed}")
    sys.exit(1 if any(code for _, code, _ in summary) else 0)


if __name__ == "__main__":
    main()
