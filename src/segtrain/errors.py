"""The one exception type for mistakes a user can fix.

Raising :class:`UserError` anywhere below the CLI ends the command with exit code 2
and the message on one line of stderr; any other exception is a bug (exit code 1).
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (data, paths, options) that the user can fix.

    The message names what is wrong, where, and the fix, on one line.
    """


class DataError(UserError):
    """The dataset failed its checks; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SampleError(UserError):
    """A training sample whose files could not be loaded; one line naming the files and why.

    Build it with :func:`segtrain.data.loaders.worker_failures.sample_error`. It survives being raised in a
    DataLoader worker process: torch re-raises a worker's exception in the main process as
    ``SampleError(text)``, where ``text`` is ``"Caught SampleError in DataLoader worker process
    N.\\nOriginal Traceback ..."`` ending with ``"segtrain.errors.SampleError: <line>"``; the
    constructor recovers ``<line>`` so ``str(exc)`` is one line again, and keeps the whole text
    in ``worker_traceback`` (``None`` when raised in this process).
    """

    def __init__(self, message: str):
        line = _raised_line(message, type(self)) if message.startswith("Caught ") else None
        self.worker_traceback = message if line is not None else None
        super().__init__(message if line is None else line)


def _raised_line(text: str, cls: type) -> str | None:
    """The message of the last ``cls`` in a formatted traceback (``None`` if absent)."""
    if "\nOriginal Traceback" not in text:
        return None
    prefixes = (f"{cls.__module__}.{cls.__qualname__}: ", f"{cls.__qualname__}: ")
    found = [line[line.index(": ") + 2:] for line in text.splitlines() if line.startswith(prefixes)]
    return found[-1] if found else None
