"""What training prints: nothing from third parties by default, progress a log file can read.

Lightning announces devices, tips and stopping reasons, and warns about logging intervals
that do not matter here; a training run shows none of that unless ``verbose=True``. A
progress bar redraws one terminal line, which a log file receives as one unreadable line
at the end; when standard error is not a terminal, :class:`ProgressLines` prints a line
per tenth of the epochs instead.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from lightning.pytorch.callbacks import Callback

#: Loggers whose information messages a quiet training hides.
_LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
#: Warnings that say nothing a user can act on in this package's training.
_NOISE = (
    r".*log_every_n_steps.*",
    r".*LeafSpec.*",
    r".*does not have many workers.*",
    r"Found \d+ module\(s\) in eval mode.*",  # a frozen augmenter, on purpose
)


@contextmanager
def quiet_third_party(quiet: bool = True) -> Iterator[None]:
    """Hide Lightning's information messages and known noise warnings within the block.

    Examples
    --------
    >>> with quiet_third_party():
    ...     logging.getLogger("lightning.pytorch").info("GPU available: False")

    """
    if not quiet:
        yield
        return
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        try:
            for logger in loggers:
                logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


class ProgressLines(Callback):
    """Print ``epoch e/E (p%) train_loss=... elapsed`` to standard error every tenth of the run.

    Examples
    --------
    >>> progress = ProgressLines(max_epochs=20)
    >>> [e for e in range(20) if progress.reports(e)]
    [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]

    """

    def __init__(self, max_epochs: int, stream=None):
        self.max_epochs = max_epochs
        self.every = max(1, max_epochs // 10)
        self.stream = stream
        self.start = time.perf_counter()

    def reports(self, epoch: int) -> bool:
        """Whether the end of ``epoch`` (0-based) gets a line."""
        return (epoch + 1) % self.every == 0 or epoch + 1 == self.max_epochs

    def on_train_start(self, trainer, pl_module) -> None:
        """Start the clock."""
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        """Print the line of this epoch, if it is one that reports."""
        epoch = trainer.current_epoch
        if not self.reports(epoch) or trainer.global_rank != 0:
            return
        loss = trainer.callback_metrics.get("train_loss")
        loss_text = "" if loss is None else f" train_loss={float(loss):.4g}"
        percent = 100 * (epoch + 1) / self.max_epochs
        print(
            f"epoch {epoch + 1}/{self.max_epochs} ({percent:.0f}%){loss_text} "
            f"{time.perf_counter() - self.start:.0f} s",
            file=self.stream or sys.stderr,
            flush=True,
        )
