"""Every setting of a run, validated once at the boundary.

The root model :class:`SegtrainConfig` is the resolved configuration of one run: it is
saved as ``config.yaml`` in the run folder and travels inside every checkpoint. Fields
left at ``None`` are filled by the planner, which records the reason for each value.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segtrain.config.loss_spec import parse_loss_spec
from segtrain.config.postprocess_spec import parse_step

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$")


def parse_duration(value: str | float | int) -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"5m"``, ``"1h30m"`` or a number of seconds.

    Raises
    ------
    ValueError
        If the text is not a duration or the duration is not positive.
    """
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip().removeprefix("-"))
        if match and any(match.groups()) and str(value).strip().startswith("-"):
            raise ValueError(f"{value!r}: a duration must be positive; write e.g. 90s, 5m or 1h30m")
        if not match or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 5m or 1h30m")
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        seconds = 3600 * h + 60 * m + s
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be positive")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
    """``allow_inf_nan=False``: every float setting refuses NaN and infinities (``--lr inf``), by name."""


class DataConfig(_Strict):
    """Where the data is and how it is split."""

    root: Path | None = None
    """The dataset folder holding ``images/`` and ``masks/``."""
    split_file: Path | None = None
    """A ``split.json`` to use instead of ``DATA/split.json``, the dataset's split folders or a random split."""
    images: str | None = None
    """The image folder, relative to ``root`` or absolute; recognised from the layout when not given."""
    masks: str | None = None
    """The mask folder, relative to ``root`` or absolute; recognised from the layout when not given."""
    mask_pattern: str | None = None
    """How masks are named after their images: ``{stem}_manual1`` or a regular expression whose group is the
    image's stem; recognised by the name rules when not given."""
    roi: str | None = None
    """A folder of region-of-interest masks, relative to ``root`` or absolute; recognised when not given."""
    val_fraction: float = Field(0.15, gt=0, lt=1)
    """Share of the images used for validation in a random split."""
    test_fraction: float = Field(0.15, ge=0, lt=1)
    """Share of the images held out for the final test in a random split."""
    num_classes: int | None = Field(None, ge=2)
    """Number of classes; inferred from the masks when not given."""
    ignore_index: int | None = None
    """A raw mask value (what the mask files hold: VOC's border 255, CamVid's void 11, or 0) whose pixels are
    excluded from the classes, the loss, the metrics and patch centring; never predicted. For colour masks, the
    packed colour ``R*65536 + G*256 + B``."""
    has_ignored: bool = False
    """Set by the run's preparation when some pixels are ignored besides ``ignore_index``'s: values listed under
    ``"ignore"`` in ``classes.json``, or pixels outside the images' regions of interest."""
    label_mapping: dict[int, int] | None = None
    """Raw mask value (or packed colour ``R*65536 + G*256 + B``) -> class index; found by ``check``."""
    class_names: list[str] | None = None
    """One name per class (from ``classes.json``), else ``None`` (classes are named by index)."""
    colour_masks: bool = False
    """Masks are colour-coded RGB read as packed colours (``classes.json`` names the colours)."""
    multilabel: list[str] | None = None
    """Label names of multilabel masks (one binary channel per label); ``None`` for class-index masks."""


class ModelConfig(_Strict):
    """The U-Net."""

    depth: int = Field(4, ge=1, le=6)
    """Number of down-sampling steps; inputs are padded to a multiple of 2**depth."""
    width: int = Field(16, ge=4, le=256)
    """Channels of the first level; each level down doubles it."""
    stem: Literal["full", "strided"] | None = None
    """``full``: the first level convolves at the input resolution (thin structures); ``strided``: its first
    convolution has stride 2 and a transposed convolution brings the output back (a step took 0.24 s instead of
    0.65 s at 8x256x256 on a 2-core CPU; for data whose structures survive half the resolution). ``None``: planned."""
    norm: Literal["batch", "instance", "group", "none"] = "batch"
    """Normalisation after each convolution."""
    act: Literal["relu", "leakyrelu", "prelu", "elu", "gelu", "silu"] = "relu"
    """Activation after each normalisation."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout probability at the bottleneck."""
    init: Literal["default", "kaiming", "xavier"] = "default"
    """Weight initialisation of the convolutions: PyTorch's default (Kaiming-uniform with a=sqrt(5)),
    ``kaiming`` (He normal, fan-out, for ReLU-like activations) or ``xavier`` (Glorot uniform)."""


