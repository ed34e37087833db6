"""``train NEW --init-from RUN``: a new run on new or extended data that starts from RUN's best weights.

What is kept from RUN and what is planned anew:

- kept: the weights of RUN's best checkpoint (loaded as weights only, :mod:`segtrain.inference.checkpoints`),
  its classes and label mapping (the new masks' values must all be classes of RUN: :func:`fit_labels`
  refuses in one line naming the values that are not), its network (``model``: width, depth, stem,
  normalisation, activation) and its input channels (a different number is refused);
- planned anew from the new data and the budget: the split, scale, patch, batch, epochs, augmentation;
- the rate: not the range test (it measures a network from its random start, which this run does not
  have) but :data:`RATE_FACTOR` times RUN's rate, a fine-tuning rate, unless ``--lr`` is given.

The plan states that the run fine-tunes from RUN (``init_from``), and at the end :func:`compare`
scores RUN's network next to the new one on the new run's validation images (``fine_tuning.json``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segtrain.config import SegtrainConfig, load_config
from segtrain.config.io import read_run_split
from segtrain.config.schema import ModelConfig
from segtrain.data.discovery import discover
from segtrain.data.layouts import LayoutOptions
from segtrain.errors import UserError
from segtrain.evaluation.samples import evaluate_samples
from segtrain.inference.predictor import Predictor, load_checkpoint
from segtrain.runtime.rundir import RunDir, write_json

logger = logging.getLogger("segtrain")

RATE_FACTOR = 0.1
"""A fine-tuning run starts at this fraction of the source run's planned (peak) rate."""
SHAPE_FIELDS = ("depth", "width", "stem", "norm", "act")
"""The model settings that make the network's weights: a fine-tuning run keeps RUN's."""


@dataclass
class Source:
    """The run a fine-tuning run starts from."""

    run: Path
    checkpoint: Path
    meta: dict[str, Any]
    """The checkpoint's ``segtrain`` entry (classes, label mapping, channels, config)."""
    config: SegtrainConfig
    score: float | None
    """The best validation score its checkpoint recorded, when known."""

    @property
    def flag(self) -> str:
        return f"--init-from {self.run}"


def open_source(path: Path | str) -> Source:
    """RUN's best checkpoint (else its last), loaded safely; a folder that is not a run is one line."""
    try:
        rundir = RunDir.open(path)
        checkpoint = rundir.checkpoint()
    except UserError as exc:
        raise UserError(f"--init-from {path}: {exc}") from None
    content = load_checkpoint(checkpoint)
    meta = content["segtrain"]
    score = None
    for callback in (content.get("callbacks") or {}).values():
        if isinstance(callback, dict) and callback.get("best_model_score") is not None:
            score = float(callback["best_model_score"])
            break
    return Source(rundir.path.resolve(), checkpoint, meta, SegtrainConfig.model_validate(meta["config"]), score)


def apply_source(cfg: SegtrainConfig, source: Source) -> None:
    """RUN's network and a fine-tuning rate in the new run's config; a model setting that differs is refused."""
    default, theirs = ModelConfig(), source.config.model
    for name in SHAPE_FIELDS:
        ours = getattr(cfg.model, name)
        if ours != getattr(default, name) and ours != getattr(theirs, name):
            raise UserError(f"model.{name} {ours}: {source.flag} keeps its network (model.{name} "
                            f"{getattr(theirs, name)}); leave it out or train without --init-from")
    given = cfg.data.num_classes
    if given is not None and given != int(source.meta["num_classes"]):
        raise UserError(f"--num-classes {given}: {source.flag} has {source.meta['num_classes']} classes and keeps "
                        "them; leave --num-classes out")
    cfg.model = theirs.model_copy(update={"dropout": cfg.model.dropout})
    cfg.train.init_from = str(source.run)
    if cfg.train.lr is None:
        cfg.train.lr = float(source.config.train.lr or 1e-3) * RATE_FACTOR
        cfg.train.lr_find = False


