"""Facts about a file from its metadata and header alone: is it a regular file, is its header plausible?

:func:`not_regular` says what a path is when it is not a regular file, from ``os.stat`` alone.

Is a file's header plausible? What an image header claims, checked against the bytes that follow it.

A header that claims far more pixels than the file could hold (a 16-byte file "of" 10**9 pixels, a
TIFF whose strips lie past its end) is a corrupt file, not an image too large for memory: it must be
refused as corrupt before any reader allocates what the header claims or offers a codec as the fix.

:func:`header_lie` reads only the header (a few bytes for PNG and JPEG, the first page's tags for
TIFF) and returns what is wrong, or None. The bounds are the best compression each codec can reach:

- PNG (deflate): at most about 1032:1 on the filtered rows, so ``rows * (row bytes + 1) <= 1100 x file size``;
- JPEG: at least about 6 bits per 8x8 block of a component, so ``pixels <= 2000 x file size``;
- TIFF: every strip or tile lies inside the file; uncompressed strips hold every pixel; deflate
  (1100:1), LZW (2000:1) and PackBits (70:1) data within those codecs' limits. Other codecs are
  bounded only by the strips lying inside the file.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_RATIO = 1100
_JPEG_RATIO = 2000
_TIFF_RATIOS = {1: 1, 5: 2000, 8: 1100, 32946: 1100, 32773: 70}  # none, LZW, deflate (two codes), PackBits
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _claim(height: int, width: int, size: int) -> str:
    return f"its header claims {height}x{width} pixels but the file holds only {size} bytes"


def _png(head: bytes, size: int) -> str | None:
    if not head.startswith(_PNG_SIGNATURE) or len(head) < 26 or head[12:16] != b"IHDR":
        return None  # not a PNG header: the decoder says what it is
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    row = (width * _PNG_CHANNELS.get(colour, 4) * max(depth, 1) + 7) // 8 + 1
    if height * row > _PNG_RATIO * size:
        return _claim(height, width, size)
    return None


def _jpeg(path: Path, size: int) -> str | None:
    with open(path, "rb") as fh:
        data = fh.read(min(size, 1 << 16))  # the frame header comes early (after EXIF at most 64 KiB)
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in _SOF:
            height, width, components = struct.unpack(">HHB", data[i + 5:i + 10])
            if height * width * max(components, 1) > _JPEG_RATIO * size:
                return _claim(height, width, size)
            return None
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    return None


def _tiff(path: Path, size: int) -> str | None:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            height, width = int(page.imagelength), int(page.imagewidth)
            depth = max(int(page.imagedepth or 1), 1)
            raw = height * width * depth * int(page.samplesperpixel or 1) * max(page.bitspersample or 8, 1) // 8
            offsets, counts = list(page.dataoffsets or ()), list(page.databytecounts or ())
            compression = int(page.compression)
    except Exception:  # noqa: BLE001 - an unreadable header: the reader says what is wrong
        return None
    if any(o + c > size for o, c in zip(offsets, counts) if c):
        return f"its header claims {height}x{width} pixels in data past the end of the file ({size} bytes)"
    ratio = _TIFF_RATIOS.get(compression)
    if ratio is not None and all(counts) and raw > ratio * sum(counts):
        return _claim(height, width, size)
    return None


def header_lie(path: Path | str) -> str | None:
    """What is implausible about the header of the image file ``path`` (a regular, non-empty file), or None.

    Only the header is read; a header that cannot be parsed gives None (the decoder reports it).
    """
    path = Path(path)
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _tiff(path, size)
    with open(path, "rb") as fh:
        head = fh.read(32)
    if head.startswith(_PNG_SIGNATURE):
        return _png(head, size)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(path, size)
    return None


def not_regular(path: Path | str) -> str | None:
    """What ``path`` is when it is not a regular file (``"a folder"``, ``"a FIFO/named pipe"``, ``"a broken
    symbolic link to X"``, ``"missing"``), from ``os.stat`` alone: nothing is opened (a FIFO would block a
    reader forever). None for a regular file, also through a symbolic link."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"a broken symbolic link to {os.readlink(path)}"
        return "missing"
    except OSError as exc:
        return f"not readable ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO/named pipe"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")
