"""What mask values mean: ``DATA/classes.json`` and lossy values near class values.

``classes.json`` lists the classes in order (class index = position in the file),
either by colour (masks are then read with ``read_mask(path, colour=True)``)::

    {"sky": [128, 128, 128], "ground": [0, 0, 0]}

or by raw mask value (gray value or palette index)::

    {"background": 0, "cell": 255}

Label maps (ids that are not class indices, values to ignore) take one of two more forms: an object
``{"classes": {...}, "ignore": [...]}`` whose ``classes`` is either form above and whose ``ignore`` lists raw
values (or ``[r, g, b]`` colours) that are no class::

    {"classes": {"road": 7, "sidewalk": 8, "car": 26}, "ignore": [0, 1, 2, 255]}

or a Cityscapes-style list, one entry per raw id (``"id"``) or colour (``"color"``/``"colour"``), with the class
it trains as (``"train_id"`` or ``"trainId"``; 255 or -1: ignored; without train ids, the entries are the
classes in order; several ids may share a train id, the first one names it)::

    [{"name": "unlabeled", "id": 0, "train_id": 255}, {"name": "road", "id": 7, "train_id": 0}, ...]

VOC and ADE20K palettes are the colour form (``"color": [128, 0, 0]``), or the value form of their palette
indices (VOC's palette PNGs are read as indices; its border, index 255, goes under ``"ignore"``).

Colours are handled as packed integers ``R * 65536 + G * 256 + B`` (see
:func:`~segtrain.data.readers.pack_rgb`), so one code path serves gray values and
colours; distances between colours are Euclidean in RGB.

Lossy masks (JPEG, or resized/anti-aliased PNG) hold values near the class
values. :func:`dominant_values` finds the class values in a value histogram and
:func:`snap_values` maps every value to the nearest class value when that is
unambiguous. Nothing here reads masks or writes files (apart from reading
``classes.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segtrain.config.io import read_json
from segtrain.data.readers import pack_rgb, unpack_rgb
from segtrain.errors import UserError

CLASSES_FILE = "classes.json"
"""Name of the class file inside the dataset folder."""

DOMINANT_SHARE = 0.01
"""A value holding at least this share of all mask pixels is a class value (not noise)."""
JPEG_PEAK_SHARE = 0.001
"""JPEG masks: a histogram peak holding at least this share is a class value, so a rare
foreground class (a few objects, well under 1% of the pixels) still counts."""
JPEG_RADIUS = {False: 32.0, True: 48.0}
"""JPEG masks: values within this distance of a stronger peak are ringing around it, not a
class of their own (gray levels; RGB distance for colours, where chroma subsampling smears more).
Measured at quality 75: a 0/255 mask holds values up to 39 away from 0 and 255, with 1% or
more of its pixels at 254 or 1; class values closer than this do not survive JPEG anyway."""

_MAX_LISTED = 8
_FIX = ('write one entry per class in class order, e.g. {"background": [0, 0, 0], "object": [255, 0, 0]} '
        '(colours) or {"background": 0, "object": 255} (mask values)')


@dataclass(frozen=True)
class ClassFile:
    """A parsed ``classes.json``.

    Attributes
    ----------
    path : Path
        The file.
    names : tuple of str
        Class names in class order.
    values : tuple of int
        The raw mask value of each class, or its packed colour when ``colour``.
    colour : bool
        True when the file lists colours (read the masks with ``colour=True``).
    table : tuple of (int, int)
        Label maps: raw value -> class index for every listed value (several may share a class); empty when
        the values are the classes in order.
    ignore : tuple of int
        Raw values (packed colours) that are no class: their pixels are ignored.
    """

    path: Path
    names: tuple[str, ...]
    values: tuple[int, ...]
    colour: bool
    table: tuple[tuple[int, int], ...] = ()
    ignore: tuple[int, ...] = ()

    @property
    def mapping(self) -> dict[int, int]:
        """Raw value (or packed colour) -> class index."""
        if self.table:
            return dict(self.table)
        return {value: index for index, value in enumerate(self.values)}


class _Pairs(list):
    """The key/value pairs of a JSON object, in file order (duplicates kept)."""


def _bad(path: Path, what: str) -> UserError:
    return UserError(f"{path}: {what}; {_FIX}")


def _colour(path: Path, name: str, value) -> int | None:
    """Packed colour of ``[r, g, b]``, None if ``value`` is a raw value, else raise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 2**31:
            raise _bad(path, f'class "{name}" has value {value}, outside 0..{2**31 - 1}')
        return None
    if (isinstance(value, list) and len(value) == 3
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)):
        return int(pack_rgb(np.array(value)))
    raise _bad(path, f'class "{name}" has {json.dumps(value)}, not a colour [r, g, b] (0..255) '
                     'or a whole mask value')


