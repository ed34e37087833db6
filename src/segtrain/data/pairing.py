"""Name rules that pair an image with a mask whose file name is not the same.

Public datasets name their masks after their images with a tag added or swapped:
``21_training.tif`` <-> ``21_manual1.gif`` (DRIVE), ``x_leftImg8bit.png`` <-> ``x_gtFine_labelIds.png``
(Cityscapes), ``ISIC_0000000.jpg`` <-> ``ISIC_0000000_segmentation.png``. A rule strips one known tag
from the end of an image stem (:data:`IMAGE_TAGS`, or none) and one from the end of a mask stem
(:data:`MASK_TAGS`, or none); the two pair when what is left is the same. The last rule pairs by the
first number in both names ("the shared number"). ``--mask-pattern`` names the rule instead:
``{stem}_manual1`` (a format of the image stem) or a regular expression whose first group is the image
stem (``(.+)_mask``).

:func:`rekey` picks the rule that pairs the most images, only when it pairs more than equal names (and
the ``<stem>_<label>`` names of :mod:`segtrain.data.discovery`) do, and re-keys the masks by the stem of
the image each one pairs with, so pairing by stem does the rest. Two masks that fit one image are
refused, both named. Only names are compared; no file is opened. :func:`near_names` finds an image and a
mask whose names differ only by case or Unicode normalisation (they do not pair; both are named).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from segtrain.errors import UserError

IMAGE_TAGS: tuple[str, ...] = ("", "_leftImg8bit", "_training", "_train", "_test", "_val", "_image", "_img",
                               "_sat", "_rgb", "_input", "_orig")
"""Tags (compared without case) stripped from the end of image stems; "" is the stem itself."""
MASK_TAGS: tuple[str, ...] = ("", "_mask", "_masks", "_manual1", "_manual", "_segmentation", "_seg",
                              "_gtFine_labelIds", "_gtCoarse_labelIds", "_labelIds", "_L", "_label", "_labels",
                              "_gt", "_anno", "_annot", "_annotation", "_lab", "_training_mask", "_test_mask",
                              "_roi", "_fov")
"""Tags (compared without case) stripped from the end of mask stems."""
COMPANION = re.compile(r"_gt(Fine|Coarse)_(color|instanceIds|labelTrainIds|polygons)$", re.IGNORECASE)
"""The other files Cityscapes ships beside each ``_labelIds`` mask; skipped when ``_labelIds`` masks exist."""
_NUMBER = re.compile(r"\d+")

Listing = dict[str, list[Path]]


@dataclass(frozen=True)
class Rule:
    """One way to pair names: ``image_tag`` and ``mask_tag`` stripped, the shared number, or a user pattern."""

    image_tag: str = ""
    mask_tag: str = ""
    numeric: bool = False
    pattern: str | None = None

    def image_key(self, stem: str) -> str | None:
        if self.pattern is not None:
            return stem
        if self.numeric:
            return _number(stem)
        return _strip(stem, self.image_tag)

    def mask_key(self, stem: str) -> str | None:
        if self.pattern is not None:
            return _pattern_key(self.pattern, stem)
        if self.numeric:
            return _number(stem)
        return _strip(stem, self.mask_tag)

    def describe(self) -> str:
        if self.pattern is not None:
            return f"paired by --mask-pattern {self.pattern!r}"
        if self.numeric:
            return "paired by the shared number"
        base = "<name>" if self.image_tag else "<image stem>"
        return f"paired by rule: {base}{self.image_tag} <-> {base}{self.mask_tag}"


@dataclass
class Rekeyed:
    """What :func:`rekey` did: the masks keyed by their image's stem, and what it says about it."""

    masks: Listing
    rule: Rule | None = None
    """The rule used; None when names pair as they are."""
    notices: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)
    """Image stems refused (two masks fit): they are neither paired nor reported as without a mask."""
    line: str | None = None
    """The rule with an example pair, for the notice and ``check``; None without a rule."""


def _strip(stem: str, tag: str) -> str | None:
    if not tag:
        return stem
    if len(stem) > len(tag) and stem.casefold().endswith(tag.casefold()):
        return stem[: -len(tag)]
    return None


def _number(stem: str) -> str | None:
    found = _NUMBER.search(stem)
    return None if found is None else str(int(found.group()))


def _pattern_key(pattern: str, stem: str) -> str | None:
    if "{stem}" in pattern:
        head, _, tail = pattern.partition("{stem}")
        if len(stem) > len(head) + len(tail) and stem.startswith(head) and stem.endswith(tail):
            return stem[len(head): len(stem) - len(tail)]
        return None
    found = re.fullmatch(pattern, stem)
    return None if found is None else found.group(1)


def check_pattern(pattern: str) -> str:
    """``pattern`` when it is a format with ``{stem}`` or a regular expression with a group; else a UserError."""
    if pattern.count("{stem}") == 1:
        return pattern
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise UserError(f"--mask-pattern {pattern!r}: not a regular expression ({exc}); write a format such as "
                        "'{stem}_manual1' or a regular expression with one group such as '(.+)_mask'") from None
    if compiled.groups < 1:
        raise UserError(f"--mask-pattern {pattern!r}: needs {{stem}} once or a group (...) that is the image's "
                        "stem; write '{stem}_manual1' or '(.+)_manual1'")
    return pattern


