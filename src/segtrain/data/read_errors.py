"""The errors of reading an image or mask file, each one line ``<path>: <what is wrong>; <the fix>``.

:func:`check_file` refuses, before anything is decoded, a path that is missing, not a regular file (a
folder, a FIFO that would block a reader forever, a broken symbolic link), empty, or whose header claims
more pixels than the file holds (:mod:`segtrain.data.headers`). :func:`decode_failed` tells a decoder's
failure apart: a codec that is not installed, an image too large to decode, a truncated or corrupt file.
:func:`finite_pixels` refuses NaN and infinite pixels unless told what to read them as.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np

from segtrain.data.headers import header_lie, not_regular
from segtrain.errors import UserError

_REEXPORT = "re-export the file or remove it"


class ReadError(UserError):
    """A file that cannot be read as an image or mask.

    Parameters
    ----------
    path : Path or str
        The file; with ``reason`` omitted, the whole message instead.
    reason : str, optional
        What is wrong with it.
    fix : str, optional
        What the user should do.

    The message is ``"<path>: <reason>; <fix>"``.
    """

    def __init__(self, path: Path | str, reason: str | None = None, fix: str = _REEXPORT):
        self.path = Path(path) if reason is not None else None
        super().__init__(str(path) if reason is None else f"{path}: {reason}; {fix}")


class ColourMaskError(ReadError):
    """A colour-coded RGB mask read without ``colour=True``.

    :func:`~segtrain.data.check.dataset.check_dataset` catches it, re-reads the mask
    with ``colour=True`` and reports the colours found.
    """


# Everything the decoders raise for a bad file. Programming errors in this module
# happen outside the guarded blocks, so they still surface as bugs.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
    IndexError, KeyError, TypeError, RuntimeError,
)


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def check_file(path: Path) -> None:
    """Refuse a path that is missing, not a regular file, empty, or whose header lies (:class:`ReadError`)."""
    kind = not_regular(path)
    if kind == "missing":
        raise ReadError(path, "no such file", "check the path")
    if kind is not None:
        raise ReadError(path, f"not a regular file ({kind})", "replace it with the image file or remove it")
    if path.stat().st_size == 0:
        raise ReadError(path, "empty file (0 bytes)", _REEXPORT)
    check_header(path)


def check_header(path: Path | str) -> None:
    """Refuse a file whose header claims more pixels than the file could hold (:mod:`segtrain.data.headers`):
    a corrupt file, not one too large for memory."""
    lie = header_lie(path)
    if lie is not None:
        raise ReadError(path, f"corrupt: {lie}", _REEXPORT)


NONFINITE_FIX = "replace them with finite values (e.g. numpy.nan_to_num) or remove the image"
"""The fix a non-finite image's error names by default; ``predict`` names its ``--nan-as`` option instead."""
PREDICT_NONFINITE_FIX = "pass --nan-as VALUE to read them as VALUE (e.g. --nan-as 0), or replace them with finite values"
"""The fix ``predict`` names: it reads such images when told what to read them as."""


class NonFiniteError(ReadError):
    """A float image holding NaN or infinite pixels; ``count`` of ``total`` values are not finite."""

    def __init__(self, path: Path | str, count: int, total: int, fix: str = NONFINITE_FIX):
        self.count, self.total = count, total
        what = "every pixel is NaN or infinite" if count == total else \
            f"{count} of {total} pixel values are NaN or infinite"
        super().__init__(path, what, fix)


def finite_pixels(path: Path | str, arr: np.ndarray, nan_as: float | None = None,
                  fix: str = NONFINITE_FIX) -> np.ndarray:
    """``arr`` when every value is finite; NaN and infinities replaced by ``nan_as`` when given; else
    :class:`NonFiniteError` naming ``path``, how many values and ``fix``. Integer arrays pass as they are."""
    if arr.dtype.kind != "f":
        return arr
    finite = np.isfinite(arr)
    if finite.all():
        return arr
    if nan_as is None:
        raise NonFiniteError(path, int(finite.size - np.count_nonzero(finite)), int(finite.size), fix)
    return np.where(finite, arr, np.float32(nan_as)).astype(arr.dtype, copy=False)


_CODEC_MISSING = re.compile(r"requires the '?(\w+)'? package|decoder (\w+) not available|(\w+) codec", re.I)


def decode_failed(path: Path, exc: BaseException, compression: str | None = None) -> ReadError:
    """A decoder's failure as "codec missing" (the file may be fine: install the codec), "too large"
    (more pixels than the decoder takes), or "truncated or corrupt".

    ``compression`` names the file's compression (a TIFF's ``LZW``, ``ZSTD``, ...) when known: a decoder
    that cannot be imported (tifffile's fallbacks raise ``ImportError`` when imagecodecs is missing) is then
    a missing codec named by it, never a corrupt file."""
    from PIL import Image, UnidentifiedImageError

    codec = _CODEC_MISSING.search(str(exc))
    if codec is not None or isinstance(exc, ImportError):
        package = codec.group(1) if codec is not None and codec.group(1) else "imagecodecs"
        if package.lower() != "imagecodecs" and isinstance(exc, ImportError):
            package = "imagecodecs"  # e.g. "No module named 'compression'": the fallback's module, not a package
        what = f"{compression} compression, a codec that is not installed" if compression else \
            "compressed with a codec that is not installed"
        return ReadError(path, f"{what} ({_detail(exc)})",
                         f"pip install {package}, or re-save the file uncompressed (or as PNG)")
    if isinstance(exc, Image.DecompressionBombError):
        return ReadError(path, f"too large to decode ({_detail(exc)})",
                         "save it as a tiled TIFF (read by windows), or split it into smaller images")
    if isinstance(exc, UnidentifiedImageError):
        return ReadError(path, "not an image Pillow can read (unknown or corrupt format)", _REEXPORT)
    return ReadError(path, f"truncated or corrupt file ({_detail(exc)})", _REEXPORT)
