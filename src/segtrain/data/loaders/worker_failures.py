"""Data-loading failures that explain themselves.

Three things go wrong with DataLoader worker processes, and torch reports each of them
poorly:

* a sample cannot be loaded (a truncated image, a bad mask): the worker's exception comes
  back as a multi-line "Caught ... in DataLoader worker process 0" traceback.
  :class:`NamedDataset` turns any exception of a sample into a :class:`SampleError`, one line
  naming the file(s) (built by :func:`sample_error`), which survives the trip back;
* a worker dies (killed for memory, a bus error from a small ``/dev/shm``, too many open
  files): torch raises ``RuntimeError("DataLoader worker (pid(s) N) exited unexpectedly")``.
  :func:`explain_loader_error` maps these to one :class:`~segtrain.errors.UserError` line with
  the cause and the fix;
* workers cannot start at all (no process or semaphore can be created): :func:`usable_workers`
  tries them once, quickly, before training and says to fall back to the main process.

Nothing here runs at import time.
"""

from __future__ import annotations

import errno
import re
import shlex
import shutil
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from segtrain.errors import SampleError, UserError

__all__ = ["NamedDataset", "SampleError", "explain_loader_error", "sample_error", "usable_workers"]

# the fix every worker failure ends with (segtrain has no CLI flag for the number of workers)
_MAIN_PROCESS_FIX = "retry loading in the main process: set 'num_workers: 0' under 'train:' in a --config YAML"

_MAX_REASON = 200  # characters of an exception's message kept in a one-line error
_PROBE_ITEMS_PER_WORKER = 1  # one batch per worker proves each one started and can send a tensor


