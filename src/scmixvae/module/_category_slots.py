"""The module's category slots: which are active, pruned or merged into another.

A pruned slot's posterior is exactly 0 in every arm; a slot merged into another adds its
posterior to that one's, so that the category head needs no retraining after a merge.
"""

from __future__ import annotations

import numpy as np
import torch


class CategorySlotsMixin:
    """Masking and merging of categories, for :class:`~scmixvae.module.CplMixVAEModule`."""

    def register_category_slots(self, n_slots: int) -> None:
        """Register the slot buffers: all ``n_slots`` active, none merged."""
        # Categories still in use; a pruned one has posterior exactly 0.
        self.register_buffer("active", torch.ones(n_slots, dtype=torch.bool))
        # merged_into[k]: the category whose posterior holds category k's (itself unless
        # merge_into merged it away); is_merged mirrors it so that unmerged modules skip the sum.
        self.register_buffer("merged_into", torch.arange(n_slots))
        self.is_merged = False
        self.register_load_state_dict_post_hook(lambda module, _: module._sync_is_merged())

    def log_posterior(self, logits: torch.Tensor) -> torch.Tensor:
        """``log q(c | x)`` from the category head's logits, ``(A, B, K)``.

        Pruned categories get ``-inf``; a merged category gets the log of the summed
        posteriors of the categories merged into it.
        """
        # A category keeps its logit while the category it is merged into is active.
        logits = logits.masked_fill(~self.active[self.merged_into], float("-inf"))
        log_q = torch.log_softmax(logits, dim=-1)
        return self._sum_merged(log_q) if self.is_merged else log_q

    def _sum_merged(self, log_q: torch.Tensor) -> torch.Tensor:
        """``log q`` of each merged category: log of the sum of its members' posteriors.

        Summed relative to each cell's largest probability, so nothing underflows above
        ``e^-87`` of it; categories merged away get ``-inf``.
        """
        top = log_q.max(-1, keepdim=True).values
        summed = torch.zeros_like(log_q).index_add_(-1, self.merged_into, (log_q - top).exp())
        keep = self.active & (self.merged_into == torch.arange(len(self.active), device=top.device))
        log_q = summed.clamp_min(torch.finfo(log_q.dtype).tiny).log() + top
        return log_q.masked_fill(~keep, float("-inf"))

    def merge_into(self, representative: np.ndarray | torch.Tensor) -> None:
        """Merge each active category ``k`` into ``representative[k]``, for good.

        ``q(r | x)`` becomes the sum of the posteriors of all categories merged into ``r``,
        so the category head needs no retraining; categories merged away are no longer
        active, and a teacher teaches each centroid's representative. Merges compose: a
        category merged earlier follows its representative into the new one. Inactive
        categories (merged away or pruned) must represent themselves.
        """
        representative = torch.as_tensor(np.asarray(representative), device=self.active.device)
        identity = torch.arange(len(self.active), device=self.active.device)
        if not torch.equal(representative[representative], representative):
            raise ValueError("Every representative must represent itself.")
        into_active = self.active[representative[self.active]].all()
        if not bool(into_active) or bool((representative != identity)[~self.active].any()):
            raise ValueError("Only active categories can be merged, into active ones.")
        self.merged_into.copy_(representative[self.merged_into])
        self.active &= representative == identity
        self.is_merged = True
        if self.teacher is not None:
            self.teacher.assign_categories(representative[self.teacher.category])

    def _sync_is_merged(self) -> None:
        identity = torch.arange(len(self.merged_into), device=self.merged_into.device)
        self.is_merged = not torch.equal(self.merged_into, identity)

    def mask_category(self, category: int) -> None:
        """Prune ``category``: its posterior becomes exactly 0 in every arm, for good.

        A teacher's centroids that taught it teach their nearest surviving category instead.
        """
        if not self.active[category]:
            raise ValueError(f"Category {category} is already masked.")
        if int(self.active.sum()) <= 2:
            raise ValueError("At least 2 categories must stay active.")
        self.active[category] = False
        if self.teacher is not None:
            self.teacher.retarget(self.active)
