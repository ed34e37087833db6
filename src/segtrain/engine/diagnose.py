"""At the end of every epoch, run the diagnosis over the histories written so far and say what is new."""

from __future__ import annotations

from dataclasses import replace

import logging
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from segtrain.diagnosis.doctor import diagnose_run

logger = logging.getLogger("segtrain")


class EpochDiagnosis(Callback):
    """Prints each warning or error finding once, the first epoch it appears (rank zero only)."""

    def __init__(self, histories: dict[str, Path], meta: dict):
        """``histories``: the run's history files by role (``RunDir.histories``); ``meta``: the
        facts of its record (``RunRecord.diagnosis_facts``)."""
        self.histories, self.meta = histories, meta
        self.said: dict[str, str] = {}
        """Code -> severity of the findings already printed."""
        self.shown: dict[str, object] = {}
        """Code -> the finding as printed (and the epoch it was printed at, in ``epoch``)."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        for finding in diagnose_run(self.histories, self.meta):
            if finding.severity in ("warning", "error") and self.said.get(finding.code) != finding.severity:
                self.said[finding.code] = finding.severity
                self.shown[finding.code] = replace(finding, epoch=finding.epoch or trainer.current_epoch + 1)
                logger.warning(finding.format())
