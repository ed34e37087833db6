"""A plain U-Net (Ronneberger et al., 2015) with selectable normalisation and activation.

Each level is two 3x3 convolutions, each followed by a normalisation and an activation;
the encoder halves the resolution with max-pooling and doubles the channels, the decoder
up-samples with a transposed convolution and concatenates the skip connection. With the
``strided`` stem the first convolution has stride 2, every level works at half the input
resolution, and a last transposed convolution returns the logits to it (MONAI's UNet with
strides of 2 also never convolves at full resolution). Inputs of any height and width are
padded (reflect) to a multiple of ``2**depth`` (``2**(depth+1)`` when strided) and the output is cropped back, so the network
never imposes a size on the user.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from segtrain.config.schema import ModelConfig
from segtrain.models.decision import mode_of, output_channels

_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leakyrelu": lambda: nn.LeakyReLU(0.01, inplace=True),
    "prelu": lambda: nn.PReLU(),
    "elu": lambda: nn.ELU(inplace=True),
    "gelu": lambda: nn.GELU(),
    "silu": lambda: nn.SiLU(inplace=True),
}

GROUPS = 8
"""Groups of group normalisation (Wu and He, 2018, found 32 best at 64+ channels; 8 suits narrow nets)."""


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(GROUPS, channels), channels)
    return nn.Identity()


def _double_conv(cin: int, cout: int, norm: str, act: str, stride: int = 1) -> nn.Sequential:
    bias = norm == "none"
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias), _norm(norm, cout), _ACTIVATIONS[act](),
        nn.Conv2d(cout, cout, 3, padding=1, bias=bias), _norm(norm, cout), _ACTIVATIONS[act](),
    )


class UNet(nn.Module):
    """U-Net mapping ``(B, in_channels, H, W)`` images to ``(B, out_channels, H, W)`` logits.

    Parameters
    ----------
    in_channels : int
        Image channels (1 for gray, 3 for RGB).
    out_channels : int
        Logits per pixel: 1 for binary masks, C for C classes.
    config : ModelConfig
        Depth, width, normalisation, activation and dropout.
    """

    def __init__(self, in_channels: int, out_channels: int, config: ModelConfig | None = None):
        super().__init__()
        config = config or ModelConfig()
        widths = [config.width * 2**i for i in range(config.depth + 1)]
        strided = config.stem == "strided"
        self.multiple = 2 ** (config.depth + strided)
        self.encoders = nn.ModuleList(
            [_double_conv(in_channels, widths[0], config.norm, config.act, stride=2 if strided else 1)]
            + [_double_conv(widths[i], widths[i + 1], config.norm, config.act) for i in range(config.depth)]
        )
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(config.depth))
        self.decoders = nn.ModuleList(
            _double_conv(2 * widths[i], widths[i], config.norm, config.act) for i in range(config.depth)
        )
        self.dropout = nn.Dropout2d(config.dropout) if config.dropout else nn.Identity()
        self.unstem = nn.Sequential(
            nn.ConvTranspose2d(widths[0], widths[0], 2, stride=2), _norm(config.norm, widths[0]),
            _ACTIVATIONS[config.act](),
        ) if strided else nn.Identity()
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        init_weights(self, config.init, config.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        return self.core(x)[..., :h, :w]

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` whose height and width are multiples of :attr:`multiple` (no padding, no crop)."""
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = self.dropout(skips.pop())
        for level in reversed(range(len(self.decoders))):
            x = self.decoders[level](torch.cat([self.ups[level](x), skips.pop()], dim=1))
        return self.head(self.unstem(x))


_GAIN_NONLINEARITY = {"relu": "relu", "leakyrelu": "leaky_relu", "prelu": "leaky_relu", "elu": "relu",
                      "gelu": "relu", "silu": "relu"}
"""The gain used for Kaiming initialisation per activation (GELU, SiLU and ELU behave like ReLU for it)."""


def init_weights(model: nn.Module, kind: str = "default", act: str = "relu") -> None:
    """Initialise convolution weights: ``default`` keeps PyTorch's, ``kaiming`` is He normal (fan-out),
    ``xavier`` is Glorot uniform; biases start at 0 and normalisation layers at scale 1, shift 0."""
    if kind == "default":
        return
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            if kind == "kaiming":
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity=_GAIN_NONLINEARITY[act])
            elif kind == "xavier":
                nn.init.xavier_uniform_(module.weight)
            else:
                raise ValueError(f"unknown initialisation {kind!r}; choose default, kaiming or xavier")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def build_model(in_channels: int, num_classes: int, config: ModelConfig | None = None, mode: str | None = None) -> UNet:
    """The network for a dataset: one logit for two classes (sigmoid), else one per class (softmax),
    or one per label in ``multilabel`` mode (a sigmoid each)."""
    return UNet(in_channels, output_channels(num_classes, mode or mode_of(num_classes)), config)
