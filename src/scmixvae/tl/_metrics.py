"""Clustering metrics against reference labels (ACC as in the paper's Table 1, ARI, NMI).

And the reliability of a per-cell confidence: how often a cell's type is right at each
confidence.
"""

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
    return float(matched_cells(labels, reference).mean())


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
    keep = _labelled_cells(adata, [key], reference_key, exclude)
    reference = adata.obs[reference_key].astype(str).to_numpy()
    labels = adata.obs[key].astype(str).to_numpy()
    labels, reference = labels[keep], reference[keep]
    return {
        "acc": matched_accuracy(labels, reference),
        "ari": adjusted_rand_index(labels, reference),
        "nmi": normalized_mutual_info(labels, reference),
        "n_clusters": int(np.unique(labels).size),
        "n_reference": int(np.unique(reference).size),
        "n_cells": int(keep.sum()),
    }


def _labelled_cells(adata: AnnData, columns: list[str], reference_key: str, exclude) -> np.ndarray:
    """Cells with a value in every column and a reference label that is not excluded."""
    for column in (*columns, reference_key):
        if column not in adata.obs:
            raise ValueError(f"{column!r} is not a column of adata.obs.")
    missing = adata.obs[[*columns, reference_key]].isna().any(axis=1).to_numpy()
    if missing.any():
        warnings.warn(
            f"{int(missing.sum())} of {adata.n_obs} cells have no label in "
            f"{' or '.join(map(repr, [reference_key, *columns]))}; they are left out of the "
            "scores.",
            UserWarning,
            stacklevel=3,
        )
    reference = adata.obs[reference_key].astype(str).to_numpy()
    keep = ~np.isin(reference, list(exclude)) & ~missing
    if not keep.any():
        raise ValueError("No cell is left to score: every reference label is missing or excluded.")
    return keep


def matched_cells(labels, reference) -> np.ndarray:
    """Whether each cell's cluster is matched to its reference label (ACC's matching).

    Examples
    --------
    >>> matched_cells(["0", "0", "1"], ["a", "b", "b"]).tolist()
    [True, False, True]

    """
    table = contingency(labels, reference)
    rows, cols = linear_sum_assignment(table.to_numpy(), maximize=True)
    match = dict(zip(table.index[rows], table.columns[cols], strict=True))
    matched = np.array([match.get(label) for label in np.asarray(labels)], dtype=object)
    return matched == np.asarray(reference, dtype=object)


def calibration(
    adata: AnnData,
    reference_key: str,
    key: str = "cplmix",
    *,
    n_bins: int = 10,
    exclude: list[str] | tuple[str, ...] = (),
) -> pd.DataFrame:
    """How often a cell's type is right at each confidence: the reliability diagram's bins.

    A cell's type (``obs[key + "_type"]``) is right when the matching of ACC
    (:func:`matched_accuracy`) maps it to the cell's reference label. Cells are binned by
    their confidence (``obs[key + "_confidence"]``, written by
    :meth:`~scmixvae.CplMixVAE.annotate`) into ``n_bins`` equal-width bins of ``[0, 1]``.
    A confidence that can be read as a probability has ``accuracy ≈ confidence`` in every
    bin; the expected calibration error is ``Σ n_cells · |accuracy − confidence| / Σ n_cells``.

    Parameters
    ----------
    adata
        AnnData annotated by the model, with the reference labels in ``obs``.
    reference_key
        Column with the reference labels.
    key
        The prefix :meth:`~scmixvae.CplMixVAE.annotate` wrote with (its ``key_added``).
    n_bins
        Number of confidence bins.
    exclude
        Reference labels whose cells are left out. Cells with a missing value are always
        left out, with a warning saying how many.

    Returns
    -------
    One row per bin that holds cells: ``low`` and ``high`` (the bin's edges), ``n_cells``,
    ``confidence`` (their mean confidence) and ``accuracy`` (the share whose type is right).

    Examples
    --------
    >>> import anndata, numpy as np
    >>> ad = anndata.AnnData(np.zeros((4, 1)))
    >>> ad.obs["cplmix_type"], ad.obs["truth"] = ["0", "0", "1", "1"], ["a", "b", "b", "b"]
    >>> ad.obs["cplmix_confidence"] = [0.95, 0.45, 0.95, 0.95]
    >>> calibration(ad, "truth", n_bins=2)[["n_cells", "accuracy"]].to_numpy().tolist()
    [[1.0, 0.0], [3.0, 1.0]]

    """
    if not isinstance(n_bins, int | np.integer) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}.")
    columns = [f"{key}_type", f"{key}_confidence"]
    keep = _labelled_cells(adata, columns, reference_key, exclude)
    confidence = adata.obs[columns[1]].to_numpy(dtype=float)[keep]
    if ((confidence < 0) | (confidence > 1)).any():
        raise ValueError(f"{columns[1]!r} holds values outside [0, 1]; it is not a confidence.")
    right = matched_cells(
        adata.obs[columns[0]].astype(str).to_numpy()[keep],
        adata.obs[reference_key].astype(str).to_numpy()[keep],
    )
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    table = pd.DataFrame({"bin": bins, "confidence": confidence, "accuracy": right.astype(float)})
    grouped = table.groupby("bin")
    result = grouped.mean().assign(n_cells=grouped.size())
    result.insert(0, "low", edges[result.index])
    result.insert(1, "high", edges[result.index + 1])
    return result.reset_index(drop=True)[["low", "high", "n_cells", "confidence", "accuracy"]]


def expected_calibration_error(bins: pd.DataFrame) -> float:
    """``Σ n_cells · |accuracy − confidence| / Σ n_cells`` over :func:`calibration`'s bins."""
    gaps = (bins["accuracy"] - bins["confidence"]).abs()
    return float((bins["n_cells"] * gaps).sum() / bins["n_cells"].sum())
