import errno
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from pathlib import Path

import pytest
import torch
from torch._utils import ExceptionWrapper
from torch.utils.data import DataLoader, Dataset, get_worker_info

from segtrain.data.loaders.worker_failures import (
    NamedDataset,
    SampleError,
    explain_loader_error,
    sample_error,
    usable_workers,
)
from segtrain.data.readers import ReadError
from segtrain.errors import UserError

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fork start method and signals")

ROOT = Path("data")
EXPECTED = (
    "images/frame_002.png (mask masks/frame_002.png): cannot be read while training: "
    "OSError: image file is truncated; run 'segtrain check data' and fix or remove the file"
)


class Frames(Dataset):
    """Four items; item 2 is a truncated image. Module level, so workers can use it."""

    samples = [f"frame_{i:03d}" for i in range(4)]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        if self.samples[index] == "frame_002":
            raise OSError("image file is truncated")
        return torch.zeros(2)


def describe(index):
    stem = Frames.samples[index]
    return [ROOT / "images" / f"{stem}.png", ROOT / "masks" / f"{stem}.png"]


def named_frames():
    return NamedDataset(Frames(), describe, root=ROOT)


def error_from(loader) -> BaseException:
    """The exception iterating ``loader`` raises, its workers already shut down.

    Clearing the traceback's frames frees the loader's iterator at once; left in its
    reference cycle, the garbage collector would later stall 5 s shutting the worker down.
    """
    try:
        for _ in loader:
            pass
    except Exception as exc:
        traceback.clear_frames(exc.__traceback__)
        return exc
    raise AssertionError("the loader raised nothing")


@posix_only
def test_worker_exception_is_one_line_naming_the_file():
    error = error_from(DataLoader(named_frames(), num_workers=1, multiprocessing_context="fork"))
    assert type(error) is SampleError
    assert str(error) == EXPECTED
    assert "Caught SampleError in DataLoader worker process 0" in error.worker_traceback
    assert explain_loader_error(error) is None  # a user error explains itself


def test_main_process_exception_is_the_same_line():
    with pytest.raises(SampleError) as caught:
        list(DataLoader(named_frames(), num_workers=0))
    assert str(caught.value) == EXPECTED
    assert caught.value.worker_traceback is None
    assert isinstance(caught.value.__cause__, OSError)
    assert isinstance(caught.value, UserError)


def test_sample_error_survives_what_torch_pickles():
    # a worker sends ExceptionWrapper(exc_type, formatted traceback); the main process re-raises
    try:
        named_frames()[2]
    except SampleError:
        wrapper = ExceptionWrapper(sys.exc_info(), where="in DataLoader worker process 3")
    received = pickle.loads(pickle.dumps(wrapper))
    with pytest.raises(SampleError) as caught:
        received.reraise()
    assert str(caught.value) == EXPECTED
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is SampleError and str(again) == EXPECTED


def test_sample_error_plain_construction_is_unchanged():
    assert str(SampleError("x.png: bad")) == "x.png: bad"
    assert str(SampleError("Caught my eye\nsecond line")) == "Caught my eye\nsecond line"
    assert SampleError("x.png: bad").worker_traceback is None


def test_sample_error_message_forms():
    assert str(sample_error(["a.png"], ValueError(""))) == (
        "a.png: cannot be read while training: ValueError; run 'segtrain check DATA' and fix or remove the file"
    )
    error = sample_error(
        [Path("/d/images/a.png"), Path("/d/masks/a_x.png"), Path("/d/masks/a_y.png")],
        KeyError("first\nsecond"), root="/d",
    )
    assert str(error).startswith("images/a.png (masks masks/a_x.png, masks/a_y.png): cannot be read")
    assert "KeyError: 'first" in str(error) and "\n" not in str(error)
    assert str(sample_error(["a.png"], UserError(""))) == "a.png: cannot be read while training: UserError"
    spaced = sample_error(["elsewhere/a.png"], OSError("x" * 500), root="my data")
    assert "elsewhere/a.png" in str(spaced) and "segtrain check 'my data'" in str(spaced)
    assert len(str(spaced)) < 350


def test_user_error_of_a_sample_keeps_its_own_fix():
    read = ReadError(ROOT / "images/frame_002.png", "truncated or corrupt file (image file is truncated)")
    error = sample_error(describe(2), read, root=ROOT)
    assert str(error) == (
        "images/frame_002.png (mask masks/frame_002.png): cannot be read while training: "
        "data/images/frame_002.png: truncated or corrupt file (image file is truncated); "
        "re-export the file or remove it"
    )


def test_named_dataset_delegates_and_pickles():
    named = named_frames()
    assert len(named) == 4 and named.samples == Frames.samples
    assert torch.equal(named[1], torch.zeros(2))
    with pytest.raises(AttributeError):
        named.no_such_attribute
    copy = pickle.loads(pickle.dumps(named))
    assert len(copy) == 4 and copy.root == ROOT
    with pytest.raises(IndexError):  # plain iteration ends on the IndexError past the end
        named[4]


def test_named_dataset_with_failing_describe_still_names_the_item():
    named = NamedDataset(Frames(), describe=lambda item: 1 / 0)
    with pytest.raises(SampleError, match=r"^item 2: cannot be read while training: OSError"):
        named[2]


