"""Recognise where a dataset keeps its images and masks, as public datasets are distributed.

:func:`find_layout` looks, in this order, for

1. ``--images DIR`` / ``--masks DIR`` (:class:`LayoutOptions`, relative to DATA or absolute);
2. an image and a mask folder side by side (:data:`IMAGE_DIRS`, :data:`MASK_DIRS`: ``images/ + masks/``,
   ``imgs/ + gt/``, ``JPEGImages/ + SegmentationClass/``, ``images/ + 1st_manual/`` ...);
3. split folders (:data:`SPLIT_NAMES`: ``train/ val/ test/``, ``training/ test/``), each with its own
   image and mask folders (DRIVE: ``training/images``, ``training/1st_manual``);
4. folder pairs ``<x>/ + <x>annot/`` (CamVid as SegNet ships it: ``train/ trainannot/ val/ valannot/``);
5. one folder per image with ``images/`` and ``masks/`` inside, one mask file per object (Data
   Science Bowl 2018 nuclei).

When none fits, a folder with a single folder inside (``VOCdevkit/VOC2012``) is looked into. An image
folder that holds folders instead of files is followed into the folders of the same name in the mask
folder (Cityscapes: ``leftImg8bit/train/<city>`` + ``gtFine/train/<city>``); a first level named like
splits gives the split. A region-of-interest folder beside the masks (:data:`ROI_DIRS`, e.g. DRIVE's
``mask/`` field of view, or ``--roi DIR``) is found too, and VOC's ``ImageSets/Segmentation/<split>.txt``
lists give the split. Only folder listings are read; nothing on disk is changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from segtrain._text import plural
from segtrain.errors import UserError

SPLIT_NAMES: dict[str, str] = {"train": "train", "training": "train", "trn": "train", "val": "val",
                               "valid": "val", "validation": "val", "test": "test", "testing": "test"}
"""Folder names (compared without case) that are splits, and the split each is."""
IMAGE_DIRS: tuple[str, ...] = ("images", "image", "imgs", "img", "jpegimages", "leftimg8bit", "input", "inputs",
                               "raw")
"""Image folder names (compared without case), the first present wins."""
MASK_DIRS: tuple[str, ...] = ("masks", "segmentationclass", "labels", "label", "1st_manual", "gtfine", "gt",
                              "groundtruth", "ground_truth", "annotations", "annotation", "ann", "annot",
                              "manual", "targets", "target", "segmentations", "segmentation", "mask")
"""Mask folder names (compared without case), the first present wins; ``mask`` last, since DRIVE's
``mask/`` is the field of view beside ``1st_manual/``."""
ROI_DIRS: tuple[str, ...] = ("roi", "rois", "fov", "mask")
"""Region-of-interest folder names beside the mask folder (compared without case)."""
_ANNOT = re.compile(r"(?P<x>.+?)[_-]?(annot|annots|annotations?|labels?|masks?|gt)", re.IGNORECASE)
_FILE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif"})
_MAX_DEPTH = 3
_SHOWN = 3


@dataclass(frozen=True)
class LayoutOptions:
    """The user's layout options: ``--images``, ``--masks``, ``--mask-pattern``, ``--roi`` (all optional)."""

    images: Path | str | None = None
    masks: Path | str | None = None
    mask_pattern: str | None = None
    roi: Path | str | None = None

    @classmethod
    def from_config(cls, data) -> "LayoutOptions":
        """The options a run's ``data`` config section holds (``data.images`` ...): the config model or its dict."""
        get = data.get if isinstance(data, dict) else (lambda key: getattr(data, key, None))
        return cls(get("images"), get("masks"), get("mask_pattern"), get("roi"))


@dataclass
class Group:
    """One image folder with its mask folder (None: no masks beside it) and region-of-interest folder."""

    images: Path
    masks: Path | None
    roi: Path | None = None
    split: str | None = None
    name: str = ""
    """The group's folders below the layout, joined by ``_`` (``train_aachen``): the prefix that makes
    repeated file names unique."""
    instances: bool = False
    """One folder per image (``<id>/images/<id>.png``, ``<id>/masks/*.png``) below ``images``."""


