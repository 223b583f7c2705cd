"""Training ``CplMixVAE``: scvi-tools' ``train`` with the start, checkpoints and safe stops."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scvi
from scvi.model.base import UnsupervisedTrainingMixin

from .._budget import epochs_for
from ..start import sample_cells
from ..train._augmenter_fit import AugmenterFit
from ..train._batch_norm import BatchNormCalibration
from ._safe_training import (
    CHECKPOINT_NAME,
    EpochCheckpoint,
    InterruptRecorder,
    usable_after_interrupt,
)
from ._training_output import ProgressLines, quiet_third_party
from ._validation import training_split_options

# Default training length, in cells seen: ~1,200 steps of 256 cells. It keeps a full Zeisel
# training (3,005 cells x 4,000 genes) under 5 minutes on 2 CPU cores (benchmarks/).
_CELL_PASSES = 300_000


#: Held-out cells from which ``train`` validates every tenth of the epochs by default.
_MIN_VALIDATION_CELLS = 100


def default_max_epochs(n_obs: int) -> int:
    """Epochs used when ``train(max_epochs=None)``: ``300,000 / n_obs``, clipped to [20, 400].

    Examples
    --------
    >>> default_max_epochs(3005), default_max_epochs(700), default_max_epochs(1_000_000)
    (100, 400, 20)

    """
    return epochs_for(n_obs, _CELL_PASSES, 20, 400)


class TrainingMixin(UnsupervisedTrainingMixin):
    """``train`` for :class:`~scmixvae.CplMixVAE`, and the work it does before and after."""

    def train(
        self,
        max_epochs: int | None = None,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        train_size: float | None = None,
        validation_size: float | None = None,
        shuffle_set_split: bool = True,
        batch_size: int = 256,
        early_stopping: bool = False,
        datasplitter_kwargs: dict | None = None,
        plan_kwargs: dict | None = None,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        augmenter_kwargs: dict | None = None,
        verbose: bool = False,
        check_state_collapse: bool = True,
        **trainer_kwargs,
    ):
        """Train the model; the signature is scvi-tools' ``train``, plus checkpoints.

        Calling ``train`` again continues from the current weights (with a fresh optimiser
        and schedules). Ctrl+C (KeyboardInterrupt) stops training but leaves a usable model:
        the weights of the last step and the history so far are kept, and the
        KeyboardInterrupt is raised again once that is done. Either way the batch-norm
        layers' statistics are then recomputed on up to 10,000 cells with the final weights
        (one pass), so that evaluation normalises as training did.

        Parameters
        ----------
        max_epochs
            Passes through the data. ``None`` uses :func:`default_max_epochs`
            (``300,000 / n_cells``, clipped to [20, 400]).
        accelerator, devices
            Lightning's device selection (``"cpu"``, ``"gpu"``, ``"auto"``).
        train_size, validation_size, shuffle_set_split
            The train / validation split (scvi-tools' defaults: 90 % / 10 %).
        batch_size
            Cells per minibatch. The coupling's variance ``σ²`` is estimated over the
            minibatch, so keep it well above ``n_categories``.
        early_stopping
            Stop when the validation ELBO stops improving (Lightning's ``EarlyStopping``).
        datasplitter_kwargs
            Passed to scvi-tools' ``DataSplitter``.
        plan_kwargs
            Passed to :class:`~scmixvae.train.CplMixVAETrainingPlan` (``lr``,
            ``temperature``, ``min_temperature``, ``n_epochs_temperature``, ...).
        checkpoint_dir
            Folder where a full checkpoint (weights, optimiser state, epoch) is written as
            ``last.ckpt`` after every epoch.
        resume
            Continue the training recorded in ``checkpoint_dir/last.ckpt`` where it stopped,
            up to ``max_epochs`` (same data and settings).
        augmenter_kwargs
            With ``augmentation="generative"``: passed to
            :meth:`~scmixvae.augment.GenerativeAugmenter.fit` (``max_epochs``, ``batch_size``,
            ``lr``) when the augmenter is trained, before the first training of the model.
        verbose
            Show Lightning's messages (devices, tips, logging-interval warnings); hidden by
            default. With a progress bar (the default) and standard error not a terminal
            (a job writing to a log file), a line per tenth of the epochs replaces the bar.
        check_state_collapse
            After training, warn when a state dimension has collapsed onto its prior in
            most types (one inference pass over up to 10,000 cells; :meth:`get_state_kl`).
        **trainer_kwargs
            Passed to scvi-tools' ``Trainer`` (and so to Lightning).

        Examples
        --------
        >>> model.train(max_epochs=100, plan_kwargs={"lr": 1e-3})  # doctest: +SKIP
        >>> model.train(max_epochs=100, checkpoint_dir="ckpt/")  # doctest: +SKIP
        >>> model.train(max_epochs=100, checkpoint_dir="ckpt/", resume=True)  # doctest: +SKIP

        """
        if max_epochs is None:
            max_epochs = default_max_epochs(self.adata.n_obs)
        whole = isinstance(max_epochs, int | np.integer) and not isinstance(max_epochs, bool)
        if not whole or max_epochs < 1:
            raise ValueError(f"max_epochs must be an integer >= 1 or None, got {max_epochs!r}.")
        datasplitter_kwargs = training_split_options(
            self.adata.n_obs, batch_size, train_size, datasplitter_kwargs
        )
        callbacks = list(trainer_kwargs.pop("callbacks", None) or [])
        if resume:
            if checkpoint_dir is None:
                raise ValueError("resume=True needs the checkpoint_dir of the earlier training.")
            checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME
            if not checkpoint.exists():
                raise ValueError(
                    f"No checkpoint to resume from at {str(checkpoint)!r}; train with "
                    "checkpoint_dir= first."
                )
            trainer_kwargs["ckpt_path"] = str(checkpoint)
        if checkpoint_dir is not None:
            callbacks.append(EpochCheckpoint(checkpoint_dir))
        recorder = InterruptRecorder()
        callbacks.append(recorder)
        n_validation = (
            int(validation_size * self.adata.n_obs)
            if validation_size is not None
            else self.adata.n_obs - int(np.ceil((train_size or 0.9) * self.adata.n_obs))
        )
        # A validation curve for pl.history, where the held-out cells are enough to mean one.
        if not early_stopping and n_validation >= _MIN_VALIDATION_CELLS:
            trainer_kwargs.setdefault("check_val_every_n_epoch", max(1, max_epochs // 10))
        if trainer_kwargs.get("enable_progress_bar", True) and not sys.stderr.isatty():
            trainer_kwargs["enable_progress_bar"] = False
            callbacks.append(ProgressLines(max_epochs))
        # Inference leaves the module in eval mode, which Lightning would keep.
        self.module.train()
        sampled_cells = self._sampled_cells()
        callbacks.append(AugmenterFit(self, augmenter_kwargs))
        callbacks.append(self.type_start.schedule(self, sampled_cells, max_epochs))
        callbacks.append(BatchNormCalibration(self, sampled_cells))
        interrupt = usable_after_interrupt(self, recorder, max_epochs, checkpoint_dir is not None)
        with interrupt, quiet_third_party(not verbose):
            super().train(
                max_epochs=max_epochs,
                accelerator=accelerator,
                devices=devices,
                train_size=train_size,
                validation_size=validation_size,
                shuffle_set_split=shuffle_set_split,
                batch_size=batch_size,
                early_stopping=early_stopping,
                datasplitter_kwargs=datasplitter_kwargs,
                plan_kwargs=plan_kwargs,
                callbacks=callbacks,
                **trainer_kwargs,
            )
        if check_state_collapse:
            self._warn_if_state_collapsed(sampled_cells)

    def _sampled_cells(self) -> np.ndarray:
        """Up to 10,000 random cells (seeded): for the start and the batch-norm passes."""
        return sample_cells(self.adata.n_obs, scvi.settings.seed)
