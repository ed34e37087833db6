"""The exit-code policy of the ``segtrain`` command.

0 success; 2 a problem the user can fix, with one line per problem on stderr; 1 an internal error
(a bug: the traceback is shown); 130 interrupted.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from typer import Abort, BadParameter, Typer, TyperException

from segtrain import api
from segtrain.errors import DataError, UserError


def _usage_line(exc: TyperException) -> str:
    """A usage error as one line; a value typer could not parse is named with what was typed."""
    message = exc.format_message()
    errors = getattr(exc.__cause__, "errors", None)  # typer parses values with pydantic
    if isinstance(exc, BadParameter) and callable(errors) and errors():
        first = errors()[0]
        kind = {"float_parsing": "float", "int_parsing": "integer"}.get(first.get("type"))
        detail = f"is not a valid {kind}." if kind else f"is not valid: {first.get('msg')}"
        message = message[: message.index(": ") + 2] + f"{first.get('input')!r} {detail}"
    elif getattr(exc, "ctx", None) is not None:
        message = f"{message.rstrip('.')}; see '{exc.ctx.command_path} --help'"
    return message


def _out_flag(app: Typer) -> str | None:
    """The option of the command being run that names where it writes (``--out``), or None when it has none
    (``evaluate``): its hints name only the options it has."""
    import typer.main

    command = typer.main.get_command(app)
    for word in sys.argv[1:]:
        if word.startswith("-") or not hasattr(command, "commands"):
            break
        command = command.commands.get(word, command)
    opts = {opt for param in getattr(command, "params", ()) for opt in getattr(param, "opts", ())}
    return "--out" if "--out" in opts or hasattr(command, "commands") else None


def run(app: Typer) -> NoReturn:
    """Run ``app`` and exit: a problem the user can fix exits with code 2 and one line on stderr.

    Such problems are :class:`UserError` (one line per problem of a :class:`DataError`), an
    OSError on an output path (full disk, no permission, read-only, a file in the way) and a
    usage error (an unknown option, ``--lr abc``). A run folder the command created is removed
    again, so a refused command changes nothing on disk. Ctrl-C exits with code 130 and keeps
    what was written; during training (``SystemExit(130)`` with a ``line``, see
    ``segtrain.engine.callbacks.TrainingInterrupted``) one line says where it stopped and how to resume. ``--help`` exits 0; no arguments show
    the help (exit code 2); anything else is a bug and shows its traceback (exit code 1).
    """
    mark, code, lines, interrupted = api.created_mark(), None, [], ""
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        lines = exc.problems if isinstance(exc, DataError) else [str(exc)]
    except OSError as exc:
        line = api.output_error(exc, _out_flag(app))
        if line is None:
            raise
        lines = [line]
    except TyperException as exc:  # usage errors, raised as they are without standalone mode
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            sys.exit(2)
        lines = [_usage_line(exc)]
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exc:  # Ctrl-C during training: it says where it stopped and how to resume
        if exc.code != 130:
            raise
        code, interrupted = 130, " ".join(str(getattr(exc, "line", "")).splitlines())
    except Abort:  # end of input at a prompt
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    if code == 130:  # typer turns a bare Ctrl-C into exit code 130
        sys.stderr.write(f"interrupted: {interrupted}\n" if interrupted else "interrupted\n")
        sys.exit(130)
    if not lines:
        sys.exit(code if isinstance(code, int) else 0)
    api.remove_created(mark)
    for line in lines:
        sys.stderr.write("error: " + " ".join(str(line).splitlines()) + "\n")
    sys.exit(2)
