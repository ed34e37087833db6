"""Rewrite the script outputs quoted in the guides (docs/*.md) from the scripts themselves.

A quoted output is a fenced ``text`` block right after a line
``<!-- output of docs/examples/NAME.py -->``; it holds that script's complete standard output.
tests/docs/test_examples.py checks that every such block equals what its script prints now.

Usage, from the repository root::

    python docs/sync_outputs.py          # rewrite the blocks that changed
    python docs/sync_outputs.py --check  # only list them; exit status 1 if any differs
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- output of (docs/examples/[A-Za-z0-9_]+\.py) -->$")


def run(script: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / script)], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def sync(path: Path, check: bool) -> list[str]:
    """The scripts whose block in ``path`` differs from their output; rewritten unless ``check``."""
    lines = path.read_text().splitlines(keepends=True)
    out, changed, i = [], [], 0
    while i < len(lines):
        out.append(lines[i])
        match = MARKER.match(lines[i].rstrip("\n"))
        i += 1
        if not match:
            continue
        if i >= len(lines) or lines[i].rstrip("\n") != "```text":
            raise SystemExit(f"{path}:{i + 1}: a ```text block must follow the marker for {match[1]}")
        end = next((k for k in range(i + 1, len(lines)) if lines[k].rstrip("\n") == "```"), None)
        if end is None:
            raise SystemExit(f"{path}:{i + 1}: the block for {match[1]} is not closed")
        quoted, printed = "".join(lines[i + 1 : end]), run(match[1])
        if quoted != printed:
            changed.append(match[1])
        out.extend([lines[i], printed, lines[end]])
        i = end + 1
    if changed and not check:
        path.write_text("".join(out))
    return changed


if __name__ == "__main__":
    check = "--check" in sys.argv[1:]
    stale = [f"{guide.relative_to(ROOT)}: {script}" for guide in sorted((ROOT / "docs").glob("*.md"))
             for script in sync(guide, check)]
    verb = "differs" if check else "rewritten"
    print("\n".join(f"{line} ({verb})" for line in stale) if stale else "all quoted outputs are current")
    sys.exit(1 if stale and check else 0)
