"""PBMC 68k reduced (10x), shipped inside scanpy, with its integer counts recovered."""

from __future__ import annotations

import numpy as np
import scanpy as sc
from anndata import AnnData
from scipy import sparse


def pbmc68k() -> AnnData:
    """700 PBMCs × 765 genes from 10x, with integer UMI counts and 10 bulk labels.

    scanpy ships this subset with ``raw.X`` log-normalised to 10,000 counts per cell; the
    counts are recovered as ``rint(expm1(raw.X) · n_counts / 1e4)`` (exact up to the
    float32 rounding of the stored values). Needs no download.

    Returns
    -------
    AnnData with counts in ``X`` and ``layers["counts"]`` (sparse CSR, float32), the cell
    metadata of scanpy's copy in ``obs`` (``bulk_labels``: 10 types, 240 down to 8 cells) and
    its ``X_umap`` / ``X_pca`` in ``obsm``.

    Examples
    --------
    >>> adata = pbmc68k()
    >>> adata.shape
    (700, 765)

    """
    reduced = sc.datasets.pbmc68k_reduced()
    log_normalised = sparse.csr_matrix(reduced.raw.X)
    size = reduced.obs["n_counts"].to_numpy(dtype=np.float64) / 1e4
    scale = sparse.diags(size) @ log_normalised.expm1()
    counts = sparse.csr_matrix(scale, dtype=np.float32)
    counts.data = np.rint(counts.data)
    counts.eliminate_zeros()
    adata = AnnData(
        X=counts,
        obs=reduced.obs.copy(),
        var=reduced.raw.var.copy(),
        obsm={key: reduced.obsm[key].copy() for key in ("X_pca", "X_umap")},
    )
    adata.layers["counts"] = counts.copy()
    adata.uns["bulk_labels_colors"] = list(reduced.uns["bulk_labels_colors"])
    return adata
