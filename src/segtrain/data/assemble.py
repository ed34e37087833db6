"""The samples of a layout's folders put together: per-instance cases, unique stems, the folders' split.

:func:`segtrain.data.discovery.discover` pairs each image folder of a
:class:`~segtrain.data.layouts.Layout` with its mask folder; this module does what concerns the whole
dataset:

* one folder per image with one mask file per object (``<id>/images/<id>.png``, ``<id>/masks/*.png``):
  :func:`instance_cases`;
* stems unique across the dataset: when file names repeat across folders (``train/0001.png`` and
  ``test/0001.png``), every sample is named ``<folder>_<name>`` (the folders below the layout joined
  by ``_``: ``train_0001``), and a notice says so; names that are unique stay as they are;
* the split the layout gives: split folders (``train/ val/ test/``, ``training/ test/``) or VOC's
  ``ImageSets/Segmentation/<split>.txt`` lists (:func:`finish`);
* the lines ``check`` prints about the pairing (:func:`announce`).

Only names are handled here; no file is opened and nothing is written.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from segtrain.data.layouts import SPLIT_NAMES, Group, Layout
from segtrain.data.pairing import Rekeyed

SPLITS = ("train", "val", "test")
_IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif"})


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in _IMAGE_EXTS)


def instance_cases(base: Path) -> tuple[list[tuple[str, Path, list[Path]]], list[str]]:
    """``(stem, image, mask files)`` of each ``<id>/`` folder of ``base`` holding ``images/`` and ``masks/``,
    and one problem line per folder that cannot be used (no image, several images, no mask file)."""
    cases, problems = [], []
    for case in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (case / "images").is_dir():
            continue
        images = _files(case / "images")
        masks = _files(case / "masks") if (case / "masks").is_dir() else []
        if len(images) != 1:
            what = "no image" if not images else f"{len(images)} images ({', '.join(p.name for p in images[:3])})"
            problems.append(f"{case / 'images'}: {what}; keep one image per folder")
        elif not masks:
            problems.append(f"{images[0]}: no mask (no files in {case / 'masks'}); add one mask file per object "
                            f"there or remove {case}")
        else:
            cases.append((case.name, images[0], masks))
    return cases, problems


def unused(group: Group) -> str:
    """The notice for an image folder without a mask folder beside it (an unlabelled test set)."""
    n = len(_files(group.images)) if group.images.is_dir() else 0
    return f"{group.images}: no mask folder beside it; its {n} image(s) are not used"


def listed(layout: Layout) -> set[str] | None:
    """The stems VOC-style list files name (images outside them are not used), or None without lists."""
    if layout.lists is None:
        return None
    return {stem for stems in layout.lists.values() for stem in stems}


def announce(found, rekeyed: Rekeyed, folder: Path, what: str = "masks", labels: frozenset[str] = frozenset()) -> None:
    """The pairing of one folder, once per rule over the whole layout: a notice and a ``check`` line."""
    for notice in rekeyed.notices:  # once for the layout, not once per folder
        if not any(existing.endswith(": " + notice) for existing in found.notices):
            found.notices.append(f"{folder}: {notice}")
    prefix = "" if what == "masks" else f"{what}: "
    if rekeyed.line is None:
        line = prefix + ("same file names" if not labels else f"masks named <image stem>_{next(iter(labels))}"
                         if len(labels) == 1 else f"one mask per label, named <image stem>_<label> "
                                                  f"({', '.join(sorted(labels))})")
        key = line
    else:
        line, key = prefix + rekeyed.line, prefix + rekeyed.rule.describe()
    pairing = found.layout.pairing
    if any(existing.startswith(key) for existing in pairing):
        return
    pairing.append(line)
    if rekeyed.line is not None:
        found.notices.append(f"{folder}: {line}")


def _unique(parts: list[tuple[Group, list]]) -> tuple[list[tuple[Group, list]], str | None]:
    """The samples named ``<folder>_<name>`` when names repeat across folders, with the notice saying so."""
    counts = Counter(s.stem for _, samples in parts for s in samples)
    repeated = sorted(stem for stem, n in counts.items() if n > 1)
    if not repeated or len(parts) < 2:
        return parts, None
    where = [g.name for g, samples in parts if any(s.stem == repeated[0] for s in samples)]
    renamed = [(g, [replace(s, stem=f"{g.name}_{s.stem}" if g.name else s.stem) for s in samples])
               for g, samples in parts]
    return renamed, (f"{len(repeated)} file name(s) repeat across folders (e.g. {repeated[0]} in "
                     f"{' and '.join(where[:2])}): every sample is named <folder>_<name> "
                     f"(e.g. {where[0]}_{repeated[0]})")


def _split_folder(group: Group, root: Path) -> str:
    """The folder (relative to ``root``) whose name gave the group its split."""
    for folder in (group.images, *group.images.parents):
        if folder == root:
            break
        if SPLIT_NAMES.get(folder.name.casefold()) == group.split:
            try:
                return f"{folder.relative_to(root)}/"
            except ValueError:
                return f"{folder}/"
    return f"{group.name}/"


def _folder_split(found, parts) -> tuple[dict[str, list[str]], str]:
    split: dict[str, list[str]] = {name: [] for name in SPLITS}
    sources: dict[str, list[str]] = defaultdict(list)
    loose = 0
    for group, samples in parts:
        split[group.split or "train"].extend(s.stem for s in samples)
        loose += 0 if group.split else len(samples)
        if group.split:
            folder = _split_folder(group, found.root)
            if folder not in sources[group.split]:
                sources[group.split].append(folder)
    shown = ", ".join(f"{name} ({', '.join(sources[name][:2])}{' ...' if len(sources[name]) > 2 else ''})"
                      for name in SPLITS if sources.get(name))
    extra = f"; {loose} image(s) of folders not named like a split go to train" if loose else ""
    return split, f"from the split folders: {shown}{extra}"


def finish(found, parts: list[tuple[Group, list]], keep: set[str] | None) -> None:
    """Samples (unique stems, sorted), the layout's split and the counts into ``found``."""
    parts, notice = _unique(parts)
    if notice:
        found.notices.append(notice)
    found.samples = sorted((s for _, samples in parts for s in samples), key=lambda s: s.stem)
    repeated = sorted(stem for stem, n in Counter(s.stem for s in found.samples).items() if n > 1)
    for stem in repeated:
        paths = " and ".join(str(s.image) for s in found.samples if s.stem == stem)
        found.problems.append(f"{paths}: same name {stem!r} twice in one folder group; rename one of them")
    found.samples = [s for s in found.samples if s.stem not in repeated]
    layout = found.layout
    if any(g.split for g, _ in parts):
        found.split, layout.split_source = _folder_split(found, parts)
    elif keep is not None:
        stems = {s.stem for s in found.samples}
        found.split = {name: sorted(set(layout.lists.get(name, [])) & stems) for name in SPLITS}
        missing = sorted(keep - stems)
        names = ", ".join(p.name for p in layout.list_files)
        layout.split_source = f"from the list files {names} in {layout.list_files[0].parent}"
        if missing:
            found.notices.append(f"{layout.list_files[0].parent}: {len(missing)} listed name(s) have no complete "
                                 f"image/mask pair (e.g. {missing[0]}); they are not used")
    left_out = [name for name in ("val", "test") if found.split is not None and not found.split[name]]
    if left_out:
        kind = "folder" if keep is None else "list"
        layout.split_source += f"; no {' or '.join(left_out)} {kind}: {' and '.join(left_out)} drawn from train by seed"
    if (found.root / "split.json").is_file():  # resolve_split prefers it to the folders
        layout.split_source = f"from {found.root / 'split.json'}" + (" (not the folders')" if found.split else "")
    elif layout.split_source is None:
        layout.split_source = "none in the dataset: a random split by seed when a run starts (or --split FILE)"
    layout.counts = {"pairs": len(found.samples)}
    if found.split is not None:
        found.split = {name: sorted(stems) for name, stems in found.split.items()}
        layout.counts.update({name: len(found.split[name]) for name in SPLITS})
