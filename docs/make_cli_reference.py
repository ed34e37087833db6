"""Write docs/cli.md, the command-line reference, from the ``segtrain`` command tree itself.

Every command and sub-group that :mod:`segtrain.cli.app` registers gets a section: its usage
line, its help text, and a table of its arguments and options (name, value type, default, help).
Nothing is typed by hand and no terminal formatter is used, so the page does not depend on the
terminal width (``COLUMNS``) or on anything else in the environment.
``tests/docs/test_cli_reference.py`` fails when docs/cli.md differs from what this script writes.

Usage, from the repository root::

    python docs/make_cli_reference.py          # rewrite docs/cli.md
    python docs/make_cli_reference.py --check  # only compare; exit status 1 if docs/cli.md differs
"""

from __future__ import annotations

import inspect
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"
PROG = "segtrain"
REGENERATE = "python docs/make_cli_reference.py"

if str(ROOT / "src") not in sys.path:  # document this working tree, not another installed copy
    sys.path.insert(0, str(ROOT / "src"))


def command_tree() -> Any:
    """The click command that ``segtrain`` runs (a group holding every command)."""
    import typer

    from segtrain.cli.app import app

    return typer.main.get_command(app)


def walk(command=None, ctx=None) -> Iterator[tuple[Any, Any]]:
    """``(command, context)`` for the root and every visible command below it, depth first, in
    the order the app registers them. ``context.command_path`` is e.g. ``segtrain synth horizon``."""
    import typer

    command = command_tree() if command is None else command
    ctx = typer.Context(command, info_name=PROG) if ctx is None else ctx
    yield command, ctx
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from walk(sub, typer.Context(sub, info_name=name, parent=ctx))


# ---------------------------------------------------------------------------------------------
# Markdown helpers

_ESCAPED = re.compile(r"([\\`*<>|])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def escape(text: str) -> str:
    """Help text as literal Markdown: ``<stem>`` stays text, ``|`` does not split a table cell."""
    return _ESCAPED.sub(lambda m: "\\" + m.group(0), text)


def code(text: str) -> str:
    """``text`` as an inline code span (cells of a table: ``|`` escaped)."""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}".replace("|", "\\|")


def anchor(title: str) -> str:
    """The fragment GitHub gives a heading: lower case, spaces to hyphens, punctuation dropped."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def help_text(command) -> str:
    """A command's help as click shows it: dedented, cut at ``\\f``, ``\\b`` markers dropped."""
    text = inspect.cleandoc(command.help or "").split("\f")[0]
    return "\n".join(line for line in text.splitlines() if line.strip() != "\b").strip()


def summary(command) -> str:
    """The first paragraph of a command's help, on one line (never cut by a width)."""
    return " ".join(help_text(command).split("\n\n")[0].split())


# ---------------------------------------------------------------------------------------------
# parameters

def names(param) -> str:
    """``-o, --out`` for options (short names first, as ``--help`` shows them); ``data`` for arguments."""
    if param.param_type_name == "argument":
        return param.display_name_raw
    ordered = sorted(param.opts, key=lambda opt: len(opt) - len(opt.lstrip("-")))
    text = ", ".join(ordered)
    if param.secondary_opts:
        text += " / " + ", ".join(param.secondary_opts)
    return text


def value_type(param, ctx) -> str:
    """What the parameter takes: ``flag`` for on/off options, else the type ``--help`` shows."""
    if getattr(param, "is_flag", False) and not param.secondary_opts:
        return "flag"
    if param.metavar is not None:
        return param.metavar
    label = param.display_type(ctx).strip("<>")
    listed = re.fullmatch(r"list\[(.+)\]", label)
    if listed:
        label = f"{listed[1].lower()} ..."
    elif param.nargs != 1:
        label += " ..."
    return label


def _default_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_default_text(v) for v in value)
    if isinstance(value, Enum):
        return str(value.value)
    if callable(value):
        return "(dynamic)"
    return str(value)


