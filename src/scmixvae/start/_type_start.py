"""The one owner of how the types are found: the start's clustering, teaching and merge."""

from __future__ import annotations

import numpy as np
import scvi
import torch
from lightning.pytorch.callbacks import Callback
from scvi import REGISTRY_KEYS

from .._choices import check_choice
from ..module import Initialization
from ._kmeans import fit_cluster_teacher
from ._merge_step import CategoryMerging

#: Cells sampled to fit the start's PCA and k-means, to judge the merge and to recompute
#: the batch-norm statistics.
MAX_SAMPLED_CELLS = 20_000
#: ``"overcluster"``: k-means clusters per requested type, and the share of the epochs
#: trained on the clusters before they are merged (``benchmarks/merging.md``).
CLUSTERS_PER_TYPE = 2
MERGE_FRACTION = 0.5
#: ``"kmeans"``: the share of the epochs taught the k-means labels.
TEACHER_FRACTION = 0.2


def sample_cells(n_obs: int, seed: int | None) -> np.ndarray:
    """Up to :data:`MAX_SAMPLED_CELLS` random cells of ``n_obs``, sorted, drawn with ``seed``.

    Examples
    --------
    >>> sample_cells(5, seed=0)
    array([0, 1, 2, 3, 4])

    """
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_obs, min(n_obs, MAX_SAMPLED_CELLS), replace=False))


class TypeStart:
    """How a model's types are found (``initialization``), from construction to the merge.

    ``"overcluster"``: the module holds :data:`CLUSTERS_PER_TYPE` ``× n_types`` category
    slots, each taught a k-means cluster for every epoch; the clusters are merged into
    ``n_types`` types after :data:`MERGE_FRACTION` of the first training's epochs.
    ``"kmeans"``: ``n_types`` clusters, taught for :data:`TEACHER_FRACTION` of the first
    training's epochs. ``"random"``: nothing to fit or teach (the paper's cold start).

    Parameters
    ----------
    initialization
        The start.
    n_types
        Number of types ``K`` the model reports.

    Examples
    --------
    >>> TypeStart("overcluster", n_types=10).n_slots(n_obs=3000)
    20

    """

    def __init__(self, initialization: Initialization, n_types: int):
        check_choice("initialization", initialization, Initialization)
        self.initialization = initialization
        self.n_types = n_types

    def n_slots(self, n_obs: int) -> int:
        """Category slots the module needs for ``n_obs`` cells."""
        if self.initialization == "overcluster":
            return min(CLUSTERS_PER_TYPE * self.n_types, n_obs)
        return self.n_types

    def prepare(
        self, model, cells: np.ndarray, max_epochs: int, plan_kwargs: dict
    ) -> tuple[dict, list[Callback]]:
        """Fit what a first training needs; return the plan's settings and the callbacks.

        ``cells`` are the sampled cells the clustering is fitted and the merge judged on.
        """
        module = model.module
        first = module.teacher is not None and not model.is_trained_
        if first:
            fit_cluster_teacher(module.teacher, _matrix(model, cells), seed=scvi.settings.seed)
        if self.initialization == "overcluster":
            # Every training of this start is taught: the clusters, then their merge.
            plan_kwargs = {"n_epochs_teacher": max_epochs} | plan_kwargs
            if int(module.active.sum()) > self.n_types:
                merge_epoch = round(MERGE_FRACTION * max_epochs)
                return plan_kwargs, [CategoryMerging(model, cells, self.n_types, merge_epoch)]
        elif first:
            plan_kwargs = {"n_epochs_teacher": round(TEACHER_FRACTION * max_epochs)} | plan_kwargs
        return plan_kwargs, []


@torch.inference_mode()
def _matrix(model, cells: np.ndarray) -> np.ndarray:
    """Return the cells' data as the model's data loader gives them, as one dense array."""
    loader = model._make_data_loader(adata=model.adata, indices=cells, batch_size=1024)
    return np.concatenate([tensors[REGISTRY_KEYS.X_KEY].float().numpy() for tensors in loader])
