"""Find the image/mask pairs of a dataset folder.

The dataset contract::

    DATA/images/<stem>.<ext>    .png .jpg .jpeg .tif .tiff .gif (any case)
    DATA/masks/<stem>.<ext>     .png .tif .tiff .gif (.jpg/.jpeg read, with a notice)

Images and masks pair by stem. Other layouts, as public datasets ship them (split folders, other folder
names, nested folders, one mask file per object, a region-of-interest folder), are recognised by
:mod:`segtrain.data.layouts`; masks named after their images by a rule (``21_training`` <->
``21_manual1``) pair by :mod:`segtrain.data.pairing`; the samples of several folders are put together
by :mod:`segtrain.data.assemble` (unique stems, the split the folders give).

Hidden files (names starting with ``.``), system files (``Thumbs.db``, ``desktop.ini``) and folders are skipped silently; files with
other extensions are ignored with a notice. Nothing is read beyond the folder
listings and nothing on disk is changed.

Problems that the user must fix but that do not stop the scan (an image without
a mask, a mask without an image, two files with the same stem) are collected as
one line each, in the form ``<path>: <what is wrong>; <the fix>``. A dataset
that cannot be scanned at all (missing folder, no images) raises
:class:`~segtrain.errors.UserError`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from segtrain.data import assemble
from segtrain.data.headers import not_regular
from segtrain.data.layouts import Group, Layout, LayoutOptions, find_layout
from segtrain.data.pairing import is_companion, near_names, rekey
from segtrain.errors import UserError

IMAGE_EXTS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif"})
"""Suffixes (lower case) accepted for images."""

MASK_EXTS: frozenset[str] = frozenset({".png", ".tif", ".tiff", ".gif"})
"""Suffixes (lower case) accepted for masks without a notice."""

LOSSY_MASK_EXTS: frozenset[str] = frozenset({".jpg", ".jpeg"})
"""Suffixes read as masks too, but reported as a notice (lossy compression)."""

_LOSSY_NOTICE = "lossy format; values near class boundaries may be wrong, save masks as PNG"
_MAX_LISTED = 3  # per-file notices beyond this are folded into one summary line
_SYSTEM_FILES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini"})  # written by file browsers: skipped silently


@dataclass(frozen=True)
class Sample:
    """One complete image/mask pair.

    Attributes
    ----------
    stem : str
        File name without its extension, shared by image and mask.
    image, mask : Path
        Paths of the two files, built on the root as the user gave it.
    """

    stem: str
    image: Path
    mask: Path
    labels: tuple[tuple[str, Path], ...] = ()
    """Multilabel masks stored one file per label (``masks/<stem>_<label>.png``): ``(label, path)``
    pairs sorted by label; ``mask`` is then the first of them. Empty for one mask per image."""
    roi: Path | None = None
    """The image's region of interest (a mask whose nonzero pixels count; DRIVE's field of view), or None
    when the whole image counts. Pixels outside it are ignored in training and scoring."""
    page: int | None = None
    """For a multi-page TIFF read one page per image: the page (0-based) of ``image`` and ``mask`` this
    sample is; None for an ordinary file."""
    instances: tuple[Path, ...] = ()
    """Per-instance masks (one file per object, as the Data Science Bowl 2018 ships them): every file is
    one object, merged into the sample's semantic mask when it is read; ``mask`` is then the first of them."""


@dataclass
class Discovery:
    """What :func:`discover` found in a dataset folder.

    Attributes
    ----------
    root : Path
        The dataset folder, as given.
    samples : list of Sample
        Complete, unambiguous pairs, sorted by stem.
    problems : list of str
        One line per problem (``<path>: <what is wrong>; <the fix>``).
    notices : list of str
        Informational lines (lossy masks, ignored files, the pairing rule).
    split : dict or None
        ``{"train": [stems], "val": [...], "test": [...]}`` when the layout gives the split (split
        folders, VOC's list files), else None.
    layout : Layout or None
        What was recognised (:meth:`~segtrain.data.layouts.Layout.describe` gives the lines ``check`` prints).
    """

    root: Path
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    split: dict[str, list[str]] | None = None
    layout: Layout | None = None


