"""Merging over-clustered categories by how alike their decoders are.

The over-clustering start (``initialization="overcluster"``) trains the decoders on more
clusters than types and then merges them. Two clusters belong to one type when the model
cannot tell their cells apart. The merge measures how well each cluster's decoder explains
the other's cells: the cost of decoding cluster ``j``'s cells with category ``i`` is a
Monte-Carlo estimate of ``KL(p_j ‖ p_i)`` between the two decoded distributions, and its
symmetrised form is Jeffreys' divergence (:func:`decoder_divergence`). Distances are per
cell, so a small type is kept apart from a large one as readily as two large ones; given the
cells' library sizes they are also per count (:func:`per_count_scores`), so that deeply
sequenced cells do not weigh more than shallow ones (measured; not the default). The
default (``method="geodesic"``) merges by average linkage on the cheapest chain of steps
between two clusters (:func:`geodesic_divergence`): k-means cuts a type into a chain of
clusters, close to their neighbours and far from the chain's other end. ``"average"``,
``"complete"`` and ``"single"`` merge by that linkage on the divergence itself.

``method="modularity"`` asks the decoders' posterior instead: the expected number of cluster
``j``'s cells the decoders place in category ``i`` (:func:`decoder_confusion`) are the edges
of a graph between the clusters, merged greedily by modularity
(:func:`greedy_modularity_merge`), as Leiden merges cells. It merged Zeisel's 7 classes
better and four simulations worse (``benchmarks/merging.md``), so it is not the default.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.sparse.csgraph import csgraph_from_dense, shortest_path
from scipy.spatial.distance import squareform
from scipy.special import softmax
from sklearn.neighbors import NearestNeighbors

#: The connectivity at which :func:`merge_categories` halves the divergence between two
#: categories: ``J / (1 + C / CONNECTIVITY_SCALE)``. Chosen by measurement; ACC was flat
#: from 0.003 to 0.03 (``docs/method.md``).
CONNECTIVITY_SCALE = 0.01

#: Values of ``method`` in :func:`merge_categories`: a SciPy linkage on
#: :func:`decoder_divergence`, average linkage on its :func:`geodesic_divergence`, or
#: greedy modularity on :func:`decoder_confusion`.
MERGE_METHODS = ("average", "complete", "single", "geodesic", "modularity")


def decoder_confusion(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cells of each category the decoders give to each other category, symmetrised, ``(K, K)``.

    Parameters
    ----------
    scores
        ``(n_cells, K)``: reconstruction + state KL of every cell under every category
        (:meth:`~scmixvae.module.CplMixVAEModule.category_scores`, summed over arms).
    labels
        ``(n_cells,)``: the category each cell was trained with.

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
    scores, labels
        As in :func:`decoder_confusion`.

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


def merge_categories(
    scores: np.ndarray,
    labels: np.ndarray,
    n_groups: int,
    method: str = "geodesic",
    library: np.ndarray | None = None,
    connectivity: np.ndarray | None = None,
) -> np.ndarray:
    """Merge categories into ``n_groups`` types.

    Parameters
    ----------
    scores, labels
        As in :func:`decoder_confusion`.
    n_groups
        Number of merged categories.
    method
        ``"geodesic"`` (default): average linkage on :func:`geodesic_divergence` of
        :func:`decoder_divergence`. A SciPy linkage method (``"average"``, ``"complete"``,
        ``"single"``): that linkage on :func:`decoder_divergence` itself. ``"modularity"``:
        :func:`greedy_modularity_merge` on :func:`decoder_confusion`. Measured in
        ``benchmarks/merging.md`` (13 datasets, at the merge) and in whole trainings
        (``benchmarks/accuracy.md``): the geodesic merge was the best on the mean, and at
        least as good as average linkage on all but PBMC.
    library
        ``(n_cells,)`` total counts. When given, every method reads
        :func:`per_count_scores` instead of ``scores``
        (``merge_depth_normalised=True`` of :class:`~scmixvae.module.CplMixVAEModule`).
        Measured in ``benchmarks/merging.md`` and ``benchmarks/accuracy.md``: better on
        PBMC, worse on Zeisel's 47 subclasses, so not the default.
    connectivity
        ``(K, K)``: :func:`neighbour_connectivity` of the cells. When given, the linkages
        read ``J / (1 + C / CONNECTIVITY_SCALE)`` instead of the divergence ``J``: two
        clusters whose cells are each other's neighbours (one continuum cut in two) are
        merged before two that differ as much but share no neighbours (two types). The
        default of :class:`~scmixvae.module.CplMixVAEModule` (``merge_connectivity``).
        The modularity merge does not read it.

    Returns
    -------
    ``(K,)``: for every category, the category that represents its group. A group is
    represented by the member whose decoder gives the group's cells the lowest total score.

    Examples
    --------
    >>> scores = np.array([[0.0, 1.0, 9.0], [1.0, 0.0, 8.0], [9.0, 9.0, 0.0]])
    >>> merge_categories(scores, np.array([0, 1, 2]), n_groups=2)
    array([0, 0, 2])
    >>> merge_categories(scores, np.array([0, 1, 2]), n_groups=2, method="average")
    array([0, 0, 2])

    Two clusters of deep cells and one of shallow cells: per cell, the shallow cluster is
    nearer to a deep one; per count, the two deep clusters are the nearer pair.

    >>> scores = np.array([[0.0, 40.0, 30.0], [40.0, 0.0, 31.0], [3.0, 3.0, 0.0]])
    >>> merge_categories(scores, np.array([0, 1, 2]), n_groups=2)
    array([0, 1, 0])
    >>> merge_categories(scores, np.array([0, 1, 2]), 2, library=np.array([1e4, 1e4, 1e2]))
    array([0, 0, 2])

    """
    n_categories = scores.shape[1]
    if not 1 <= n_groups <= n_categories:
        raise ValueError(f"n_groups must be between 1 and {n_categories}, got {n_groups}.")
    if method not in MERGE_METHODS:
        raise ValueError(f"Unknown merge method {method!r}; choose one of {MERGE_METHODS}.")
    if n_groups == n_categories:
        return np.arange(n_categories)
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
        tree = linkage(squareform(divergence, checks=False), method=method)
        # Cut by the order of the merges: a height cut can give fewer groups at ties.
        groups = cut_tree(tree, n_clusters=n_groups).ravel()
    totals = np.zeros((n_categories, n_categories))  # totals[j, i]: j's cells under i
    np.add.at(totals, labels, scores)
    representative = np.empty(n_categories, dtype=int)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        representative[members] = members[totals[np.ix_(members, members)].sum(0).argmin()]
    return representative
