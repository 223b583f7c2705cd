"""Fitting the taught start's clustering: PCA and k-means, on the CPU with scikit-learn."""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
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
    """Fit ``teacher``'s PCA and k-means (10 restarts) on cells × features ``x``; return it.

    ``x`` is the data as the model sees them, dense or sparse; the representation the
    clustering reads (:meth:`~scmixvae.module.ClusterTeacher.represent`) is computed densely,
    in chunks of cells. For counts the Pearson residuals' gene fractions and clip are fitted
    first, on the same cells.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (20, 5)), rng.normal(6, 1, (20, 5))]).astype("float32")
    >>> teacher = fit_cluster_teacher(ClusterTeacher(5, n_categories=2, n_components=2), x)
    >>> len(set(teacher(torch.from_numpy(x)).tolist()))
    2

    """
    n_components = min(teacher.components.shape[1], *x.shape)
    n_categories = teacher.centroids.shape[0]
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
    return teacher