def _listing(folder: Path, exts: frozenset[str], irregular: dict[Path, str] | None = None
             ) -> tuple[dict[str, list[Path]], list[Path]]:
    """Group the files of ``folder`` with a suffix in ``exts`` by stem.

    Entries named like an image or mask that are not regular files (a folder, a FIFO, a broken
    symbolic link; told by ``os.stat`` alone, never opened) go into ``irregular`` (path -> what it is).

    Returns
    -------
    by_stem : dict
        stem -> paths (sorted by name), for the accepted files.
    ignored : list of Path
        Visible files with another suffix.
    """
    by_stem: dict[str, list[Path]] = defaultdict(list)
    ignored: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.lower() in _SYSTEM_FILES:
            continue
        kind = not_regular(entry)
        if kind is not None:
            if entry.suffix.lower() in exts and irregular is not None:
                irregular[entry] = kind
            continue
        if entry.suffix.lower() in exts:
            by_stem[entry.stem].append(entry)
        else:
            ignored.append(entry)
    return dict(by_stem), ignored


def _label_files(images: dict[str, list[Path]], masks: dict[str, list[Path]]) -> dict[str, list[tuple[str, Path]]]:
    """Multilabel masks stored as ``<stem>_<label>.<ext>``: taken out of ``masks``, grouped by image stem.

    A mask stem is read this way only when it matches no image, its part before the last ``_``
    is an image stem, and that image has no mask of its own.
    """
    grouped: dict[str, list[tuple[str, Path]]] = defaultdict(list)
    for stem in sorted(masks):
        if stem in images or "_" not in stem:
            continue
        base, label = stem.rsplit("_", 1)
        if base in images and base not in masks and label and len(masks[stem]) == 1:
            grouped[base].append((label, masks[stem][0]))
    for base, labels in grouped.items():
        for label, _ in labels:
            del masks[f"{base}_{label}"]
        labels.sort()
    return dict(grouped)


def _require_folder(path: Path, fix: str, absent: str = "missing") -> None:
    """Raise :class:`UserError` unless ``path`` is an existing folder."""
    if not path.exists():
        raise UserError(f"{path}: {absent}; {fix}")
    if not path.is_dir():
        raise UserError(f"{path}: not a folder; {fix}")


def _names(files: list[Path]) -> str:
    """The first few names of ``files``, then how many more."""
    more = f" and {len(files) - _MAX_LISTED} more" if len(files) > _MAX_LISTED else ""
    return ", ".join(p.name for p in files[:_MAX_LISTED]) + more


def _ignored_notice(folder: Path, ignored: list[Path], what: str) -> str:
    return f"{folder}: ignored {len(ignored)} file(s) that are not {what} ({_names(ignored)})"


def discover(root: Path | str, layout: LayoutOptions | None = None) -> Discovery:
    """List the image/mask pairs of a dataset folder.

    Parameters
    ----------
    root : Path or str
        The dataset folder (``images/`` and ``masks/``, or a layout :mod:`segtrain.data.layouts` knows).
    layout : LayoutOptions, optional
        ``--images``, ``--masks``, ``--mask-pattern`` and ``--roi`` (a run's ``data`` section:
        :meth:`LayoutOptions.from_config`).

    Returns
    -------
    Discovery
        The complete pairs plus one line per problem and per notice, the layout and its split.

    Raises
    ------
    UserError
        If ``root`` is missing or not a folder, no layout fits it, or its image folder holds no images.
    """
    root = Path(root)
    _require_folder(root, "pass the folder that holds images/ and masks/", "no such folder")
    options = layout or LayoutOptions()
    found = Discovery(root=root, layout=find_layout(root, options))
    groups = found.layout.groups
    keep = assemble.listed(found.layout)
    parts: list[tuple[Group, list[Sample]]] = []
    for group in groups:
        if group.instances:
            cases, problems = assemble.instance_cases(group.images)
            found.problems.extend(problems)
            found.layout.pairing.append("one image per folder; each file in its masks/ is one object")
            parts.append((group, [Sample(stem, image, masks[0], instances=tuple(masks))
                                  for stem, image, masks in cases]))
        elif group.masks is None:
            found.notices.append(assemble.unused(group))
        else:
            samples = _pair_folder(found, group, options.mask_pattern, len(groups) == 1, keep)
            parts.append((group, _with_roi(found, samples, group.roi) if group.roi is not None else samples))
    assemble.finish(found, parts, keep)
    if not found.samples and not found.problems:  # e.g. image folders without any mask folder
        why = found.notices[0] if found.notices else "no files"
        raise UserError(f"{root}: no image/mask pairs in {found.layout.kind} ({why}); pass --images DIR --masks DIR")
    return found


