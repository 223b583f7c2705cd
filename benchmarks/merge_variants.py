"""Merges of the over-clustering start that were measured and lost (``merging.md``).

The package merges by average linkage on the geodesic of the decoders' divergence,
discounted by the clusters' shared neighbours (:func:`scmixvae.start.merge_categories`).
The variants below were measured against it and kept here, beside the benchmarks that
compare them: a SciPy linkage on the divergence itself, greedy modularity on the decoders'
confusion, and scores divided by each cell's depth.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from scmixvae.start import (
    CONNECTIVITY_SCALE,
    decoder_divergence,
    geodesic_divergence,
    group_representatives,
    linkage_groups,
)

#: The merges compared in ``merging.md``: a SciPy linkage, the package's geodesic one, or
#: greedy modularity on :func:`decoder_confusion`.
MERGE_METHODS = ("average", "complete", "single", "geodesic", "modularity")


def decoder_confusion(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cells of each category the decoders give to each other category, symmetrised, ``(K, K)``.

    ``scores`` and ``labels`` are as in :func:`scmixvae.start.decoder_divergence`.

    Returns
    -------
    ``C + Cᵀ`` with ``C[j, i]`` the sum, over the cells of ``j``, of the decoders' posterior
    ``p(i | x) = softmax(−scores)_i``, for ``i ≠ j``; the diagonal is 0. A category no cell
    was trained with is linked to the categories whose cells its decoder explains.

    Examples
    --------
    >>> scores = np.array([[0.0, np.log(3), 50.0], [np.log(3), 0.0, 50.0], [50.0, 50.0, 0.0]])
    >>> decoder_confusion(scores, np.array([0, 1, 2])).round(2)
    array([[0. , 0.5, 0. ],
           [0.5, 0. , 0. ],
           [0. , 0. , 0. ]])

    """
    n_categories = scores.shape[1]
    confusion = np.zeros((n_categories, n_categories))
    np.add.at(confusion, labels, softmax(-scores, axis=1))
    np.fill_diagonal(confusion, 0.0)
    return confusion + confusion.T


def greedy_modularity_merge(edges: np.ndarray, n_groups: int) -> np.ndarray:
    """Merge the nodes of a weighted graph, greedily by modularity gain, into ``n_groups``.

    Each step merges the two groups ``i, j`` with the largest gain
    ``e_ij / m − d_i d_j / m²`` (Newman's, up to a factor 2): ``e_ij`` the edge weight
    between them, ``d`` the groups' degrees (edges inside a group included), ``m`` the total
    weight. The null term keeps a group that is confused with many others from absorbing
    them all. Steps go on after the gain turns negative, until ``n_groups`` remain. On a
    near-uniform graph (decoders that cannot tell the nodes apart) one group grows.

    Parameters
    ----------
    edges
        Symmetric ``(n, n)`` non-negative weights.
    n_groups
        Number of groups to stop at.

    Returns
    -------
    ``(n,)``: the group of every node, named by one of its members.

    Examples
    --------
    >>> edges = np.array([[0, 5, 0, 0], [5, 0, 1, 0], [0, 1, 0, 4], [0, 0, 4, 0]], float)
    >>> greedy_modularity_merge(edges, 2)
    array([0, 0, 2, 2])

    """
    edges = np.array(edges, dtype=float)
    total = max(edges.sum(), np.finfo(float).tiny)
    group = np.arange(len(edges))
    alive = np.ones(len(edges), dtype=bool)
    while alive.sum() > n_groups:
        index = np.flatnonzero(alive)
        degree = edges[index].sum(1)
        gain = edges[np.ix_(index, index)] / total - np.outer(degree, degree) / total**2
        np.fill_diagonal(gain, -np.inf)
        i, j = index[np.array(np.unravel_index(gain.argmax(), gain.shape))]
        edges[i] += edges[j]
        edges[:, i] += edges[:, j]
        edges[j] = edges[:, j] = 0.0
        group[group == j] = i
        alive[j] = False
    return group


