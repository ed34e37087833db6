"""Where a verb may write: the one output-path guard, the marker of what segtrain wrote, and the undo list.

Every verb that writes calls :func:`guard_output` for each output before it writes anything. An
output is refused (one line naming the path, the reason and the flag to change) when it

- is a system folder (``/``, ``/etc``, ``/usr``, ...) or the user's home folder itself, or lies in one
  of the folders the operating system owns (``/usr``, ``/etc``, ``/proc``, ...);
- is, lies inside or contains a folder being read (the dataset, the folder of input images);
- would replace a file being read (a config, a split, an image, a checkpoint);
- would replace, or (with ``--overwrite``) remove, something segtrain did not write.

What segtrain wrote is recognised by a marker, ``.segtrain`` (a small JSON object), that
:func:`claim` writes into every folder segtrain writes into: ``owner`` true when segtrain created the
folder (then all of it is segtrain's), else ``files``, the names segtrain put there. Paths are compared
after resolving symbolic links and ``..``.

:func:`claim` also records what it creates; :func:`remove_created` undoes it when the command is
refused later, so a refused command leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable

from segtrain._version import __version__
from segtrain.errors import UserError

MARKER = ".segtrain"
"""The file in every folder segtrain writes into that says what it wrote there."""

_EXACT = ("/", "/home", "/Users", "/tmp", "/var", "/opt", "/mnt", "/media", "/srv", "/run", "/private",
          "/private/tmp", "/private/var", "/Volumes", "/System", "/Library", "/Applications", "/usr/local", "/usr/src")
"""Folders refused as an output themselves (a subfolder of them is fine)."""
_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys",
          "/usr", "/System")
"""Folders the operating system owns: an output inside them is refused too..."""
_OPEN = ("/usr/local", "/usr/src")
"""... except in these, where users keep their own projects."""


def resolved(path: Path | str) -> Path:
    """``path`` absolute, with symbolic links and ``..`` resolved (also where it does not exist yet)."""
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _system_reason(path: Path, folder: bool = True) -> str | None:
    """Why ``path`` may not be written (``folder``: it is the output; else it holds the output files)."""
    home = resolved(Path.home())
    if path == home and folder:
        return "is your home folder itself"
    exact = {resolved(p) for p in _EXACT} | {Path(path.anchor)} if folder else {Path(path.anchor)}
    if path in exact:
        return "is a system folder" if folder else f"lies in the system folder {path}"
    for tree in map(resolved, _TREES):
        if _inside(path, tree) and not _inside(path, home) and not any(_inside(path, resolved(p)) for p in _OPEN):
            return f"lies in the system folder {tree}"
    return None


def read_marker(folder: Path | str) -> dict | None:
    """The marker of ``folder`` (``None`` when absent or not segtrain's)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("by") == "segtrain" else None


def _is_legacy_run(folder: Path) -> bool:
    """A run folder written before markers existed: its config, plan and checkpoints together."""
    return (folder / "config.yaml").is_file() and (folder / "plan.json").is_file() and (folder / "checkpoints").is_dir()


def written_by_segtrain(folder: Path | str, name: str) -> bool:
    """Whether the entry ``name`` of ``folder`` is segtrain's to replace (its marker says so)."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None:
        return _is_legacy_run(folder)
    return bool(marker.get("owner")) or name in marker.get("files", ())


def owns(folder: Path | str) -> bool:
    """Whether all of ``folder`` is segtrain's (it created it)."""
    marker = read_marker(folder)
    return bool(marker and marker.get("owner")) or (marker is None and _is_legacy_run(Path(folder)))


def _refuse(path: Path | str, reason: str, flag: str, fix: str | None = None) -> None:
    raise UserError(f"{path}: {reason}; {fix or f'pass another {flag}'}")


def _check_reads(path: Path, given: Path | str, datasets: Iterable, inputs: Iterable, names: list[str] | None,
                 flag: str, kind: str) -> None:
    fix = f"pass an {flag} outside it" if flag.startswith("-") else f"choose a {flag} folder outside it"
    for folder in datasets:
        real = resolved(folder)
        if _inside(path, real):
            where = "is" if path == real else "lies inside"
            _refuse(given, f"{where} the folder {folder} being read", flag, fix)
        if kind == "folder" and _inside(real, path):
            _refuse(given, f"contains the folder {folder} being read", flag, fix)
    read = {resolved(file): file for file in inputs}
    if path in read:
        what = "the folder being read" if path.is_dir() else "the input file, which would be replaced"
        _refuse(given, f"is {what}", flag)
    for name in (names or []) if kind != "file" else []:
        if resolved(path / name) in read:
            _refuse(given, f"{name} written there would replace the input {read[resolved(path / name)]}", flag)


def guard_output(path: Path | str, *, kind: str = "folder", datasets: Iterable = (), inputs: Iterable = (),
                 names: Iterable[str] | None = None, overwrite: bool = False, flag: str = "--out") -> Path:
    """Refuse an output before anything is written; returns it resolved. Writes nothing.

    Parameters
    ----------
    path
        The output as the user gave it.
    kind
        ``"folder"``: a folder the verb fills (a run, predictions, a dataset); ``"shared"``: a folder the
        verb only puts ``names`` into, among the user's files (``lr-find --out``); ``"file"``: one file.
    datasets
        Folders being read: the output must not be or lie in one (nor, for a ``"folder"``, contain one).
    inputs
        Files (or a run folder) being read: the output must not replace one.
    names
        The entries the verb writes in a folder output: an existing one segtrain did not write is refused.
        ``None`` (for a ``"folder"``): the folder must be new, empty or segtrain's.
    overwrite
        ``--overwrite``: an existing folder must be segtrain's (only that is ever removed).
    flag
        The flag (or argument) the user typed for the output, named in the fix.
    """
    real = resolved(path)
    names = None if names is None else list(names)
    reason = _system_reason(real, folder=True) if kind != "file" else _system_reason(real.parent, folder=False)
    home = resolved(Path.home())
    if reason is not None and not (kind != "folder" and home in (real, real.parent)):
        _refuse(path, reason, flag)
    _check_reads(real, path, datasets, inputs, names, flag, kind)
    if kind == "file":
        if real.is_dir():
            _refuse(path, "is a folder, not a file", flag)
        if real.exists() and not written_by_segtrain(real.parent, real.name):
            _refuse(path, "exists and was not written by segtrain", flag, f"pass another {flag} or move the file away")
        return real
    if not real.is_dir() or owns(real):
        return real  # new (a file in the way is said by the verb's own check, with its wording), or segtrain's
    if kind == "folder":
        _check_foreign(real, path, names, overwrite, flag)
    _check_clashes(real, path, names or [], flag)
    return real


def _check_foreign(real: Path, path: Path | str, names: list[str] | None, overwrite: bool, flag: str) -> None:
    """An existing folder the verb fills: no dataset in it, nothing foreign with ``--overwrite``."""
    entries = sorted(p.name for p in real.iterdir() if p.name != MARKER)
    if not entries:
        return
    if overwrite and read_marker(real) is None:
        _refuse(path, f"holds files segtrain did not write (e.g. {entries[0]}) and --overwrite removes only what "
                      "segtrain wrote", flag, f"pass a new or empty {flag}")
    for dataset in ("images", "masks"):
        if (real / dataset).is_dir() and not written_by_segtrain(real, dataset):
            _refuse(path, f"holds a dataset ({dataset}/) that segtrain did not write", flag, f"pass a new or empty {flag}")
    if names is None:
        _check_clashes(real, path, entries, flag)


def _check_clashes(real: Path, path: Path | str, names: list[str], flag: str) -> None:
    clashes = [name for name in sorted(names) if os.path.lexists(real / name) and not written_by_segtrain(real, name)]
    if clashes:
        more = f" (and {len(clashes) - 1} more in {path})" if len(clashes) > 1 else ""
        _refuse(Path(path) / clashes[0], f"exists and was not written by segtrain{more}", flag,
                f"pass a new or empty {flag}, or move {'them' if more else 'it'} away")


# ----------------------------------------------------------------------------- claiming and undoing

# What claim() made in this process, oldest first: (folder, the topmost folder it created or None,
# the names the folder held before, a predicate that keeps it, the marker's previous text).
_CREATED: list[tuple[Path, Path | None, frozenset[str], Callable[[], bool] | None, str | None]] = []


def claim(folder: Path | str, verb: str, names: Iterable[str] = (), keep: Callable[[], bool] | None = None) -> Path:
    """Create ``folder`` (and its parents) for ``verb`` and mark what segtrain writes there.

    A folder made here is segtrain's whole (``owner``); in an existing folder the marker lists
    ``names`` (added to what it listed). What this makes is undone by :func:`remove_created`
    unless ``keep()`` is true then.
    """
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    top = missing[-1] if missing else None
    before = frozenset() if top is not None else frozenset(p.name for p in folder.iterdir())
    marker_file = folder / MARKER
    previous = marker_file.read_text() if marker_file.is_file() else None
    folder.mkdir(parents=True, exist_ok=True)
    _CREATED.append((folder, top, before, keep, previous))
    old = read_marker(folder) or {}
    write_marker(folder, verb, top is not None or bool(old.get("owner")), [*old.get("files", ()), *names])
    return folder


def write_marker(folder: Path | str, verb: str, owner: bool, files: Iterable[str] = ()) -> None:
    """Say in ``folder`` that segtrain (``verb``) wrote all of it (``owner``) or the entries ``files``."""
    marker = {"by": "segtrain", "verb": verb, "version": __version__, "owner": bool(owner)}
    if not owner:
        marker["files"] = sorted(set(files))
    (Path(folder) / MARKER).write_text(json.dumps(marker) + "\n")


def created_mark() -> int:
    """A mark for :func:`remove_created`: what is claimed from now on."""
    return len(_CREATED)


def remove_created(mark: int = 0) -> None:
    """Undo what :func:`claim` made since ``mark``: new folders whole, new entries of existing ones."""
    while len(_CREATED) > mark:
        folder, top, before, keep, previous = _CREATED.pop()
        if keep is not None and keep():
            continue
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
            continue
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.name not in before:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        if previous is not None and folder.is_dir():
            (folder / MARKER).write_text(previous)
