"""File names the file system will take: checked before anything is written.

Most file systems refuse a name (one path component) over 255 bytes and a path over 4096 bytes
with ``ENAMETOOLONG``. An output name built from an input's name (``<stem>_prob.tif``) can pass
that limit although the input's own name does not; :func:`check_name_length` says so in one line
naming the input and the fix, before any output exists.
"""

from __future__ import annotations

import os
from pathlib import Path

from segtrain.errors import UserError

NAME_MAX = 255
"""Bytes in one file name (ext4, XFS, APFS, NTFS in UTF-16 units); used where the system does not say."""
PATH_MAX = 4096
"""Bytes in a whole path (Linux); used where the system does not say."""


def _limits(folder: Path) -> tuple[int, int]:
    """The name and path limits of the file system holding ``folder`` (or its nearest existing parent)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return os.pathconf(probe, "PC_NAME_MAX"), os.pathconf(probe, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        return NAME_MAX, PATH_MAX


def name_problem(path: Path | str) -> str | None:
    """Why ``path`` is too long for its file system (a component or the whole), or None."""
    path = Path(path)
    name_max, path_max = _limits(path.parent)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return f"the name {part[:40]}... is {size} bytes, longer than file systems allow ({name_max} bytes)"
    size = len(os.fsencode(str(path.absolute())))
    if size > path_max:
        return f"the path is {size} bytes, longer than file systems allow ({path_max} bytes)"
    return None


def check_name_length(path: Path | str, source: Path | str | None = None,
                      fix: str = "rename the input to a shorter name or write to a shorter --out folder") -> None:
    """Refuse an output ``path`` whose name or whole path is too long, in one line naming ``source``
    (the input the name comes from) or else ``path``, and ``fix``."""
    problem = name_problem(path)
    if problem is not None:
        where = source if source is not None else path
        output = f" for its output {Path(path).name[:60]}..." if source is not None else ""
        raise UserError(f"{where}: {problem}{output}; {fix}")
