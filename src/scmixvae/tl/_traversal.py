"""State traversals: decode a type while stepping its state, and rank the genes that follow it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

#: Values of ``state_range`` in :func:`traversal`.
STATE_RANGES = ("prior", "cells")

# Pseudo-count, in decoded counts per 10,000, for log fold changes along a traversal.
_LOG_OFFSET = 0.1


def _as_list(values, name: str) -> list:
    if isinstance(values, str | int | np.integer):
        return [values]
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty.")
    return values


def _step_values(
    center: np.ndarray, spread: np.ndarray | None, cell_states: np.ndarray | None, q: np.ndarray
) -> np.ndarray:
    """State values at quantiles ``q``: of ``N(center, spread²)`` or of the cells' states."""
    if cell_states is None:
        return center + spread * norm.ppf(q)[:, None]
    return np.quantile(cell_states, q, axis=0)


def traversal(
    model,
    types: str | Iterable[str] | None = None,
    *,
    dimensions: int | Iterable[int] | None = None,
    genes: Iterable[str] | None = None,
    n_steps: int = 11,
    quantile_range: tuple[float, float] = (0.05, 0.95),
    state_range: str = "cells",
    arm: int = 0,
) -> pd.DataFrame:
    """Decode each type while one state dimension steps through its range (the paper's Fig. 4).

    For type ``c`` and dimension ``d``, ``s_d`` takes ``n_steps`` values at evenly spaced
    quantiles of its range (that of the type's cells, or of its prior ``p(s | c)``), every
    other dimension is held at its centre, and the decoder ``p(x | c, s)`` gives the
    expression of every gene (docs/method.md, "One arm").

    Parameters
    ----------
    model
        A trained :class:`~scmixvae.CplMixVAE`.
    types
        Type names (as in ``obs["cplmix_type"]``); ``None`` for every type assigned to at
        least one training cell (a category no cell falls in has a prior but no meaning).
    dimensions
        State dimensions to step; ``None`` for all.
    genes
        Genes to return; ``None`` for all. Matched exactly against the training genes
        (``model.training_genes_``).
    n_steps
        Steps per traversal (at least 2).
    quantile_range
        Lowest and highest quantile, within ``(0, 1)``.
    state_range
        ``"cells"`` (default): quantiles of the states inferred for the training cells of
        that type, other dimensions at their median (the type must have cells).
        ``"prior"``: quantiles of the type's prior ``p(s_d | c)``, other dimensions at its
        mean, as in the paper. The prior reaches states no cell has, where the decoder
        extrapolates: on the simulator it made marker genes vary 3x more along the state
        (``benchmarks/traversal.md``), hence the default.
    arm
        The arm whose prior, states and decoder are used.

    Returns
    -------
    A tidy DataFrame, one row per (type, dimension, step, gene), with columns ``type``,
    ``dimension``, ``step`` (0 … ``n_steps`` − 1), ``quantile``, ``state`` (the value of
    ``s_d``), ``gene``, ``expression`` (decoded mean per 10,000 counts for count likelihoods,
    see :meth:`~scmixvae.CplMixVAE.get_decoded_expression`) and ``normalized_expression``:
    ``expression`` divided by the gene's maximum over the returned table, so every gene
    lies in [0, 1] and types stay comparable.

    Examples
    --------
    >>> table = scmixvae.tl.traversal(model, types=["0", "3"], n_steps=7)  # doctest: +SKIP
    >>> fos = table.query("gene == 'Fos'")  # doctest: +SKIP
    >>> fos.pivot(index="step", columns="type", values="expression")  # doctest: +SKIP

    """
    module = model.module
    if state_range not in STATE_RANGES:
        raise ValueError(f"Unknown state_range {state_range!r}; choose one of {STATE_RANGES}.")
    if not isinstance(n_steps, int | np.integer) or n_steps < 2:
        raise ValueError(f"n_steps must be an integer >= 2, got {n_steps!r}.")
    low, high = quantile_range
    if not 0.0 < low < high < 1.0:
        raise ValueError(f"quantile_range must satisfy 0 < low < high < 1, got {quantile_range}.")
    if not model.is_trained:
        raise RuntimeError("The model is not trained; call model.train() first.")
    cell_types = cell_states = None
    if types is None or state_range == "cells":
        cell_types = model.get_cell_types().reset_index(drop=True)
        cell_states = model.get_state_representation(arm=arm)
    if types is None:
        types = list(cell_types.cat.categories)  # the types assigned to training cells
    types = [str(t) for t in _as_list(types, "types")]
    for name in types:
        model.get_state_prior(name, arm=arm)  # an unknown or pruned type is refused
    dims = range(module.n_states) if dimensions is None else _as_list(dimensions, "dimensions")
    bad = [d for d in dims if not (isinstance(d, int | np.integer) and 0 <= d < module.n_states)]
    if bad:
        raise ValueError(f"dimensions must be in [0, {module.n_states}), got {bad}.")
    var_names = pd.Index(model.training_genes_)
    if genes is None:
        gene_index = np.arange(len(var_names))
    else:
        genes = _as_list(genes, "genes")
        gene_index = var_names.get_indexer(genes)
        if (gene_index < 0).any():
            missing = [g for g, i in zip(genes, gene_index, strict=True) if i < 0]
            raise ValueError(f"Genes not in the model's var_names: {missing[:10]}.")

    quantiles = np.linspace(low, high, n_steps)
    blocks = []
    for name in types:
        if state_range == "prior":
            center, spread = model.get_state_prior(name, arm=arm)
            own_states = None
        else:
            own_states = cell_states[(cell_types == name).to_numpy()]
            if len(own_states) == 0:
                raise ValueError(
                    f"Type {name!r} has no cells, so state_range='cells' has no range for it; "
                    "use state_range='prior' or leave the type out."
                )
            center, spread = np.median(own_states, axis=0), None
        steps = _step_values(center, spread, own_states, quantiles)
        for d in dims:
            states = np.repeat(center[None, :], n_steps, axis=0)
            states[:, d] = steps[:, d]
            expression = model.get_decoded_expression(name, states, arm=arm)[:, gene_index]
            n_genes = len(gene_index)
            blocks.append(
                pd.DataFrame(
                    {
                        "type": name,
                        "dimension": int(d),
                        "step": np.repeat(np.arange(n_steps), n_genes),
                        "quantile": np.repeat(quantiles, n_genes),
                        "state": np.repeat(states[:, d], n_genes),
                        "gene": np.tile(var_names[gene_index], n_steps),
                        "expression": expression.reshape(-1),
                    }
                )
            )
    table = pd.concat(blocks, ignore_index=True)
    table["type"] = pd.Categorical(table["type"], categories=types)
    table["gene"] = pd.Categorical(table["gene"], categories=var_names[gene_index])
    peak = table.groupby("gene", observed=True)["expression"].transform("max")
    table["normalized_expression"] = table["expression"] / peak.where(peak > 0, 1.0)
    return table


