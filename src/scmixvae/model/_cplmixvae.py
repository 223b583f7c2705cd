"""``CplMixVAE``: the user-facing scvi-tools model (AnnData in, cell types and states out)."""

from __future__ import annotations

import numpy as np
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
from scvi.model.base import BaseModelClass

from .._choices import check_choice
from ..augment import AugmentationName, Augmenter
from ..module import CplMixVAEModule, Initialization, Likelihood, StatePrior, TypeReadout
from ..start import TypeStart
from ..train import CplMixVAETrainingPlan
from ._inference import InferenceMixin
from ._interpretation import InterpretationMixin
from ._persistence import PersistenceMixin
from ._pruning import PruningMixin
from ._training import TrainingMixin
from ._validation import (
    check_genes,
    data_source,
    refuse_view,
    validate_setup,
    validate_values,
)


class CplMixVAE(
    InferenceMixin,
    InterpretationMixin,
    PersistenceMixin,
    PruningMixin,
    TrainingMixin,
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
        ``kl_weight``, ``coupling_weight``, ``entropy_weight``, ``depth_in_decoder``,
        ``augmentation_kwargs``, ...).

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
            n_slots=n_slots,
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
