"""Timing a training from inside: its epochs, its validations, and named functions it calls.

``throughput.py`` and ``start_cost.py`` read a default training's epochs apart from the work
done outside the minibatch steps (the start's clustering, the merge, batch-norm passes).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from unittest import mock

from lightning.pytorch.callbacks import Callback


class EpochTimer(Callback):
    """Wall time of every training epoch, and of all validations together."""

    def __init__(self):
        self.epochs: list[float] = []
        self.validation = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self._epoch = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append(time.perf_counter() - self._epoch)

    def on_validation_start(self, trainer, pl_module):
        self._validation = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        self.validation += time.perf_counter() - self._validation


@contextmanager
def timed_phases(phases: dict[str, tuple[object, str]]) -> Iterator[dict[str, float]]:
    """Time the functions ``phases`` names (phase -> (owner, attribute)) while inside.

    Yields the seconds spent in each phase, summed over calls; each function is replaced
    by a timing wrapper on its owner (a module or a class) and restored on exit.
    """
    seconds: dict[str, float] = defaultdict(float)

    def wrap(function, phase):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[phase] += time.perf_counter() - start

        return wrapper

    with ExitStack() as stack:
        for phase, (owner, name) in phases.items():
            stack.enter_context(mock.patch.object(owner, name, wrap(getattr(owner, name), phase)))
        yield seconds