def state_gene_scores(traversal_table: pd.DataFrame) -> pd.DataFrame:
    """Rank, per type and state dimension, the genes whose expression follows the state.

    For each (type, dimension, gene) of a :func:`traversal` table:

    - ``spearman``: Spearman correlation of the decoded expression with the step, the
      direction and monotonicity of the trend (0 for a gene that does not change);
    - ``log2_fold_change``: ``log2`` of the expression at the last step over the first
      (with a pseudo-count of 0.1 per 10,000 counts), the size of the change;
    - ``log2_range``: the same for the highest over the lowest step, for non-monotone genes;
    - ``score``: ``|spearman| · |log2_fold_change|``, large for strong monotone trends.

    Rows are sorted by type, dimension and descending score.

    Parameters
    ----------
    traversal_table
        The output of :func:`traversal` (any subset of its rows, with at least 2 steps each).

    Returns
    -------
    DataFrame with columns ``type``, ``dimension``, ``gene``, ``spearman``,
    ``log2_fold_change``, ``log2_range``, ``score``, ``mean_expression``.

    Examples
    --------
    >>> table = scmixvae.tl.traversal(model, types="0")  # doctest: +SKIP
    >>> scmixvae.tl.state_gene_scores(table).head(10)  # doctest: +SKIP

    """
    required = {"type", "dimension", "step", "gene", "expression"}
    missing = required - set(traversal_table.columns)
    if missing:
        raise ValueError(
            f"The table lacks columns {sorted(missing)}; pass the output of tl.traversal."
        )
    rows = []
    for (name, dim), block in traversal_table.groupby(["type", "dimension"], observed=True):
        wide = block.pivot_table(
            index="step", columns="gene", values="expression", observed=True
        ).sort_index()
        if len(wide) < 2:
            raise ValueError(f"Type {name!r}, dimension {dim}: a trend needs at least 2 steps.")
        values = wide.to_numpy()
        log_values = np.log2(values + _LOG_OFFSET)
        rows.append(
            pd.DataFrame(
                {
                    "type": name,
                    "dimension": dim,
                    "gene": wide.columns.astype(str),
                    "spearman": _spearman_with_steps(values),
                    "log2_fold_change": log_values[-1] - log_values[0],
                    "log2_range": log_values.max(0) - log_values.min(0),
                    "mean_expression": values.mean(0),
                }
            )
        )
    scores = pd.concat(rows, ignore_index=True)
    scores["score"] = scores["spearman"].abs() * scores["log2_fold_change"].abs()
    scores = scores.sort_values(["type", "dimension", "score"], ascending=[True, True, False])
    columns = ["type", "dimension", "gene", "spearman", "log2_fold_change", "log2_range"]
    return scores[[*columns, "score", "mean_expression"]].reset_index(drop=True)


def _spearman_with_steps(values: np.ndarray) -> np.ndarray:
    """Spearman correlation of each column with the row order; 0 for a constant column."""
    ranks = rankdata(values, axis=0)
    ranks -= ranks.mean(axis=0)
    steps = np.arange(len(values)) - (len(values) - 1) / 2
    norms = np.sqrt((ranks**2).sum(axis=0) * (steps**2).sum())
    return np.divide(steps @ ranks, norms, out=np.zeros(values.shape[1]), where=norms > 0)
