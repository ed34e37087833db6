"""Pydantic models of every setting, and their YAML form."""

from segtrain.config.io import build_config, load_config, merge, save_config
from segtrain.config.schema import (
    AugmentConfig,
    DataConfig,
    LossConfig,
    ModelConfig,
    SegtrainConfig,
    TrainConfig,
    parse_duration,
)

__all__ = [
    "AugmentConfig", "DataConfig", "LossConfig", "ModelConfig", "SegtrainConfig", "TrainConfig",
    "build_config", "load_config", "merge", "parse_duration", "save_config",
]
