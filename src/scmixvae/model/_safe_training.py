"""Keeping training work safe: Ctrl+C leaves a usable model, checkpoints allow resuming."""

from __future__ import annotations

import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from lightning.pytorch.callbacks import Callback


class InterruptRecorder(Callback):
    """Remember that Lightning stopped on a KeyboardInterrupt, and the history logged so far.

    On Ctrl+C Lightning shuts down, ignores further Ctrl+C for the rest of the process and
    calls ``sys.exit(1)``; this callback lets the model tell that exit from any other.
    """

    def __init__(self):
        self.interrupted = False
        self.epoch = 0
        self.history: dict[str, pd.DataFrame] = {}

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """Record a KeyboardInterrupt and copy the logger's history."""
        if isinstance(exception, KeyboardInterrupt):
            self.interrupted = True
            self.epoch = trainer.current_epoch
            self.history = dict(getattr(trainer.logger, "history", None) or {})


@contextmanager
def usable_after_interrupt(
    model, recorder: InterruptRecorder, max_epochs: int, resumable: bool
) -> Iterator[None]:
    """Turn Lightning's exit after Ctrl+C back into a KeyboardInterrupt, with a usable model.

    The model keeps the weights of its last step and gains the history logged so far (after
    any earlier training's); ``recorder`` must be among the training's callbacks. Any other
    exit is left alone.
    """
    was_trained = model.is_trained_
    try:
        yield
    except SystemExit:
        if not recorder.interrupted:
            raise
        restore_interrupt_handler()
        model.history_ = merge_history(model.history_ if was_trained else None, recorder.history)
        model.is_trained_ = True
        warnings.warn(
            f"Training interrupted in epoch {recorder.epoch + 1} of {max_epochs}. The model "
            "keeps the weights of its last step and can be used, saved or trained further"
            + (" (resume=True continues from the last checkpoint)." if resumable else "."),
            UserWarning,
            stacklevel=4,
        )
        raise KeyboardInterrupt from None


def restore_interrupt_handler() -> None:
    """Let Ctrl+C raise KeyboardInterrupt again (Lightning set it to be ignored)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def merge_history(
    previous: dict[str, pd.DataFrame] | None, new: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """Append a training's logged history to an earlier one, continuing the epoch index.

    Examples
    --------
    >>> old = {"loss": pd.DataFrame({"loss": [3.0, 2.0]})}
    >>> merge_history(old, {"loss": pd.DataFrame({"loss": [1.5]})})["loss"].index.tolist()
    [0, 1, 2]

    """
    if not previous:
        return dict(new)
    merged = dict(previous)
    for key, frame in new.items():
        if key not in merged:
            merged[key] = frame
            continue
        frame = frame.copy()
        frame.index = np.arange(len(merged[key]), len(merged[key]) + len(frame))
        merged[key] = pd.concat([merged[key], frame])
    return merged


#: File name of the checkpoint written by :class:`EpochCheckpoint`.
CHECKPOINT_NAME = "last.ckpt"


class EpochCheckpoint(Callback):
    """Write a full Lightning checkpoint (weights, optimiser, epoch) after every epoch.

    ``Trainer.fit(ckpt_path=...)`` on that file continues the training where it stopped.
    """

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / CHECKPOINT_NAME

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        """Overwrite the checkpoint with the state at the end of this epoch."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(self.path)
