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
from ._merge_step import merge_over_clusters

#: Cells sampled to fit the start's PCA and k-means, and to recompute the batch-norm
#: statistics. The start's cost stops growing with the data beyond it
#: (``benchmarks/start_cost.md``).
MAX_SAMPLED_CELLS = 10_000
#: Of those, the cells the over-clustering start's merge is judged on, each cluster's up
#: to a common cap. Scoring each cell under every category is most of the merge's cost; at
#: 20,000 cells a merge judged on 3,000 so chosen (the neighbour graph still on all) was
#: the same as one judged on all, within the merge's own variation
#: (``benchmarks/merge_cells.md``).
MAX_MERGE_CELLS = 3_000
#: ``"overcluster"``: k-means clusters per requested type, and the share of the epochs
#: trained on the clusters before they are merged (``benchmarks/merging.md``).
CLUSTERS_PER_TYPE = 2
MERGE_FRACTION = 0.5
#: ``"overcluster"``: the share of the epochs after the merge in which the state is taught
#: its type's principal axes (:class:`~scmixvae.module.StateTeacher`); the rest leave it
#: free, so that a dimension no programme needs can collapse again.
STATE_TEACHING_FRACTION = 0.5
#: ``"kmeans"``: the share of the epochs taught the k-means labels.
TEACHER_FRACTION = 0.2


def sample_cells(n_obs: int, seed: int | None, at_most: int = MAX_SAMPLED_CELLS) -> np.ndarray:
    """Up to ``at_most`` random cells of ``n_obs``, sorted, drawn with ``seed``; all if fewer.

    Examples
    --------
    >>> sample_cells(5, seed=0)
    array([0, 1, 2, 3, 4])
    >>> len(sample_cells(50_000, seed=0))
    10000

    """
    if n_obs <= at_most:
        return np.arange(n_obs)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_obs, at_most, replace=False))


class TypeStart:
    """How a model's types are found (``initialization``), from construction to the merge.

    ``"overcluster"``: the module holds :data:`CLUSTERS_PER_TYPE` ``× n_types`` category
    slots, each taught a k-means cluster for every epoch; the clusters are merged into
    ``n_types`` types after :data:`MERGE_FRACTION` of the first training's epochs, and the
    state is then taught each type's principal axes for :data:`STATE_TEACHING_FRACTION` of
    the epochs left.
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

    def schedule(self, model, cells: np.ndarray, max_epochs: int) -> StartSchedule:
        """Return the callback that runs this start during one training of ``model``.

        ``cells`` are the sampled cells the clustering is fitted and the merge judged on.
        """
        return StartSchedule(self, model, cells, max_epochs)


class StartSchedule(Callback):
    """One training's part of a :class:`TypeStart`: fit, teach, merge.

    When the fit starts (first training only, and not when resuming from a checkpoint,
    which holds the fitted clustering), the teacher's clustering is fitted on the sampled
    cells. The training plan is told how many epochs to teach, unless its
    ``n_epochs_teacher`` was given: every epoch for ``"overcluster"``,
    :data:`TEACHER_FRACTION` of a first training for ``"kmeans"``. With ``"overcluster"``
    the categories are merged into types at the start of epoch
    ``round(MERGE_FRACTION × max_epochs)``, once (a later training finds them merged),
    judged on up to :data:`MAX_MERGE_CELLS` of the sampled cells; the state teacher is then
    fitted on the sampled cells and teaches for :data:`STATE_TEACHING_FRACTION` of the
    first training's epochs left.
    """

    def __init__(self, start: TypeStart, model, cells: np.ndarray, max_epochs: int):
        self.start, self.model, self.cells = start, model, cells
        self.first = model.module.teacher is not None and not model.is_trained_
        self.merge_epoch = round(MERGE_FRACTION * max_epochs)
        left = max_epochs - self.merge_epoch
        self.state_taught_until = self.merge_epoch + round(STATE_TEACHING_FRACTION * left)
        if start.initialization == "overcluster":
            self.n_epochs_teacher = max_epochs
        elif self.first:
            self.n_epochs_teacher = round(TEACHER_FRACTION * max_epochs)
        else:
            self.n_epochs_teacher = 0

    def on_fit_start(self, trainer, pl_module) -> None:
        """Fit the clustering of a first training, and set the plan's teaching epochs."""
        if self.first and trainer.ckpt_path is None:
            teacher = self.model.module.teacher
            fit_cluster_teacher(teacher, _matrix(self.model, self.cells), seed=scvi.settings.seed)
        if pl_module.n_epochs_teacher is None:
            pl_module.n_epochs_teacher = self.n_epochs_teacher

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        """Merge the over-clustering start's categories once the merge epoch is reached.

        Then fit the state teacher, and teach the state in the epochs of its share.
        """
        if self.start.initialization != "overcluster":
            return
        module, epoch = self.model.module, trainer.current_epoch
        if epoch >= self.merge_epoch and int(module.active.sum()) > self.start.n_types:
            merge_over_clusters(
                self.model, self.cells, self.start.n_types, MAX_MERGE_CELLS, scvi.settings.seed
            )
        if self.first and epoch == self.merge_epoch:
            fit_state_teacher(self.model, self.cells)
        teaching = self.first and self.merge_epoch <= epoch < self.state_taught_until
        module.state_teacher.teaching = teaching

    def on_train_end(self, trainer, pl_module) -> None:
        """Leave the state untaught for any later training."""
        if self.model.module.state_teacher is not None:
            self.model.module.state_teacher.teaching = False


def fit_state_teacher(model, cells: np.ndarray) -> None:
    """Fit the model's state teacher on the cells ``cells``, each of the type it is taught."""
    module = model.module
    x = torch.as_tensor(_matrix(model, cells), device=module.device)
    module.state_teacher.fit(x, module.teacher(x))


@torch.inference_mode()
def _matrix(model, cells: np.ndarray) -> np.ndarray:
    """Return the cells' data as the model's data loader gives them, as one dense array."""
    loader = model._make_data_loader(adata=model.adata, indices=cells, batch_size=1024)
    return np.concatenate([tensors[REGISTRY_KEYS.X_KEY].float().numpy() for tensors in loader])
