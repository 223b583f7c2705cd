"""The over-clustering start's merge step, run once during training.

With ``initialization="overcluster"`` the module holds ``2 × K`` categories,
each taught one k-means cluster. Halfway through training, :class:`~scmixvae.start.StartSchedule`
scores every sampled cell under every category, merges the categories into ``K`` by
:func:`~scmixvae.start.merge_categories` (discounted by the clusters'
:func:`~scmixvae.start.neighbour_connectivity` in the teacher's PCA), points each merged centroid
of the teacher to its group's representative, and merges the categories in the module
(:meth:`~scmixvae.module.CplMixVAEModule.merge_into`): a type's posterior is the sum of its
clusters' posteriors. Training then goes on with the merged labels, and the ``K`` types are
named ``"0"`` to ``"K-1"`` from the largest.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scvi import REGISTRY_KEYS

from ..train._batch_norm import recalibrate_batch_norm
from ._merge import merge_categories, neighbour_connectivity


class MergeEvidence(NamedTuple):
    """What the merge reads of ``n`` cells."""

    #: ``(n, K)``: reconstruction + state KL under every category, by arm 0's decoder.
    scores: np.ndarray
    #: ``(n,)``: the teacher's nearest centroid, the category each cell was taught.
    clusters: np.ndarray
    #: ``(n,)``: library sizes, ones for non-count likelihoods.
    depths: np.ndarray
    #: ``(n, d)``: the teacher's PCA coordinates.
    embedding: np.ndarray


def merge_evidence(model, indices: np.ndarray) -> MergeEvidence:
    """Return the :class:`MergeEvidence` of the cells ``indices``.

    Scored in eval mode by a 1-arm copy of arm 0
    (:meth:`~scmixvae.module.CplMixVAEModule.arm`), with batch-norm statistics first
    recomputed on ``indices`` for the current weights. Only arm 0 scores: it was taught the
    clusters being merged, while every further arm was taught its own bootstrap clustering,
    whose disagreements would blur the divergence between arm 0's clusters
    (``benchmarks/independent_arms.md``); running only arm 0 halves the merge's cost.
    """
    recalibrate_batch_norm(model, indices)
    teacher = model.module.teacher
    scorer = model.module.arm(0).eval()
    scores, clusters, libraries, embeddings = [], [], [], []
    with torch.inference_mode():
        for x, batch_index in _batches(model, indices):
            x_arm = x.expand(scorer.n_arms, *x.shape)
            library = scorer.library_size(x_arm)
            z, _ = scorer.encode(x_arm, library)
            scores.append(scorer.category_scores(x_arm, z, library, batch_index)[0].double().cpu())
            embedding = teacher.embed(x)
            clusters.append(teacher.nearest_centroid_to(embedding).cpu())
            libraries.append(library[0, :, 0].cpu())
            embeddings.append(embedding.cpu())
    parts = (scores, clusters, libraries, embeddings)
    return MergeEvidence(*(torch.cat(part).numpy() for part in parts))


@torch.inference_mode()
def teacher_embedding(model, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the cells' teacher PCA coordinates and nearest centroids (no decoder runs)."""
    teacher = model.module.teacher
    embeddings = [teacher.embed(x) for x, _ in _batches(model, indices)]
    embedding = torch.cat(embeddings)
    return embedding.cpu().numpy(), teacher.nearest_centroid_to(embedding).cpu().numpy()


def balanced_cells(labels: np.ndarray, at_most: int, seed: int | None) -> np.ndarray:
    """Up to ``at_most`` positions of ``labels``, as many of each label as the budget allows.

    Every label keeps its cells up to a common cap, the largest that fits ``at_most`` in
    all, and at least one cell (so with more labels than ``at_most``, one of each); a label
    with fewer cells keeps them all. Drawn with ``seed``, sorted; all positions if there are
    no more than ``at_most``.

    Examples
    --------
    >>> balanced_cells(np.array([0, 0, 0, 0, 0, 0, 1, 2]), at_most=5, seed=0)
    array([2, 3, 5, 6, 7])

    """
    if len(labels) <= at_most:
        return np.arange(len(labels))
    sizes = np.bincount(labels)
    caps = np.arange(sizes.max() + 1)
    kept = np.minimum(sizes[None, :], caps[:, None]).sum(axis=1)
    cap = max(caps[kept <= at_most].max(), 1)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == k))[:cap] for k in range(len(sizes))]
    return np.sort(np.concatenate(chosen))


def _batches(model, indices: np.ndarray):
    """``(x, batch_index)`` of the cells ``indices`` on the module's device, 1,024 at a time."""
    device = model.module.device
    loader = model._make_data_loader(adata=model.adata, indices=indices, batch_size=1024)
    for tensors in loader:
        batch_index = tensors.get(REGISTRY_KEYS.BATCH_KEY)
        x = tensors[REGISTRY_KEYS.X_KEY].to(device).float()
        yield x, None if batch_index is None else batch_index.to(device)


def merge_over_clusters(
    model, cells: np.ndarray, n_types: int, at_most: int, seed: int | None
) -> None:
    """Merge the model's categories into ``n_types``.

    The clusters' shared neighbours are counted on all of ``cells``; the decoders'
    divergence is judged on up to ``at_most`` of them, each cluster's cells up to a common
    cap (:func:`balanced_cells`, drawn with ``seed``), so that a small cluster is judged on
    all its cells and a large one on no more than its mean needs
    (``benchmarks/merge_cells.md``). Must run before any category is masked: category ``k``
    is the one taught centroid ``k``.
    """
    module = model.module
    embedding, clusters = teacher_embedding(model, cells)
    evidence = merge_evidence(model, cells[balanced_cells(clusters, at_most, seed)])
    n_categories = evidence.scores.shape[1]
    connectivity = neighbour_connectivity(embedding, clusters, n_categories)
    groups = merge_categories(evidence.scores, evidence.clusters, n_types, connectivity)
    with torch.no_grad():
        module.merge_into(groups)
    sizes = np.bincount(groups[clusters], minlength=n_categories)
    model.category_names = names_by_size(module.active.cpu().numpy(), sizes)


def names_by_size(active: np.ndarray, sizes: np.ndarray) -> list[str]:
    """Name the active categories ``"0"``, ``"1"``, ... from the largest, as Leiden does.

    Inactive (merged-away) categories get names no cell is ever given.

    Examples
    --------
    >>> names_by_size(np.array([True, False, True, True]), np.array([5, 0, 9, 1]))
    ['1', 'merged_1', '0', '2']

    """
    names = [f"merged_{k}" for k in range(len(active))]
    order = sorted(np.flatnonzero(active), key=lambda k: (-sizes[k], k))
    for rank, k in enumerate(order):
        names[k] = str(rank)
    return names
