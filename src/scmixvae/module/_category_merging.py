"""Merging over-clustered categories by how well their decoders explain each other's cells.

The over-clustering start (``initialization="overcluster"``) trains the decoders on more
clusters than types and then merges them. Two clusters belong to one type when each one's
decoder explains the other's cells almost as well as their own: the cost of decoding
cluster ``j``'s cells with category ``i`` is a Monte-Carlo estimate of ``KL(p_j ‖ p_i)``
between the two decoded distributions, and its symmetrised form (Jeffreys' divergence) is
the distance that average linkage merges by. Distances are per cell, so a small type is
kept apart from a large one as readily as two large ones (``benchmarks/merging.md``).
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform


def decoder_divergence(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Jeffreys divergence between the categories' decoders, per cell, ``(K, K)``.

    Parameters
    ----------
    scores
        ``(n_cells, K)``: reconstruction + state KL of every cell under every category
        (:meth:`~scmixvae.module.CplMixVAEModule.category_scores`, summed over arms).
    labels
        ``(n_cells,)``: the category each cell was trained with.

    Returns
    -------
    ``J[i, j] = (D[i, j] + D[j, i]) / 2`` with ``D[i, j]`` the mean, over the cells of
    ``j``, of their score under ``i`` minus their score under ``j``; negative values (a
    decoder explaining another category's cells better than its own) count as 0. A category
    no cell was trained with is at distance 0 from every other, so it is merged first.

    Examples
    --------
    >>> scores = np.array([[0.0, 5.0, 9.0], [1.0, 0.0, 8.0], [9.0, 9.0, 0.0]])
    >>> decoder_divergence(scores, np.array([0, 1, 2]))
    array([[0. , 3. , 9. ],
           [3. , 0. , 8.5],
           [9. , 8.5, 0. ]])

    """
    n_categories = scores.shape[1]
    counts = np.bincount(labels, minlength=n_categories)
    sums = np.zeros((n_categories, n_categories))
    np.add.at(sums, labels, scores)
    # mean_score[i, j]: mean score of category j's cells under category i.
    mean_score = (sums / np.maximum(counts, 1)[:, None]).T
    cost = np.maximum(mean_score - np.diag(mean_score)[None, :], 0.0)
    cost[:, counts == 0] = 0.0
    cost[counts == 0, :] = 0.0
    divergence = (cost + cost.T) / 2
    np.fill_diagonal(divergence, 0.0)
    return divergence


def merge_categories(
    scores: np.ndarray, labels: np.ndarray, n_groups: int, method: str = "average"
) -> np.ndarray:
    """Merge categories into ``n_groups`` by hierarchical linkage on :func:`decoder_divergence`.

    Parameters
    ----------
    scores, labels
        As in :func:`decoder_divergence`.
    n_groups
        Number of merged categories.
    method
        SciPy's linkage method. ``"average"`` and ``"single"`` were within the seed-to-seed
        spread on the four datasets measured (``benchmarks/merging.md``); single linkage
        chained the clusters of weakly trained decoders together, so ``"average"``.

    Returns
    -------
    ``(K,)``: for every category, the category that represents its group. A group is
    represented by the member whose decoder gives the group's cells the lowest total score.

    Examples
    --------
    >>> scores = np.array([[0.0, 1.0, 9.0], [1.0, 0.0, 8.0], [9.0, 9.0, 0.0]])
    >>> merge_categories(scores, np.array([0, 1, 2]), n_groups=2)
    array([0, 0, 2])

    """
    n_categories = scores.shape[1]
    if not 1 <= n_groups <= n_categories:
        raise ValueError(f"n_groups must be between 1 and {n_categories}, got {n_groups}.")
    if n_groups == n_categories:
        return np.arange(n_categories)
    divergence = decoder_divergence(scores, labels)
    tree = linkage(squareform(divergence, checks=False), method=method)
    groups = fcluster(tree, n_groups, criterion="maxclust")
    totals = np.zeros((n_categories, n_categories))  # totals[j, i]: j's cells under i
    np.add.at(totals, labels, scores)
    representative = np.empty(n_categories, dtype=int)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        representative[members] = members[totals[np.ix_(members, members)].sum(0).argmin()]
    return representative
