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
