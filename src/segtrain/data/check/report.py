"""The result of a data check: :class:`CheckReport`, what :func:`~segtrain.data.check.dataset.check_dataset` found."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from segtrain.data.discovery import Sample
from segtrain.data.layouts import Layout

SHOWN_REPEATS = 3
"""Lines shown of a problem repeated over many files; the rest is one line with their count."""


def _template(line: str) -> tuple[str, str]:
    """``(folder, what)`` of a problem line ``<path>: <what>; <fix>``, the file's own name and every number
    left out of ``what``: lines about different files with the same problem share it."""
    head, sep, rest = line.partition(": ")
    if not sep:
        return "", line
    path = Path(head)
    for name in sorted({path.name, path.stem}, key=len, reverse=True):
        if name:
            rest = rest.replace(name, "\0")
    return str(path.parent), re.sub(r"\d+", "#", rest)


def summarise_repeats(lines: list[str], shown: int = SHOWN_REPEATS) -> list[str]:
    """``lines`` with each problem repeated over more than ``shown + 1`` files of one folder cut to its first
    ``shown`` lines and one line ``<folder>: ... and N more files with the same problem (<what>)``.

    10,000 stray files give four lines, not 10,000; the order of first appearance is kept.
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for index, line in enumerate(lines):
        groups.setdefault(_template(line), []).append(index)
    out: list[str] = []
    for index, line in enumerate(lines):
        key = _template(line)
        members = groups[key]
        if len(members) <= shown + 1 or index in members[:shown]:
            out.append(line)
        elif index == members[shown]:
            what = line.partition(": ")[2].split(";")[0]
            out.append(f"{key[0]}: ... and {len(members) - shown} more files with the same problem "
                       f"(like {Path(line.partition(': ')[0]).name}: {what})")
    return out

@dataclass
class CheckReport:
    """The result of :func:`check_dataset`.

    Attributes
    ----------
    root : Path
        The dataset folder, as given.
    n_pairs : int
        Complete image/mask pairs found.
    problems : list of str
        One line per problem; empty means the dataset is usable.
    notices : list of str
        Informational lines (inferred classes, 0/255 masks, lossy masks ...); empty when there
        are problems, so a failed check shows only what must be fixed.
    channels : int or None
        Channel count shared by all images (1 or 3); None if mixed or unknown.
    num_classes : int
        Number of classes, given or inferred (0 if no mask could be read).
    label_mapping : dict of int to int
        Raw mask value (packed colour when ``colour_masks``) -> class index, e.g. ``{0: 0, 255: 1}``.
    sizes : dict of str to (int, int)
        Stem -> image (H, W), for every pair whose image could be read.
    class_pixels : list of int
        Pixels per class over the masks of the pairs without any problem.
    class_names : list of str or None
        Class names from ``classes.json``; None without one.
    colour_masks : bool
        Read the masks with ``read_mask(path, colour=True)``.
    colours : list of ([int, int, int], int)
        Colour-coded masks: each colour found and its pixels, in the order of the
        suggested ``classes.json`` (black first, then by pixels); else empty.
    lossy_share : float
        Share of the pixels of the lossy masks that were mapped to the nearest class value (0 if none).
    mask_format : str
        "index", "binary", "binary 0/255", "colour", "lossy" or "instance" (see the module docstring).
    samples : list of Sample
        The complete pairs found, sorted by stem (not part of :meth:`to_dict`).
    class_pixels_per_image : dict of str to list of int
        Stem -> pixels per class, for every pair without any problem (not part of :meth:`to_dict`).
    intensity : dict of str to (float, float, float, float)
        Stem -> (mean, std, min, max) of the image's raw values over all channels (not part of :meth:`to_dict`).
    ignored_pixels : int
        Pixels ignored (an ignore value's, outside regions of interest) over the masks without a problem.
    ignored_per_image : dict of str to int
        Stem -> its ignored pixels (not part of :meth:`to_dict`).
    proposed_classes : str or None
        A ready ``classes.json`` for colour-coded masks found without one (printed by ``check``, never written).
    """

    root: Path
    n_pairs: int
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    channels: int | None = None
    num_classes: int = 0
    label_mapping: dict[int, int] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    class_pixels: list[int] = field(default_factory=list)
    class_names: list[str] | None = None
    colour_masks: bool = False
    colours: list[tuple[list[int], int]] = field(default_factory=list)
    lossy_share: float = 0.0
    mask_format: str = "index"
    multilabel: list[str] | None = None
    samples: list[Sample] = field(default_factory=list)
    class_pixels_per_image: dict[str, list[int]] = field(default_factory=dict)
    intensity: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    split: dict[str, list[str]] | None = None
    """The split the dataset's layout gives (split folders, list files), else None (not part of :meth:`to_dict`)."""
    layout: Layout | None = None
    """What :func:`~segtrain.data.discovery.discover` recognised; ``to_dict()["layout"]``."""
    ignored_pixels: int = 0
    ignored_per_image: dict[str, int] = field(default_factory=dict)
    proposed_classes: str | None = None

    @classmethod
    def of(cls, found) -> "CheckReport":
        """The report of a :class:`~segtrain.data.discovery.Discovery` before any file is read."""
        return cls(root=found.root, n_pairs=len(found.samples), problems=list(found.problems),
                   notices=list(found.notices), samples=list(found.samples), split=found.split, layout=found.layout)

    def understood(self) -> list[str]:
        """What ``check`` prints: the layout's lines, then each notice (``notice: ...``) not said by them."""
        said = self.layout.pairing if self.layout is not None else []
        notices = [f"notice: {n}" for n in self.notices if not any(n.endswith(": " + line) for line in said)]
        return (self.layout.describe() if self.layout is not None else []) + notices

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict (paths as str, mapping keys as str)."""
        return {
            "root": str(self.root),
            "ok": self.ok,
            "n_pairs": self.n_pairs,
            "problems": list(self.problems),
            "notices": list(self.notices),
            "channels": self.channels,
            "num_classes": self.num_classes,
            "label_mapping": {str(k): int(v) for k, v in self.label_mapping.items()},
            "sizes": {stem: [int(h), int(w)] for stem, (h, w) in self.sizes.items()},
            "class_pixels": [int(n) for n in self.class_pixels],
            "class_names": None if self.class_names is None else list(self.class_names),
            "colour_masks": self.colour_masks,
            "colours": [[[int(c) for c in rgb], int(n)] for rgb, n in self.colours],
            "lossy_share": float(self.lossy_share),
            "mask_format": self.mask_format,
            "multilabel": None if self.multilabel is None else list(self.multilabel),
            "ignored_pixels": int(self.ignored_pixels),
            "proposed_classes": self.proposed_classes,
            "layout": None if self.layout is None else self.layout.to_dict(),
        }


