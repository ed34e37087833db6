"""The one option table: command-line flag <-> keyword of the verbs <-> config key <-> resume rule.

Every place that names an option reads it from :data:`OPTIONS`: the CLI builds its flags and their
help from it (``cli/options.py``), :func:`nested_overrides` turns the verbs' keyword options into
config keys, a config error raised by an option names the flag (:func:`flag_names`), and a refused
resume names the flag the user typed (:func:`describe`: ``--workers 2``, ``--no-lr-find``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from segtrain.errors import UserError

EXTENDING = "extends"
"""Resume rule: the option extends a resumed run (more epochs, steps or time)."""
SAME = "same"
"""Resume rule: a resumed run keeps its setting; a different value is refused."""
KEPT = "kept"
"""Resume rule: the run's own file is used and the option is not compared (the run's ``split.json``)."""


@dataclass(frozen=True)
class Option:
    """One planning or training option.

    ``name`` is the keyword of :func:`segtrain.train` (and the other verbs); ``key`` the config
    field it sets (``section.field``); ``flag`` the command-line flag; ``negates``: the flag turns a
    setting off (``--no-lr-find`` sets ``train.lr_find`` to False); ``param``: the CLI function's
    parameter when it cannot be ``name`` (a Python keyword or a name the module already uses).
    """

    name: str
    key: str
    flag: str
    help: str
    resume: str = SAME
    negates: bool = False
    param: str = ""

    @property
    def section(self) -> str:
        return self.key.split(".")[0]

    @property
    def field(self) -> str:
        return self.key.split(".")[1]

    @property
    def cli_param(self) -> str:
        return self.param or self.name

    @property
    def pair(self) -> bool:
        """A flag with its opposite (``--tta`` / ``--no-tta``): True, False, or not given."""
        return self.name in _PAIRS

    @property
    def off_flag(self) -> str:
        return "--no-" + self.flag.removeprefix("--")

    @property
    def switch(self) -> bool:
        """A flag without a value (``--compile``, ``--no-lr-find``)."""
        return self.negates or self.name in _SWITCHES


_SWITCHES = {"tune_threshold", "compile"}
_PAIRS = {"tta", "race"}

OPTIONS: tuple[Option, ...] = (
    Option("epochs", "train.epochs", "--epochs", "Number of epochs (planned from --budget when absent).", EXTENDING),
    Option("batch_size", "train.batch_size", "--batch-size",
           "Patches per forward pass (planned: the largest that fits and pays)."),
    Option("accumulate", "train.accumulate", "--accumulate",
           "Micro-batches per weight update; effective batch = batch x this."),
    Option("lr", "train.lr", "--lr", "Initial (or peak) learning rate (planned by the range test)."),
    Option("patch_size", "train.patch_size", "--patch-size", "Side of the square training patches."),
    Option("scale", "train.scale", "--scale", "Input scale: a factor such as 0.5, fit (each image's long side "
                                              "fills the patch) or fill (each image resized to the square patch); "
                                              "planned from the masks' structure sizes."),
    Option("budget", "train.budget_s", "--budget", "Wall-clock training budget, e.g. 90s, 5m, 1h.", EXTENDING),
    Option("max_steps", "train.max_steps", "--max-steps", "Stop after this many weight updates.", EXTENDING),
    Option("steps_per_epoch", "train.steps_per_epoch", "--steps-per-epoch",
           "Weight updates per epoch (default ceil(patches / effective batch))."),
    Option("optimizer", "train.optimizer", "--optimizer", "adamw, adam or sgd."),
    Option("schedule", "train.schedule", "--schedule",
           "constant, step, exponential, poly, cosine, onecycle or plateau."),
    Option("loss", "train.loss", "--loss", "Loss terms: ce, dice, jaccard, tversky, focal, lovasz, boundary; "
                                           "combine as dice+ce or dice:1,focal:0.5."),
    Option("class_weights", "loss.class_weights", "--class-weights",
           "Cross-entropy class weights: none, frequency (from the training masks), or one per class: 1,5,5."),
    Option("precision", "train.precision", "--precision",
           "32, bf16-mixed or 16-mixed (planned: the fastest that agrees with float32)."),
    Option("norm", "model.norm", "--norm", "batch, instance, group or none."),
    Option("lr_find", "train.lr_find", "--no-lr-find", "Skip the learning-rate range test; use the stated default.",
           negates=True, param="no_lr_find"),
    Option("num_classes", "data.num_classes", "--num-classes", "Number of classes (inferred when absent)."),
    Option("split", "data.split_file", "--split", "A split.json to use.", KEPT),
    Option("images", "data.images", "--images", "The image folder, relative to DATA or absolute (recognised "
                                                "when absent: images/, imgs/, JPEGImages/, split folders ...)."),
    Option("masks", "data.masks", "--masks", "The mask folder, relative to DATA or absolute (recognised when "
                                             "absent: masks/, labels/, gt/, SegmentationClass/, 1st_manual/ ...)."),
    Option("mask_pattern", "data.mask_pattern", "--mask-pattern",
           "How a mask is named after its image: a format such as '{stem}_manual1' or a regular expression whose "
           "group is the image's stem, such as '(.+)_mask' (recognised when absent)."),
    Option("roi", "data.roi", "--roi", "A folder of region-of-interest masks (pixels outside are ignored), "
                                       "relative to DATA (recognised when absent: roi/, fov/, DRIVE's mask/)."),
    Option("ignore_index", "data.ignore_index", "--ignore-index",
           "A mask value to ignore, as the mask files hold it (VOC's border 255, CamVid's void 11): not a class, "
           "left out of the loss and the scores, never predicted."),
    Option("seed", "train.seed", "--seed", "Random seed (default 0)."),
    Option("task", "train.task", "--task", "segment (images/ with masks/) or denoise (Noise2Void on images/ alone; "
                                           "DATA/clean/ optional, for PSNR/SSIM)."),
    Option("init_from", "train.init_from", "--init-from", "Fine-tune: start from the best weights of this run "
                                                         "folder, keeping its classes, label mapping and network; "
                                                         "patch, batch, epochs and rate are planned anew."),
    Option("clip_grad", "train.clip_grad", "--clip-grad",
           "Clip the gradients' total norm to this value before each update."),
    Option("init", "model.init", "--init", "Weight initialisation: default, kaiming or xavier."),
    Option("devices", "train.devices", "--devices", "Processes per node, one per GPU (or CPU processes); the "
                                                    "effective batch is batch x accumulate x devices x nodes."),
    Option("num_nodes", "train.num_nodes", "--num-nodes", "Machines taking part (torchrun or SLURM start them)."),
    Option("strategy", "train.strategy", "--strategy",
           "auto (ddp for several processes), ddp, or ddp_fork (CPU, notebooks)."),
    Option("logger", "train.logger", "--logger", "csv (metrics.csv and steps.csv, always written), tensorboard "
                                                 "(also RUN/tensorboard), mlflow (MLFLOW_TRACKING_URI, default a file "
                                                 "store in RUN/mlruns) or wandb (offline into RUN/wandb unless "
                                                 "WANDB_MODE=online); each needs its package.",
           param="logger_name"),
    Option("num_workers", "train.num_workers", "--workers", "Loader processes that prepare patches while the step "
                                                           "runs (planned from the cores; 0: the main process)."),
    Option("cache_mb", "train.cache_mb", "--cache-mb", "Memory for decoded training images, kept after their first "
                                                       "read (planned: a quarter of the available memory; 0: read "
                                                       "every patch's image from disk)."),
    Option("compile", "train.compile", "--compile", "Compile the network with torch.compile (faster steps after a "
                                                    "compilation of a minute or more; measure with "
                                                    "bench/throughput.py).", param="compile_network"),
    Option("threshold", "train.threshold", "--threshold",
           "Probability above which a pixel is foreground (binary, multilabel; default 0.5)."),
    Option("tune_threshold", "train.tune_threshold", "--tune-threshold",
           "Choose the threshold that maximises validation Dice after training."),
    Option("tta", "train.tta", "--tta", "Average predictions over the flips training used (default: "
                                                 "kept only if it raises the validation score)."),
    Option("race", "train.race", "--race", "Race a few candidate set-ups (scale, width, rate) for a share of the "
                                           "budget and train the winner for the rest (default for train: on when "
                                           "the budget allows it; plan races only with --race)."),
    Option("race_share", "train.race_share", "--race-share", "Share of the budget the race takes (default 0.2, "
                                                             "at most 0.5)."),
    Option("postprocess", "train.postprocess", "--postprocess",
           "Post-processing of the class maps: auto (each candidate kept only if it raises the validation "
           "score), none, or steps such as fill_holes@1,largest_component@1,remove_small:0.001@2."),
)
"""Every option of ``plan``, ``lr-find`` and ``train``, in the order ``--help`` lists them."""

PREDICT_OPTIONS: tuple[Option, ...] = (
    Option("nan_as", "predict.nan_as", "--nan-as", "Read NaN and infinite pixels of float images as this finite "
                                                   "value (e.g. 0); without it such images are refused."),
)
"""Options of ``predict`` alone (no config key: ``predict`` reads the run's config); their flags and help
come from here like the others' (``cli.options.flag``)."""

BY_NAME: dict[str, Option] = {o.name: o for o in (*OPTIONS, *PREDICT_OPTIONS)}
BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}


