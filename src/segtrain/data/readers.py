"""Read images and masks from disk into numpy arrays, with user-fixable errors.

PNG, JPEG and GIF go through Pillow, ``.tif``/``.tiff`` through tifffile (compressed TIFFs: LZW, Deflate,
JPEG, zstd, ... through imagecodecs; a codec that is missing is named, never reported as a corrupt file).
A multi-page TIFF image of at most 4 pages is read as one image with a channel per page (more pages are
refused); ``page=`` reads one page of a stack (an OME-TIFF's planes, a multi-page mask). Every
failure that comes from the file (missing, empty, truncated, corrupt, an
unsupported layout) is raised as :class:`ReadError`, a
:class:`~segtrain.errors.UserError` whose message is one line
``<path>: <reason>; <fix>``. Files are only ever opened for reading.

Layouts returned
----------------
:func:`read_image`
    ``(H, W, C)`` with ``C`` 1 (gray) or 3 (RGB); dtype ``uint8``, ``uint16``
    or ``float32`` as stored. Alpha is dropped, palette images become RGB.
:func:`read_mask`
    ``(H, W)`` raw stored values (palette indices for palette PNGs); dtype
    ``uint8``, ``uint16``, ``int32`` or ``uint32``. With ``colour=True``: ``(H, W)`` ``int32``
    packed colours ``R * 65536 + G * 256 + B`` (see :func:`pack_rgb`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segtrain.data.read_errors import (  # noqa: F401 - the errors of reading, re-exported with the readers
    _DECODE_ERRORS, _REEXPORT, NONFINITE_FIX, PREDICT_NONFINITE_FIX, ColourMaskError, NonFiniteError, ReadError,
    check_file, check_header, decode_failed, finite_pixels,
)

TIFF_EXTS = frozenset({".tif", ".tiff"})

_SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF"}
"""The format a PNG/JPEG suffix promises: a file holding another one is refused (a JPEG named
``.png`` would pass lossy masks off as exact)."""


def _check_format(path: Path, found: str | None) -> None:
    """Refuse a file whose content is not the format its suffix names (e.g. JPEG bytes in ``a.png``)."""
    expected = _SUFFIX_FORMATS.get(path.suffix.lower())
    if expected is None or found is None or found == expected:
        return
    right = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "GIF": ".gif"}.get(found)
    rename = f"rename it to {path.stem}{right} or " if right else ""
    raise ReadError(path, f"holds {found} data but is named {path.suffix}", f"{rename}re-export it as {expected}")


def _read_pil(path: Path, for_mask: bool, colour: bool = False) -> np.ndarray:
    """Decode a PNG/JPEG fully and return its pixels in a few canonical modes.

    Masks keep palette indices and read 1-bit pixels as 0/1, unless ``colour``
    asks for what the file shows (palette colours, 1-bit as 0/255).
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            _check_format(path, im.format)
            if im.format == "PNG":
                # Walks every chunk and its CRC up to IEND: catches files cut after the
                # pixel data, which load() alone accepts. Cheap (no decompression).
                im.verify()
        with Image.open(path) as im:
            im.load()  # decodes everything: truncated data raises here
            mode = im.mode
            if mode == "1":
                # 1-bit: masks keep 0/1, images get 0/255 intensities.
                return np.asarray(im).astype(np.uint8) * (1 if for_mask and not colour else 255)
            if mode in ("P", "PA") and im.format == "GIF" and _gray_palette(im):
                return np.array(im.convert("L"))  # a GIF's palette is reordered on saving: its grays are the values
            if mode in ("P", "PA"):
                if for_mask and not colour:
                    return np.asarray(im)  # palette indices, not colours
                im = im.convert("RGBA")
            elif mode not in ("L", "LA", "RGB", "RGBA", "I", "F") and not mode.startswith("I;16"):
                im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...
            return np.array(im)
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as exc:
        raise decode_failed(path, exc) from None


def _gray_palette(im) -> bool:
    """Whether a palette image's colours are all grays (R = G = B): its values are then gray levels."""
    palette = im.getpalette() or []
    return all(palette[k] == palette[k + 1] == palette[k + 2] for k in range(0, len(palette) - 2, 3))