def _matches(rule: Rule, images: Listing, masks: Listing) -> dict[str, list[str]]:
    """image stem -> the mask stems the rule pairs with it."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for stem in masks:
        key = rule.mask_key(stem)
        if key is not None:
            by_key[key].append(stem)
    found: dict[str, list[str]] = {}
    for stem in images:
        key = rule.image_key(stem)
        if key is not None and key in by_key:
            found[stem] = sorted(by_key[key])
    return found


def _candidates(images: Listing, masks: Listing) -> list[Rule]:
    """Every tag rule whose tags occur in these names (tags first, in table order), then the shared number."""
    def present(tags, stems):
        return [t for t in tags if not t or any(_strip(s, t) is not None for s in stems)]

    image_tags, mask_tags = present(IMAGE_TAGS, images), present(MASK_TAGS, masks)
    rules = [Rule(i, m) for i in image_tags for m in mask_tags if i or m]
    return [*rules, Rule(numeric=True)] if _one_template(images) else rules


def _one_template(stems) -> bool:
    """All image names are one pattern around their first number (``21_training``, ``22_training``): only then does
    the shared number pair them, so a mask of ``img_001`` never pairs with ``photo 1`` or ``x00001`` by accident."""
    templates = {_NUMBER.sub("#", stem, count=1) if _NUMBER.search(stem) else None for stem in stems}
    return len(templates) == 1 and None not in templates


def is_companion(stem: str) -> bool:
    """A Cityscapes file beside the ``_labelIds`` mask (``_color``, ``_instanceIds``, ``_polygons``)."""
    return COMPANION.search(stem) is not None


def skip_companions(masks: Listing) -> tuple[Listing, list[str]]:
    """Cityscapes' ``_color``, ``_instanceIds``, ... files left out when ``_labelIds`` masks are there."""
    if not any(stem.casefold().endswith("_labelids") for stem in masks):
        return masks, []
    kept = {stem: paths for stem, paths in masks.items() if not COMPANION.search(stem)}
    skipped = len(masks) - len(kept)
    if not skipped:
        return masks, []
    kinds = sorted({COMPANION.search(s).group(2) for s in masks if COMPANION.search(s)})
    return kept, [f"the _labelIds masks are used; the other annotation files are skipped "
                  f"({', '.join('_' + k for k in kinds)})"]


def rekey(images: Listing, masks: Listing, same_names: int, pattern: str | None = None) -> Rekeyed:
    """The masks keyed by the stem of the image each pairs with, by the best rule (see the module docstring).

    ``same_names``: images that pair without a rule (equal stems, ``<stem>_<label>`` names); a rule is used
    only when it pairs more. ``pattern``: the user's ``--mask-pattern`` (then always used).
    """
    masks, notices = skip_companions(masks)
    if pattern is not None:
        rules = [Rule(pattern=check_pattern(pattern))]
    else:
        rules = _candidates(images, masks)
    scored = [(rule, _matches(rule, images, masks)) for rule in rules]
    best = max((len(found) for _, found in scored), default=0)
    if pattern is None and best <= same_names:
        return Rekeyed(masks, None, notices, [], set())
    top = [(rule, found) for rule, found in scored if len(found) == best]
    if len(top) > 1 and top[-1][0].numeric:
        top = top[:-1]  # the shared number only when no tag rule pairs as many
    rule, _ = top[0]
    fits: dict[str, set[str]] = defaultdict(set)
    for _, found in top:
        for stem, mask_stems in found.items():
            fits[stem].update(mask_stems)
    return _apply(images, masks, rule, fits, notices)


def _apply(images: Listing, masks: Listing, rule: Rule, fits: dict[str, set[str]], notices: list[str]) -> Rekeyed:
    """The masks re-keyed by the image each one fits; an image that several fit is refused, naming them."""
    problems: list[str] = []
    taken: set[str] = set()
    rekeyed: Listing = {}
    used: set[str] = set()
    example = ""
    for stem in sorted(fits):
        candidates = sorted(fits[stem])
        if len(candidates) > 1:
            names = " and ".join(str(p) for c in candidates for p in masks[c])
            problems.append(f"{names}: would all be the mask of {images[stem][0]}; keep one mask per image "
                            f"or name which one with --mask-pattern (e.g. '{{stem}}_manual1')")
            taken.add(stem)
            used.update(candidates)
            continue
        rekeyed[stem] = masks[candidates[0]]
        used.add(candidates[0])
        if not example:
            example = f" (e.g. {images[stem][0].name} <-> {masks[candidates[0]][0].name})"
    for stem, paths in masks.items():
        if stem not in used:
            rekeyed.setdefault(stem, []).extend(paths)  # no image: reported by the pairing by stem
    return Rekeyed(rekeyed, rule, notices, problems, taken, f"{rule.describe()}{example}")


def _key(stem: str) -> str:
    return unicodedata.normalize("NFC", stem).casefold()


def near_names(problems: list[str], images: Listing, masks: Listing) -> set[str]:
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
        problems.append(f"{image} and {mask}: names {why}, so they do not pair; rename one so both "
                              f"names match byte for byte")
        taken |= {stem, other}
    return taken