def _pair_folder(found: Discovery, group: Group, pattern: str | None, alone: bool,
                 keep: set[str] | None) -> list[Sample]:
    """The samples of one image folder and its mask folder; problems and notices go to ``found``."""
    images_dir, masks_dir = group.images, group.masks
    _require_folder(images_dir, f"put the images in {images_dir}/<stem>.png")
    _require_folder(masks_dir, f"put one mask per image in {masks_dir}/<stem>.png")
    irregular: dict[Path, str] = {}
    images, ignored_images = _listing(images_dir, IMAGE_EXTS, irregular)
    masks, ignored_masks = _listing(masks_dir, MASK_EXTS | LOSSY_MASK_EXTS, irregular)
    ignored_masks = [p for p in ignored_masks if not is_companion(p.stem)]  # Cityscapes' _polygons.json
    if keep is not None and len(images) > len(kept := {s: p for s, p in images.items() if s in keep}):
        found.notices.append(f"{images_dir}: {len(images) - len(kept)} image(s) not in the split lists are not used")
        images = kept
    if not images and not irregular:
        found_only = f" (only {_names(ignored_images)})" if ignored_images else ""
        if not alone:
            found.notices.append(f"{images_dir}: no images (.png, .jpg, .tif) found{found_only}; not used")
            return []
        raise UserError(
            f"{images_dir}: no images (.png, .jpg, .tif) found{found_only}; "
            f"put the images there as <stem>.png, <stem>.jpg or <stem>.tif"
        )
    rekeyed = rekey(images, masks, _same_names(images, masks), pattern)
    masks = rekeyed.masks
    images = {stem: paths for stem, paths in images.items() if stem not in rekeyed.taken}
    label_files = _label_files(images, masks) if rekeyed.rule is None else {}
    names = frozenset(name for pairs in label_files.values() for name, _ in pairs)
    assemble.announce(found, rekeyed, masks_dir, labels=names)
    part = Discovery(root=found.root)
    part.problems.extend(rekeyed.problems)
    stems = set(images) | set(masks)
    for path, kind in irregular.items():
        if kind == "a folder" and path.stem not in stems:
            continue  # a folder named like an image, with nothing to pair with: skipped like any folder
        part.problems.append(f"{path}: not a regular file ({kind}); replace it with the "
                             f"{'image' if path.parent == images_dir else 'mask'} file or remove it")
    _duplicate_stems(part, ((images_dir, images), (masks_dir, masks)))
    taken = {p.stem for p in irregular} | _colliding_masks(part, images, masks, images_dir)
    taken |= near_names(part.problems, images, masks)
    images = {stem: paths for stem, paths in images.items() if stem not in taken or stem in masks}
    masks = {stem: paths for stem, paths in masks.items() if stem not in taken or stem in images}
    _pair(part, images, masks, label_files, ignored_masks, images_dir, masks_dir)
    _pair_labels(part, images, label_files, masks_dir)
    _format_notices(part, masks, masks_dir)
    if ignored_images:
        part.notices.append(_ignored_notice(images_dir, ignored_images, "images (.png, .jpg, .tif)"))
    if ignored_masks:
        part.notices.append(_ignored_notice(masks_dir, ignored_masks, "masks (.png, .tif)"))
    found.problems.extend(part.problems)
    found.notices.extend(part.notices)
    return part.samples


def _same_names(images, masks) -> int:
    """Images that pair without a rule: equal stems and ``<stem>_<label>`` names."""
    rest = dict(masks)
    return len(set(images) & set(rest)) + len(_label_files(images, rest))


def _with_roi(found: Discovery, samples: list[Sample], roi_dir: Path) -> list[Sample]:
    """Each sample with its region-of-interest mask from ``roi_dir``, paired by the same rules as the masks."""
    images = {s.stem: [s.image] for s in samples}
    rois, _ = _listing(roi_dir, MASK_EXTS | LOSSY_MASK_EXTS)
    rekeyed = rekey(images, rois, len(set(images) & set(rois)))
    assemble.announce(found, rekeyed, roi_dir, what="region of interest")
    found.problems.extend(rekeyed.problems)
    out = [replace(s, roi=rekeyed.masks[s.stem][0]) if len(rekeyed.masks.get(s.stem, ())) == 1
           and s.stem not in rekeyed.taken else s for s in samples]
    missing = [s for s in out if s.roi is None and s.stem not in rekeyed.taken]
    if missing:
        found.notices.append(f"{roi_dir}: no region-of-interest mask for {len(missing)} image(s) (e.g. "
                             f"{missing[0].image.name}): the whole image counts there")
    return out


