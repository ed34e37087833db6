"""Where a run came from: package versions, file hashes, a fingerprint of the dataset listing."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

PACKAGES = ("segtrain", "torch", "lightning", "monai", "numpy")
"""Distributions whose installed versions the report lists."""

_CHUNK = 1 << 20  # bytes read at a time when hashing


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (``importlib.metadata``), ``None`` when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def sha256_file(path: Path | str) -> str | None:
    """Hex SHA-256 of a file's bytes, ``None`` when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


@dataclass(frozen=True)
class DataListing:
    """Fingerprint of a dataset folder's listing.

    Attributes
    ----------
    sha256 : str
        SHA-256 of the lines ``<relative path>\\t<size in bytes>\\n``, one per file, sorted by
        path (POSIX separators): renaming, adding, removing or resizing a file changes it;
        editing a file in place without changing its size does not (contents are not read).
    files : int
        Number of files listed.
    bytes : int
        Their total size.
    """

    sha256: str
    files: int
    bytes: int


def data_listing(root: Path | str, exclude: Iterable[Path | str] = ()) -> DataListing | None:
    """:class:`DataListing` of every regular file under ``root`` (symbolic links to files are
    followed, to folders not); folders in ``exclude`` (e.g. a run folder kept inside the dataset)
    are left out. ``None`` when ``root`` is not a folder."""
    root = Path(root)
    if not root.is_dir():
        return None
    skipped = {Path(p).resolve() for p in exclude}
    entries: list[tuple[str, int]] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() not in skipped)
        for name in files:
            path = here / name
            try:
                if path.is_file():
                    entries.append((path.relative_to(root).as_posix(), path.stat().st_size))
            except OSError:
                continue
    entries.sort()
    digest = hashlib.sha256("".join(f"{rel}\t{size}\n" for rel, size in entries).encode())
    return DataListing(digest.hexdigest(), len(entries), sum(size for _, size in entries))
