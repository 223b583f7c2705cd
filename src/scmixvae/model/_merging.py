"""The over-clustering start's merge step, run once during training (issue 3).

With ``initialization="overcluster"`` the module holds ``_OVERCLUSTERING × K`` categories,
each taught one k-means cluster. Halfway through training, :class:`CategoryMerging`
scores every sampled cell under every category, merges the categories into ``K`` by
:func:`~scmixvae.module.merge_categories` (the module's ``merge_method``, and per count when
its ``merge_depth_normalised``), points each
merged centroid of the teacher to its group's representative, and merges the categories in
the module (:meth:`~scmixvae.module.CplMixVAEModule.merge_into`): a type's posterior is the
sum of its clusters' posteriors. Training then goes on with the merged labels.
"""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from scvi import REGISTRY_KEYS

from ..module import merge_categories
from ._batch_norm_calibration import recalibrate_batch_norm


def scores_and_clusters(model, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arm-summed category scores ``(n, K)``, teacher centroids and depths of ``indices``.

    The depths ``(n,)`` are the cells' library sizes, ones for non-count likelihoods.
    Scored in eval mode, with batch-norm statistics first recomputed on ``indices`` for the
    current weights; the module's mode is restored.
    """
    recalibrate_batch_norm(model, indices)
    module = model.module
    was_training = module.training
    module.eval()
    scores, clusters, libraries = [], [], []
    try:
        with torch.inference_mode():
            loader = model._make_data_loader(adata=model.adata, indices=indices, batch_size=1024)
            for tensors in loader:
                x = tensors[REGISTRY_KEYS.X_KEY].to(module.device).float()
                batch_index = tensors.get(REGISTRY_KEYS.BATCH_KEY)
                if batch_index is not None:
                    batch_index = batch_index.to(module.device)
                x_arm = x.expand(module.n_arms, *x.shape)
                library = module.library_size(x_arm)
                z, _ = module.encode(x_arm, library)
                arm_scores = module.category_scores(x_arm, z, library, batch_index)
                scores.append(arm_scores.sum(0).double().cpu())
                clusters.append(module.teacher.nearest_centroid(x).cpu())
                libraries.append(library[0, :, 0].cpu())
    finally:
        module.train(was_training)
    return tuple(torch.cat(part).numpy() for part in (scores, clusters, libraries))


def merge_over_clusters(model, indices: np.ndarray, n_types: int) -> None:
    """Merge the model's categories into ``n_types``, judged on the cells ``indices``.

    Must run before any category is masked: category ``k`` is the one taught centroid ``k``.
    """
    module = model.module
    scores, clusters, library = scores_and_clusters(model, indices)
    library = library if module.merge_depth_normalised else None
    with torch.no_grad():
        module.merge_into(merge_categories(scores, clusters, n_types, module.merge_method, library))


class CategoryMerging(Callback):
    """Run :func:`merge_over_clusters` at the start of epoch ``epoch`` (once).

    A training resumed after the merge finds ``n_types`` categories active and skips it.
    """

    def __init__(self, model, indices: np.ndarray, n_types: int, epoch: int):
        self.model = model
        self.indices = indices
        self.n_types = n_types
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        """Merge once the epoch is reached and more than ``n_types`` categories are active."""
        active = int(self.model.module.active.sum())
        if trainer.current_epoch >= self.epoch and active > self.n_types:
            merge_over_clusters(self.model, self.indices, self.n_types)