@dataclass
class Layout:
    """What :func:`find_layout` recognised; :mod:`segtrain.data.discovery` adds the pairing lines."""

    root: Path
    kind: str
    groups: list[Group]
    base: Path | None = None
    """The folder the layout was found in, when not ``root`` (a single folder inside it)."""
    lists: dict[str, list[str]] | None = None
    """Stems per split from list files (VOC's ``ImageSets/Segmentation``), else None."""
    list_files: list[Path] = field(default_factory=list)
    pairing: list[str] = field(default_factory=list)
    split_source: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def rel(self, path: Path | None) -> str:
        if path is None:
            return "-"
        try:
            return "" if path == self.root else str(path.relative_to(self.root)) + "/"
        except ValueError:
            return str(path) + "/"

    def folders(self) -> list[str]:
        """One line per group: ``images -> masks (region of interest: roi) [split]``."""
        lines = []
        for g in self.groups:
            if g.instances:
                lines.append(f"{self.rel(g.images)}<id>/images/ + {self.rel(g.images)}<id>/masks/ (one file per "
                             f"object)")
                continue
            roi = f" (region of interest: {self.rel(g.roi)})" if g.roi is not None else ""
            split = f" [{g.split}]" if g.split else ""
            masks = self.rel(g.masks) if g.masks is not None else "no masks (not used)"
            lines.append(f"{self.rel(g.images)} + {masks}{roi}{split}")
        return lines

    def describe(self) -> list[str]:
        """What ``segtrain check`` prints about the layout (each line without a prefix)."""
        folders = self.folders()
        shown = folders[:_SHOWN] + ([f"... and {len(folders) - _SHOWN} more folder pairs"]
                                    if len(folders) > _SHOWN else [])
        lines = [f"layout: {self.kind}" + (f" in {self.base}" if self.base is not None else "")]
        lines += [f"folders: {line}" for line in shown if line != self.kind]  # images/ + masks/ once
        lines += [f"pairing: {line}" for line in self.pairing]
        if self.split_source:
            lines.append(f"split: {self.split_source}")
        if self.counts:
            lines.append("counts: " + ", ".join(plural(n, "pair") if k == "pairs" else f"{n} {k}"
                                                for k, n in self.counts.items()))
        return lines

    def to_dict(self) -> dict:
        return {"kind": self.kind, "base": None if self.base is None else str(self.base),
                "folders": self.folders(), "pairing": list(self.pairing), "split": self.split_source,
                "counts": dict(self.counts)}


def _subdirs(folder: Path) -> dict[str, Path]:
    """Visible subfolders by lower-case name."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError:
        return {}
    return {p.name.casefold(): p for p in entries if not p.name.startswith(".") and p.is_dir()}


def _has_files(folder: Path, depth: int = _MAX_DEPTH) -> bool:
    """Whether ``folder`` (or a folder below it, ``depth`` levels down) holds an image or mask file."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    if any(p.suffix.lower() in _FILE_EXTS and not p.name.startswith(".") for p in entries):
        return True
    return depth > 0 and any(p.is_dir() and _has_files(p, depth - 1) for p in entries)


def _pick(dirs: dict[str, Path], names: tuple[str, ...], skip: Path | None = None) -> Path | None:
    for name in names:
        path = dirs.get(name)
        if path is not None and path != skip and _has_files(path):
            return path
    return None


def _side_by_side(folder: Path) -> tuple[Path | None, Path | None, Path | None]:
    """The image, mask and region-of-interest folders directly inside ``folder`` (None where absent)."""
    dirs = _subdirs(folder)
    images, masks = _pick(dirs, IMAGE_DIRS), _pick(dirs, MASK_DIRS)
    roi = _pick(dirs, ROI_DIRS, skip=masks) if masks is not None else None
    return images, masks, roi