MAX_PAGE_CHANNELS = 4
"""A multi-page TIFF image of at most this many pages is read as one image with a channel per page."""


def _read_tiff(path: Path, for_mask: bool, page: int | None = None) -> tuple[np.ndarray, bool]:
    """Decode one page (``page``) or the first series of a TIFF; masks must then have exactly one page.

    Returns the pixels and whether the pages of a stack became the channels (kept all, no alpha dropped)."""
    import tifffile

    codec = None
    try:
        with tifffile.TiffFile(path) as tif:
            pages = len(tif.pages)
            codec = _compression(tif)
            if page is not None:
                if not 0 <= page < pages:
                    raise ReadError(path, f"has {pages} page(s), no page {page}", "check the stack and its mask")
                return np.asarray(tif.pages[page].asarray()), False
            if for_mask and pages > 1:
                raise ReadError(
                    path, f"multi-page TIFF mask ({pages} pages)",
                    "save one page with one class index per pixel, or give the image as many pages (one "
                    "sample per page)",
                )
            arr = np.asarray(tif.series[0].asarray())
            if pages > 1 and arr.ndim == 3 and arr.shape[0] == pages:
                if pages > MAX_PAGE_CHANNELS:
                    raise ReadError(path, f"unsupported multi-page TIFF of {pages} pages with a one-page mask",
                                    f"up to {MAX_PAGE_CHANNELS} pages are read as channels; give its mask as many "
                                    "pages (one sample per page) or save one image per page")
                return np.moveaxis(arr, 0, -1), True
            return arr, False
    except (*_DECODE_ERRORS, ImportError) as exc:
        raise decode_failed(path, exc, codec) from None


def _compression(tif) -> str | None:
    """The compression of a TIFF's first page (``LZW``, ``ZSTD``, ...), None when uncompressed or unknown."""
    try:
        name = tif.pages[0].compression.name
    except (*_DECODE_ERRORS, AttributeError):
        return None
    return None if name == "NONE" else name


def _read_raw(path: Path | str, for_mask: bool, colour: bool = False, page: int | None = None
              ) -> tuple[Path, np.ndarray, bool]:
    """The pixels of a file, and whether its channels are the pages of a stack (kept, none is alpha)."""
    path = Path(path)
    check_file(path)
    stacked = False
    if path.suffix.lower() in TIFF_EXTS:
        arr, stacked = _read_tiff(path, for_mask, page)
    else:
        if page is not None:
            raise ReadError(path, f"page {page} asked of a file that is not a TIFF", "give a multi-page TIFF")
        arr = _read_pil(path, for_mask, colour)
    while arr.ndim > 3 and arr.shape[0] == 1:  # e.g. (1, 1, H, W) from TIFF series
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] not in (1, 2, 3, 4) and arr.shape[0] in (1, 3, 4) \
            and arr.shape[1] > 4 and arr.shape[2] > 4:
        arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W) -> (H, W, C)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (2, 3, 4)):
        what = "multi-page TIFF" if path.suffix.lower() in TIFF_EXTS and arr.ndim == 3 else "array"
        raise ReadError(path, f"unsupported {what} of shape {arr.shape}",
                        "save one 2D gray or RGB image per file")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ReadError(path, f"zero-sized image ({arr.shape[0]}x{arr.shape[1]})", _REEXPORT)
    if arr.dtype.kind not in "biuf":
        raise ReadError(path, f"unsupported pixel type {arr.dtype}", "save it as 8- or 16-bit integers")
    return path, arr, stacked


