"""Train / validation / test splits: from a file, or random and deterministic by seed.

The test split is held out for the final evaluation only; nothing in training or model
selection reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segtrain.config.io import read_json
from segtrain.errors import UserError

SPLITS = ("train", "val", "test")


def random_split(stems: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[str]]:
    """Shuffle the sorted stems with ``seed`` and cut them into train / val / test.

    Validation gets ``round(n * val_fraction)`` stems (at least 1), test
    ``round(n * test_fraction)`` (at least 1 when the fraction is positive), train the rest.
    The result depends only on the set of stems and the seed, not on their order.
    """
    stems = sorted(stems)
    n = len(stems)
    n_val = max(1, round(n * val_fraction))
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    if n - n_val - n_test < 1:
        raise UserError(
            f"{n} image(s) are too few to split into train, validation and test; add images or give a split file"
        )
    order = np.random.default_rng(seed).permutation(n)
    picked = [stems[i] for i in order]
    return {
        "train": sorted(picked[n_val + n_test :]),
        "val": sorted(picked[:n_val]),
        "test": sorted(picked[n_val : n_val + n_test]),
    }


def load_split(path: Path, stems: list[str]) -> dict[str, list[str]]:
    """Read and validate a ``{"train": [...], "val": [...], "test": [...]}`` file against the dataset."""
    data = read_json(path, "split file", 'pass a split.json file to --split holding {"train": [...], "val": [...], '
                     '"test": [...]}', top=None)
    if (not isinstance(data, dict) or not {"train", "val"} <= set(data) or set(data) - set(SPLITS)
            or not all(isinstance(data.get(name, []), list) for name in SPLITS)):
        raise UserError(f"{path}: needs the keys train, val (and optionally test), each a list of stems")
    split = {name: [str(s) for s in data.get(name, [])] for name in SPLITS}
    for name, members in split.items():
        for stem in members:
            if "/" in stem or "\\" in stem or stem in ("", ".", ".."):
                raise UserError(f"{path}: {name} entry {stem!r} is a path, not a stem; list file names without "
                                "folder or extension, e.g. img_000 for images/img_000.png")
    known = set(stems)
    seen: dict[str, str] = {}
    for name, members in split.items():
        for stem in members:
            if stem in seen:
                raise UserError(f"{path}: stem {stem!r} is in both {seen[stem]} and {name}; put each image in one split")
            seen[stem] = name
        unknown = sorted(set(members) - known)
        if unknown:
            more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            raise UserError(f"{path}: {name} names images not in the dataset: {', '.join(unknown[:3])}{more}; fix the split file")
    for name in ("train", "val"):
        if not split[name]:
            raise UserError(f"{path}: the {name} split is empty; put at least one image in it")
    return {name: sorted(members) for name, members in split.items()}


def from_layout(stems: list[str], given: dict[str, list[str]], val_fraction: float, test_fraction: float,
                seed: int) -> tuple[dict[str, list[str]], str]:
    """The split a dataset's folders or list files give, restricted to ``stems``; a split they leave out
    (DRIVE has ``training/`` and ``test/`` only) is drawn from train by ``seed``, as a random split would.

    Returns the split and what was drawn (empty when nothing was).
    """
    known = set(stems)
    split = {name: sorted(set(given.get(name, [])) & known) for name in SPLITS}
    missing = [name for name, fraction in (("val", val_fraction), ("test", test_fraction))
               if not split[name] and fraction > 0]
    if not missing:
        return split, ""
    n = len(stems)
    sizes = {"val": max(1, round(n * val_fraction)), "test": max(1, round(n * test_fraction))}
    train = split["train"]
    if len(train) - sum(sizes[name] for name in missing) < 1:
        raise UserError(f"the dataset's split folders give {len(train)} training image(s), too few to also draw "
                        f"{' and '.join(missing)} from; add images or give a split file with --split")
    order = [train[i] for i in np.random.default_rng(seed).permutation(len(train))]
    for name in missing:
        split[name], order = sorted(order[: sizes[name]]), order[sizes[name]:]
    split["train"] = sorted(order)
    drawn = ", ".join(f"{sizes[name]} {name}" for name in missing)
    return split, f" ({drawn}, seed {seed})"


def resolve_split(
    stems: list[str],
    root: Path,
    split_file: Path | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    given: dict[str, list[str]] | None = None,
    given_source: str | None = None,
) -> tuple[dict[str, list[str]], str]:
    """The split to use and a sentence saying where it came from.

    Order of precedence: ``split_file`` (``--split``), then ``root/split.json``, then the split the
    dataset's layout gives (``given``: split folders or list files, said by ``given_source``), then a
    random split by ``seed``.
    """
    if split_file is not None:
        return load_split(Path(split_file), stems), f"split from {split_file}"
    default = Path(root) / "split.json"
    if default.exists():
        return load_split(default, stems), f"split from {default} (found in the dataset folder)"
    if given is not None:
        split, drawn = from_layout(stems, given, val_fraction, test_fraction, seed)
        return split, f"split {given_source or 'from the dataset folders'}{drawn}"
    split = random_split(stems, val_fraction, test_fraction, seed)
    shares = f"{1 - val_fraction - test_fraction:.0%}/{val_fraction:.0%}/{test_fraction:.0%}"
    return split, f"random {shares} split with seed {seed}"
