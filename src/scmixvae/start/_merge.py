"""Merging the over-clustering start's clusters into types by how alike their decoders are.

The over-clustering start (``initialization="overcluster"``) trains the decoders on more
clusters than types and then merges them. Two clusters belong to one type when the model
cannot tell their cells apart. The merge measures how well each cluster's decoder explains
the other's cells: the cost of decoding cluster ``j``'s cells with category ``i`` is a
Monte-Carlo estimate of ``KL(p_j ‖ p_i)`` between the two decoded distributions, and its
symmetrised form is Jeffreys' divergence (:func:`decoder_divergence`). Distances are per
cell, so a small type is kept apart from a large one as readily as two large ones. The
divergence is discounted between clusters whose cells are each other's neighbours
(:func:`neighbour_connectivity`), and the clusters are merged by average linkage on the
cheapest chain of steps between two clusters (:func:`geodesic_divergence`): k-means cuts a
type into a chain of clusters, close to their neighbours and far from the chain's other
end. The other merges that were measured are listed in ``benchmarks/tried.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.sparse.csgraph import csgraph_from_dense, shortest_path
from scipy.spatial.distance import squareform
from sklearn.neighbors import NearestNeighbors

#: The connectivity at which :func:`merge_categories` halves the divergence between two
#: categories: ``J / (1 + C / CONNECTIVITY_SCALE)``. Chosen by measurement; ACC was flat
#: from 0.003 to 0.03 (``benchmarks/decisions.md``).
CONNECTIVITY_SCALE = 0.01


def neighbour_connectivity(
    embedding: np.ndarray, labels: np.ndarray, n_categories: int, n_neighbors: int = 15
) -> np.ndarray:
    """How much two categories' cells are neighbours of each other, ``(K, K)`` in ``[0, 1]``.

    Every cell's ``n_neighbors`` nearest other cells in ``embedding`` (Euclidean) are its
    edges. ``C[i, j]`` counts the edges from cells of ``i`` to cells of ``j`` and back,
    divided by the most there could be, ``2 · n_neighbors · min(n_i, n_j)``. Two clusters cut
    out of one continuum of cells share many edges; two types apart share few.

    Parameters
    ----------
    embedding
        ``(n_cells, d)`` coordinates: the teacher's PCA (:meth:`ClusterTeacher.embed`).
    labels
        ``(n_cells,)``: each cell's category.
    n_categories
        ``K``; categories without cells get zero rows.
    n_neighbors
        Edges per cell (at most ``n_cells − 1``).

    Returns
    -------
    Symmetric ``(K, K)``, zero on the diagonal.

    Examples
    --------
    >>> embedding = np.array([[0.0], [1.0], [1.8], [3.0], [10.0], [11.0]])
    >>> neighbour_connectivity(embedding, np.array([0, 0, 1, 1, 2, 2]), 3, n_neighbors=1)
    array([[0. , 0.5, 0. ],
           [0.5, 0. , 0. ],
           [0. , 0. , 0. ]])

    """
    embedding = np.asarray(embedding, dtype=float)
    n_neighbors = min(n_neighbors, len(embedding) - 1)
    connectivity = np.zeros((n_categories, n_categories))
    if n_neighbors < 1:
        return connectivity
    neighbours = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(embedding)
    # Column 0 is usually the cell itself; with duplicated cells it may be a twin, so the
    # cell is dropped by index rather than by position.
    index = neighbours.kneighbors(embedding, return_distance=False)
    source = np.repeat(np.arange(len(embedding)), n_neighbors + 1)
    keep = index.ravel() != source
    np.add.at(connectivity, (labels[source[keep]], labels[index.ravel()[keep]]), 1.0)
    connectivity = connectivity + connectivity.T
    sizes = np.bincount(labels, minlength=n_categories).astype(float)
    most = 2 * n_neighbors * np.minimum(sizes[:, None], sizes[None, :])
    connectivity = np.divide(connectivity, most, out=np.zeros_like(connectivity), where=most > 0)
    np.fill_diagonal(connectivity, 0.0)
    return connectivity


def decoder_divergence(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Jeffreys divergence between the categories' decoders, per cell, ``(K, K)``.

    Parameters
    ----------
    scores
        ``(n_cells, K)``: reconstruction + state KL of every cell under every category
        (:meth:`~scmixvae.module.CplMixVAEModule.category_scores` of arm 0).
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


def geodesic_divergence(divergence: np.ndarray, power: float = 2.0) -> np.ndarray:
    """Lengths of the cheapest chains of steps between categories, in divergence units.

    A type that k-means cut into a chain of clusters has small divergences between
    neighbours in the chain and large ones between its ends. The chain's cost is the sum of
    its steps' divergences raised to ``power``; the result is the cheapest cost's
    ``power``-th root. A ``power`` above 1 makes many small steps cheaper than one large
    one: at 1 and below the direct step is usually the cheapest (the divergence itself),
    and as ``power`` grows the length tends to the largest step of the best chain, the
    distance single linkage merges by. The default 2 was chosen by measurement
    (``benchmarks/merging.md``).

    Parameters
    ----------
    divergence
        Symmetric ``(K, K)``, non-negative: :func:`decoder_divergence`.
    power
        Exponent of each step's divergence, positive.

    Returns
    -------
    ``(K, K)``: the lengths among the categories with a positive row sum; a category at
    distance 0 from every other (no cell was trained with it) keeps its row of zeros and is
    not a step of any chain, so it cannot join the others at no cost.

    Examples
    --------
    >>> divergence = np.array([[0.0, 3.0, 9.0], [3.0, 0.0, 4.0], [9.0, 4.0, 0.0]])
    >>> geodesic_divergence(divergence)  # 0 -> 1 -> 2: sqrt(3² + 4²) = 5 < 9
    array([[0., 3., 5.],
           [3., 0., 4.],
           [5., 4., 0.]])

    """
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}.")
    divergence = np.asarray(divergence, dtype=float)
    geodesic = np.zeros_like(divergence)
    connected = divergence.sum(1) > 0
    # csgraph reads a dense 0 as "no edge"; nulls marked as inf keep a 0 divergence an edge.
    steps = divergence[np.ix_(connected, connected)] ** power
    np.fill_diagonal(steps, np.inf)
    graph = csgraph_from_dense(steps, null_value=np.inf)
    cost = shortest_path(graph, method="D", directed=False)
    geodesic[np.ix_(connected, connected)] = cost ** (1 / power)
    return geodesic


def linkage_groups(distance: np.ndarray, n_groups: int, method: str = "average") -> np.ndarray:
    """Cut a SciPy ``method`` linkage of the square ``distance`` matrix into ``n_groups``.

    Cut by the order of the merges: a cut by height can give fewer groups at ties.

    Examples
    --------
    >>> linkage_groups(np.array([[0.0, 1.0, 9.0], [1.0, 0.0, 8.0], [9.0, 8.0, 0.0]]), 2)
    array([0, 0, 1])

    """
    tree = linkage(squareform(distance, checks=False), method=method)
    return cut_tree(tree, n_clusters=n_groups).ravel()


def group_representatives(groups: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For every category, the member of its group whose decoder explains the group best.

    ``groups`` ``(K,)`` is each category's group; ``scores`` and ``labels`` are as in
    :func:`decoder_divergence`. The representative gives the group's cells the lowest total
    score.

    Examples
    --------
    >>> scores = np.array([[0.0, 1.0, 9.0], [3.0, 0.0, 8.0], [9.0, 9.0, 0.0]])
    >>> group_representatives(np.array([0, 0, 1]), scores, np.array([0, 1, 2]))
    array([1, 1, 2])

    """
    n_categories = scores.shape[1]
    totals = np.zeros((n_categories, n_categories))  # totals[j, i]: j's cells under i
    np.add.at(totals, labels, scores)
    representative = np.empty(n_categories, dtype=int)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        representative[members] = members[totals[np.ix_(members, members)].sum(0).argmin()]
    return representative


