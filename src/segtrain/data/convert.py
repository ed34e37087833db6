"""Convert a dataset of instance masks into one that ``segtrain`` trains on.

Instance masks hold one id per object (0 is the background). :func:`convert_instances`
writes a new dataset folder and never changes the source folder:

``semantic``
    0 background, 1 any object.
``boundary``
    0 background, 1 object interior, 2 object boundary: the object pixels with a
    4-neighbour of a different id (background or another object), so two touching
    objects stay apart (their shared edge is class 2). Pixels on the image border
    count as boundary only through their neighbours inside the image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from segtrain.data.classes import CLASSES_FILE
from segtrain.data.discovery import discover
from segtrain.data.sample_io import read_sample_mask
from segtrain.errors import UserError

TARGETS = ("semantic", "boundary")
"""What instance masks can be converted to."""

_CLASSES = {"semantic": {"background": 0, "object": 1},
            "boundary": {"background": 0, "object": 1, "boundary": 2}}
_COPIED = ("split.json",)  # files of the dataset folder that travel with it


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def instance_boundaries(ids: np.ndarray) -> np.ndarray:
    """Object pixels with a 4-neighbour of a different id, as a bool ``(H, W)`` array.

    Parameters
    ----------
    ids : numpy.ndarray
        ``(H, W)`` instance ids, 0 for the background.
    """
    differs = np.zeros(ids.shape, dtype=bool)
    vertical = ids[1:, :] != ids[:-1, :]
    horizontal = ids[:, 1:] != ids[:, :-1]
    differs[1:, :] |= vertical
    differs[:-1, :] |= vertical
    differs[:, 1:] |= horizontal
    differs[:, :-1] |= horizontal
    return differs & (ids != 0)


def _convert(ids: np.ndarray, to: str) -> np.ndarray:
    classes = (ids != 0).astype(np.uint8)
    if to == "boundary":
        classes[instance_boundaries(ids)] = 2
    return classes


def convert_instances(data: Path | str, out: Path | str, to: str = "semantic") -> dict[str, int]:
    """Write ``out/`` from the instance masks of ``data/``: images copied, masks converted.

    Parameters
    ----------
    data : Path or str
        Dataset folder with ``images/`` and ``masks/`` (instance ids, any bit depth);
        only its complete image/mask pairs are converted. Never modified.
    out : Path or str
        New dataset folder: ``out/images/`` (copies, same names), ``out/masks/<stem>.png``
        (8-bit classes), ``out/classes.json``, and ``out/split.json`` if ``data`` has one.
        Must not exist or be empty, and must not lie inside ``data``.
    to : {"semantic", "boundary"}
        See the module docstring.

    Returns
    -------
    dict of str to int
        ``pairs`` written, ``objects`` (non-zero ids over all masks), ``object_pixels``
        and ``boundary_pixels`` (0 for ``semantic``).

    Raises
    ------
    UserError
        A bad ``to``, ``out`` not empty or inside ``data``, a dataset folder that cannot
        be scanned, or an unreadable mask (then nothing is left in ``out``).
    """
    from PIL import Image

    data, out = Path(data), Path(out)
    if to not in TARGETS:
        raise UserError(f"--to {to}: unknown target; pass --to semantic or --to boundary")
    if _is_inside(out, data):
        raise UserError(f"{out}: inside the dataset folder {data}; pass an output folder outside it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: {'not empty' if out.is_dir() else 'not a folder'}; "
                        "pass a new or empty output folder")
    found = discover(data)
    existed = out.exists()
    counts = {"pairs": 0, "objects": 0, "object_pixels": 0, "boundary_pixels": 0}
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "masks").mkdir(exist_ok=True)
        for sample in found.samples:
            ids = read_sample_mask(sample)
            classes = _convert(ids, to)
            Image.fromarray(classes).save(out / "masks" / f"{sample.stem}.png")
            shutil.copy2(sample.image, out / "images" / sample.image.name)
            values = np.unique(ids)
            counts["pairs"] += 1
            counts["objects"] += int(np.count_nonzero(values))
            counts["object_pixels"] += int(np.count_nonzero(classes))
            counts["boundary_pixels"] += int(np.count_nonzero(classes == 2))
        (out / CLASSES_FILE).write_text(json.dumps(_CLASSES[to]) + "\n", encoding="utf-8")
        for name in _COPIED:
            if (data / name).is_file():
                shutil.copy2(data / name, out / name)
    except BaseException:
        if existed:
            for child in out.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return counts