def _flat(base: Path) -> Layout | None:
    if (base / "images").is_dir() and (base / "masks").is_dir():  # the contract's names: used even when empty
        images, masks = base / "images", base / "masks"
        roi = _pick(_subdirs(base), ROI_DIRS, skip=masks)
    else:
        images, masks, roi = _side_by_side(base)
    if images is None or masks is None:
        return None
    kind = f"{images.name}/ + {masks.name}/"
    return Layout(base, kind, [Group(images, masks, roi)])


def _split_folders(base: Path) -> Layout | None:
    groups = []
    for name, folder in _subdirs(base).items():
        if name in SPLIT_NAMES:
            images, masks, roi = _side_by_side(folder)
            if images is not None:
                groups.append(Group(images, masks, roi, SPLIT_NAMES[name], folder.name))
    if not any(g.masks is not None for g in groups):
        return None
    groups.sort(key=lambda g: ("train", "val", "test").index(g.split))
    better = any(g.masks is not None and g.masks.name.casefold() != "mask" and g.roi is not None
                 and g.roi.name.casefold() == "mask" for g in groups)
    for g in groups:  # DRIVE's test/ may hold images/ + mask/ only: mask/ is its field of view there too
        if better and g.masks is not None and g.masks.name.casefold() == "mask":
            g.masks, g.roi = None, g.masks
    names = ", ".join(f"{g.images.parent.name}/" for g in groups)
    return Layout(base, f"split folders {names} each with image and mask folders", groups)


def _annot_pairs(base: Path) -> Layout | None:
    dirs = _subdirs(base)
    groups = []
    for name, folder in dirs.items():
        match = _ANNOT.fullmatch(name)
        if match is not None and match.group("x") in dirs:
            images = dirs[match.group("x")]
            groups.append(Group(images, folder, None, SPLIT_NAMES.get(images.name.casefold()), images.name))
    if not groups:
        return None
    groups.sort(key=lambda g: (("train", "val", "test", None).index(g.split), g.name))
    names = ", ".join(f"{g.images.name}/ + {g.masks.name}/" for g in groups)
    return Layout(base, f"folder pairs {names}", groups)


def _instances(base: Path) -> Layout | None:
    dirs = list(_subdirs(base).values())
    cases = [d for d in dirs if (d / "images").is_dir()]
    if not cases or len(cases) * 2 < len(dirs) or not any((d / "masks").is_dir() for d in cases):
        return None
    return Layout(base, "one folder per image with images/ and masks/ (one mask file per object)",
                  [Group(base, None, instances=True)])


def _expand(group: Group, depth: int = 0) -> list[Group]:
    """An image folder of folders followed into the mask folder's folders of the same names."""
    if group.instances or group.masks is None or depth >= _MAX_DEPTH or _has_files(group.images, 0):
        return [group]
    subs = _subdirs(group.images)
    if not subs:
        return [group]
    mask_subs = _subdirs(group.masks)
    roi_subs = _subdirs(group.roi) if group.roi is not None else {}
    out: list[Group] = []
    for key, folder in subs.items():
        split = group.split or (SPLIT_NAMES.get(key) if depth == 0 else None)
        name = f"{group.name}_{folder.name}" if group.name else folder.name
        out += _expand(Group(folder, mask_subs.get(key), roi_subs.get(key), split, name), depth + 1)
    return out


def _lists(base: Path) -> tuple[dict[str, list[str]] | None, list[Path]]:
    """VOC's ``ImageSets/Segmentation/{train,val,test}.txt``: stems per split."""
    folder = base / "ImageSets" / "Segmentation"
    files = [folder / f"{name}.txt" for name in ("train", "val", "test") if (folder / f"{name}.txt").is_file()]
    if not files:
        return None, []
    lists = {name: [] for name in ("train", "val", "test")}
    for path in files:
        lines = path.read_text(encoding="utf-8", errors="replace").split()
        lists[path.stem] = [line.strip() for line in lines if line.strip()]
    return lists, files


