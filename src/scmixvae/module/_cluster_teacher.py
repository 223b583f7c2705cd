"""The taught start's labels: nearest k-means centroid in a fixed PCA space (DEC-style).

Deep clustering methods (DEC, VaDE, scDeepCluster) start the categorical part from a
clustering instead of from random weights. Here the clustering is k-means on a PCA of the
counts' Pearson residuals (of the data as given, for non-count data), fitted by
:func:`scmixvae.start.fit_cluster_teacher`. It is stored as a projection plus centroids, so
that the label of any cell (or any augmented copy of it) is computed from ``x`` itself, on
the device, inside a minibatch; no per-cell table has to travel with the data loader.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._expression import pearson_residuals


class ClusterTeacher(nn.Module):
    """Nearest-centroid labels in a fixed PCA space: ``g(argmin_k ‖(r(x) − μ) W − m_{a,k}‖)``.

    ``r`` is the representation the clustering reads: the counts' analytic Pearson residuals
    (:func:`~scmixvae._expression.pearson_residuals`, gene fractions and clip fitted by
    :func:`~scmixvae.start.fit_cluster_teacher`), or ``x`` itself for non-count data. The
    buffers start at zero and are set by :func:`scmixvae.start.fit_cluster_teacher`; they are
    saved with the module.
    Each arm ``a`` has its own centroids ``m_a`` in the one shared PCA, so that the arms can be
    taught different clusterings of the same cells; centroid ``k`` of every arm is the same
    cluster (:func:`~scmixvae.start.fit_cluster_teacher` matches them), and ``g`` maps each
    centroid to the category it teaches: the identity until :meth:`assign_categories` merges
    centroids (the over-clustering start).

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
    n_arms
        Number of clusterings ``A``: one per arm of the module.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (20, 5)), rng.normal(6, 1, (20, 5))]).astype("float32")
    >>> from scmixvae.start import fit_cluster_teacher
    >>> teacher = fit_cluster_teacher(ClusterTeacher(5, n_categories=2, n_components=2), x, seed=0)
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
        n_arms: int = 1,
    ):
        super().__init__()
        self.counts = counts
        n_components = min(n_components, n_input)
        self.register_buffer("gene_fraction", torch.zeros(n_input))
        self.register_buffer("residual_clip", torch.zeros(()))
        self.register_buffer("mean", torch.zeros(n_input))
        self.register_buffer("components", torch.zeros(n_input, n_components))
        self.register_buffer("centroids", torch.zeros(n_arms, n_categories, n_components))
        self.register_buffer("category", torch.arange(n_categories))

    def set_residuals(self, gene_fraction: np.ndarray, residual_clip: float) -> None:
        """Store the Pearson residuals' gene fractions ``(D,)`` and clip, fitted on counts."""
        self.gene_fraction.copy_(self._tensor(gene_fraction))
        self.residual_clip.fill_(residual_clip)

    def set_clustering(
        self, mean: np.ndarray, components: np.ndarray, centroids: np.ndarray
    ) -> None:
        """Store a fitted clustering: PCA ``mean`` and ``components``, and ``centroids``.

        Shapes ``(D,)``, ``(D, p)`` and ``(A, K, p)`` (or ``(K, p)``, the same centroids
        for every arm) for ``p`` up to ``P`` (the rest is 0).
        """
        n_components = components.shape[1]
        self.mean.copy_(self._tensor(mean))
        self.components.zero_()
        self.components[:, :n_components] = self._tensor(components)
        self.centroids.zero_()
        self.centroids[..., :n_components] = self._tensor(centroids)

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
        """Index of the nearest centroid for every row of ``x``, as :meth:`nearest_centroid_to`."""
        return self.nearest_centroid_to(self.embed(x))

    def nearest_centroid_to(self, embedding: torch.Tensor) -> torch.Tensor:
        """Index of the nearest centroid for every row of ``embedding`` (from :meth:`embed`).

        ``(A, B, P)`` embeddings, one per arm, are labelled by each arm's centroids; ``(B, P)``
        embeddings by arm 0's, the clustering the over-clustering start merges.
        """
        centroids = self.centroids if embedding.dim() == 3 else self.centroids[0]
        return torch.cdist(embedding, centroids).argmin(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Category taught for every row of ``x`` (``(A, B, D)`` or ``(B, D)``)."""
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
        Nearest by arm 0's centroids: centroid ``k`` is one cluster in every arm.

        Examples
        --------
        >>> teacher = ClusterTeacher(2, n_categories=3, n_components=2)
        >>> _ = teacher.centroids.copy_(torch.tensor([[[0.0, 0.0], [1.0, 0.0], [9.0, 0.0]]]))
        >>> teacher.retarget(torch.tensor([False, True, True]))
        >>> teacher.category.tolist()
        [1, 1, 2]

        """
        taught = active[self.category]
        if taught.all():
            return
        distances = torch.cdist(self.centroids[0], self.centroids[0][taught])
        nearest = distances.argmin(-1)
        self.category[~taught] = self.category[taught][nearest[~taught]]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Models saved before the arms had their own clusterings hold (K, P) centroids:
        # every arm was taught those.
        key = prefix + "centroids"
        if key in state_dict and state_dict[key].dim() == 2:
            state_dict[key] = state_dict[key].expand_as(self.centroids).clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
