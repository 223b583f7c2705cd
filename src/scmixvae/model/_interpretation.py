"""Decoding chosen (type, state) pairs: the model side of traversals (docs/method.md, "One arm")."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..module._likelihoods import COUNT_LIKELIHOODS

# Count likelihoods decode to expression per this many counts (as scanpy's normalize_total).
DECODED_LIBRARY_SIZE = 1e4
#: A state dimension whose mean KL to its prior in a type is below this (nats) carries
#: nothing about the cells of that type: it has collapsed onto the prior.
COLLAPSED_KL = 0.05


class InterpretationMixin:
    """Read the generative side of a trained model: the state prior and the decoder."""

    def _check_category(self, category: str) -> int:
        """Index of a category name; it must exist and not be pruned."""
        name = str(category)
        if name not in self.category_names:
            raise ValueError(
                f"Unknown type {category!r}; the model's types are {self.category_names}."
            )
        index = self.category_names.index(name)
        if not bool(self.module.active[index]):
            raise ValueError(f"Type {name!r} was pruned; use one of {self._active_names()}.")
        return index

    def _check_arm(self, arm: int) -> None:
        n_arms = self.module.n_arms
        if isinstance(arm, bool) or not isinstance(arm, int | np.integer) or not 0 <= arm < n_arms:
            raise ValueError(f"arm must be an integer in [0, {n_arms}), got {arm!r}.")

    def get_state_kl(
        self, adata=None, indices=None, arm: int = 0, batch_size: int | None = None
    ) -> pd.DataFrame:
        """Mean KL of each state dimension to its prior, per type: what the state carries.

        For every cell, ``KL(q(s_d | c, x) || p(s_d | c))`` of each dimension ``d`` under its
        consensus type ``c``, averaged over the cells of each type. A dimension near 0 in a
        type (below ``COLLAPSED_KL``, 0.05 nats) has collapsed onto the prior there: its
        traversal shows the decoder's response to a state no cell occupies differently.

        Parameters
        ----------
        adata, indices, batch_size
            As in :meth:`get_cell_types`.
        arm
            Which arm's state encoder to read.

        Returns
        -------
        DataFrame, types × state dimensions (``dim0``, ``dim1``, ...), with the column
        ``n_cells``.

        Examples
        --------
        >>> model.get_state_kl()  # doctest: +SKIP

        """
        self._check_arm(arm)
        post = self._posteriors(adata, indices, batch_size)
        kl = pd.DataFrame(
            post.state_kl[:, arm], columns=[f"dim{d}" for d in range(post.state_kl.shape[2])]
        )
        kl["type"] = self._labels(post.consensus_code)
        table = kl.groupby("type", observed=True).mean()
        table["n_cells"] = kl.groupby("type", observed=True).size()
        return table

    def _warn_if_state_collapsed(self, indices: np.ndarray) -> None:
        """Warn when a state dimension has collapsed in most types (of 10 cells or more)."""
        table = self.get_state_kl(indices=indices)
        table = table[table["n_cells"] >= 10].drop(columns="n_cells")
        collapsed = [d for d in table if (table[d] < COLLAPSED_KL).mean() > 0.5]
        if len(table) and collapsed:
            warnings.warn(
                f"State dimension(s) {collapsed} carry almost nothing (KL to the prior below "
                f"{COLLAPSED_KL} nats) in most types: their traversals are flat by "
                "construction. model.get_state_kl() gives the KL per type and dimension.",
                UserWarning,
                stacklevel=3,
            )

    @torch.inference_mode()
    def get_state_prior(self, category: str, arm: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the state prior ``p(s | c)`` of one type.

        Parameters
        ----------
        category
            A type name, as in ``obs["cplmix_type"]``.
        arm
            The arm whose prior to read; each arm has its own state space.

        Returns
        -------
        ``(mean, std)``, each of shape ``(n_states,)``. With ``state_prior="standard"``
        they are zeros and ones.

        Examples
        --------
        >>> mean, std = model.get_state_prior("3")  # doctest: +SKIP

        """
        self._check_arm(arm)
        module = self.module
        one_hot = torch.zeros(module.n_arms, 1, module.n_slots, device=module.device)
        one_hot[:, :, self._check_category(category)] = 1.0
        mean, var = module.state_prior_params(one_hot)
        return mean[arm, 0].cpu().numpy(), var[arm, 0].sqrt().cpu().numpy()

    @torch.inference_mode()
    def get_decoded_expression(self, category: str, states: np.ndarray, arm: int = 0) -> np.ndarray:
        """Expression the decoder ``p(x | c, s)`` predicts for one type at given states.

        Parameters
        ----------
        category
            A type name, as in ``obs["cplmix_type"]``.
        states
            States to decode, ``(n, n_states)``.
        arm
            The arm whose decoder to use.

        Returns
        -------
        ``(n, n_genes)``: the decoded mean per 10,000 counts for count likelihoods (the
        negative binomial's mean, zero-inflation left out as in scvi-tools' normalised
        expression; a decoder that reads depth is given the cells' typical depth), the
        Gaussian mean for ``"normal"`` and the probability for ``"bernoulli"``. With a
        batch covariate, the average over the batches.

        Examples
        --------
        >>> states = np.zeros((5, model.module.n_states))  # doctest: +SKIP
        >>> model.get_decoded_expression("0", states)  # doctest: +SKIP

        """
        self._check_arm(arm)
        module = self.module
        states = np.asarray(states, dtype=np.float32)
        if states.ndim != 2 or states.shape[1] != module.n_states:
            raise ValueError(f"states must have shape (n, {module.n_states}), got {states.shape}.")
        if not np.isfinite(states).all():
            raise ValueError("states must be finite.")
        module.eval()
        n = len(states)
        index = torch.full((n,), self._check_category(category), device=module.device)
        c = F.one_hot(index, module.n_slots).float().expand(module.n_arms, n, -1)
        s = torch.from_numpy(states).to(module.device).expand(module.n_arms, n, -1)
        library = c.new_full((module.n_arms, n, 1), DECODED_LIBRARY_SIZE)
        # A decoder that reads depth decodes a cell of the data's typical depth.
        depth = module.typical_depth().expand_as(library) if module.depth_in_decoder else None
        batches = range(module.n_batch) if module.n_batch else [None]
        decoded = []
        for batch in batches:
            batch_index = None if batch is None else torch.full((n, 1), batch, device=c.device)
            px = module.decode(c, s, library, batch_index, depth=depth)
            decoded.append(px.mu if module.likelihood in COUNT_LIKELIHOODS else px.mean)
        return torch.stack(decoded).mean(0)[arm].cpu().numpy()