def finite(option_name: str, value: float | None) -> float | None:
    """``value`` of a float option outside the config (``--nan-as``) when it is a finite number (or None);
    else a :class:`~segtrain.errors.UserError` naming the flag."""
    if value is not None and (isinstance(value, bool) or not math.isfinite(float(value))):
        flag = BY_NAME[option_name].flag
        raise UserError(f"{flag} {value}: not a finite number; give one such as {flag} 0")
    return value


def nested_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """Keyword options -> a nested config dict (``budget`` -> ``train.budget_s``); None means not given.

    An unknown keyword lands in ``train``, where the config refuses it by name ("unknown key").
    """
    nested: dict[str, Any] = {"data": {}, "model": {}, "train": {}, "loss": {}}
    for name, value in options.items():
        option = BY_NAME.get(name)
        if option is None:
            nested["train"][name] = value
            continue
        if option.name in ("split", "init_from", "images", "masks", "roi") and value is not None:
            value = str(value)
        nested[option.section][option.field] = value
    return nested


def flag_names(given: dict[str, Any] | None = None) -> dict[str, str]:
    """Config key -> the flag that sets it (``train.num_workers`` -> ``--workers``), for config errors.

    With ``given`` (nested overrides, see :func:`nested_overrides`): only the keys the options set, so a
    value that came from a config file keeps its key (and the file) in the message.
    """
    if given is None:
        return {o.key: o.flag for o in OPTIONS}
    return {o.key: o.flag for o in OPTIONS if (given.get(o.section) or {}).get(o.field) is not None}


def describe_setting(option: Option, value: Any) -> str:
    """A run's setting as the flags that give it: ``--workers 0``, ``--compile``, ``without --clip-grad``."""
    if value is None or (option.switch and bool(value) == option.negates):
        return f"without {option.flag}"
    return describe(option, value)


def describe(option: Option, value: Any) -> str:
    """The option as the user typed it: ``--workers 2``, ``--no-lr-find``, ``--compile``, ``--no-tta``."""
    if option.switch:
        return option.flag
    if option.pair:
        return option.flag if value else option.off_flag
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return f"{option.flag} {value}"
