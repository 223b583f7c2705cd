"""How the ``scmixvae`` command stops on SIGTERM: as Ctrl+C does, before writing anything.

SIGTERM (a scheduler's pre-emption) raises :class:`Terminated`, a KeyboardInterrupt, where
the program is, so that it unwinds as Ctrl+C does and exits 143. Python ignores an exception
raised inside a ``__del__`` or weakref callback, which is where the handler lands now and
then; the flag it sets then stops the job at the next minibatch or before the next write.
"""

from __future__ import annotations

import sys
import threading

from lightning.pytorch.callbacks import Callback


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it unwinds as Ctrl+C does."""


#: Set by the SIGTERM handler: training turns any interrupt into a plain KeyboardInterrupt.
TERMINATED = threading.Event()


def stop_if_terminated() -> None:
    """Raise again a SIGTERM whose exception Python swallowed.

    Python ignores an exception raised in a ``__del__`` or weakref callback, which is where the
    handler lands now and then; the flag it set still stops the job before any output is written.
    """
    if TERMINATED.is_set():
        raise Terminated


class StopWhenTerminated(Callback):
    """Stop training at the next minibatch once SIGTERM has arrived."""

    def on_train_batch_end(self, *args) -> None:
        stop_if_terminated()


def terminate(signum, frame) -> None:
    TERMINATED.set()
    raise Terminated


def quiet_swallowed_sigterm(unraisable) -> None:
    """Drop Python's report of a SIGTERM raised inside ``__del__``; the flag stops the job."""
    if not isinstance(unraisable.exc_value, Terminated):
        sys.__unraisablehook__(unraisable)