def fit_labels(report, source: Source, data: Path | str) -> None:
    """Give the checked dataset RUN's classes and label mapping, or refuse it in one line.

    Every mask value of the new data must be a class value of RUN; a set of binary masks fits a binary
    run whichever values (0/1 or 0/255) each uses. The pixel counts are renumbered to RUN's classes.
    """
    meta = source.meta
    theirs = {int(k): int(v) for k, v in meta["label_mapping"].items()}
    if bool(meta.get("multilabel")) != bool(report.multilabel) or (
            report.multilabel and list(report.multilabel) != list(meta["multilabel"])):
        raise UserError(f"{data}: its labels ({_labels(report.multilabel)}) are not those of {source.run} "
                        f"({_labels(meta.get('multilabel'))}); fine-tune on masks with the same labels")
    channels = int(meta["in_channels"])
    if report.channels is not None and int(report.channels) != channels:
        raise UserError(f"{data}: images have {report.channels} channel(s) but {source.run} was trained on "
                        f"{channels}; fine-tune on images like its own, or train without --init-from")
    if report.multilabel:
        return
    ours = {int(k): int(v) for k, v in report.label_mapping.items()}
    binary = int(meta["num_classes"]) == 2 and set(ours.values()) <= {0, 1} and report.mask_format.startswith("binary")
    if binary and bool(meta.get("colour_masks")) == bool(report.colour_masks):
        renumber = {c: c for c in ours.values()}
        mapping = ours
    else:
        foreign = sorted(v for v in ours if v not in theirs)
        if foreign or bool(meta.get("colour_masks")) != bool(report.colour_masks):
            raise UserError(f"{data}: mask value(s) {', '.join(map(str, foreign[:8]))} are not classes of "
                            f"{source.run} (its values: {', '.join(map(str, sorted(theirs)[:12]))}); fine-tune on "
                            "masks with its classes, or train without --init-from")
        renumber = {c: theirs[v] for v, c in ours.items()}
        mapping = theirs
    classes = int(meta["num_classes"])
    report.class_pixels = _renumbered(report.class_pixels, renumber, classes)
    report.class_pixels_per_image = {s: _renumbered(p, renumber, classes)
                                     for s, p in report.class_pixels_per_image.items()}
    report.label_mapping, report.num_classes = dict(mapping), classes
    report.class_names = list(meta["class_names"]) if meta.get("class_names") else report.class_names


def _labels(names) -> str:
    return ", ".join(names) if names else "class-index masks"


def _renumbered(pixels: list[int], renumber: dict[int, int], classes: int) -> list[int]:
    out = [0] * classes
    for c, n in enumerate(pixels):
        out[renumber.get(c, c)] += int(n)
    return out


def state_plan(plan, source: Source, cfg: SegtrainConfig) -> None:
    """Say in the plan that the run fine-tunes from RUN, and where its network and rate come from."""
    score = "" if source.score is None else f", validation Dice {source.score:.4f}"
    plan.set("init_from", str(source.run), f"fine-tunes from {source.run} ({source.checkpoint.name}{score}): keeps "
             "its weights, classes, label mapping and network; patch, batch, epochs and rate are planned for this "
             "data and budget", "init from")
    if plan.items.get("lr") is not None and plan.items["lr"].source == "user" and not cfg.train.lr_find:
        theirs = float(source.config.train.lr or 1e-3)
        if abs(plan["lr"] - theirs * RATE_FACTOR) <= 1e-12 * theirs:
            plan.set("lr", plan["lr"], f"fine-tuning rate: {RATE_FACTOR:g} x the rate of {source.run.name} "
                     f"({theirs:.3g}); no range test (it would measure a network from a random start)", "init from")
    if "stem" in plan:
        plan.set("stem", plan["stem"], f"kept from {source.run.name} (fine-tuning keeps the network)", "init from")


def compare(run: Path | str, device: str = "cpu") -> dict[str, Any] | None:
    """Score RUN's network and the new one on the new run's validation images, and on RUN's own validation
    images when its dataset is still where it trained; writes ``fine_tuning.json``."""
    folder = RunDir(Path(run))
    cfg = load_config(folder.config)
    if not cfg.train.init_from:
        return None
    samples = _validation_samples(folder)
    if not samples or not folder.best.exists():
        return None
    try:
        source = RunDir.open(cfg.train.init_from)
    except UserError as exc:  # the source run moved or was removed since: nothing to compare with
        logger.warning(f"warning: no comparison with the run this one fine-tuned: {exc}")
        return None
    networks = {"source": Predictor.from_checkpoint(source.checkpoint(), device),
                "fine_tuned": Predictor.from_checkpoint(folder.best, device)}
    scores = {name: evaluate_samples(p, samples).get("dice") for name, p in networks.items()}
    record = {"init_from": str(source.path), "images": "this run's validation split", "n_images": len(samples),
              "source_dice": scores["source"], "fine_tuned_dice": scores["fine_tuned"], "on_source_validation": None}
    theirs = _validation_samples(source)
    if theirs:
        record["on_source_validation"] = {"n_images": len(theirs), **{
            f"{name}_dice": evaluate_samples(p, theirs).get("dice") for name, p in networks.items()}}
    write_json(folder.fine_tuning, record)
    logger.info(f"fine-tuned from {source.path}: validation Dice {_fmt(scores['fine_tuned'])}, "
                f"{source.path.name}'s network on the same {len(samples)} images {_fmt(scores['source'])}")
    if theirs:
        other = record["on_source_validation"]
        logger.info(f"on {source.path.name}'s {len(theirs)} validation images: this run "
                    f"{_fmt(other['fine_tuned_dice'])}, "
                    f"{source.path.name} {_fmt(other['source_dice'])}")
    return record


def _validation_samples(folder: RunDir) -> list:
    """The validation images of a run that are still where it read them (none when its files are unreadable)."""
    try:
        cfg = load_config(folder.config)
        stems = read_run_split(folder.split).get("val") or []
        available = {s.stem: s for s in discover(cfg.data.root, LayoutOptions.from_config(cfg.data)).samples}
    except (UserError, OSError):
        return []
    return [available[s] for s in stems if s in available]


def _fmt(value) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"
