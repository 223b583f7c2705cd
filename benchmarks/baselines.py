"""The pipelines users run today, as benchmark baselines: PCA or scVI, a kNN graph, Leiden.

Each ``*_neighbors`` returns an AnnData with the 15-neighbour graph of its representation;
:func:`leiden` clusters it at a resolution and :func:`leiden_at_k` bisects the resolution
until Leiden returns the wanted number of clusters.
"""

from __future__ import annotations

import anndata
import numpy as np
import scanpy as sc
import scvi
from common import QUIET


def pca_graph(work: anndata.AnnData, seed: int) -> anndata.AnnData:
    """50 PCs of ``work.X`` and their 15-neighbour graph, in place; returns ``work``."""
    sc.pp.pca(work, n_comps=50, random_state=seed)
    # Exact neighbours (sklearn): the baselines' graphs are the same on every machine.
    sc.pp.neighbors(work, use_rep="X_pca", transformer="sklearn", random_state=seed)
    return work


def pca_neighbors(adata, seed):
    """The graph on a PCA of the log of depth-normalised counts (10^4 per cell)."""
    work = anndata.AnnData(adata.layers["counts"].copy())
    sc.pp.normalize_total(work, target_sum=1e4)
    sc.pp.log1p(work)
    return pca_graph(work, seed)


def pearson_neighbors(adata, seed):
    """The same graph on a PCA of the counts' analytic Pearson residuals (scanpy's, θ = 100)."""
    work = anndata.AnnData(adata.layers["counts"].copy())
    sc.experimental.pp.normalize_pearson_residuals(work, theta=100)
    return pca_graph(work, seed)


_SCVI_CACHE: dict = {}


def scvi_neighbors(adata, seed, dataset, max_epochs=None):
    """scVI's latent and its kNN graph; ``max_epochs=None``: scvi-tools' default."""
    key = (dataset, seed, max_epochs)
    if key not in _SCVI_CACHE:
        scvi.settings.seed = seed
        data = anndata.AnnData(adata.layers["counts"].copy())
        scvi.model.SCVI.setup_anndata(data)
        model = scvi.model.SCVI(data)
        model.train(accelerator="cpu", max_epochs=max_epochs, **QUIET)
        data.obsm["X_scVI"] = model.get_latent_representation()
        sc.pp.neighbors(data, use_rep="X_scVI", transformer="sklearn", random_state=seed)
        _SCVI_CACHE[key] = data
    return _SCVI_CACHE[key]


def leiden(work, resolution, seed):
    sc.tl.leiden(
        work,
        resolution=resolution,
        random_state=seed,
        key_added="leiden",
        flavor="igraph",
        n_iterations=2,
        directed=False,
    )
    return work.obs["leiden"].astype(str).to_numpy()


def leiden_at_k(work, k, seed):
    """Bisect the resolution until Leiden returns k clusters (or the closest count seen)."""
    low, high, best = 0.01, 10.0, None
    for _ in range(25):
        mid = np.sqrt(low * high)
        labels = leiden(work, mid, seed)
        n = np.unique(labels).size
        if best is None or abs(n - k) < abs(best[1] - k):
            best = (labels, n, mid)
        if n == k:
            break
        low, high = (mid, high) if n < k else (low, mid)
    return best[0], {"resolution": round(best[2], 4)}
