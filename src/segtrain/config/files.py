"""Safe reading of the JSON, YAML and CSV files segtrain is handed: one line for each way they go wrong.

Every reader here refuses, with one :class:`UserError` line naming the file, what is wrong and
``fix``: a missing path, a folder, something that is not a regular file (a FIFO would block a
reader forever), a file over a size limit, bytes that are not UTF-8 text, invalid syntax,
nesting deeper than a limit (deep nesting would otherwise end in ``RecursionError``), a YAML
file full of aliases (a "billion laughs" bomb) and the wrong top-level type.
"""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segtrain.errors import UserError

MAX_BYTES = 64 * 2**20
"""The largest JSON/YAML/CSV file read (64 MiB): far above any real config, split, plan or history."""
MAX_DEPTH = 32
"""The deepest nesting of lists and mappings accepted; segtrain's own files nest at most 4 levels."""
MAX_ALIASES = 100
"""The most YAML aliases (``*name``) accepted: each may expand a whole subtree again."""

_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
          bool: "true or false", type(None): "null"}


def _refuse(path: Path, problem: str, fix: str) -> UserError:
    return UserError(f"{path}: {problem}; {fix}" if fix else f"{path}: {problem}")


def read_text(path: Path | str, what: str = "file", fix: str = "", max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; :class:`UserError` otherwise."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _refuse(path, f"no such {what}", fix) from None
    except OSError as exc:
        raise _refuse(path, f"cannot be read ({exc.strerror or type(exc).__name__})", fix) from None
    if stat.S_ISDIR(info.st_mode):
        raise _refuse(path, f"a folder, not a {what}", fix)
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, f"not a regular file (a device, socket or pipe), so not a {what}", fix)
    if info.st_size > max_bytes:
        raise _refuse(path, f"{info.st_size / 2**20:.1f} MiB, too large for a {what} "
                            f"(at most {max_bytes / 2**20:.0f} MiB are read)", fix)
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise _refuse(path, f"cannot be read ({exc.strerror or type(exc).__name__})", fix) from None
    if len(raw) > max_bytes:
        raise _refuse(path, f"too large for a {what} (at most {max_bytes / 2**20:.0f} MiB are read)", fix)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(path, f"not a text file (byte {exc.start} is not UTF-8)", fix) from None


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply lists and mappings nest in ``value`` (0 for a scalar), counted without recursion
    and no further than ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _check_top(path: Path, data: Any, top: type | tuple | None, kind: str, fix: str) -> Any:
    if top is None or isinstance(data, top):
        return data
    wanted = " or ".join(dict.fromkeys(_NAMES.get(t, t.__name__) for t in (top if isinstance(top, tuple) else (top,))))
    got = _NAMES.get(type(data), type(data).__name__)
    raise _refuse(path, f"holds {got} at the top, not {wanted} as a {kind} must", fix)


def read_json(path: Path | str, what: str = "JSON file", fix: str = "fix or replace the file",
              top: type | tuple | None = dict, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
              object_pairs_hook: Callable | None = None) -> Any:
    """The content of a JSON file: at most ``max_bytes``, nested at most ``max_depth`` deep, of type
    ``top`` (``None``: any); every other case is one :class:`UserError` line naming ``path`` and ``fix``."""
    path = Path(path)
    text = read_text(path, what, fix, max_bytes)
    try:
        data = json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as exc:
        raise _refuse(path, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", fix) from None
    except RecursionError:
        raise _refuse(path, f"nested deeper than {max_depth} levels", fix) from None
    if depth(data, max_depth) > max_depth:
        raise _refuse(path, f"nested deeper than {max_depth} levels", fix)
    return _check_top(path, data, top, what, fix)


def _yaml_shape(path: Path, text: str, max_depth: int, fix: str) -> None:
    """Refuse YAML nested deeper than ``max_depth`` or with too many aliases, from the parser's events
    (iterative, so before anything recursive sees the document)."""
    import yaml

    level = aliases = 0
    for event in yaml.parse(io.StringIO(text), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            level += 1
            if level > max_depth:
                raise _refuse(path, f"nested deeper than {max_depth} levels", fix)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            level -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _refuse(path, f"uses more than {MAX_ALIASES} YAML aliases (*name); write the values out", fix)


def read_yaml(path: Path | str, what: str = "YAML file", fix: str = "fix or replace the file",
              top: type | tuple | None = dict, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The content of a YAML (or JSON) file, with the limits and one-line refusals of :func:`read_json`;
    an empty file is ``None`` (allowed whatever ``top`` is)."""
    import yaml

    path = Path(path)
    text = read_text(path, what, fix, max_bytes)
    try:
        _yaml_shape(path, text, max_depth, fix)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _refuse(path, f"not valid YAML{where} ({problem})", fix or "fix the syntax") from None
    except RecursionError:
        raise _refuse(path, f"nested deeper than {max_depth} levels", fix) from None
    if data is None:
        return None
    return _check_top(path, data, top, what, fix)


def read_csv(path: Path | str, what: str = "CSV file", fix: str = "fix or replace the file",
             numeric: bool = True, max_bytes: int = MAX_BYTES, unfinished_ok: bool = False
             ) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a CSV file; a row with another number of cells than the header, or (when
    ``numeric``) a cell that is neither empty nor a number, is one :class:`UserError` line naming the row.

    With ``unfinished_ok`` a last line without its newline (a process killed while appending it) is
    left out rather than judged.
    """
    path = Path(path)
    text = read_text(path, what, fix, max_bytes)
    if unfinished_ok and text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise _refuse(path, f"not a valid CSV file ({exc})", fix) from None
    if not table or not table[0]:
        return [], []
    header, rows = table[0], []
    for number, cells in enumerate(table[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise _refuse(path, f"row {number} has {len(cells)} cells, the header {len(header)} "
                                f"(row starts {','.join(cells)[:40]!r})", fix)
        if numeric:
            for name, cell in zip(header, cells):
                if not _number_or_empty(cell):
                    raise _refuse(path, f"row {number}, column {name}: {cell[:40]!r} is not a number", fix)
        rows.append(dict(zip(header, cells)))
    return header, rows


def _number_or_empty(cell: str) -> bool:
    try:
        return not cell.strip() or float(cell) == float(cell) or cell.strip().lower() == "nan"
    except ValueError:
        return False