def _resolve(root: Path, value, flag: str, what: str) -> Path:
    path = Path(value)
    path = path if path.is_absolute() else root / path
    if not path.is_dir():
        raise UserError(f"{flag} {value}: {'not a folder' if path.exists() else 'no such folder'} ({path}); "
                        f"pass the folder that holds the {what}, relative to {root} or absolute")
    return path


def _explicit(root: Path, options: LayoutOptions) -> Layout:
    images = _resolve(root, options.images, "--images", "images") if options.images else None
    masks = _resolve(root, options.masks, "--masks", "masks") if options.masks else None
    if images is None:
        images = _pick(_subdirs(masks.parent), IMAGE_DIRS, skip=masks)
        if images is None:
            raise UserError(f"--masks {options.masks}: no image folder beside it; pass --images DIR too")
    if masks is None:
        masks = _pick(_subdirs(images.parent), MASK_DIRS, skip=images)
        if masks is None:
            raise UserError(f"--images {options.images}: no mask folder beside it; pass --masks DIR too")
    roi = _pick(_subdirs(masks.parent), ROI_DIRS, skip=masks) if images.parent == masks.parent else None
    return Layout(root, "folders given by --images and --masks", [Group(images, masks, roi)])


def _with_roi(layout: Layout, roi) -> None:
    """``--roi DIR``: one folder for a single group, else ``<group's folder>/DIR`` in each split folder."""
    if len(layout.groups) == 1:
        layout.groups[0].roi = _resolve(layout.root, roi, "--roi", "region-of-interest masks")
        return
    for group in layout.groups:
        beside = group.images.parent / str(roi)
        group.roi = beside if beside.is_dir() else _resolve(layout.root, roi, "--roi", "region-of-interest masks")


def find_layout(root: Path, options: LayoutOptions | None = None) -> Layout:
    """The layout of the dataset folder ``root`` (see the module docstring); a UserError when none fits."""
    options = options or LayoutOptions()
    if options.images or options.masks:
        layout = _explicit(root, options)
    else:
        layout = _recognise(root)
    before = [g.images for g in layout.groups]
    layout.groups = [g for group in layout.groups for g in _expand(group)]
    if [g.images for g in layout.groups] != before:
        layout.kind += ", in nested folders"
    if options.roi:
        _with_roi(layout, options.roi)
    lists, files = _lists(layout.base or root)
    if lists is not None and not any(g.split for g in layout.groups):
        layout.lists, layout.list_files = lists, files
    return layout


def _recognise(root: Path) -> Layout:
    base = root
    for _ in range(_MAX_DEPTH + 1):
        for finder in (_flat, _split_folders, _annot_pairs, _instances):
            layout = finder(base)
            if layout is not None:
                layout.root, layout.base = root, (base if base != root else None)
                return layout
        inside = list(_subdirs(base).values())
        if len(inside) != 1 or _has_files(base, 0):
            break
        base = inside[0]
    raise _unreadable(root)


def _unreadable(root: Path) -> UserError:
    """The one line for a folder no layout fits: what is there and the flags that say where things are."""
    dirs = [p for p in _subdirs(root).values()]
    images, masks, _ = _side_by_side(root)
    if images is not None or (root / "images").is_dir():
        masks_dir = root / "masks"
        return UserError(f"{masks_dir}: missing; put one mask per image in {masks_dir}/<stem>.png")
    files = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in _FILE_EXTS]
    if masks is not None or (root / "masks").is_dir():
        images_dir = root / "images"
        hint = f" (found {len(files)} image files directly in {root})" if files else ""
        return UserError(f"{images_dir}: missing{hint}; put the images in {images_dir}/<stem>.png")
    found = ", ".join(f"{p.name}/" for p in dirs[:6]) + (f" and {len(dirs) - 6} more" if len(dirs) > 6 else "")
    what = f"found folders {found}" if dirs else (f"found {len(files)} image files and no folders" if files
                                                  else "found no folders")
    return UserError(f"{root}: no image and mask folders recognised ({what}); pass --images DIR --masks DIR "
                     f"(relative to {root}), or put the images in {root / 'images'}/ and the masks in "
                     f"{root / 'masks'}/")