def per_count_scores(scores: np.ndarray, library: np.ndarray) -> np.ndarray:
    """Each cell's scores divided by its library size relative to the median, ``(n, K)``.

    A cell's score difference between two decoders grows with its depth: under a Poisson
    likelihood, the expected difference for a cell of ``l`` counts is ``l`` times a
    divergence between the two expression profiles. Without this, a type of deep cells
    looks more heterogeneous than one of shallow cells with the same profiles, and its
    clusters are merged last. Cells with fewer than one count are scaled as if they had one.

    Parameters
    ----------
    scores
        ``(n_cells, K)``, as in :func:`decoder_confusion`.
    library
        ``(n_cells,)``: total counts of every cell; all ones for non-count data, which
        leaves the scores as they are.

    Returns
    -------
    ``scores × median(library) / library``, row by row.

    Examples
    --------
    >>> per_count_scores(np.array([[0.0, 8.0], [0.0, 2.0]]), np.array([400.0, 100.0]))
    array([[0., 5.],
           [0., 5.]])

    """
    library = np.asarray(library, dtype=float)
    return scores * (np.median(library) / np.maximum(library, 1.0))[:, None]


def merge_variant(
    scores: np.ndarray,
    labels: np.ndarray,
    n_groups: int,
    method: str = "geodesic",
    library: np.ndarray | None = None,
    connectivity: np.ndarray | None = None,
) -> np.ndarray:
    """The representative of every category after merging by ``method``, ``(K,)``.

    ``method="geodesic"`` with ``connectivity`` and no ``library`` is the package's merge.
    ``library`` switches to :func:`per_count_scores`; the modularity merge ignores
    ``connectivity``.
    """
    if library is not None:
        scores = per_count_scores(scores, library)
    if method == "modularity":
        groups = greedy_modularity_merge(decoder_confusion(scores, labels), n_groups)
    else:
        divergence = decoder_divergence(scores, labels)
        if connectivity is not None:
            divergence = divergence / (1.0 + np.asarray(connectivity) / CONNECTIVITY_SCALE)
        if method == "geodesic":
            divergence, method = geodesic_divergence(divergence), "average"
        groups = linkage_groups(divergence, n_groups, method)
    return group_representatives(groups, scores, labels)


def nearest_candidates(centroids: np.ndarray, m: int) -> np.ndarray:
    """Each category's ``m`` nearest categories by centroid distance (itself first), ``(K, m)``."""
    distance = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    return np.argsort(distance, axis=1, kind="stable")[:, :m]


def candidate_merge(
    scores: np.ndarray,
    labels: np.ndarray,
    n_groups: int,
    candidates: np.ndarray,
    connectivity: np.ndarray | None = None,
) -> np.ndarray:
    """The package's merge when each cluster's cells are scored under ``candidates`` only.

    The divergence between two clusters is known where one is among the other's
    candidates (the mean of the known directions); unknown pairs are no step of any chain,
    and clusters no chain joins are put farther apart than any known pair. Representatives
    are chosen on the full scores (a small advantage to the variant).
    """
    n_categories = scores.shape[1]
    counts = np.bincount(labels, minlength=n_categories)
    sums = np.zeros((n_categories, n_categories))
    np.add.at(sums, labels, scores)
    mean_score = (sums / np.maximum(counts, 1)[:, None]).T  # [i, j]: j's cells under i
    cost = np.maximum(mean_score - np.diag(mean_score)[None, :], 0.0)
    known = np.zeros((n_categories, n_categories), dtype=bool)
    known[candidates.T, np.arange(n_categories)[None, :]] = True  # [i, j]: i scores j's cells
    known[:, counts == 0] = known[counts == 0, :] = False
    cost = np.where(known, cost, np.nan)
    both = np.stack([cost, cost.T])
    seen = (~np.isnan(both)).sum(0)
    divergence = np.where(seen > 0, np.nansum(both, axis=0) / np.maximum(seen, 1), np.nan)
    divergence[np.isnan(divergence)] = np.inf
    np.fill_diagonal(divergence, 0.0)
    if connectivity is not None:
        divergence = divergence / (1.0 + np.asarray(connectivity) / CONNECTIVITY_SCALE)
    used = counts > 0
    distance = np.zeros_like(divergence)
    finite = np.where(
        np.isfinite(divergence[np.ix_(used, used)]), divergence[np.ix_(used, used)], np.inf
    )
    distance[np.ix_(used, used)] = geodesic_divergence(finite)
    top = distance[np.isfinite(distance)].max() if np.isfinite(distance).any() else 1.0
    distance[~np.isfinite(distance)] = 2 * top + 1.0
    groups = linkage_groups(distance, n_groups)
    return group_representatives(groups, scores, labels)