class AugmentConfig(_Strict):
    """Random changes applied to training patches only.

    ``None`` means: planned from the data (:func:`segtrain.planning.augmentation.plan_augmentation`);
    a ``None`` left unplanned acts as "off".
    """

    hflip: bool | None = None
    """Mirror left-right with probability 1/2."""
    vflip: bool | None = None
    """Mirror top-bottom with probability 1/2 (planned off when a class prefers the top or bottom, e.g. sky)."""
    rot90: bool | None = None
    """Rotate by a random multiple of 90 degrees (square patches only; planned on only for orientation-free data)."""
    rotate: float | None = Field(None, ge=0, le=180)
    """Largest rotation in degrees: the angle is uniform in ``[-rotate, rotate]``; 0 is off, 180 any angle."""
    scale_jitter: float | None = Field(None, ge=0, le=1)
    """Zoom strength ``s``: the zoom factor is log-uniform in ``[1/(1+s), 1+s]`` (0.2: from 1/1.2 to 1.2); 0 is off."""
    gamma: float | None = Field(None, ge=0, le=2)
    """Gamma strength ``g``: the exponent is log-uniform in ``[1/(1+g), 1+g]``, applied to each channel
    rescaled to [0, 1] by its patch minimum and maximum and mapped back (the range is kept); 0 is off."""
    blur: float | None = Field(None, ge=0, le=1)
    """Probability of a Gaussian blur of sigma uniform in [0.5, 1.0] pixels; 0 is off."""
    noise: float | None = Field(None, ge=0, le=1)
    """Largest standard deviation of additive Gaussian noise on normalised (unit-variance) intensities;
    each patch draws its standard deviation uniformly in ``[0, noise]``; 0 is off."""
    intensity: float = Field(0.1, ge=0, le=1)
    """Strength of the random contrast and brightness change on normalised intensities."""
    rare_class_share: float = Field(0.33, ge=0, le=1)
    """Share of patches centred on a pixel of a class chosen uniformly among those present."""

    def filled(self, chosen: dict) -> "AugmentConfig":
        """This config with its ``None`` fields filled from ``chosen`` (a plan's ``augment``; set fields are kept)."""
        fill = {name: value for name, value in chosen.items()
                if name in type(self).model_fields and getattr(self, name) is None and value is not None}
        return type(self)(**{**self.model_dump(), **fill})  # validated, unlike model_copy(update=...)


class LossConfig(_Strict):
    """Parameters of the loss terms named by ``train.loss`` (e.g. ``dice+ce`` or ``dice:1,focal:0.5``)."""

    class_weights: Literal["none", "frequency"] | list[float] = "none"
    """Cross-entropy class weights: none, ``frequency`` (median frequency / class frequency, from the
    training masks; in binary mode this sets ``pos_weight``), or one weight per class."""

    @field_validator("class_weights", mode="before")
    @classmethod
    def _class_weights(cls, value):
        """One clear line for a word other than none/frequency or a weight that is not a finite number >= 0."""
        if isinstance(value, str) and value.strip().lower() in ("none", "frequency"):
            return value.strip().lower()
        weights = value if isinstance(value, (list, tuple)) else None
        try:
            ok = weights is not None and all(not isinstance(w, (bool, str)) and math.isfinite(float(w))
                                             and float(w) >= 0 for w in weights)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{value!r}: write none, frequency, or one finite weight >= 0 per class like 1,5,5")
        return value
    pos_weight: float | None = Field(None, gt=0)
    """Binary cross-entropy weight of the positive (foreground) pixels."""
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    """Cross-entropy label smoothing (multiclass)."""
    focal_gamma: float = Field(2.0, ge=0)
    """Focal loss focusing exponent; 0 gives cross-entropy."""
    focal_alpha: float | None = Field(None, ge=0, le=1)
    """Focal loss weight of the positive class (binary, multilabel); ``None``: unweighted."""
    tversky_alpha: float = Field(0.3, ge=0)
    """Tversky weight of false positives."""
    tversky_beta: float = Field(0.7, ge=0)
    """Tversky weight of false negatives."""
    tversky_gamma: float = Field(1.0, gt=0)
    """Focal-Tversky exponent: the loss is ``(1 - TI) ** gamma``; 1 is plain Tversky."""
    boundary_warmup: float = Field(0.2, ge=0, le=1)
    """Share of the training steps over which the boundary term's weight rises from 0 to its value."""


