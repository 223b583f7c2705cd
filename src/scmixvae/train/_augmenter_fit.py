"""Training the generative augmenter before the model's first step, then freezing it."""

from __future__ import annotations

import warnings

import scvi
from lightning.pytorch.callbacks import Callback

from ..augment import GenerativeAugmenter
from ..model._validation import data_source, get_matrix


class AugmenterFit(Callback):
    """Train a generative augmenter that is not trained yet, on all cells, when the fit starts.

    The augmenter (the paper's type-preserving generator) must be trained and frozen before
    the model learns from its copies. It is trained once, on the device the model trains on
    and seeded with ``scvi.settings.seed``; a later training of the model finds it frozen.

    Parameters
    ----------
    model
        The :class:`~scmixvae.CplMixVAE` being trained.
    fit_kwargs
        Passed to :meth:`~scmixvae.augment.GenerativeAugmenter.fit` (``max_epochs``,
        ``batch_size``, ``lr``). Only for a generative augmenter: for any other they raise,
        and for one already frozen they are ignored with a warning.

    Examples
    --------
    >>> model.train(augmenter_kwargs={"max_epochs": 50})  # doctest: +SKIP

    """

    def __init__(self, model, fit_kwargs: dict | None = None):
        fit_kwargs = fit_kwargs or {}
        augmenter = model.module.augmenter
        generative = isinstance(augmenter, GenerativeAugmenter)
        if fit_kwargs and not generative:
            raise ValueError(
                "augmenter_kwargs apply to a generative augmenter only; this model uses "
                f"{type(augmenter).__name__}. Drop them, or build the model with "
                'augmentation="generative".'
            )
        self.pending = generative and not bool(augmenter.frozen)
        if fit_kwargs and not self.pending:
            warnings.warn(
                "augmenter_kwargs are ignored: the generative augmenter is already trained "
                "and frozen.",
                UserWarning,
                stacklevel=3,
            )
        self.model, self.fit_kwargs = model, fit_kwargs

    def on_fit_start(self, trainer, pl_module) -> None:
        """Train the augmenter on every cell and freeze it, once."""
        if not self.pending:
            return
        augmenter = self.model.module.augmenter
        seed = {} if scvi.settings.seed is None else {"seed": scvi.settings.seed}
        fit_kwargs = {"device": pl_module.device} | seed | self.fit_kwargs
        data, layer = data_source(self.model.adata, self.model.registry_["setup_args"])
        self.model.augmenter_history_ = augmenter.fit(get_matrix(data, layer), **fit_kwargs)
        augmenter.freeze()
        self.pending = False