def merge_categories(
    scores: np.ndarray,
    labels: np.ndarray,
    n_groups: int,
    connectivity: np.ndarray | None = None,
) -> np.ndarray:
    """Merge categories into ``n_groups`` types.

    Average linkage on :func:`geodesic_divergence` of :func:`decoder_divergence`. Measured
    in ``benchmarks/merging.md`` (13 datasets, at the merge) and in whole trainings
    (``benchmarks/accuracy.md``): the best merge on the mean of the datasets.

    Parameters
    ----------
    scores, labels
        As in :func:`decoder_divergence`.
    n_groups
        Number of merged categories.
    connectivity
        ``(K, K)``: :func:`neighbour_connectivity` of the cells. When given, the linkage
        reads ``J / (1 + C / CONNECTIVITY_SCALE)`` instead of the divergence ``J``: two
        clusters whose cells are each other's neighbours (one continuum cut in two) are
        merged before two that differ as much but share no neighbours (two types).

    Returns
    -------
    ``(K,)``: for every category, the category that represents its group
    (:func:`group_representatives`).

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
    if connectivity is not None:
        divergence = divergence / (1.0 + np.asarray(connectivity) / CONNECTIVITY_SCALE)
    groups = linkage_groups(geodesic_divergence(divergence), n_groups)
    return group_representatives(groups, scores, labels)