def read_image(path: Path | str, nan_as: float | None = None, nonfinite_fix: str = NONFINITE_FIX,
               page: int | None = None) -> np.ndarray:
    """Read an image as ``(H, W, C)``.

    Parameters
    ----------
    path : Path or str
        A .png, .jpg/.jpeg or .tif/.tiff file.
    nan_as : float, optional
        The value NaN and infinite pixels of a float image are read as; None (the default) refuses
        such an image (:class:`NonFiniteError`, whose fix is ``nonfinite_fix``).
    page : int, optional
        Read this page (0-based) of a multi-page TIFF only.

    Returns
    -------
    numpy.ndarray
        ``(H, W, C)`` with ``C`` 1 (gray, also from gray+alpha) or 3 (RGB, also
        from RGBA and palette images), or one channel per page (up to 4) of a multi-page TIFF;
        ``uint8``, ``uint16`` or ``float32``.
        Other integer types become ``uint16`` when their values fit, else
        ``float32``; other float types become ``float32``.

    Raises
    ------
    ReadError
        Missing, not a regular file, empty, truncated or corrupt file (also a header that claims more
        pixels than the file holds), a codec not installed, or an unsupported layout.
    NonFiniteError
        NaN or infinite pixels, unless ``nan_as`` is given.
    """
    path, arr, stacked = _read_raw(path, for_mask=False, page=page)
    if arr.ndim == 2:
        arr = arr[..., None]
    elif stacked:
        pass  # one channel per page: none of them is alpha
    elif arr.shape[-1] == 2:  # gray + alpha
        arr = arr[..., :1]
    elif arr.shape[-1] == 4:  # RGB + alpha
        arr = arr[..., :3]
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float32, copy=False)
    elif arr.dtype != np.uint8:
        if arr.dtype.kind in "iu" and arr.min() >= 0 and arr.max() <= 65535:
            arr = arr.astype(np.uint16, copy=False)  # also fixes byte order ('I;16B')
        else:
            arr = arr.astype(np.float32)
    return np.ascontiguousarray(finite_pixels(path, arr, nan_as, nonfinite_fix))


