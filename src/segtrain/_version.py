"""The package version, in one place (read by the top package, checkpoints and the machine cache)."""

__version__ = "0.1.0"
