"""Run the segtrain command line in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``segtrain ARGS`` through ``python -m segtrain.cli.app``; text output captured."""
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli.app", *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
    )
