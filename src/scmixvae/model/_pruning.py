"""Consensus pruning: choose the number of types by masking categories the arms disagree on.

docs/method.md, "Choosing K", without the research code's defects: the stop rule is live,
pruned categories are masked in the module (their posterior is exactly 0), and the
consensus counts every cell.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from scvi import REGISTRY_KEYS

from ._consensus import category_consensus, select_round

# Share of the initial training's minibatch steps that the fine-tuning of all pruning rounds
# may spend together. Each round also costs one inference pass and a Trainer set-up; with
# 0.75 a whole pruning from 60 categories took 1.4x the initial training (benchmarks/).
_PRUNING_BUDGET = 0.75


class PruningMixin:
    """``prune``, ``select_k`` and per-type consensus for :class:`~scmixvae.CplMixVAE`."""

    def _check_can_prune(self) -> None:
        if not self.is_trained_:
            raise ValueError("The model is not trained yet; call `model.train()` before pruning.")
        if self.module.n_arms < 2:
            raise ValueError("Pruning needs the consensus of at least 2 arms; this model has 1.")

    def get_type_consensus(self, batch_size: int | None = None) -> pd.Series:
        """Consensus of the arms on each surviving category, on the training cells.

        ``κ_k = M_kk / max(row_k, col_k)`` from the arms' argmax labels, averaged over pairs
        of arms (docs/method.md, "Choosing K").

        Examples
        --------
        >>> model.get_type_consensus().sort_values().head()  # doctest: +SKIP

        """
        self._check_can_prune()
        return self._round_statistics(batch_size)[0]

    @torch.inference_mode()
    def _round_statistics(self, batch_size: int | None) -> tuple[pd.Series, float]:
        """Per-type consensus and mean reconstruction loss of the training cells, in one pass.

        The arms' labels are read as the model's ``type_readout`` says. In evaluation mode
        every arm sees the cell and decodes the argmax of its category head, so the
        reconstruction loss is that of the head's hard assignments.
        """
        loader = self._make_data_loader(adata=self.adata, batch_size=batch_size)
        module = self.module
        module.eval()
        codes, total = [], 0.0
        for tensors in loader:
            _, _, losses = module(tensors)
            x = tensors[REGISTRY_KEYS.X_KEY].to(module.device)
            batch_index = tensors.get(REGISTRY_KEYS.BATCH_KEY)
            _, log_p = module.classify(x.expand(module.n_arms, *x.shape), batch_index)
            codes.append(log_p.argmax(-1).T.cpu().numpy())
            total += losses.reconstruction_loss_sum.item()
        kappa = category_consensus(np.concatenate(codes), module.n_slots)
        consensus = pd.Series(
            kappa[self._active_slots()], index=self._active_names(), name="consensus"
        )
        return consensus, total / self.adata.n_obs

    def prune(
        self,
        threshold: float = 0.95,
        min_categories: int = 2,
        max_rounds: int | None = None,
        steps_per_round: int | None = None,
        batch_size: int | None = None,
        **train_kwargs,
    ) -> pd.DataFrame:
        """Prune categories until the arms agree on all that remain; choose K.

        Each round (docs/method.md, "Choosing K"):

        1. compute each surviving category's consensus between the arms on the training
           cells (:meth:`get_type_consensus`);
        2. record K, the mean and per-type consensus, the reconstruction loss and the
           weights;
        3. stop if every category reaches ``threshold``, if ``min_categories`` remain or
           after ``max_rounds`` prunings; otherwise mask the category with the lowest
           consensus (its posterior becomes exactly 0) and fine-tune for
           ``steps_per_round`` minibatch steps.

        Finally the round after the largest consensus jump among the rounds whose mean
        consensus reaches ``threshold`` is selected (:meth:`select_k` moves to any other).
        Category names never change: pruned names simply stop occurring.

        Parameters
        ----------
        threshold
            Consensus every category must reach to stop, in ``(0, 1]``.
        min_categories
            Never prune below this many categories (at least 2).
        max_rounds
            Most categories to prune; ``None`` for ``K - min_categories``.
        steps_per_round
            Fine-tuning minibatch steps after each pruning. ``None`` spreads 75 % of the
            initial training's steps over ``max_rounds`` rounds (at least 1 each), so that a
            whole pruning costs less than 1.5 times the initial training.
        batch_size
            Cells per minibatch, for fine-tuning and inference.
        **train_kwargs
            Passed to :meth:`train` for each fine-tuning.

        Returns
        -------
        The table of rounds (also in ``model.pruning_rounds_``): ``round``,
        ``n_categories``, ``consensus`` (mean over categories), ``min_consensus``,
        ``reconstruction_loss``, ``pruned`` (the category masked after the round, ``""`` for
        none), ``type_consensus`` (per category) and
        ``selected``.

        Examples
        --------
        >>> model = scmixvae.CplMixVAE(adata, n_categories=60)  # doctest: +SKIP
        >>> model.train()  # doctest: +SKIP
        >>> model.prune()  # doctest: +SKIP
        >>> scmixvae.pl.consensus_curve(model)  # doctest: +SKIP

        """
        self._check_can_prune()
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}.")
        n_active = int(self.module.active.sum())
        if not isinstance(min_categories, int | np.integer) or min_categories < 2:
            raise ValueError(f"min_categories must be an integer >= 2, got {min_categories!r}.")
        if min_categories > n_active:
            raise ValueError(
                f"min_categories={min_categories} exceeds the {n_active} active categories."
            )
        if max_rounds is None:
            max_rounds = n_active - min_categories
        if max_rounds < 0 or (steps_per_round is not None and steps_per_round < 1):
            raise ValueError("max_rounds must be >= 0 and steps_per_round >= 1.")
        train_kwargs = {
            "batch_size": batch_size or 256,
            "enable_progress_bar": False,
        } | train_kwargs
        steps_per_epoch = math.ceil(len(self.train_indices) / train_kwargs["batch_size"])
        if steps_per_round is None:
            initial_steps = len(self.history["train_loss"]) * steps_per_epoch
            steps_per_round = max(1, int(_PRUNING_BUDGET * initial_steps / max(max_rounds, 1)))
        fine_tune = {
            "max_epochs": math.ceil(steps_per_round / steps_per_epoch),
            "max_steps": steps_per_round,
        }

        # Fine-tuning replaces (and may extend in place) the training history.
        initial_history = {key: frame.copy() for key, frame in self.history_.items()}
        rows, states = [], []
        for round_index in range(max_rounds + 1):
            kappa, reconstruction = self._round_statistics(batch_size)
            n_remaining = len(kappa)
            done = (
                kappa.min() >= threshold
                or n_remaining <= min_categories
                or round_index == max_rounds
            )
            pruned = None if done else kappa.idxmin()
            rows.append(
                {
                    "round": round_index,
                    "n_categories": n_remaining,
                    "consensus": float(kappa.mean()),
                    "min_consensus": float(kappa.min()),
                    "reconstruction_loss": reconstruction,
                    "pruned": pruned or "",
                    "type_consensus": kappa.to_dict(),
                }
            )
            states.append(
                {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
            )
            if done:
                break
            self.module.mask_category(self.category_names.index(pruned))
            # A pass to check the states after every short fine-tune would cost as much again.
            self.train(**fine_tune, check_state_collapse=False, **train_kwargs)

        self.history_ = initial_history
        table = pd.DataFrame(rows)
        self._pruning_states = states
        self.pruning_rounds_ = table
        self.select_k(int(table["n_categories"].iloc[select_round(table, threshold)]))
        return self.pruning_rounds_

    def select_k(self, k: int) -> None:
        """Move the model to the recorded pruning round with ``k`` categories.

        Examples
        --------
        >>> model.select_k(12)  # doctest: +SKIP

        """
        rounds = getattr(self, "pruning_rounds_", None)
        if rounds is None:
            raise ValueError("No pruning rounds recorded; call `model.prune()` first.")
        matches = np.flatnonzero(rounds["n_categories"].to_numpy() == k)
        if matches.size == 0:
            raise ValueError(
                f"No pruning round has {k} categories; recorded: "
                f"{sorted(rounds['n_categories'].tolist())}."
            )
        states = getattr(self, "_pruning_states", None)
        if states is None:
            raise ValueError(
                "The weights of the pruning rounds are not saved with the model; only the "
                "round it was saved at is available. Prune again to choose another K."
            )
        index = int(matches[0])
        self.module.load_state_dict(states[index])
        self.pruning_rounds_ = rounds.assign(selected=rounds.index == index)
