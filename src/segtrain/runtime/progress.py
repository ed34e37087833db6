"""Progress bars for long work outside training (``predict``, ``evaluate``, ``check``): on a terminal only.

:func:`wanted` is the one predicate: a bar is shown when stderr is a terminal and the work is long
(more than :data:`MIN_ITEMS` files, or one file of at least :data:`LARGE_BYTES`), and never when
``SEGTRAIN_PROGRESS=0``. The bar is drawn on stderr, so ``--json`` output on stdout stays one JSON
object; while it shows, segtrain's messages are printed above it instead of through it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

MIN_ITEMS = 4
"""More files than this get a bar."""
LARGE_BYTES = 64 * 2**20
"""One file at least this large (64 MiB) gets a bar too: a large image takes a while."""

logger = logging.getLogger("segtrain")


def wanted(count: int, largest_bytes: int = 0, stream: IO | None = None) -> bool:
    """Whether work over ``count`` files (the largest ``largest_bytes`` long) shows a bar on ``stream`` (stderr)."""
    if os.environ.get("SEGTRAIN_PROGRESS", "").strip() == "0":
        return False
    stream = sys.stderr if stream is None else stream
    try:
        terminal = bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        terminal = False
    return terminal and (count > MIN_ITEMS or largest_bytes >= LARGE_BYTES)


def largest_file(paths) -> int:
    """The size in bytes of the largest of ``paths`` (0 when none can be read)."""
    sizes = []
    for path in paths:
        try:
            sizes.append(os.stat(path).st_size)
        except (OSError, TypeError, ValueError):
            continue
    return max(sizes, default=0)


class _Above(logging.Handler):
    """segtrain's messages printed above the bar (the bar is redrawn below them)."""

    def __init__(self, console):
        super().__init__()
        self.console = console
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(description: str, total: int, show: bool, stream: IO | None = None) -> Iterator[Callable[[], None]]:
    """``advance()`` to call once per item done; a bar on ``stream`` (stderr) when ``show``, else nothing."""
    if not show:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    console = Console(file=sys.stderr if stream is None else stream, force_terminal=stream is not None)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    handlers = logger.handlers[:]
    with Progress(*columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False) as bar:
        task = bar.add_task(description, total=total)
        if handlers:
            logger.handlers[:] = [_Above(console)]
        try:
            yield lambda: bar.advance(task)
        finally:
            if handlers:
                logger.handlers[:] = handlers
