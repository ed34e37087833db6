"""The flags of ``plan``, ``lr-find`` and ``train``, built from the one option table (``api.OPTIONS``).

:func:`flag` gives a command parameter its flag and help from the table; :func:`gather` turns the
parsed arguments back into the verbs' keyword options, so a flag, its config key and every message
about it come from one row (:mod:`segtrain.pipeline.options`).
"""

from __future__ import annotations

from typing import Any

import typer

from segtrain import api
from segtrain.errors import UserError


def flag(name: str) -> Any:
    """The ``typer.Option`` of the option ``name``: its flag and help from the table; unset means planned."""
    option = api.OPTIONS_BY_NAME[name]
    if option.pair:
        return typer.Option(None, f"{option.flag}/{option.off_flag}", help=option.help)
    return typer.Option(False if option.switch else None, option.flag, help=option.help)


def parse_class_weights(text: str | None):
    """``--class-weights``: none, frequency, or one weight per class (``1,5,5``)."""
    if text is None or text.strip().lower() in ("none", "frequency"):
        return None if text is None else text.strip().lower()
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise UserError(f"--class-weights {text!r}: write none, frequency, or one number per class like 1,5,5") from None


def parse_postprocess(text: str | None):
    """``--postprocess``: auto (None: chosen on validation), none (``[]``) or comma-separated steps."""
    if text is None or text.strip().lower() == "auto":
        return None
    if text.strip().lower() == "none":
        return []
    return [step.strip() for step in text.split(",") if step.strip()]


def gather(values: dict[str, Any]) -> dict[str, Any]:
    """The options among a command's arguments, keyed as the verbs take them (None: not given).

    An unset switch is "not given" (0 is a value); ``--no-lr-find`` becomes ``lr_find=False``.
    """
    options: dict[str, Any] = {}
    for option in api.OPTIONS:
        if option.cli_param not in values:
            continue
        value = values[option.cli_param]
        if option.negates:
            value = False if value else None
        elif option.switch:
            value = True if value else None
        elif option.name == "class_weights":
            value = parse_class_weights(value)
        elif option.name == "postprocess":
            value = parse_postprocess(value)
        options[option.name] = value
    return options
