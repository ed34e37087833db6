"""Console messages and silencing of the libraries underneath.

segtrain's own messages go through the ``segtrain`` logger; the CLI attaches a handler.
:func:`quiet_libraries` hides Lightning's banners, tips and advisory warnings unless the
user asked for ``--verbose``. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
import warnings

logger = logging.getLogger("segtrain")

_LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "torch", "monai")

_ADVISORY_WARNINGS = (
    r".*does not have many workers.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*The number of training batches .* is smaller than the logging interval.*",
    r".*LightningModule.log.*",
    r".*You defined a `validation_step` but have no `val_dataloader`.*",
    r".*GPU available but not used.*",
    r".*TensorBoard.*",
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r".*torch.cpu.amp.autocast.*",
)


def quiet_libraries(verbose: bool = False) -> None:
    """Hide library chatter (banners, tips, advisory warnings) unless ``verbose``."""
    if verbose:
        return
    import lightning.pytorch  # noqa: F401  (it sets its loggers' levels when first imported)

    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in _ADVISORY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    try:
        from lightning.fabric.utilities.warnings import PossibleUserWarning

        warnings.filterwarnings("ignore", category=PossibleUserWarning)
    except ImportError:  # pragma: no cover - lightning is a dependency
        pass


def setup_console(level: int = logging.INFO) -> None:
    """Print segtrain's messages on stderr, message only (called by the CLI)."""
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