def _duplicate_stems(found: Discovery, listings) -> None:
    """One problem per stem that names several files of one folder."""
    for folder, listing in listings:
        for stem, paths in sorted(listing.items()):
            if len(paths) > 1:
                names = ", ".join(p.name for p in paths[1:])
                found.problems.append(
                    f"{paths[0]}: same stem as {names} in {folder}; "
                    f"keep one file per stem (rename or remove the others)"
                )


def _pair(found: Discovery, images, masks, label_files, ignored_masks, images_dir: Path, masks_dir: Path) -> None:
    """Pair each image with the mask of its stem; an image without a mask, or a mask without an image, is a problem."""
    # Suggest the extension the user's masks already use.
    mask_ext_counts = Counter(p.suffix for paths in masks.values() for p in paths
                              if p.suffix.lower() in MASK_EXTS)
    mask_ext = mask_ext_counts.most_common(1)[0][0] if mask_ext_counts else ".png"
    for stem in sorted(set(images) | set(masks)):
        image_paths, mask_paths = images.get(stem, []), masks.get(stem, [])
        if not mask_paths and stem in label_files:
            continue  # multilabel: one mask file per label, paired by _pair_labels
        if not mask_paths:
            other = next((p for p in ignored_masks if p.stem == stem), None)
            why = f" ({other.name} is not a mask format: save it as .png or .tif)" if other else ""
            for path in image_paths:
                found.problems.append(
                    f"{path}: no mask{why}; add {masks_dir / (stem + mask_ext)} or remove the image"
                )
        elif not image_paths:
            for path in mask_paths:
                found.problems.append(
                    f"{path}: no image; add {images_dir / (stem + '.png')} or remove the mask"
                )
        elif len(image_paths) == 1 and len(mask_paths) == 1:
            found.samples.append(Sample(stem=stem, image=image_paths[0], mask=mask_paths[0]))


def _pair_labels(found: Discovery, images, label_files, masks_dir: Path) -> None:
    """Masks named ``<stem>_<label>.<ext>``: one label name is one mask per image, several are multilabel."""
    names = {label for labels in label_files.values() for label, _ in labels}
    single = len(names) == 1  # e.g. every mask named <stem>_mask.png: one mask per image, not multilabel
    for stem, labels in sorted(label_files.items()):
        if len(images[stem]) == 1:
            found.samples.append(Sample(stem=stem, image=images[stem][0], mask=labels[0][1],
                                        labels=() if single else tuple(labels)))
    if label_files:
        found.samples.sort(key=lambda sample: sample.stem)
        found.notices.append(
            f"{masks_dir}: masks named <stem>_{names.pop()}.<ext> paired with their images" if single else
            f"{masks_dir}: multilabel masks, one file per label ({', '.join(sorted(names))}) named <stem>_<label>.<ext>")


def _format_notices(found: Discovery, masks, masks_dir: Path) -> None:
    """A notice per JPEG mask (one for the folder when there are many)."""
    lossy = [p for _, paths in sorted(masks.items()) for p in paths
             if p.suffix.lower() in LOSSY_MASK_EXTS]
    if len(lossy) <= _MAX_LISTED:
        found.notices.extend(f"{p}: {_LOSSY_NOTICE}" for p in lossy)
    else:
        found.notices.append(
            f"{masks_dir}: {len(lossy)} masks in JPEG format (e.g. {lossy[0].name}): {_LOSSY_NOTICE}"
        )


def _colliding_masks(found: Discovery, images, masks, images_dir: Path) -> set[str]:
    """Masks that would pair with one image (``masks/0001.png`` beside ``masks/0001_mask.png``): one problem
    naming them all; returns the stems of the extra masks (they are no orphans)."""
    extra: dict[str, list[Path]] = defaultdict(list)
    for stem in sorted(masks):
        if stem in images or "_" not in stem:
            continue
        base = stem.rsplit("_", 1)[0]
        if base in images and base in masks:
            extra[base].extend(masks[stem])
    for base, others in extra.items():
        names = " and ".join(str(p) for p in [*masks[base], *others])
        image = images[base][0] if images[base] else images_dir / base
        found.problems.append(f"{names}: would {'both' if len(others) == 1 else 'all'} be the mask of {image}; "
                              f"keep one mask per image "
                              f"(remove or rename the others)")
    return {p.stem for paths in extra.values() for p in paths}
