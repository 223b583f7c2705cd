"""``CplMixVAE``: the user-facing scvi-tools model (AnnData in, cell types and states out)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import scvi
from anndata import AnnData
from mudata import MuData
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import (
    CategoricalObsField,
    LayerField,
    MuDataCategoricalObsField,
    MuDataLayerField,
)
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin

from .._budget import epochs_for
from .._choices import check_choice
from ..augment import AugmentationName, Augmenter, GenerativeAugmenter
from ..module import CplMixVAEModule, Initialization, Likelihood, StatePrior, TypeReadout
from ..start import TypeStart, sample_cells
from ..train import CplMixVAETrainingPlan
from ..train._batch_norm import CalibrateBeforeValidation, recalibrate_batch_norm
from ._inference import InferenceMixin
from ._interpretation import InterpretationMixin
from ._persistence import PersistenceMixin
from ._pruning import PruningMixin
from ._safe_training import (
    CHECKPOINT_NAME,
    EpochCheckpoint,
    InterruptRecorder,
    merge_history,
    restore_interrupt_handler,
)
from ._training_output import ProgressLines, quiet_third_party
from ._validation import (
    check_genes,
    data_source,
    get_matrix,
    refuse_view,
    training_split_options,
    validate_setup,
    validate_values,
)

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


class CplMixVAE(
    InferenceMixin,
    InterpretationMixin,
    PersistenceMixin,
    PruningMixin,
    UnsupervisedTrainingMixin,
    BaseModelClass,
):
    """Coupled mixture VAE: discrete cell types and a type-specific continuous state.

    ``n_arms`` mixture VAEs, each seeing its own augmented copy of every cell, are trained
    jointly and pushed to agree on the type through the perturbed Aitchison coupling
    (Marghi et al., ICLR 2022; ``docs/method.md``). The consensus of the arms is the cell type; the
    state ``s`` drawn from ``q(s | c, x)`` is the within-type continuous variation.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    n_categories
        Number of categories ``K`` (types). At least 2 and at most the number of cells.
    n_states
        Dimensions of the continuous state ``S``.
    n_arms
        Number of coupled arms ``A``; ``1`` is the uncoupled, JointVAE-like ablation.
    likelihood
        ``"nb"`` (default, raw counts with library size), ``"zinb"``, ``"normal"``
        (log-normalised values, the paper's) or ``"bernoulli"`` (values in ``[0, 1]``).
    augmentation
        How each arm's copy is made in training: ``"none"`` (default: every arm sees the cell,
        the arms differ by their weights and Gumbel noise), ``"dropout"``, ``"thinning"``
        (counts only), ``"affine"`` (images; give ``augmentation_kwargs={"image_shape": (H, W)}``),
        ``"generative"`` (a :class:`~scmixvae.augment.GenerativeAugmenter` trained on the data at
        the start of :meth:`train`, then frozen) or an :class:`~scmixvae.augment.Augmenter`
        (e.g. a generative augmenter trained and frozen beforehand). The default was chosen
        by measurement (``benchmarks/coupling.md``, ``benchmarks/augmentation.md``).
    state_prior
        ``"type"`` for a learnable ``p(s | c)`` per type, ``"standard"`` for ``N(0, I)``.
    initialization
        How the types are found. ``"overcluster"`` (default, chosen by measurement:
        ``benchmarks/accuracy.md``): k-means on a PCA of the counts' Pearson residuals splits
        the cells into ``2 × n_categories`` clusters; for the first half of the epochs the
        decoder is fed each cell's cluster and the category head learns it; then the
        clusters are merged into ``n_categories`` types by how well their decoders explain
        each other's cells, discounted where their cells are neighbours
        (:func:`~scmixvae.start.merge_categories`), and the rest of the epochs teach the
        merged types, named ``"0"`` to ``"K-1"`` from the largest.
        ``"random"``: the paper's cold start, types learned by the coupled objective alone.
        ``"kmeans"``: k-means into ``n_categories`` clusters taught for the first 20 % of the
        epochs, then the full objective.
    type_readout
        Where a trained model reads each arm's type posterior from, for every method that
        reports types. ``"encoder"`` (default): the category head's ``q(c | x)``, one pass,
        the paper's. ``"decoder"``: each arm's mixture classifies the cell with its own
        decoder, ``p(c | x) ∝ exp(−reconstruction − state KL)`` under category ``c``, at the
        cost of one decoder pass per category: as accurate as the head or slightly better
        (``benchmarks/accuracy.md``), and slower to annotate by that many passes.
    **module_kwargs
        Passed to :class:`~scmixvae.module.CplMixVAEModule` (``n_hidden``, ``n_latent``,
        ``kl_weight``, ``coupling_weight``, ``entropy_weight``, ``augmentation_kwargs``, ...).

    Examples
    --------
    >>> import scmixvae
    >>> adata = scmixvae.datasets.simulate(n_cells=300, n_types=4, n_genes=100)
    >>> scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    >>> model = scmixvae.CplMixVAE(adata, n_categories=4)
    >>> model.train(max_epochs=2, enable_progress_bar=False)
    >>> model.annotate()
    >>> adata.obs["cplmix_type"].dtype.name
    'category'

    """

    _module_cls = CplMixVAEModule
    _training_plan_cls = CplMixVAETrainingPlan

    def __init__(
        self,
        adata: AnnData,
        n_categories: int,
        n_states: int = 2,
        n_arms: int = 2,
        likelihood: Likelihood = "nb",
        augmentation: AugmentationName | Augmenter = "none",
        state_prior: StatePrior = "type",
        initialization: Initialization = "overcluster",
        type_readout: TypeReadout = "encoder",
        **module_kwargs,
    ):
        super().__init__(adata)
        n_obs = self.summary_stats.n_cells
        if not isinstance(n_categories, int | np.integer) or not 2 <= n_categories <= n_obs:
            raise ValueError(
                f"n_categories must be an integer between 2 and the number of cells ({n_obs}), "
                f"got {n_categories!r}."
            )
        if not isinstance(n_arms, int | np.integer) or n_arms < 1:
            raise ValueError(f"n_arms must be an integer >= 1, got {n_arms!r}.")
        if not isinstance(n_states, int | np.integer) or n_states < 1:
            raise ValueError(f"n_states must be an integer >= 1, got {n_states!r}.")
        check_choice("likelihood", likelihood, Likelihood)
        data, layer = data_source(self.adata, self.registry_["setup_args"])
        validate_values(data, layer, likelihood)

        n_batch = self.summary_stats.n_batch
        self.n_types = int(n_categories)
        self.type_start = TypeStart(initialization, self.n_types)
        n_slots = self.type_start.n_slots(n_obs)
        self.module = self._module_cls(
            n_input=self.summary_stats.n_vars,
            n_categories=n_slots,
            n_states=int(n_states),
            n_arms=int(n_arms),
            n_batch=n_batch if n_batch > 1 else 0,
            likelihood=likelihood,
            augmentation=augmentation,
            state_prior=state_prior,
            initialization=initialization,
            type_readout=type_readout,
            **module_kwargs,
        )
        self.category_names = [str(k) for k in range(n_slots)]
        self.training_genes_ = data.var_names.astype(str).tolist()
        self._model_summary_string = (
            f"CplMixVAE: {n_arms} arm(s), {self.n_types} categories, {n_states} state dims, "
            f"likelihood={likelihood}, augmentation={augmentation}, state prior={state_prior}"
        )
        self.init_params_ = self._get_init_params(locals())

    # ---- set-up -------------------------------------------------------------------------
    @classmethod
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        batch_key: str | None = None,
        **kwargs,
    ) -> None:
        """Register an AnnData for :class:`CplMixVAE`.

        Parameters
        ----------
        adata
            Cells × genes. With a count likelihood (the default) the data must be raw counts.
        layer
            Layer holding the data; ``None`` uses ``adata.X``.
        batch_key
            Column of ``adata.obs`` with the batch of each cell; the decoder is conditioned on
            it. ``None`` for no batch covariate.
        **kwargs
            Passed to scvi-tools' ``AnnDataManager.register_fields``.

        Examples
        --------
        >>> import scmixvae
        >>> adata = scmixvae.datasets.simulate(n_cells=100, n_types=3, n_genes=80)
        >>> scmixvae.CplMixVAE.setup_anndata(adata, layer="counts", batch_key=None)

        """
        if not isinstance(adata, AnnData):
            raise ValueError(
                f"setup_anndata needs an AnnData, got {type(adata).__name__}; for a MuData use "
                "setup_mudata."
            )
        refuse_view(adata)
        validate_setup(adata, layer, batch_key)
        setup_method_args = cls._get_setup_method_args(**locals())
        fields = [
            LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=False),
            CategoricalObsField(REGISTRY_KEYS.BATCH_KEY, batch_key),
        ]
        adata_manager = AnnDataManager(fields=fields, setup_method_args=setup_method_args)
        adata_manager.register_fields(adata, **kwargs)
        cls.register_manager(adata_manager)

    @classmethod
    def setup_mudata(
        cls,
        mdata: MuData,
        rna_layer: str | None = None,
        batch_key: str | None = None,
        modalities: dict[str, str] | None = None,
        **kwargs,
    ) -> None:
        """Register a MuData: the model reads the RNA modality, results go to the MuData.

        Parameters
        ----------
        mdata
            A MuData whose RNA modality holds the counts.
        rna_layer
            Layer of the RNA modality holding the data; ``None`` uses its ``X``.
        batch_key
            Column with the batch of each cell: of ``mdata.obs``, or of the modality named
            by ``modalities["batch_key"]``. ``None`` for no batch covariate.
        modalities
            Which modality each argument refers to; ``{"rna_layer": "rna"}`` at least.
        **kwargs
            Passed to scvi-tools' ``AnnDataManager.register_fields``.

        Examples
        --------
        >>> scmixvae.CplMixVAE.setup_mudata(
        ...     mdata, rna_layer="counts", modalities={"rna_layer": "rna"}
        ... )  # doctest: +SKIP
        >>> model = scmixvae.CplMixVAE(mdata, n_categories=10)  # doctest: +SKIP

        """
        if not isinstance(mdata, MuData):
            raise ValueError(
                f"setup_mudata needs a MuData, got {type(mdata).__name__}; for an AnnData use "
                "setup_anndata."
            )
        if not modalities or modalities.get("rna_layer") not in mdata.mod:
            raise ValueError(
                "modalities must name the RNA modality, e.g. modalities={'rna_layer': 'rna'}; "
                f"this MuData has modalities {list(mdata.mod)}."
            )
        setup_method_args = cls._get_setup_method_args(**locals())
        modality = cls._create_modalities_attr_dict(modalities, setup_method_args)
        refuse_view(mdata)
        validate_setup(mdata.mod[modality.rna_layer], rna_layer, None)
        batch_obs = mdata.obs if modality.batch_key is None else mdata.mod[modality.batch_key].obs
        if batch_key is not None and batch_key not in batch_obs:
            raise ValueError(f"batch_key {batch_key!r} is not a column of the batch obs.")
        fields = [
            MuDataLayerField(
                REGISTRY_KEYS.X_KEY, rna_layer, mod_key=modality.rna_layer, mod_required=True
            ),
            MuDataCategoricalObsField(
                REGISTRY_KEYS.BATCH_KEY, batch_key, mod_key=modality.batch_key
            ),
        ]
        adata_manager = AnnDataManager(fields=fields, setup_method_args=setup_method_args)
        adata_manager.register_fields(mdata, **kwargs)
        cls.register_manager(adata_manager)

    def _validate_anndata(
        self, adata: AnnData | MuData | None = None, copy_if_view: bool = True
    ) -> AnnData | MuData:
        """scvi-tools' validation, plus the gene and value checks of new data."""
        if adata is not None and adata is not self.adata:
            setup_args = self.registry_["setup_args"]
            data, layer = data_source(adata, setup_args)
            check_genes(data.var_names, self.training_genes_)
            # A MuData's batch column may sit in its own obs, checked by scvi-tools.
            batch_key = None if isinstance(adata, MuData) else setup_args.get("batch_key")
            validate_setup(data, layer, batch_key)
            validate_values(data, layer, self.module.likelihood)
        return super()._validate_anndata(adata, copy_if_view=copy_if_view)

    # ---- training -----------------------------------------------------------------------
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
        layers' statistics are then recomputed on up to 20,000 cells with the final weights
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
            most types (one inference pass over up to 20,000 cells; :meth:`get_state_kl`).
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
        was_trained = self.is_trained_
        # Inference leaves the module in eval mode, which Lightning would keep.
        self.module.train()
        self._fit_augmenter(augmenter_kwargs or {})
        sampled_cells = self._sampled_cells()
        callbacks.append(CalibrateBeforeValidation(self, sampled_cells))
        plan_kwargs, start_callbacks = self.type_start.prepare(
            self, sampled_cells, max_epochs, plan_kwargs or {}
        )
        callbacks += start_callbacks
        try:
            with quiet_third_party(not verbose):
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
        except SystemExit:  # Lightning's answer to Ctrl+C
            if not recorder.interrupted:
                raise
            restore_interrupt_handler()
            recalibrate_batch_norm(self, sampled_cells)
            self.history_ = merge_history(self.history_ if was_trained else None, recorder.history)
            self.is_trained_ = True
            warnings.warn(
                f"Training interrupted in epoch {recorder.epoch + 1} of {max_epochs}. The model "
                "keeps the weights of its last step and can be used, saved or trained further"
                + (" (resume=True continues from the last checkpoint)." if checkpoint_dir else "."),
                UserWarning,
                stacklevel=2,
            )
            raise KeyboardInterrupt from None
        recalibrate_batch_norm(self, sampled_cells)
        if check_state_collapse:
            self._warn_if_state_collapsed(sampled_cells)

    def _fit_augmenter(self, fit_kwargs: dict) -> None:
        """Train a generative augmenter that is not trained yet on all cells, then freeze it."""
        augmenter = self.module.augmenter
        if not isinstance(augmenter, GenerativeAugmenter):
            if fit_kwargs:
                raise ValueError(
                    "augmenter_kwargs apply to a generative augmenter only; this model uses "
                    f"{type(augmenter).__name__}. Drop them, or build the model with "
                    'augmentation="generative".'
                )
            return
        if bool(augmenter.frozen):
            if fit_kwargs:
                warnings.warn(
                    "augmenter_kwargs are ignored: the generative augmenter is already trained "
                    "and frozen.",
                    UserWarning,
                    stacklevel=3,
                )
            return
        data, layer = data_source(self.adata, self.registry_["setup_args"])
        seed = {} if scvi.settings.seed is None else {"seed": scvi.settings.seed}
        fit_kwargs = {"device": self.module.device} | seed | fit_kwargs
        self.augmenter_history_ = augmenter.fit(get_matrix(data, layer), **fit_kwargs)
        augmenter.freeze()

    def _sampled_cells(self) -> np.ndarray:
        """Up to 20,000 random cells (seeded): for the start, its merge and batch norm."""
        return sample_cells(self.adata.n_obs, scvi.settings.seed)
