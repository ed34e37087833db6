"""docs/cli.md is what docs/make_cli_reference.py writes from the command tree now, it covers every
command the app registers, and every command answers ``--help``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from segtrain.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cli.md"
FIX = "run `python docs/make_cli_reference.py` to refresh it"


def _generator():
    spec = importlib.util.spec_from_file_location("make_cli_reference", ROOT / "docs" / "make_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _registered(command=None, path=("segtrain",)) -> list[tuple[tuple[str, ...], object]]:
    """Every command below the root, walked here without the generator: ``(path, command)``."""
    command = typer.main.get_command(app) if command is None else command
    found = []
    for name, sub in getattr(command, "commands", {}).items():
        found.append(((*path, name), sub))
        found.extend(_registered(sub, (*path, name)))
    return found


COMMANDS = _registered()


def _section(text: str, title: str) -> str:
    """The part of the page under ``## title``, up to the next section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/cli.md has no section '## {title}'; {FIX}"
    return match[1]


def test_page_is_what_the_generator_writes():
    assert PAGE.exists(), f"docs/cli.md is missing; {FIX}"
    assert PAGE.read_text() == _generator().render(), f"docs/cli.md differs from the command line; {FIX}"


def test_page_does_not_depend_on_the_terminal(monkeypatch):
    generator = _generator()
    monkeypatch.setenv("COLUMNS", "200")
    wide = generator.render()
    monkeypatch.setenv("COLUMNS", "24")
    monkeypatch.setenv("LINES", "10")
    assert generator.render() == wide


def test_every_registered_command_has_a_section():
    text = PAGE.read_text()
    assert {"check", "plan", "train", "evaluate", "predict", "doctor", "report", "demo", "synth"} <= {
        path[1] for path, _ in COMMANDS}
    for path, command in COMMANDS:
        if command.hidden:
            continue
        title = " ".join(path)
        section = _section(text, title)
        assert f"```text\n{title} " in section, f"the section of {title} has no usage line; {FIX}"


def test_every_train_option_appears():
    train = dict(COMMANDS)[("segtrain", "train")]
    section = _section(PAGE.read_text(), "segtrain train")
    options = [opt for p in train.params if p.param_type_name == "option" for opt in (*p.opts, *p.secondary_opts)]
    assert "--resume" in options and "--budget" in options
    for opt in options:
        assert re.search(rf"`[^`]*(?<![\w-]){re.escape(opt)}(?![\w-])[^`]*`", section), (
            f"{opt} of segtrain train is not in docs/cli.md; {FIX}")


@pytest.mark.parametrize("path", [path[1:] for path, _ in COMMANDS], ids=lambda p: " ".join(p))
def test_help_exits_0(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and " ".join(path) in result.output