def read_class_file(root: Path | str) -> ClassFile | None:
    """Read ``root/classes.json``; None when there is none.

    Parameters
    ----------
    root : Path or str
        The dataset folder.

    Returns
    -------
    ClassFile or None

    Raises
    ------
    UserError
        One line naming the file and the fix: unreadable, not JSON, not an object,
        a bad colour or value, colours mixed with values, a duplicate name, colour
        or value, or fewer than 2 classes.
    """
    path = Path(root) / CLASSES_FILE
    if not path.exists():
        return None
    data = read_json(path, "classes file", _FIX, top=None, object_pairs_hook=_Pairs)
    if isinstance(data, list) and not isinstance(data, _Pairs):
        return _entry_list(path, data)
    if isinstance(data, _Pairs) and any(k == "classes" and isinstance(v, _Pairs) for k, v in data):
        return _classes_and_ignore(path, data)
    if not isinstance(data, _Pairs):
        raise _bad(path, f"holds a JSON {type(data).__name__}, not an object of class names")
    if len(data) < 2:
        raise _bad(path, f"lists {len(data)} class{'' if len(data) == 1 else 'es'}, need at least 2 "
                         "(background and one more)")
    names, values, kinds = [], [], set()
    seen_names: set[str] = set()
    seen_values: dict[int, str] = {}
    for name, value in data:
        if not name.strip():
            raise _bad(path, "has an empty class name")
        if name in seen_names:
            raise _bad(path, f'lists class "{name}" twice')
        packed = _colour(path, name, value)
        kinds.add(packed is not None)
        if len(kinds) > 1:
            raise _bad(path, "mixes colours and mask values")
        value = value if packed is None else packed
        if value in seen_values:
            shown = format_value(value, packed is not None)
            raise _bad(path, f'classes "{seen_values[value]}" and "{name}" share the '
                             f'{"colour" if packed is not None else "value"} {shown}')
        seen_names.add(name)
        seen_values[value] = name
        names.append(name)
        values.append(int(value))
    return ClassFile(path=path, names=tuple(names), values=tuple(values), colour=kinds == {True})


def _classes_and_ignore(path: Path, data: _Pairs) -> ClassFile:
    """``{"classes": {name: value or colour}, "ignore": [values or colours]}``."""
    extra = [k for k, _ in data if k not in ("classes", "ignore")]
    if extra:
        raise _bad(path, f'has the key "{extra[0]}"; a label map holds "classes" and "ignore" only')
    fields = dict(data)
    classes = _classes_only(path, fields["classes"])
    ignore = fields.get("ignore", [])
    if not isinstance(ignore, list) or isinstance(ignore, _Pairs):
        raise _bad(path, f'"ignore" holds {json.dumps(ignore)}, not a list of mask values or colours')
    packed = [_colour(path, "ignore", v) for v in ignore]
    kinds = {p is not None for p in packed}
    if kinds and kinds != {classes.colour}:
        raise _bad(path, '"ignore" lists ' + ("colours" if True in kinds else "mask values") + " but the classes "
               + ("colours" if classes.colour else "mask values"))
    values = tuple(int(v if p is None else p) for v, p in zip(ignore, packed))
    shared = sorted(set(values) & set(classes.values))
    if shared:
        raise _bad(path, f"value {format_value(shared[0], classes.colour)} is both a class and ignored")
    return ClassFile(path, classes.names, classes.values, classes.colour, (), values)


def _classes_only(path: Path, pairs) -> ClassFile:
    """The ``classes`` object of a label map, read as a whole ``classes.json`` of the first two forms."""
    names, values, kinds = [], [], set()
    for name, value in pairs:
        packed = _colour(path, name, value)
        kinds.add(packed is not None)
        names.append(name)
        values.append(int(value if packed is None else packed))
    if len(names) < 2 or len(set(names)) < len(names) or len(set(values)) < len(values) or len(kinds) > 1:
        raise _bad(path, '"classes" needs at least 2 classes, each name and value once, all values or all colours')
    return ClassFile(path, tuple(names), tuple(values), kinds == {True})


_IGNORED_TRAIN_IDS = (255, -1)


def _entry_list(path: Path, data: list) -> ClassFile:
    """``[{"name", "id" or "color", "train_id"}, ...]`` (Cityscapes' labels, VOC/ADE palettes)."""
    if not data or not all(isinstance(entry, _Pairs) for entry in data):
        raise _bad(path, "holds a JSON list, not an object of class names (nor a list of entries "
                         '{"name": ..., "id": ..., "train_id": ...})')
    rows: list[tuple[str, int, int | None]] = []
    colour = None
    for number, entry in enumerate(data):
        if not isinstance(entry, _Pairs):
            raise _bad(path, f"entry {number} is not an object with a name and an id or a colour")
        item = dict(entry)
        name, raw = item.get("name"), item.get("id", item.get("color", item.get("colour")))
        train = item.get("train_id", item.get("trainId"))
        if not isinstance(name, str) or not name.strip() or raw is None:
            raise _bad(path, f'entry {number} needs a "name" and an "id" (mask value) or a "color" [r, g, b]')
        if train is not None and (isinstance(train, bool) or not isinstance(train, int)):
            raise _bad(path, f'entry "{name}" has train_id {json.dumps(train)}, not a whole number')
        packed = _colour(path, name, raw)
        if colour is not None and colour != (packed is not None):
            raise _bad(path, "mixes colours and mask values")
        colour = packed is not None
        rows.append((name, int(raw if packed is None else packed), train))
    if len({raw for _, raw, _ in rows}) < len(rows):
        raise _bad(path, "lists one id or colour twice")
    if all(train is None for _, _, train in rows):
        rows = [(name, raw, index) for index, (name, raw, _) in enumerate(rows)]
    ignore = tuple(raw for _, raw, train in rows if train is None or train in _IGNORED_TRAIN_IDS)
    kept = [(name, raw, train) for name, raw, train in rows if train is not None and train not in _IGNORED_TRAIN_IDS]
    ids = sorted({train for _, _, train in kept})
    if len(ids) < 2 or ids != list(range(len(ids))):
        raise _bad(path, f"train ids {format_values(ids)} are not 0, 1, 2, ... (at least 2 classes; 255 or -1: ignored)")
    names = tuple(next(name for name, _, train in kept if train == k) for k in ids)
    table = tuple((raw, train) for _, raw, train in kept)
    return ClassFile(path, names, tuple(raw for raw, _ in table), bool(colour), table, ignore)