class TrainConfig(_Strict):
    """How long, how fast and with what optimiser. ``None`` means: planned."""

    seed: int = Field(0, ge=0, lt=2**32)
    """Random seed; numpy takes 0 .. 2**32 - 1."""
    epochs: int | None = Field(None, ge=1)
    budget_s: float | None = None
    """Wall-clock budget of training in seconds; accepts ``"5m"``-style text."""
    max_steps: int | None = Field(None, ge=1)
    steps_per_epoch: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    patch_size: int | None = Field(None, ge=16)
    scale: Annotated[float, Field(gt=0, le=4)] | Literal["fit", "fill"] | None = None
    """Input scale: images are resized by this factor for training, validation and prediction (logits are
    resized back, so scores stay at full resolution); ``fit`` resizes each image so its long side fills
    the patch; ``fill`` resizes it to the square patch (both sides); ``None``: planned from the training masks."""
    lr: float | None = Field(None, gt=0)
    """Initial (or peak) learning rate; planned by the range test when not given."""
    lr_find: bool = True
    """Run the learning-rate range test while planning (otherwise a stated default is used)."""
    accumulate: int | None = Field(None, ge=1)
    """Micro-batches whose gradients are summed before each weight update (effective batch = batch x accumulate)."""
    optimizer: Literal["adamw", "adam", "sgd"] | None = None
    schedule: Literal["constant", "step", "exponential", "poly", "cosine", "onecycle", "plateau"] | None = None
    loss: str | None = None
    """Loss terms with optional weights: ``ce``, ``dice``, ``jaccard``, ``tversky``, ``focal``, ``lovasz``,
    ``boundary``, combined as ``dice+ce`` or ``dice:1,focal:0.5`` (parameters in the ``loss`` section)."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """Probability above which a pixel is foreground (binary and multilabel)."""
    tune_threshold: bool = False
    """Choose the threshold that maximises validation Dice after training (binary and multilabel)."""
    tta: bool | None = None
    """Average the prediction over the flips training used; ``None``: kept only if it raises the
    validation score after training."""
    postprocess: list[str] | None = None
    """Post-processing steps (``fill_holes@K``, ``largest_component@K``, ``remove_small:F@K``) applied
    to every class map; ``None``: each candidate kept only if it raises the validation score; ``[]``: none."""
    race: bool | None = None
    """The budget race between candidate set-ups (``pipeline/race.py``): ``None``: on when the budget
    allows it (``train``; ``plan`` races only when asked), True asks for it, False skips it."""
    race_share: float = Field(0.2, gt=0, le=0.5)
    """Share of the budget the race takes; the winner trains for the rest."""
    race_min_steps: int = Field(50, ge=1)
    """Weight updates each candidate's first slice must give, else that candidate (or the race) is left out."""
    memory_fraction: float = Field(0.5, gt=0, le=1)
    """Share of the available memory a CPU training step may plan to use."""
    weight_decay: float = Field(1e-4, ge=0)
    warmup_fraction: float = Field(0.03, ge=0, lt=1)
    """Share of the steps over which the learning rate rises linearly before it decays."""
    final_lr_fraction: float = Field(0.01, ge=0, le=1)
    """The cosine decay ends at ``lr * final_lr_fraction``."""
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = "auto"
    channels_last: bool | None = None
    early_stop_patience: int | None = Field(20, ge=1)
    """Stop after this many validations without improvement; ``None`` disables."""
    clip_grad: float | None = Field(None, gt=0)
    """Clip the gradients' total L2 norm to this value before each update; ``None``: no clipping."""
    checkpoint_every_s: float = 600.0
    """Besides every epoch, ``last.ckpt`` is written after the first step that ends this many seconds
    after the previous write (accepts ``"10m"``-style text)."""
    max_recoveries: int = Field(3, ge=0)
    """Non-finite or exploding steps rolled back before training stops."""
    recovery_lr_factor: float = Field(0.5, gt=0, lt=1)
    """Each roll-back multiplies the learning rate by this factor."""
    deterministic: bool = False
    """Ask PyTorch for deterministic algorithms (slower on a GPU; resumed runs then match exactly)."""
    task: Literal["segment", "denoise"] = "segment"
    """``segment``: images/ with masks/; ``denoise``: Noise2Void on images/ alone (``clean/`` optional, for scores)."""
    n2v_share: float | None = Field(None, gt=0, le=0.1)
    """Denoising: share of each patch's pixels masked as blind spots (one per about 1/share pixels, on a jittered
    grid); ``None``: planned (0.002, N2V's, for long runs; denser for runs of few steps)."""
    init_from: str | None = None
    """A finished run folder whose best weights, classes, label mapping and network this run starts from
    (fine-tuning on new or extended data); everything that depends on the data and the budget is re-planned."""
    logger: Literal["csv", "tensorboard", "mlflow", "wandb"] = "csv"
    """``metrics.csv`` and ``steps.csv`` are always written; ``tensorboard`` also writes TensorBoard
    event files to ``RUN/tensorboard/`` (needs the ``tensorboard`` package)."""
    num_workers: int | None = Field(None, ge=0)
    """Loader processes that read and augment patches while the step runs (0: the main process)."""
    cache_mb: int | None = Field(None, ge=0)
    """Memory for decoded training images, kept after their first read (shared out among the loader
    processes); 0 reads every patch's image from disk."""
    compile: bool = False
    """Compile the network with ``torch.compile`` (the first steps pay for the compilation)."""
    accelerator: str = "auto"
    devices: int = Field(1, ge=1)
    """Processes (one per GPU, or CPU processes) on each node; the effective batch grows with them."""
    num_nodes: int = Field(1, ge=1)
    """Machines taking part; processes in all = devices x num_nodes."""
    strategy: Literal["auto", "ddp", "ddp_fork"] = "auto"
    """Lightning's strategy for several processes: ``ddp`` (``auto``) starts one process per device
    (or joins those started by torchrun or SLURM); ``ddp_fork`` forks them (CPU only, e.g. notebooks)."""
    val_overlap: float = Field(0.25, ge=0, lt=1)
    """Overlap of neighbouring tiles in whole-image validation and prediction."""

    @field_validator("loss")
    @classmethod
    def _loss(cls, value):
        if value is None:
            return None
        parse_loss_spec(value)  # one clear line for an unknown term or a bad weight
        return "".join(value.split()).lower()

    @field_validator("postprocess")
    @classmethod
    def _postprocess(cls, value):
        for step in value or []:
            parse_step(step)  # one clear line naming the grammar
        return value

    @field_validator("budget_s", mode="before")
    @classmethod
    def _budget(cls, value):
        return None if value is None else parse_duration(value)

    @field_validator("checkpoint_every_s", mode="before")
    @classmethod
    def _checkpoint_every(cls, value):
        return parse_duration(value)


class SegtrainConfig(_Strict):
    """The resolved configuration of one run."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    augment: AugmentConfig = AugmentConfig()
    train: TrainConfig = TrainConfig()
    loss: LossConfig = LossConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> "SegtrainConfig":
        multiple = 2**self.model.depth
        p = self.train.patch_size
        if p is not None and p % multiple:
            raise ValueError(
                f"train.patch_size {p} is not a multiple of 2**model.depth = {multiple}; "
                f"use {max(multiple, p // multiple * multiple)} or {(p // multiple + 1) * multiple}"
            )
        if self.data.val_fraction + self.data.test_fraction >= 0.9:
            raise ValueError("data.val_fraction + data.test_fraction must leave at least 10% for training")
        if self.model.norm == "group" and self.model.width % 8:
            raise ValueError(f"model.norm 'group' uses 8 groups: model.width {self.model.width} must be a multiple of 8")
        return self