def precheck_image(path: Path | str, nan_as: float | None = None, nonfinite_fix: str = NONFINITE_FIX) -> None:
    """What can be refused of an image before anything is written: a path that is not a regular file, empty,
    with a header that lies (header only), and NaN or infinite pixels (decoding only float TIFFs, the one
    kind that can hold them; not with ``nan_as``). Raises as :func:`read_image` would."""
    path = Path(path)
    check_file(path)
    if nan_as is not None or path.suffix.lower() not in TIFF_EXTS:
        return
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            floating = tif.series[0].dtype.kind == "f"
    except _DECODE_ERRORS:
        return  # the reader says what is wrong with it
    if floating:
        read_image(path, None, nonfinite_fix)


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Pack ``(..., 3)`` 8-bit colours into ``int32`` ``R * 65536 + G * 256 + B``."""
    rgb = np.asarray(rgb).astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def unpack_rgb(packed) -> tuple[int, int, int]:
    """``R * 65536 + G * 256 + B`` -> ``(R, G, B)``."""
    packed = int(packed)
    return (packed >> 16) & 255, (packed >> 8) & 255, packed & 255


def _colour_fix(path: Path) -> str:
    classes = path.parent.parent / "classes.json"
    return (f'list the colours in {classes} in class order, e.g. {{"background": [0, 0, 0], '
            f'"object": [255, 0, 0]}}, or save one class index per pixel')


def _integer_values(path: Path, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f" and (
        not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr))
    ):
        raise ReadError(path, "float mask with non-integer values",
                        "save one integer class index per pixel")
    return arr


def _read_colours(path: Path, page: int | None = None) -> np.ndarray:
    path, arr, _ = _read_raw(path, for_mask=True, colour=True, page=page)
    return colour_values(path, arr)


def colour_values(path: Path, arr: np.ndarray) -> np.ndarray:
    """A mask's pixels as read (``(H, W)`` or ``(H, W, C)``) to ``int32`` packed colours, as
    ``read_mask(path, colour=True)`` gives them (also for windows of a mask)."""
    if arr.ndim == 3:
        arr = arr[..., :3] if arr.shape[-1] >= 3 else arr[..., :1]  # drop alpha
    arr = _integer_values(path, arr)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8 and arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi > 255:
            raise ReadError(path, f"values {lo}..{hi} do not fit 8-bit colours",
                            "save colour masks as 8-bit RGB (or list raw values, not colours, in classes.json)")
    if arr.ndim == 2 or arr.shape[-1] == 1:
        gray = arr.reshape(arr.shape[:2]).astype(np.int32)
        return np.ascontiguousarray(gray * 65793)  # (g, g, g)
    return np.ascontiguousarray(pack_rgb(arr))


def mask_values(path: Path, arr: np.ndarray, narrow: bool = True) -> np.ndarray:
    """A mask's pixels as read (``(H, W)`` or ``(H, W, C)``) to ``(H, W)`` class values, as
    :func:`read_mask` gives them: ``uint8``/``uint16`` when so stored, other integers as the smallest of
    ``uint16``/``int32``/``uint32`` that holds this array (``narrow``) or as ``int64`` (windows of one mask, which
    must agree whatever values each window holds)."""
    if arr.ndim == 3:
        if arr.shape[-1] >= 3:
            first = arr[..., 0]
            if not (np.array_equal(first, arr[..., 1]) and np.array_equal(first, arr[..., 2])):
                raise ColourMaskError(path, "colour-coded RGB mask", _colour_fix(path))
        arr = arr[..., 0]  # gray (+ alpha), palette (+ alpha), or gray stored as RGB
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    arr = _integer_values(path, arr)
    if arr.dtype.kind == "u" and arr.dtype.itemsize <= 2:
        return np.ascontiguousarray(arr, dtype=np.uint8 if arr.dtype.itemsize == 1 else np.uint16)
    if not arr.size:
        return arr.astype(np.int64)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < np.iinfo(np.int32).min or hi > np.iinfo(np.uint32).max or (lo < 0 and hi > np.iinfo(np.int32).max):
        raise ReadError(path, f"mask values {lo}..{hi} out of range",
                        "save class indices as 8-, 16- or 32-bit integers")
    if not narrow:
        return arr.astype(np.int64)
    dtype = np.uint16 if lo >= 0 and hi <= 65535 else np.uint32 if hi > np.iinfo(np.int32).max else np.int32
    return np.ascontiguousarray(arr, dtype=dtype)


def read_mask(path: Path | str, colour: bool = False, page: int | None = None) -> np.ndarray:
    """Read a mask of class indices (or of class colours) as ``(H, W)``, values as stored.

    Parameters
    ----------
    path : Path or str
        A .png or .tif/.tiff file (a .jpg is read too, but values may be off).
    colour : bool, default False
        Read what the mask shows as packed colours: RGB(A) as is, palette PNGs
        through their palette, 1-bit as black/white, gray ``g`` as ``(g, g, g)``.
    page : int, optional
        Read this page (0-based) of a multi-page TIFF mask.

    Returns
    -------
    numpy.ndarray
        With ``colour=False``: ``(H, W)`` of ``uint8``, ``uint16``, ``int32`` or ``uint32``:
        palette indices for palette PNGs, the gray values otherwise. An RGB(A)
        mask whose colour channels are all equal gives its first channel.
        With ``colour=True``: ``(H, W)`` ``int32`` packed colours
        ``R * 65536 + G * 256 + B``.

    Raises
    ------
    ColourMaskError
        A colour-coded RGB mask read with ``colour=False``.
    ReadError
        Missing, empty, truncated or corrupt file; a multi-page TIFF; non-integer
        float values; with ``colour=True``, values that do not fit 8 bits.
    """
    if colour:
        return _read_colours(Path(path), page)
    path, arr, _ = _read_raw(path, for_mask=True, page=page)
    return mask_values(path, arr)


def image_size(path: Path | str) -> tuple[int, int]:
    """Return ``(H, W)`` of an image or mask from its header, without decoding pixels.

    Parameters
    ----------
    path : Path or str
        A .png, .jpg/.jpeg or .tif/.tiff file.

    Returns
    -------
    tuple of int
        Height and width in pixels (of the first page for TIFF).

    Raises
    ------
    ReadError
        Missing, empty or unreadable file.
    """
    path = Path(path)
    check_file(path)
    try:
        if path.suffix.lower() in TIFF_EXTS:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                return int(page.imagelength), int(page.imagewidth)
        from PIL import Image

        with Image.open(path) as im:
            width, height = im.size
            return int(height), int(width)
    except _DECODE_ERRORS as exc:
        raise decode_failed(path, exc) from None