def _message_line(exc: BaseException) -> str:
    """The first non-empty line of ``exc``'s message; for an exception torch re-raised from a
    worker (``"Caught X in DataLoader worker process N. Original Traceback ..."``), the message
    of the traceback's last line instead."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Caught ") and len(lines) > 1 and lines[1].startswith("Original Traceback"):
        return lines[-1].partition(": ")[2]
    return lines[0]


def _first_line(exc: BaseException) -> str:
    """``"Type: message"`` on one line, shortened to ``_MAX_REASON`` characters."""
    message = _message_line(exc)
    return _shorten(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _relative(path: Path | str, root: Path | str | None) -> str:
    if root is None or not isinstance(path, Path | str):
        return str(path)
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def sample_error(
    paths: Sequence[Path | str], exc: BaseException, *, root: Path | str | None = None
) -> SampleError:
    """The one-line :class:`SampleError` for a sample that failed to load.

    Parameters
    ----------
    paths : sequence of Path or str
        The sample's files: the image first, then its mask file(s). Empty when unknown.
    exc : BaseException
        What loading raised.
    root : Path or str, optional
        The dataset folder: paths are shown relative to it, and the suggested check command
        names it (``DATA`` when absent).

    Returns
    -------
    SampleError
        ``"<image> (mask <mask>): cannot be read while training: <Type>: <first line>; run
        'segtrain check <root>' and fix or remove the file"``. A :class:`UserError` already
        says what is wrong and the fix in its own words, so its line replaces the last two
        parts.
    """
    names = [_relative(p, root) for p in paths]
    where = names[0] if names else "a sample"
    if len(names) > 1:
        where += f" ({'mask' if len(names) == 2 else 'masks'} {', '.join(names[1:])})"
    if isinstance(exc, UserError):
        own = _message_line(exc) or type(exc).__name__
        return SampleError(f"{where}: cannot be read while training: {_shorten(own)}")
    data = "DATA" if root is None else shlex.quote(str(root))
    return SampleError(
        f"{where}: cannot be read while training: {_first_line(exc)}; "
        f"run 'segtrain check {data}' and fix or remove the file"
    )


class NamedDataset(Dataset):
    """A map-style dataset whose items name their files when they fail to load.

    Parameters
    ----------
    dataset : Dataset
        The dataset to wrap; ``len`` and attribute reads (``.samples`` ...) go to it.
    describe : callable
        ``describe(item) -> list[Path]``: the files behind ``item`` (the image first, then its
        mask file(s)). Called only when loading ``item`` failed.
    root : Path or str, optional
        The dataset folder, for shorter paths in the message (see :func:`sample_error`).

    Notes
    -----
    ``dataset[item]`` raising anything but :class:`SampleError` (or ``IndexError`` for an int
    past the end, which ends plain iteration) raises ``sample_error(describe(item), exc)`` from
    it. The wrapper pickles when ``dataset`` and ``describe`` do (spawn/forkserver workers).
    """

    def __init__(
        self,
        dataset: Any,
        describe: Callable[[Any], Sequence[Path | str]],
        root: Path | str | None = None,
    ):
        self.dataset, self.describe, self.root = dataset, describe, root

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        try:
            return self.dataset[item]
        except SampleError:
            raise
        except Exception as exc:
            if isinstance(exc, IndexError) and isinstance(item, int) and not -len(self) <= item < len(self):
                raise
            try:
                paths = list(self.describe(item))
            except Exception:  # a broken describe must not hide the real failure
                paths = [f"item {item!r}"]
            raise sample_error(paths, exc, root=self.root) from exc

    def __getattr__(self, name: str):
        # only reached for attributes missing on the wrapper; the guard keeps unpickling
        # (which looks attributes up before __dict__ is filled) from recursing
        if name.startswith("__") or name in ("dataset", "describe", "root"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


# --- worker failures -------------------------------------------------------------------------

_KILLED = re.compile(r"DataLoader worker \(pid (\d+)\) is killed by signal: ([^.]+)\.")
_EXIT_CODE = re.compile(r"DataLoader worker \(pid (\d+)\) exited unexpectedly with exit code (-?\d+)")
_EXITED = re.compile(r"DataLoader worker \(pid\(s\) ([\d, ]+)\) exited unexpectedly")
_TIMEOUT = re.compile(r"DataLoader timed out after ([\d.]+) seconds")
_SHM = re.compile(r"unable to [^<\n]*</torch_")  # torch's shared-memory file errors name </torch_...>
_TOO_MANY_FILES = ("Too many open files", "received 0 items of ancdata")
_CHAIN_DEPTH = 8  # causes/contexts followed: torch chains the specific error under the generic one


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc is not None and len(chain) < _CHAIN_DEPTH and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _signal_number(name: str) -> tuple[int, str] | None:
    """``(number, "SIGNAME")`` for a ``strsignal`` description such as ``"Killed"``."""
    for sig in signal.Signals:
        if signal.strsignal(sig) == name:
            return int(sig), sig.name
    return None


def _shm_size() -> str:
    try:
        usage = shutil.disk_usage("/dev/shm")
    except OSError:
        return ""
    return f", {usage.free / 2**20:.0f} of {usage.total / 2**20:.0f} MiB free"


def _open_files_limit() -> str:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return ""
    return f" (limit {soft})"


def _killed(number: int | None, name: str, description: str) -> str:
    what = f"signal {number} ({name})" if number is not None else f"signal '{description}'"
    if name == "SIGKILL":
        cause = "usually the system ran out of memory (each worker holds the images it loads)"
    elif name == "SIGBUS":
        cause = (f"usually shared memory is too small (/dev/shm{_shm_size()}): in Docker run with "
                 "--shm-size=8g or --ipc=host")
    elif name == "SIGSEGV":
        cause = "a crash in native code (an image decoder or a compiled extension)"
    else:
        cause = "stopped from outside or by native code"
    return f"a data-loading worker was killed by {what}; {cause}; {_MAIN_PROCESS_FIX}"


def _explain_one(exc: BaseException) -> tuple[bool, str] | None:
    """``(generic, line)`` for one exception of the chain; ``generic`` for the bare "exited"."""
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno == errno.EMFILE) or any(s in text for s in _TOO_MANY_FILES):
        return False, (f"too many open files{_open_files_limit()}, which data-loading workers use to "
                       f"pass batches; raise the limit with 'ulimit -n 65536' in the shell, or {_MAIN_PROCESS_FIX}")
    if _SHM.search(text) or ("/dev/shm" in text and "No space left" in text):
        return False, (f"data-loading workers ran out of shared memory (/dev/shm{_shm_size()}); in Docker "
                       f"run with --shm-size=8g or --ipc=host, or {_MAIN_PROCESS_FIX}")
    if match := _KILLED.search(text):
        description = match.group(2).strip()
        number, name = _signal_number(description) or (None, "")
        return False, _killed(number, name, description)
    if match := _EXIT_CODE.search(text):
        return False, (f"a data-loading worker exited with code {match.group(2)} without reporting an "
                       f"error; to see the error, {_MAIN_PROCESS_FIX}")
    if match := _EXITED.search(text):
        return True, (f"a data-loading worker (pid {match.group(1)}) exited unexpectedly; "
                      f"to see the error, {_MAIN_PROCESS_FIX}")
    if match := _TIMEOUT.search(text):
        return False, f"a data-loading worker delivered no batch within {match.group(1)} s; {_MAIN_PROCESS_FIX}"
    return None


def explain_loader_error(exc: BaseException) -> UserError | None:
    """One clear :class:`UserError` for a DataLoader worker failure, ``None`` for anything else.

    Parameters
    ----------
    exc : BaseException
        An exception from iterating a DataLoader (typically from ``trainer.fit``).

    Returns
    -------
    UserError or None
        The cause and the fix on one line for a worker killed by a signal (``SIGKILL``: out of
        memory; ``SIGBUS``: ``/dev/shm`` too small; ...), a worker that exited, shared memory
        that ran out, too many open files or a loader timeout; ``None`` for a
        :class:`UserError` (it explains itself already) and for other exceptions, which the
        caller should re-raise unchanged.

    Notes
    -----
    torch raises ``"DataLoader worker (pid(s) N) exited unexpectedly"`` from the specific
    ``"DataLoader worker (pid N) is killed by signal: Killed."``, so the most specific message
    found along ``__cause__``/``__context__`` wins.
    """
    if isinstance(exc, UserError):
        return None
    explained = [found for found in map(_explain_one, _chain(exc)) if found is not None]
    if not explained:
        return None
    _, line = min(explained, key=lambda found: found[0])  # the first specific one, if any
    return UserError(line)


# --- starting workers ------------------------------------------------------------------------


class _Probe(Dataset):
    """A tiny in-memory dataset (module level, so spawn/forkserver workers can unpickle it)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        return torch.full((4,), float(index))  # a tensor: collated into shared memory as in training


