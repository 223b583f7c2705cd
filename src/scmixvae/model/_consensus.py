"""Arm consensus per category and the choice of K from a pruning curve (docs: method)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def category_consensus(arm_codes: np.ndarray, n_categories: int) -> np.ndarray:
    """Consensus ``κ_k = M_kk / max(row_k, col_k)`` per category, averaged over arm pairs.

    ``M`` is the ``K × K`` count matrix of two arms' argmax labels. A category that neither
    arm uses gets ``0``. Every cell counts: nothing is dropped (the research code dropped cells).

    Parameters
    ----------
    arm_codes
        Labels ``(n_cells, A)`` with ``A >= 2``, values in ``[0, n_categories)``.
    n_categories
        ``K``.

    Returns
    -------
    ``(K,)`` consensus in ``[0, 1]``.

    Examples
    --------
    >>> codes = np.array([[0, 0], [0, 0], [1, 1], [1, 0], [2, 2]])
    >>> category_consensus(codes, 4)
    array([0.66666667, 0.5       , 1.        , 0.        ])

    """
    n_arms = arm_codes.shape[1]
    if n_arms < 2:
        raise ValueError("Consensus needs at least 2 arms.")
    total = np.zeros(n_categories)
    pairs = [(a, b) for a in range(n_arms) for b in range(a + 1, n_arms)]
    for a, b in pairs:
        counts = np.zeros((n_categories, n_categories))
        np.add.at(counts, (arm_codes[:, a], arm_codes[:, b]), 1)
        larger = np.maximum(counts.sum(1), counts.sum(0))
        total += np.divide(np.diag(counts), larger, out=np.zeros(n_categories), where=larger > 0)
    return total / len(pairs)


def select_round(rounds: pd.DataFrame, threshold: float) -> int:
    """Index of the pruning round to keep: the one after the largest consensus jump.

    Among the rounds whose mean consensus reaches ``threshold``, take the one that follows
    the largest rise in mean consensus from its previous round (the paper's reference
    rule; docs/method.md, "Choosing K"). If no round reaches ``threshold``, take the round
    with the highest mean consensus. Ties go to the larger ``K``.

    Parameters
    ----------
    rounds
        One row per round, in pruning order, with column ``consensus``.
    threshold
        Consensus a round must reach to be eligible.

    Examples
    --------
    >>> curve = pd.DataFrame({"consensus": [0.80, 0.90, 0.96, 0.97, 0.99]})
    >>> select_round(curve, threshold=0.95)
    2

    """
    consensus = rounds["consensus"].to_numpy(dtype=float)
    eligible = np.flatnonzero(consensus >= threshold)
    if eligible.size == 0:
        return int(np.argmax(consensus))
    jumps = np.diff(consensus, prepend=np.nan)[eligible]
    if np.all(np.isnan(jumps)):
        return int(eligible[0])
    return int(eligible[np.nanargmax(jumps)])