def default(param, ctx) -> str:
    """``required``, the default value, or empty when there is none (None, or a flag that is off)."""
    if param.required:
        return "required"
    value = param.get_default(ctx, call=False)
    if value is None or value == [] or value == ():
        return ""
    if getattr(param, "is_flag", False) and value is False and not param.secondary_opts:
        return ""
    return code(_default_text(value))


def description(param) -> str:
    text = escape(" ".join((param.help or "").split()))
    envvar = getattr(param, "envvar", None)
    if envvar:
        text += " Environment: " + ", ".join(code(v) for v in ([envvar] if isinstance(envvar, str) else envvar)) + "."
    return text


def parameter_table(params, ctx, heading: str) -> list[str]:
    rows = [p for p in params if not p.hidden]
    if not rows:
        return []
    lines = [f"{heading}:", "", "| name | value | default | description |", "| --- | --- | --- | --- |"]
    for p in rows:
        lines.append(f"| {code(names(p))} | {value_type(p, ctx)} | {default(p, ctx)} | {description(p)} |")
    return lines + [""]


# ---------------------------------------------------------------------------------------------
# the page

def section(command, ctx) -> list[str]:
    path = ctx.command_path
    usage = " ".join([path, *command.collect_usage_pieces(ctx)])
    lines = [f"## {path}", "", "```text", usage, "```", ""]
    if getattr(command, "deprecated", False):
        lines += ["Deprecated.", ""]
    text = help_text(command)
    if text:
        lines += [escape(text), ""]
    lines += parameter_table([p for p in command.params if p.param_type_name == "argument"], ctx, "Arguments")
    lines += parameter_table([p for p in command.params if p.param_type_name != "argument"], ctx, "Options")
    subcommands = [(name, sub) for name, sub in getattr(command, "commands", {}).items() if not sub.hidden]
    if subcommands:
        lines += ["Commands:", "", "| command | what it does |", "| --- | --- |"]
        for name, sub in subcommands:
            title = f"{path} {name}"
            lines.append(f"| [{name}](#{anchor(title)}) | {escape(summary(sub))} |")
        lines.append("")
    return lines


def render() -> str:
    """The whole of docs/cli.md."""
    from segtrain.cli import app as app_module

    sections = list(walk())
    intro = [p for p in inspect.cleandoc(app_module.__doc__ or "").split("\n\n")[1:] if p.strip()]
    lines = [
        "# Command-line reference",
        "",
        f"Generated by `docs/make_cli_reference.py` from the command tree of `segtrain` itself; do not edit by "
        f"hand. After changing the command line, run `{REGENERATE}` (`--check` only compares): "
        "`tests/docs/test_cli_reference.py` fails while this page is out of date.",
        "",
        "Every command also takes `--help`. " + " ".join(" ".join(p.split()) for p in intro),
        "",
        "Commands:",
        "",
    ]
    for command, ctx in sections[1:]:
        depth = len(ctx.command_path.split()) - 2
        lines.append(f"{'  ' * depth}- [{ctx.command_path}](#{anchor(ctx.command_path)})")
    lines.append("")
    for command, ctx in sections:
        lines += section(command, ctx)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    unknown = [a for a in argv if a != "--check"]
    if unknown:
        sys.stderr.write(f"usage: {REGENERATE} [--check]; unknown argument {unknown[0]!r}\n")
        return 2
    text = render()
    current = TARGET.read_text() if TARGET.exists() else None
    relative = TARGET.relative_to(ROOT).as_posix()
    if "--check" in argv:
        if current != text:
            sys.stderr.write(f"{relative} is out of date: run `{REGENERATE}`\n")
            return 1
        print(f"{relative} is current")
        return 0
    if current == text:
        print(f"{relative} is current")
    else:
        TARGET.write_text(text)
        print(f"{relative} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