def format_value(value, colour: bool) -> str:
    """``"(r, g, b)"`` for a packed colour, the number otherwise."""
    return str(unpack_rgb(value)) if colour else str(int(value))


def format_values(values, colour: bool = False) -> str:
    """Up to 8 values (or colours) joined by commas; longer lists are shortened."""
    values = [int(v) for v in values]
    shown = [format_value(v, colour) for v in values]
    if len(values) <= _MAX_LISTED:
        return ", ".join(shown)
    return ", ".join(shown[:6]) + f", ..., {shown[-1]} ({len(values)} {'colours' if colour else 'values'})"


def _points(values: np.ndarray, colour: bool) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    if colour:
        return np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=-1).astype(np.float64)
    return values[:, None].astype(np.float64)


def dominant_values(values: np.ndarray, counts: np.ndarray, colour: bool, jpeg: bool) -> np.ndarray:
    """The class values of a value histogram.

    Parameters
    ----------
    values, counts : numpy.ndarray
        Distinct values (or packed colours) and their pixel counts over all masks.
    colour : bool
        Values are packed colours.
    jpeg : bool
        The masks are JPEG files: class values are then the histogram peaks holding at
        least ``JPEG_PEAK_SHARE`` of the pixels with no stronger value within
        ``JPEG_RADIUS``; otherwise they are the values holding at least ``DOMINANT_SHARE``.

    Returns
    -------
    numpy.ndarray
        The class values, sorted.
    """
    values, counts = np.asarray(values), np.asarray(counts)
    total = counts.sum()
    if not jpeg:
        return np.sort(values[counts >= DOMINANT_SHARE * total])
    candidates = np.flatnonzero(counts >= JPEG_PEAK_SHARE * total)
    candidates = candidates[np.argsort(-counts[candidates], kind="stable")]
    points = _points(values[candidates], colour)
    kept: list[int] = []
    for i in range(len(candidates)):
        if not kept or np.min(np.linalg.norm(points[kept] - points[i], axis=1)) > JPEG_RADIUS[colour]:
            kept.append(i)
    return np.sort(values[candidates[kept]])


def snap_values(values: np.ndarray, counts: np.ndarray, targets: np.ndarray, colour: bool,
                max_share: float, jpeg: bool = False) -> dict[int, int] | None:
    """Map values near class values to the nearest one, if that is unambiguous.

    Parameters
    ----------
    values, counts : numpy.ndarray
        Distinct values (or packed colours) and their pixel counts over all masks.
    targets : numpy.ndarray
        The class values (at least 2).
    colour : bool
        Values are packed colours (distance: Euclidean in RGB).
    max_share : float
        Most pixels (share of all) allowed to hold values that are not class values.
    jpeg : bool
        The masks are known to be lossy: a value need only be closer to its nearest
        target than the smallest gap between targets (JPEG chroma subsampling moves
        colours at edges more than half-way), instead of half that gap.

    Returns
    -------
    dict of int to int or None
        Value -> nearest class value, for the values that are not class values (empty
        when there are none); None when the values do not look like lossy class values:
        fewer than 2 targets, more than ``max_share`` of the pixels off the targets, or a
        value not closer to its nearest target than half the smallest gap between targets
        (the whole gap when ``jpeg``).
    """
    from scipy.spatial import cKDTree

    values, counts, targets = np.asarray(values), np.asarray(counts), np.asarray(targets)
    if len(targets) < 2:
        return None
    off = ~np.isin(values, targets)
    if not off.any():
        return {}
    if counts[off].sum() > max_share * counts.sum():
        return None
    target_points = _points(targets, colour)
    tree = cKDTree(target_points)
    gap = tree.query(target_points, k=2)[0][:, 1].min()
    distance, nearest = tree.query(_points(values[off], colour))
    if not np.all(distance < (gap if jpeg else gap / 2)):
        return None
    return {int(v): int(targets[n]) for v, n in zip(values[off], nearest)}
