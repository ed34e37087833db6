"""Multilabel masks: one binary channel per label, a pixel may carry several labels.

Two layouts are read:

- one file per label, ``masks/<stem>_<label>.png`` (found by
  :func:`~segtrain.data.discovery.discover`; every image needs the same labels);
- one multi-page TIFF per image, ``masks/<stem>.tif``, page ``k`` holding label ``k`` (or one
  page holding a gray ``(L, H, W)`` stack); labels are named ``label0``, ``label1``, ... in order.

Each channel holds 0/1 or 0/255 (255 read as 1). Labels become an ``(L, H, W)`` array of
0/1, trained with one sigmoid output per label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segtrain.data.discovery import Sample
from segtrain.data.readers import TIFF_EXTS, ReadError, read_mask
from segtrain.data.sample_io import read_sample_image

_BINARY = ({0, 1}, {0, 255})


def tiff_pages(path: Path) -> int:
    """Channels of a TIFF mask: its pages, or the planes of a one-page gray (not RGB) stack; else 1."""
    if path.suffix.lower() not in TIFF_EXTS:
        return 1
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.pages) > 1:
                return len(tif.pages)
            page, shape = tif.pages[0], tif.series[0].shape
            if page.photometric != tifffile.PHOTOMETRIC.RGB and len(shape) == 3:
                return int(shape[0])
            return 1
    except Exception:  # an unreadable file is reported when it is read
        return 1


def is_multilabel(samples: list[Sample]) -> bool:
    """True when the masks are multilabel: per-label files, or multi-page TIFFs."""
    return any(s.labels for s in samples) or any(tiff_pages(s.mask) > 1 for s in samples[:8] if s.page is None)


def label_names(samples: list[Sample]) -> list[str]:
    """The labels of a multilabel set: the file suffixes, or ``label0..`` for multi-page TIFFs."""
    if any(s.labels for s in samples):
        names = sorted({label for s in samples for label, _ in s.labels})
        return names
    pages = max(tiff_pages(s.mask) for s in samples)
    return [f"label{k}" for k in range(pages)]


def _binary(channel: np.ndarray, path: Path) -> np.ndarray:
    values = set(np.unique(channel).tolist())
    if not any(values <= allowed for allowed in _BINARY):
        shown = ", ".join(str(v) for v in sorted(values)[:6])
        raise ReadError(path, f"multilabel channel holds values {shown}",
                        "each label's mask must hold only 0/1 or 0/255")
    return (channel > 0).astype(np.uint8)


def read_multilabel(sample: Sample, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """``(L, H, W)`` uint8 0/1 labels of one sample, in the order of ``names``.

    Raises
    ------
    ReadError
        A missing label file, a TIFF with another number of pages, a channel that is not
        0/1 or 0/255, or channels of different sizes.
    """
    if sample.labels:
        files = dict(sample.labels)
        missing = [n for n in names if n not in files]
        if missing:
            stem_dir = sample.mask.parent
            raise ReadError(stem_dir / f"{sample.stem}_{missing[0]}.png", "missing label mask",
                            f"every image needs one mask per label ({', '.join(names)})")
        channels = [_binary(read_mask(files[n]), files[n]) for n in names]
    else:
        import tifffile

        path = sample.mask
        try:
            with tifffile.TiffFile(path) as tif:
                if len(tif.pages) > 1:
                    stack = np.stack([page.asarray() for page in tif.pages])
                else:
                    stack = np.asarray(tif.series[0].asarray())
        except Exception as exc:
            raise ReadError(path, f"unreadable multi-page TIFF ({type(exc).__name__})") from None
        if stack.ndim == 2:
            stack = stack[None]
        if stack.ndim != 3 or stack.shape[0] != len(names):
            raise ReadError(path, f"{stack.shape[0] if stack.ndim == 3 else 'no'} pages where the other masks have "
                                  f"{len(names)}", "save one page per label, the same labels for every image")
        channels = [_binary(page, path) for page in stack]
    shapes = {c.shape for c in channels}
    if len(shapes) > 1:
        raise ReadError(sample.mask, f"label masks of different sizes {sorted(shapes)}", "save all labels at the image's size")
    return np.stack(channels)


def check_multilabel(samples: list[Sample], report) -> None:
    """Fill a ``CheckReport`` for a multilabel set: problems, sizes, channels, label pixels.

    ``report.num_classes`` becomes the number of labels, ``report.multilabel`` their names;
    ``report.class_pixels`` counts the pixels of each label and
    ``report.class_pixels_per_image[stem]`` is ``[pixels with no label, pixels of label 0, ...]``.
    """
    names = label_names(samples)
    report.multilabel = names
    report.num_classes = len(names)
    report.label_mapping = {0: 0, 1: 1, 255: 1}
    report.mask_format = "multilabel"
    report.notices.append(f"{len(names)} labels ({', '.join(names)}): multilabel masks, one sigmoid output per label")
    totals = np.zeros(len(names), dtype=np.int64)
    channels = set()
    for sample in samples:
        problems_before = len(report.problems)
        size = None
        try:
            image = read_sample_image(sample)
            size, channel_count = image.shape[:2], image.shape[2]
            channels.add(channel_count)
            values = image.astype(np.float32, copy=False)
            report.intensity[sample.stem] = (float(values.mean()), float(values.std()),
                                             float(values.min()), float(values.max()))
            report.sizes[sample.stem] = (int(size[0]), int(size[1]))
        except ReadError as exc:
            report.problems.append(str(exc))
        try:
            labels = read_multilabel(sample, names)
        except ReadError as exc:
            report.problems.append(str(exc))
            continue
        if size is not None and labels.shape[1:] != tuple(size):
            report.problems.append(f"{sample.mask}: size {labels.shape[1]}x{labels.shape[2]} (HxW) differs from its "
                                   f"image {sample.image} ({size[0]}x{size[1]}); resize or re-export the mask")
        if len(report.problems) == problems_before:
            positives = labels.reshape(len(names), -1).sum(1).astype(np.int64)
            none = int((labels.max(0) == 0).sum())
            totals += positives
            report.class_pixels_per_image[sample.stem] = [none] + [int(n) for n in positives]
    report.class_pixels = [int(n) for n in totals]
    if len(channels) > 1:
        report.problems.append(f"{report.root / 'images'}: mixed channel counts; convert all images to one format")
    report.channels = channels.pop() if len(channels) == 1 else None
