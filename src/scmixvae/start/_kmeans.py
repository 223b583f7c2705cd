"""Fitting the taught start's clusterings: PCA and k-means, on the CPU with scikit-learn.

Arm 0 is taught the k-means clusters of the sampled cells. Every further arm is taught the
k-means of a bootstrap resample of the same cells (its own seed), its clusters matched to
arm 0's, so that two arms agree on a cell only where its cluster survives the resample. A
cluster cut out of a continuum, or held by a few cells, lands elsewhere in another arm's
clustering, and the arms' agreement then says so (``docs/method.md``).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from ..module import ClusterTeacher

#: Cells per chunk when the representation is computed for the fit.
_CHUNK = 4096


def _as_tensor(x: np.ndarray | sparse.spmatrix, device: torch.device) -> torch.Tensor:
    dense = x.toarray() if sparse.issparse(x) else np.asarray(x)
    return torch.as_tensor(np.ascontiguousarray(dense), dtype=torch.float32, device=device)


@torch.no_grad()
def fit_cluster_teacher(
    teacher: ClusterTeacher, x: np.ndarray | sparse.spmatrix, seed: int | None = 0
) -> ClusterTeacher:
    """Fit ``teacher``'s PCA and each arm's k-means (10 restarts) on cells × features ``x``.

    ``x`` is the data as the model sees them, dense or sparse; the representation the
    clustering reads (:meth:`~scmixvae.module.ClusterTeacher.represent`) is computed densely,
    in chunks of cells. For counts the Pearson residuals' gene fractions and clip are fitted
    first, on the same cells. Arm 0's centroids are the k-means of all of ``x``; arm ``a``'s
    the k-means (seed ``seed + a``) of a bootstrap resample of ``x``, numbered as arm 0's
    clusters they share most cells with (:func:`match_clusters`); a resample with fewer
    distinct cells than clusters gives its arm arm 0's centroids. Returns ``teacher``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (20, 5)), rng.normal(6, 1, (20, 5))]).astype("float32")
    >>> teacher = fit_cluster_teacher(ClusterTeacher(5, n_categories=2, n_components=2), x)
    >>> len(set(teacher(torch.from_numpy(x)).tolist()))
    2

    """
    n_components = min(teacher.components.shape[1], *x.shape)
    n_arms, n_categories = teacher.centroids.shape[:2]
    if x.shape[0] < n_categories:
        raise ValueError(
            f"k-means needs at least n_categories={n_categories} cells, got {x.shape[0]}."
        )
    if teacher.counts:
        gene_totals = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
        # The clip of Lause et al.: residuals beyond √n come from a handful of cells.
        teacher.set_residuals(gene_totals / max(gene_totals.sum(), 1.0), float(np.sqrt(x.shape[0])))
    device = teacher.mean.device
    represented = np.concatenate(
        [
            teacher.represent(_as_tensor(x[start : start + _CHUNK], device)).cpu().numpy()
            for start in range(0, x.shape[0], _CHUNK)
        ]
    )
    pca = PCA(n_components=n_components, random_state=seed)
    embedding = pca.fit_transform(represented)
    kmeans = KMeans(n_clusters=n_categories, n_init=10, random_state=seed).fit(embedding)
    teacher.set_clustering(pca.mean_, pca.components_.T, kmeans.cluster_centers_)
    if n_arms > 1:
        centroids = _arm_centroids(teacher, represented, n_arms, seed)
        teacher.set_clustering(pca.mean_, pca.components_.T, centroids[..., :n_components])
    return teacher


def _arm_centroids(
    teacher: ClusterTeacher, represented: np.ndarray, n_arms: int, seed: int | None
) -> np.ndarray:
    """Return ``(A, K, P)`` centroids: arm 0's as fitted, a bootstrap k-means per further arm."""
    # The teacher's own float32 embedding (its embed() of x), where the arms' labels are read.
    represented = torch.as_tensor(represented, device=teacher.mean.device)
    embedding = (represented - teacher.mean) @ teacher.components
    reference = teacher.nearest_centroid_to(embedding).cpu().numpy()
    embedding = embedding.cpu().numpy()
    n_clusters = teacher.centroids.shape[1]
    centroids = [teacher.centroids[0].cpu().numpy()]
    rng = np.random.default_rng(seed)
    for arm in range(1, n_arms):
        resample = rng.choice(len(embedding), len(embedding), replace=True)
        if len(np.unique(embedding[resample], axis=0)) < n_clusters:
            # Too few distinct cells for a clustering of their own: this arm shares arm 0's.
            centroids.append(centroids[0])
            continue
        kmeans = KMeans(n_clusters, n_init=10, random_state=(seed or 0) + arm)
        kmeans.fit(embedding[resample])
        order = match_clusters(reference, kmeans.predict(embedding), n_clusters)
        centroids.append(kmeans.cluster_centers_[order])
    return np.stack(centroids)


def match_clusters(reference: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """``order`` such that cluster ``order[k]`` of ``labels`` is matched to cluster ``k``.

    The one-to-one matching that keeps the most cells in matched clusters (the Hungarian
    assignment on the two clusterings' contingency table).

    Examples
    --------
    >>> match_clusters(np.array([0, 0, 1, 1, 2]), np.array([2, 2, 0, 0, 1]), 3)
    array([2, 0, 1])

    """
    contingency = np.zeros((n_clusters, n_clusters))
    np.add.at(contingency, (reference, labels), 1)
    rows, columns = linear_sum_assignment(-contingency)
    order = np.empty(n_clusters, dtype=int)
    order[rows] = columns
    return order