def usable_workers(
    requested: int, timeout: float = 20.0, multiprocessing_context: Any = None
) -> tuple[int, str | None]:
    """How many data-loading workers to use: ``requested`` if they start, else 0 and why.

    Parameters
    ----------
    requested : int
        Worker processes wanted; 0 returns ``(0, None)`` without starting anything.
    timeout : float
        Seconds to wait for each worker's batch.
    multiprocessing_context : optional
        Passed to the DataLoader; ``None`` is torch's default, as the training loaders use.

    Returns
    -------
    workers : int
        ``requested`` when every worker started and sent one tensor batch through shared
        memory, else 0.
    reason : str or None
        ``None``, or one line saying the workers could not start (with the error) and that
        loading falls back to the main process.

    Notes
    -----
    One probe starts ``requested`` workers on a tiny in-memory dataset and reads one batch from
    each (about 0.1 s with 2 forked workers), then shuts them down. Pass the context the
    training loaders will use: with spawn or forkserver, the probe also pays their start-up.
    """
    if requested <= 0:
        return 0, None
    from torch.utils.data import DataLoader

    iterator = None
    try:
        with warnings.catch_warnings():
            # torch warns when workers outnumber cores; the real loader says so itself
            warnings.filterwarnings("ignore", message="This DataLoader will create")
            loader = DataLoader(
                _Probe(requested * _PROBE_ITEMS_PER_WORKER),
                batch_size=1,
                num_workers=requested,
                timeout=timeout,
                multiprocessing_context=multiprocessing_context,
            )
            iterator = iter(loader)
            for _ in iterator:
                pass
    except (OSError, RuntimeError, ImportError, EOFError) as exc:
        _free_frames(exc)
        plural = "s" if requested > 1 else ""
        return 0, (f"{requested} data-loading worker{plural} could not start ({_first_line(exc)}); "
                   "loading data in the main process instead (num_workers=0), which is slower")
    finally:
        del iterator  # shuts the workers down now, not at garbage collection
    return requested, None


def _free_frames(exc: BaseException) -> None:
    """Free the loader iterator that ``exc``'s traceback holds, shutting its workers down now.

    The traceback's frames hold the (maybe half-built) iterator in a reference cycle; left to
    the garbage collector, its shutdown would wait 5 s for workers that never get the stop
    signal. A half-built one also fails in its ``__del__`` (``AttributeError:
    '_workers_status'``) after terminating the workers it started; that noise is dropped.
    """
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if not (unraisable.exc_type is AttributeError
                and getattr(unraisable.object, "__qualname__", "") == "_MultiProcessingDataLoaderIter.__del__"):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        traceback.clear_frames(exc.__traceback__)
    finally:
        sys.unraisablehook = previous
