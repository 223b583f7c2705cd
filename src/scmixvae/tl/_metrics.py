"""Clustering metrics against reference labels (ACC as in the paper's Table 1, ARI, NMI)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def _codes(labels) -> np.ndarray:
    return pd.factorize(np.asarray(labels, dtype=object))[0]


def _check_pair(labels, reference) -> None:
    if len(labels) != len(reference):
        raise ValueError(
            f"labels ({len(labels)}) and reference ({len(reference)}) differ in length."
        )
    if len(labels) == 0:
        raise ValueError("labels are empty.")


def contingency(labels, reference) -> pd.DataFrame:
    """Cells counted by (cluster, reference label); rows clusters, columns reference labels.

    Examples
    --------
    >>> contingency(["a", "a", "b"], ["x", "y", "y"]).to_numpy().tolist()
    [[1, 1], [0, 1]]

    """
    _check_pair(labels, reference)
    return pd.crosstab(
        pd.Series(np.asarray(labels), name="cluster"),
        pd.Series(np.asarray(reference), name="reference"),
    )


def matched_accuracy(labels, reference) -> float:
    """Accuracy after the best one-to-one matching of clusters to reference labels.

    The matching maximises the matched cells (Hungarian algorithm) and is rectangular when
    the numbers differ: cells of unmatched clusters, or of unmatched reference labels, count
    as errors.

    Examples
    --------
    >>> matched_accuracy([1, 1, 0, 0], ["b", "b", "a", "a"])
    1.0
    >>> matched_accuracy([0, 0, 0, 0], ["a", "a", "b", "b"])
    0.5

    """
    table = contingency(labels, reference).to_numpy()
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def adjusted_rand_index(labels, reference) -> float:
    """Compute the adjusted Rand index (chance-corrected pair agreement).

    Examples
    --------
    >>> adjusted_rand_index([0, 0, 1, 1], ["a", "a", "b", "b"])
    1.0

    """
    _check_pair(labels, reference)
    return float(adjusted_rand_score(_codes(reference), _codes(labels)))


def normalized_mutual_info(labels, reference) -> float:
    """Normalised mutual information (arithmetic normalisation).

    Examples
    --------
    >>> normalized_mutual_info([0, 0, 1, 1], ["a", "a", "b", "b"])
    1.0

    """
    _check_pair(labels, reference)
    return float(normalized_mutual_info_score(_codes(reference), _codes(labels)))


def evaluate(
    adata: AnnData,
    key: str,
    reference_key: str,
    exclude: list[str] | tuple[str, ...] = (),
) -> dict[str, float]:
    """Score the clustering in ``adata.obs[key]`` against ``adata.obs[reference_key]``.

    Parameters
    ----------
    adata
        AnnData holding both label columns.
    key
        Column with the clustering to score (e.g. ``"cplmix_type"``).
    reference_key
        Column with the reference labels.
    exclude
        Reference labels whose cells are left out (e.g. ``["(none)"]``). Cells with a
        missing label in either column are always left out, with a warning saying how many.

    Returns
    -------
    ``{"acc", "ari", "nmi", "n_clusters", "n_reference", "n_cells"}``; ``n_clusters`` counts
    the clusters that occur among the scored cells.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> ad = anndata.AnnData(np.zeros((4, 1)))
    >>> ad.obs["pred"], ad.obs["truth"] = ["0", "0", "1", "1"], ["a", "a", "b", "b"]
    >>> evaluate(ad, "pred", "truth")["acc"]
    1.0

    """
    for column in (key, reference_key):
        if column not in adata.obs:
            raise ValueError(f"{column!r} is not a column of adata.obs.")
    missing = (adata.obs[reference_key].isna() | adata.obs[key].isna()).to_numpy()
    if missing.any():
        warnings.warn(
            f"{int(missing.sum())} of {adata.n_obs} cells have no label in {reference_key!r} or "
            f"{key!r}; they are left out of the scores.",
            UserWarning,
            stacklevel=2,
        )
    reference = adata.obs[reference_key].astype(str).to_numpy()
    labels = adata.obs[key].astype(str).to_numpy()
    keep = ~np.isin(reference, list(exclude)) & ~missing
    if not keep.any():
        raise ValueError("No cell is left to score: every reference label is missing or excluded.")
    labels, reference = labels[keep], reference[keep]
    return {
        "acc": matched_accuracy(labels, reference),
        "ari": adjusted_rand_index(labels, reference),
        "nmi": normalized_mutual_info(labels, reference),
        "n_clusters": int(np.unique(labels).size),
        "n_reference": int(np.unique(reference).size),
        "n_cells": int(keep.sum()),
    }
