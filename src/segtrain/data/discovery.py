"""Find the image/mask pairs of a dataset folder.

The dataset contract::

    DATA/images/<stem>.<ext>    .png .jpg .jpeg .tif .tiff (any case)
    DATA/masks/<stem>.<ext>     .png .tif .tiff (.jpg/.jpeg read, with a notice)

Images and masks pair by stem. Hidden files (names starting with ``.``), system
files (``Thumbs.db``, ``desktop.ini``) and folders are skipped silently; files with
other extensions are ignored with a notice. Nothing is read beyond the folder
listings and nothing on disk is changed.

Problems that the user must fix but that do not stop the scan (an image without
a mask, a mask without an image, two files with the same stem) are collected as
one line each, in the form ``<path>: <what is wrong>; <the fix>``. A dataset
that cannot be scanned at all (missing folder, no images) raises
:class:`~segtrain.errors.UserError`.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from segtrain.data.headers import not_regular
from segtrain.errors import UserError

IMAGE_EXTS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
"""Suffixes (lower case) accepted for images."""

MASK_EXTS: frozenset[str] = frozenset({".png", ".tif", ".tiff"})
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
        Informational lines (lossy masks, ignored files).
    """

    root: Path
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


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


def discover(root: Path | str) -> Discovery:
    """List the image/mask pairs of a dataset folder.

    Parameters
    ----------
    root : Path or str
        The folder that holds ``images/`` and ``masks/``.

    Returns
    -------
    Discovery
        The complete pairs plus one line per problem and per notice.

    Raises
    ------
    UserError
        If ``root``, ``root/images`` or ``root/masks`` is missing or not a
        folder, or if ``images/`` holds no image files.
    """
    root = Path(root)
    _require_folder(root, "pass the folder that holds images/ and masks/", "no such folder")
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.exists():
        loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS]
        hint = f" (found {len(loose)} image files directly in {root})" if loose else ""
        raise UserError(f"{images_dir}: missing{hint}; put the images in {images_dir}/<stem>.png")
    _require_folder(images_dir, f"put the images in {images_dir}/<stem>.png")
    _require_folder(masks_dir, f"put one mask per image in {masks_dir}/<stem>.png")

    irregular: dict[Path, str] = {}
    images, ignored_images = _listing(images_dir, IMAGE_EXTS, irregular)
    masks, ignored_masks = _listing(masks_dir, MASK_EXTS | LOSSY_MASK_EXTS, irregular)
    label_files = _label_files(images, masks)
    if not images and not irregular:
        found_only = f" (only {_names(ignored_images)})" if ignored_images else ""
        raise UserError(
            f"{images_dir}: no images (.png, .jpg, .tif) found{found_only}; "
            f"put the images there as <stem>.png, <stem>.jpg or <stem>.tif"
        )

    found = Discovery(root=root)
    stems = set(images) | set(masks)
    for path, kind in irregular.items():
        if kind == "a folder" and path.stem not in stems:
            continue  # a folder named like an image, with nothing to pair with: skipped like any folder
        found.problems.append(f"{path}: not a regular file ({kind}); replace it with the "
                              f"{'image' if path.parent == images_dir else 'mask'} file or remove it")
    _duplicate_stems(found, ((images_dir, images), (masks_dir, masks)))
    taken = {p.stem for p in irregular} | _colliding_masks(found, images, masks, images_dir)
    taken |= _near_names(found, images, masks)
    images = {stem: paths for stem, paths in images.items() if stem not in taken or stem in masks}
    masks = {stem: paths for stem, paths in masks.items() if stem not in taken or stem in images}
    _pair(found, images, masks, label_files, ignored_masks, images_dir, masks_dir)
    _pair_labels(found, images, label_files, masks_dir)
    _format_notices(found, masks, masks_dir)
    if ignored_images:
        found.notices.append(_ignored_notice(images_dir, ignored_images, "images (.png, .jpg, .tif)"))
    if ignored_masks:
        found.notices.append(_ignored_notice(masks_dir, ignored_masks, "masks (.png, .tif)"))
    return found


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


def _key(stem: str) -> str:
    return unicodedata.normalize("NFC", stem).casefold()


def _near_names(found: Discovery, images, masks) -> set[str]:
    """An image without a mask and a mask without an image whose names differ only by Unicode normalisation
    (NFC vs NFD, as macOS copies make) or by case: one problem naming both; returns both stems."""
    orphan_masks = {_key(stem): stem for stem in masks if stem not in images}
    taken: set[str] = set()
    for stem in sorted(s for s in images if s not in masks):
        other = orphan_masks.get(_key(stem))
        if other is None or not images[stem] or not masks[other]:
            continue
        image, mask = images[stem][0], masks[other][0]
        if unicodedata.normalize("NFC", stem) == unicodedata.normalize("NFC", other):
            forms = "/".join(f for f in ("NFC", "NFD") if unicodedata.is_normalized(f, stem)) or "mixed"
            mask_forms = "/".join(f for f in ("NFC", "NFD") if unicodedata.is_normalized(f, other)) or "mixed"
            why = (f"differ only by Unicode normalisation (the image's is {forms}, the mask's {mask_forms}, as "
                   f"copies from macOS make)")
        else:
            why = "differ only by upper and lower case"
        found.problems.append(f"{image} and {mask}: names {why}, so they do not pair; rename one so both "
                              f"names match byte for byte")
        taken |= {stem, other}
    return taken