KILLED = "DataLoader worker (pid 4242) is killed by signal: Killed. "
BUS = (
    "DataLoader worker (pid 4242) is killed by signal: Bus error. It is possible that dataloader's "
    "workers are out of shared memory. Please try to raise your shared memory limit."
)
EXIT_CODE = (
    "DataLoader worker (pid 4242) exited unexpectedly with exit code 3. Details are lost due to "
    "multiprocessing. Rerunning with num_workers=0 may give better error trace."
)
EXITED = "DataLoader worker (pid(s) 4242) exited unexpectedly"
TOO_MANY = (
    "Too many open files. Communication with the workers is no longer possible. Please increase the "
    "limit using `ulimit -n` in the shell or change the sharing strategy by calling "
    "`torch.multiprocessing.set_sharing_strategy('file_system')` at the beginning of your code"
)
SHM_FULL = (
    "Caught RuntimeError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
    '  File "worker.py", line 1, in <module>\nRuntimeError: unable to write to file </torch_2030_1467_0>: '
    "No space left on device (28)"
)


def _chained(outer: str, inner: str) -> RuntimeError:
    try:
        try:
            raise RuntimeError(inner)
        except RuntimeError as cause:
            raise RuntimeError(outer) from cause
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_chained(EXITED, KILLED), "killed by signal 9 (SIGKILL); usually the system ran out of memory"),
        (_chained(EXITED, BUS), "killed by signal 7 (SIGBUS); usually shared memory is too small (/dev/shm"),
        (RuntimeError(KILLED.replace("Killed", "Segmentation fault")), "signal 11 (SIGSEGV)"),
        (_chained(EXITED, EXIT_CODE), "a data-loading worker exited with code 3 without reporting an error"),
        (RuntimeError(EXITED), "a data-loading worker (pid 4242) exited unexpectedly"),
        (RuntimeError(TOO_MANY), "too many open files"),
        (OSError(errno.EMFILE, "Too many open files"), "raise the limit with 'ulimit -n 65536'"),
        (RuntimeError("received 0 items of ancdata"), "too many open files"),
        (RuntimeError(SHM_FULL), "data-loading workers ran out of shared memory (/dev/shm"),
        (RuntimeError("DataLoader timed out after 20 seconds"), "delivered no batch within 20 s"),
    ],
)
def test_explain_loader_error_on_torch_messages(exc, expected):
    explained = explain_loader_error(exc)
    assert type(explained) is UserError
    assert expected in str(explained)
    assert "\n" not in str(explained)
    assert str(explained).endswith("set 'num_workers: 0' under 'train:' in a --config YAML")


@pytest.mark.parametrize(
    "exc",
    [RuntimeError("CUDA out of memory"), ValueError("bad shape"), UserError("x: y; z"), KeyboardInterrupt()],
)
def test_explain_loader_error_ignores_other_errors(exc):
    assert explain_loader_error(exc) is None


class KillsItsWorker(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, index):
        if get_worker_info() is not None:  # never kill the test process itself
            os.kill(os.getpid(), signal.SIGKILL)
        return index


@posix_only
def test_explain_a_real_killed_worker():
    error = error_from(DataLoader(KillsItsWorker(), num_workers=1, multiprocessing_context="fork"))
    assert str(error).startswith("DataLoader worker (pid(s) ")  # what torch says
    assert "killed by signal 9 (SIGKILL)" in str(explain_loader_error(error))  # what we say


@posix_only
def test_usable_workers_start():
    assert usable_workers(2) == (2, None)
    assert multiprocessing.active_children() == []  # the probe's workers are shut down


def test_usable_workers_zero_starts_nothing(monkeypatch):
    def no_loader(*args, **kwargs):
        raise AssertionError("no DataLoader may be built for 0 workers")

    monkeypatch.setattr(torch.utils.data, "DataLoader", no_loader)
    assert usable_workers(0) == (0, None)


_FORK = sys.platform != "win32"


class _NoProcesses(multiprocessing.context.ForkContext if _FORK else object):
    """A fork context on a machine that cannot create processes (``ulimit -u`` reached)."""

    class Process(multiprocessing.context.ForkProcess if _FORK else object):
        def start(self):
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")


class _OneProcess(multiprocessing.context.ForkContext if _FORK else object):
    """A fork context that can start one process, then fails like :class:`_NoProcesses`."""

    def __init__(self):
        self.started = 0

    def Process(self, *args, **kwargs):
        context = self

        class Process(multiprocessing.context.ForkProcess):
            def start(self):
                if context.started:
                    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
                context.started += 1
                super().start()

        return Process(*args, **kwargs)


class _WorkersDie(multiprocessing.context.ForkContext if _FORK else object):
    """A fork context whose processes exit at once, before serving a batch."""

    class Process(multiprocessing.context.ForkProcess if _FORK else object):
        def run(self):
            os._exit(1)


@posix_only
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    ("context", "error"),
    [
        (_NoProcesses, "BlockingIOError: [Errno 11] Resource temporarily unavailable"),
        (_OneProcess, "BlockingIOError: [Errno 11] Resource temporarily unavailable"),
        (_WorkersDie, "RuntimeError: DataLoader worker (pid"),
    ],
)
def test_usable_workers_fall_back_when_workers_cannot_start(context, error):
    workers, reason = usable_workers(2, multiprocessing_context=context())
    assert workers == 0
    assert reason.startswith(f"2 data-loading workers could not start ({error}")
    assert reason.endswith("; loading data in the main process instead (num_workers=0), which is slower")
    assert "\n" not in reason
    assert multiprocessing.active_children() == []  # a worker that did start is gone already
