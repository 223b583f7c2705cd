"""Warm start of the categorical posterior from a k-means clustering (DEC-style).

Deep clustering methods (DEC, VaDE, scDeepCluster) start the categorical part from a
clustering instead of from random weights. Here the clustering is k-means on a PCA of the
counts' Pearson residuals (of the data as given, for non-count data). It is
stored as a projection plus centroids, so that the label of any cell (or any augmented copy
of it) is computed from ``x`` itself, on the device, inside a minibatch; no per-cell table
has to travel with the data loader.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from torch import nn

from .._expression import pearson_residuals

#: Cells per chunk when the representation is computed for the fit.
_CHUNK = 4096


class ClusterTeacher(nn.Module):
    """Nearest-centroid labels in a fixed PCA space: ``g(argmin_k ‖(r(x) − μ) W − m_k‖)``.

    ``r`` is the representation the clustering reads: the counts' analytic Pearson residuals
    (:func:`~scmixvae._expression.pearson_residuals`, gene fractions and clip fitted by
    :meth:`fit`), or ``x`` itself for non-count data. The
    buffers start at zero and are set by :meth:`fit`; they are saved with the module.
    ``g`` maps each centroid to the category it teaches: the identity until
    :meth:`assign_categories` merges centroids (the over-clustering start).

    Parameters
    ----------
    n_input
        Features ``D`` of the data.
    n_categories
        Number of centroids ``K``.
    n_components
        PCA dimensions ``P`` (at most ``D``).
    counts
        Whether ``x`` are raw counts (clustered as Pearson residuals, which weigh genes by
        their variance beyond sampling noise rather than by their depth).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (20, 5)), rng.normal(6, 1, (20, 5))]).astype("float32")
    >>> teacher = ClusterTeacher(5, n_categories=2, n_components=2).fit(x, seed=0)
    >>> labels = teacher(torch.from_numpy(x)).numpy()
    >>> bool((labels[:20] == labels[0]).all() and (labels[20:] != labels[0]).all())
    True

    """

    def __init__(
        self,
        n_input: int,
        n_categories: int,
        n_components: int = 50,
        counts: bool = False,
    ):
        super().__init__()
        self.counts = counts
        n_components = min(n_components, n_input)
        self.register_buffer("gene_fraction", torch.zeros(n_input))
        self.register_buffer("residual_clip", torch.zeros(()))
        self.register_buffer("mean", torch.zeros(n_input))
        self.register_buffer("components", torch.zeros(n_input, n_components))
        self.register_buffer("centroids", torch.zeros(n_categories, n_components))
        self.register_buffer("category", torch.arange(n_categories))

    def fit(self, x: np.ndarray | sparse.spmatrix, seed: int = 0) -> ClusterTeacher:
        """Fit PCA and k-means (10 restarts) on cells × features ``x``; return ``self``.

        ``x`` is the data as the model sees them, dense or sparse; the representation the
        clustering reads is computed densely, in chunks of cells.
        """
        n_components = min(self.components.shape[1], *x.shape)
        n_categories = self.centroids.shape[0]
        if x.shape[0] < n_categories:
            raise ValueError(
                f"k-means needs at least n_categories={n_categories} cells, got {x.shape[0]}."
            )
        if self.counts:
            gene_totals = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
            self.gene_fraction.copy_(self._tensor(gene_totals / max(gene_totals.sum(), 1.0)))
            # The clip of Lause et al.: residuals beyond √n come from a handful of cells.
            self.residual_clip.fill_(float(np.sqrt(x.shape[0])))
        represented = np.concatenate(
            [
                self.represent(self._tensor(self._dense(x[start : start + _CHUNK]))).cpu().numpy()
                for start in range(0, x.shape[0], _CHUNK)
            ]
        )
        pca = PCA(n_components=n_components, random_state=seed)
        embedding = pca.fit_transform(represented)
        kmeans = KMeans(n_clusters=n_categories, n_init=10, random_state=seed).fit(embedding)
        self.mean.copy_(self._tensor(pca.mean_))
        self.components.zero_()
        self.components[:, :n_components] = self._tensor(pca.components_.T)
        self.centroids.zero_()
        self.centroids[:, :n_components] = self._tensor(kmeans.cluster_centers_)
        return self

    @staticmethod
    def _dense(x: np.ndarray | sparse.spmatrix) -> np.ndarray:
        return x.toarray() if sparse.issparse(x) else np.asarray(x)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        # scikit-learn can return arrays with negative strides, which torch refuses.
        return torch.as_tensor(
            np.ascontiguousarray(array), dtype=torch.float32, device=self.mean.device
        )

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``r(x)`` for every row of ``x``: the representation the clustering reads."""
        if self.counts:
            # The clip stays a tensor: reading it as a float would sync the device every step.
            return pearson_residuals(x, self.gene_fraction, self.residual_clip)
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """PCA coordinates ``(r(x) − μ) W`` of every row of ``x``, the space of the centroids."""
        return (self.represent(x) - self.mean) @ self.components

    def nearest_centroid(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest centroid for every row of ``x`` (any leading shape)."""
        return self.nearest_centroid_to(self.embed(x))

    def nearest_centroid_to(self, embedding: torch.Tensor) -> torch.Tensor:
        """Index of the nearest centroid for every row of ``embedding`` (from :meth:`embed`)."""
        centroids = self.centroids.expand(*embedding.shape[:-2], -1, -1)
        return torch.cdist(embedding, centroids).argmin(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Category taught for every row of ``x``: that of its nearest centroid."""
        return self.category[self.nearest_centroid(x)]

    def assign_categories(self, category: np.ndarray | torch.Tensor) -> None:
        """Make centroid ``k`` teach category ``category[k]`` (one entry per centroid)."""
        category = torch.as_tensor(np.asarray(category), device=self.category.device)
        if category.shape != self.category.shape:
            raise ValueError(
                f"Need one category per centroid ({self.category.numel()}), got shape "
                f"{tuple(category.shape)}."
            )
        self.category.copy_(category)

    def retarget(self, active: torch.Tensor) -> None:
        """Point centroids of inactive categories to the category of the nearest active one.

        ``active`` is the module's mask of categories; a pruned category is never taught.

        Examples
        --------
        >>> teacher = ClusterTeacher(2, n_categories=3, n_components=2)
        >>> _ = teacher.centroids.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0]]))
        >>> teacher.retarget(torch.tensor([False, True, True]))
        >>> teacher.category.tolist()
        [1, 1, 2]

        """
        taught = active[self.category]
        if taught.all():
            return
        distances = torch.cdist(self.centroids, self.centroids[taught])
        nearest = distances.argmin(-1)
        self.category[~taught] = self.category[taught][nearest[~taught]]
