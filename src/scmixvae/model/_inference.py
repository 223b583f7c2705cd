"""Inference: types, confidence, agreement, states and the latent space of every cell.

One pass of the encoder over the cells gives everything (:class:`Posteriors`); the
getters return it the scvi-tools way (``get_*``), and :meth:`InferenceMixin.annotate`
writes it into the AnnData the scanpy way (``key_added``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from anndata import AnnData
from scvi import REGISTRY_KEYS

from .. import __version__
from ._posteriors import Posteriors
from ._type_report import name_order, warn_about_type_sizes

#: The latent space's floor of a type's probability: below it, a type says nothing more.
_TYPE_FLOOR = 0.01


class InferenceMixin:
    """``get_*`` getters and ``annotate`` for :class:`~scmixvae.CplMixVAE`."""

    @torch.inference_mode()
    def _posteriors(
        self,
        adata: AnnData | None,
        indices: Sequence[int] | None,
        batch_size: int | None,
    ) -> Posteriors:
        """One pass over the cells: per-arm ``log q(c | x)`` and the state under the consensus."""
        self._check_if_trained(warn=False)
        adata = self._validate_anndata(adata)
        module = self.module
        n_cells = adata.n_obs if indices is None else len(indices)
        post = Posteriors.empty(n_cells, module.n_arms, module.n_slots, module.n_states)
        if n_cells == 0:
            return post
        loader = self._make_data_loader(adata=adata, indices=indices, batch_size=batch_size)
        module.eval()
        start = 0
        for tensors in loader:
            x = tensors[REGISTRY_KEYS.X_KEY].to(module.device)
            batch_index = tensors.get(REGISTRY_KEYS.BATCH_KEY)
            z, log_q = module.classify(x.expand(module.n_arms, *x.shape), batch_index)
            consensus_prob = log_q.exp().mean(0)
            c = F.one_hot(consensus_prob.argmax(-1), module.n_slots).to(z.dtype).expand_as(log_q)
            state_mean, state_var = module.state_posterior(z, c)
            prior_mean, prior_var = module.state_prior_params(c)
            kl = 0.5 * (
                torch.log(prior_var / state_var)
                + (state_var + (state_mean - prior_mean) ** 2) / prior_var
                - 1.0
            )
            rows = slice(start, start + len(x))
            post.fill(rows, consensus_prob, log_q.argmax(-1), state_mean, kl)
            start = rows.stop
        return post

    def _labels(self, codes: np.ndarray) -> pd.Categorical:
        """Category codes as a categorical of names: those that occur, "0", "1", ... in order."""
        labels = pd.Categorical.from_codes(codes, categories=self.category_names)
        labels = labels.remove_unused_categories()
        return labels.reorder_categories(sorted(labels.categories, key=name_order))

    def _active_slots(self) -> np.ndarray:
        """Return the categories not pruned or merged away, in the order of their names."""
        slots = np.flatnonzero(self.module.active.cpu().numpy())
        return np.array(sorted(slots, key=lambda k: name_order(self.category_names[k])), int)

    def _active_names(self) -> list[str]:
        return [self.category_names[k] for k in self._active_slots()]

    def _obs_names(self, adata: AnnData | None, indices: Sequence[int] | None) -> pd.Index:
        names = (self.adata if adata is None else adata).obs_names
        return names if indices is None else names[np.asarray(indices, dtype=int)]

    def get_cell_types(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        soft: bool = False,
        batch_size: int | None = None,
    ) -> pd.Series | pd.DataFrame:
        """Consensus cell type of each cell across the arms.

        The consensus is the argmax of the arm-averaged posterior ``mean_a q_a(c | x)``;
        every arm sees the cell itself (no augmentation). Each arm's posterior is read from
        its category head or its decoders, as the model's ``type_readout`` says.

        Parameters
        ----------
        adata
            AnnData with the same genes as the training data; ``None`` for the training data.
        indices
            Cells to use; ``None`` for all.
        soft
            Return the arm-averaged probabilities of every category instead of labels.
        batch_size
            Cells per inference minibatch.

        Returns
        -------
        A categorical :class:`pandas.Series` of category names (``"0"``, ``"1"``, ...),
        indexed by ``obs_names``; with ``soft=True`` a cells × categories DataFrame.

        Examples
        --------
        >>> types = model.get_cell_types()  # doctest: +SKIP
        >>> probs = model.get_cell_types(soft=True)  # doctest: +SKIP

        """
        post = self._posteriors(adata, indices, batch_size)
        index = self._obs_names(adata, indices)
        if soft:
            return pd.DataFrame(
                post.consensus_prob[:, self._active_slots()],
                index=index,
                columns=self._active_names(),
            )
        return pd.Series(self._labels(post.consensus_code), index=index, name="cplmix_type")

    def get_arm_labels(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> pd.DataFrame:
        """Each arm's own label (argmax of ``q_a(c | x)``), one column per arm: ``arm0``, ...

        Examples
        --------
        >>> model.get_arm_labels().head()  # doctest: +SKIP

        """
        codes = self._posteriors(adata, indices, batch_size).arm_codes
        return pd.DataFrame(
            {f"arm{a}": self._labels(codes[:, a]) for a in range(codes.shape[1])},
            index=self._obs_names(adata, indices),
        )

    def get_consensus(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> pd.DataFrame:
        """Consensus type of each cell with its confidence and the arms' agreement.

        Parameters
        ----------
        adata
            AnnData with the same genes as the training data; ``None`` for the training data.
        indices
            Cells to use; ``None`` for all.
        batch_size
            Cells per inference minibatch.

        Returns
        -------
        DataFrame indexed by ``obs_names`` with columns ``type`` (categorical), ``confidence``
        (arm-averaged probability of that type) and ``agreement`` (fraction of arms whose own
        label is the consensus).

        Examples
        --------
        >>> model.get_consensus()["agreement"].mean()  # doctest: +SKIP

        """
        post = self._posteriors(adata, indices, batch_size)
        return pd.DataFrame(
            {
                "type": self._labels(post.consensus_code),
                "confidence": post.confidence,
                "agreement": post.agreement,
            },
            index=self._obs_names(adata, indices),
        )

    def get_state_representation(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        arm: int = 0,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Mean of ``q(s | c, x)`` with ``c`` the cell's consensus type, from one arm.

        Each arm has its own state space, so states of different arms are not averaged.

        Parameters
        ----------
        adata
            AnnData with the same genes as the training data; ``None`` for the training data.
        indices
            Cells to use; ``None`` for all.
        arm
            Which arm's state encoder to use.
        batch_size
            Cells per inference minibatch.

        Returns
        -------
        Array of shape ``(n_cells, n_states)``.

        Examples
        --------
        >>> adata.obsm["X_cplmix_state"] = model.get_state_representation()  # doctest: +SKIP

        """
        self._check_arm(arm)
        return self._posteriors(adata, indices, batch_size).state[:, arm]

    def get_latent_representation(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        arm: int = 0,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Return the cells' latent space: their type evidence beside their state.

        Each cell's arm-averaged log-probability of every type, floored at
        ``log(0.01)`` (a type below 1 % says nothing more about where the cell lies), beside
        its state under its type from one arm. Cells lie by type first and, within a type,
        by their state: the space to give ``sc.pp.neighbors`` and UMAP, as ``X_scVI``
        (``benchmarks/embedding.md`` compares it with ``X_pca`` and ``X_scVI``).

        Parameters
        ----------
        adata
            AnnData with the same genes as the training data; ``None`` for the training data.
        indices
            Cells to use; ``None`` for all.
        arm
            Which arm's state to use.
        batch_size
            Cells per inference minibatch.

        Returns
        -------
        Array of shape ``(n_cells, n_types + n_states)``: the types in the order of
        ``get_cell_types(soft=True)``'s columns, then the state dimensions.

        Examples
        --------
        >>> adata.obsm["X_cplmix"] = model.get_latent_representation()  # doctest: +SKIP
        >>> sc.pp.neighbors(adata, use_rep="X_cplmix")  # doctest: +SKIP

        """
        self._check_arm(arm)
        return self._latent(self._posteriors(adata, indices, batch_size), arm)

    def _latent(self, post: Posteriors, arm: int) -> np.ndarray:
        evidence = np.log(np.maximum(post.consensus_prob[:, self._active_slots()], _TYPE_FLOOR))
        return np.hstack([evidence, post.state[:, arm]]).astype(np.float32)

    def annotate(
        self,
        adata: AnnData | None = None,
        key_added: str = "cplmix",
        arm: int = 0,
        batch_size: int | None = None,
    ) -> None:
        """Write types, confidence, agreement, per-arm labels and states into the AnnData.

        All results come from one inference pass and are written only once it succeeded.

        Parameters
        ----------
        adata
            AnnData with the training genes; ``None`` for the training data.
        key_added
            Prefix of every key written (default ``"cplmix"``).
        arm
            Arm whose state goes into ``X_{key_added}`` and ``X_{key_added}_state``.
        batch_size
            Cells per inference minibatch.

        Warns
        -----
        UserWarning
            When fewer types have cells than the model has categories (a category that is
            no cell's most probable type), or when a type has fewer than
            :data:`MIN_TYPE_CELLS` (10) cells.

        Notes
        -----
        Sets, with the default ``key_added``:

        ``obs["cplmix_type"]``
            consensus type (categorical of category names);
        ``obs["cplmix_confidence"]``
            consensus probability of that type;
        ``obs["cplmix_agreement"]``
            fraction of arms agreeing with the consensus;
        ``obs["cplmix_type_arm{a}"]``
            each arm's own label;
        ``obsm["X_cplmix"]``
            the latent space, ``(n_cells, n_types + n_states)``: each type's log-probability
            (floored at 1 %) and the state (:meth:`get_latent_representation`), the
            embedding to give ``sc.pp.neighbors(adata, use_rep="X_cplmix")``;
        ``obsm["X_cplmix_state"]``
            state of the cell under its type, ``(n_cells, n_states)``; meaningful within a
            type only;
        ``obsm["cplmix_type_prob"]``
            arm-averaged type probabilities, ``(n_cells, n_categories)``, columns in the
            order of ``uns["cplmix"]["type_prob_categories"]`` (every category of the model);
        ``uns["cplmix"]``
            the model's settings; ``categories`` lists the types that have cells.

        Examples
        --------
        >>> model.annotate()  # doctest: +SKIP
        >>> sc.pl.umap(adata, color="cplmix_type")  # doctest: +SKIP

        """
        self._check_arm(arm)
        target = self.adata if adata is None else adata
        post = self._posteriors(adata, None, batch_size)
        arm_codes = post.arm_codes
        stale = target.obs.columns[
            target.obs.columns.str.fullmatch(rf"{re.escape(key_added)}_type_arm\d+")
        ]
        target.obs.drop(columns=stale, inplace=True)  # e.g. from a model with more arms
        target.obs[f"{key_added}_type"] = self._labels(post.consensus_code)
        target.obs[f"{key_added}_confidence"] = post.confidence
        target.obs[f"{key_added}_agreement"] = post.agreement
        for a in range(arm_codes.shape[1]):
            target.obs[f"{key_added}_type_arm{a}"] = self._labels(arm_codes[:, a])
        target.obsm[f"X_{key_added}"] = self._latent(post, arm)
        target.obsm[f"X_{key_added}_state"] = post.state[:, arm]
        target.obsm[f"{key_added}_type_prob"] = post.consensus_prob[:, self._active_slots()]
        types = target.obs[f"{key_added}_type"]
        target.uns[key_added] = self.settings() | {
            "state_arm": arm,
            "categories": list(types.cat.categories),
            "type_prob_categories": self._active_names(),
        }
        warn_about_type_sizes(types.value_counts(sort=False), self._active_names())
        rounds = getattr(self, "pruning_rounds_", None)
        if rounds is not None:
            target.uns[key_added]["pruning_rounds"] = rounds.drop(columns="type_consensus")

    def settings(self) -> dict:
        """Return the model's settings, as stored in ``uns["cplmix"]`` by :meth:`annotate`.

        Examples
        --------
        >>> model.settings()["n_arms"]  # doctest: +SKIP
        2

        """
        module = self.module
        augmenter = module.augmenter
        return {
            "n_categories": self.n_types,
            "n_states": module.n_states,
            "n_arms": module.n_arms,
            "likelihood": module.likelihood,
            "augmentation": type(augmenter).__name__,
            "state_prior": module.state_prior,
            "initialization": module.initialization,
            "type_readout": module.type_readout,
            "coupling_weight": module.coupling_weight,
            "entropy_weight": module.entropy_weight,
            "kl_weight": module.kl_weight,
            "categories": self._active_names(),
            "scmixvae_version": __version__,
        }
