"""A simulator with a known ground truth for both the types and the continuous state."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse


def _type_sizes(
    rng: np.random.Generator, n_cells: int, n_types: int, imbalance: float, min_cells: int
) -> np.ndarray:
    """Zipf-like type sizes ``∝ rank^-imbalance``, each >= ``min_cells``, summing to ``n_cells``."""
    weights = np.arange(1, n_types + 1, dtype=float) ** -imbalance
    rng.shuffle(weights)
    spare = n_cells - min_cells * n_types
    sizes = min_cells + np.floor(spare * weights / weights.sum()).astype(int)
    sizes[np.argmax(weights)] += n_cells - sizes.sum()
    return sizes


# Cells simulated per block (see ``count_rows`` in :func:`simulate`).
_SIMULATION_BLOCK = 20_000


def simulate(
    n_cells: int = 5000,
    n_types: int = 40,
    n_genes: int = 1000,
    n_classes: int | None = None,
    imbalance: float = 1.0,
    n_markers: int = 5,
    n_programme_genes: int = 40,
    frac_types_without_programme: float = 0.25,
    library_size: float = 3000.0,
    dispersion: float = 5.0,
    seed: int = 0,
) -> AnnData:
    """Simulate UMI counts of many imbalanced types on a hierarchy, with a type-dependent state.

    Generative story, in log-rate space, for cell ``i`` of type ``k`` in class ``g(k)``:

    ``log ρ_ij = b_j + class_{g(k), j} + type_{k, j} + 2.5 · marker_{k, j} + gain_k · t_i · w_j``

    - ``b_j ~ N(0, 1)``: gene baseline;
    - ``class`` and ``type`` effects: ``N(0, 1)`` and ``N(0, 0.6)`` on random 10 % / 5 % of genes,
      so types within a class are closer than types across classes;
    - ``marker``: ``n_markers`` genes per type up-regulated in that type only;
    - ``t_i ~ U(0, 1)``: the cell's activity, the continuous state;
    - ``w_j ~ U(0.5, 1.5)`` on the ``n_programme_genes`` programme (IEG-like) genes, 0 elsewhere;
      ``gain_k ~ U(1, 2.5)``, except a fraction ``frac_types_without_programme`` of types with
      gain 0. Programme genes are never markers.

    Counts are negative binomial with mean ``ℓ_i · softmax(log ρ_i)`` and inverse dispersion
    ``dispersion``; library sizes ``ℓ_i`` are log-normal around ``library_size``.

    Parameters
    ----------
    n_cells, n_types, n_genes
        Size of the data.
    n_classes
        Number of parent classes; default ``round(sqrt(n_types))``.
    imbalance
        Zipf exponent of the type sizes (0: equal sizes).
    n_markers
        Marker genes per type.
    n_programme_genes
        Genes driven by the state.
    frac_types_without_programme
        Fraction of types whose state drives nothing (gain 0).
    library_size
        Median total counts per cell.
    dispersion
        NB inverse dispersion ``θ``.
    seed
        Random seed; the same seed gives the same data.

    Returns
    -------
    AnnData with counts in ``X`` and ``layers["counts"]`` (sparse CSR) and ground truth:
    ``obs["type"]``, ``obs["class"]``, ``obs["activity"]`` (``t_i``), ``obs["gain"]``;
    ``var["programme"]`` (bool), ``var["programme_weight"]`` (``w_j``), ``var["marker_of"]``
    (the type a marker gene marks, else ``""``).

    Examples
    --------
    >>> adata = simulate(n_cells=500, n_types=8, n_genes=200)
    >>> adata.obs["type"].nunique()
    8

    """
    if n_types < 2 or n_cells < 5 * n_types:
        raise ValueError("simulate needs n_types >= 2 and at least 5 cells per type.")
    if n_genes < n_types * n_markers + n_programme_genes:
        raise ValueError("n_genes must exceed n_types * n_markers + n_programme_genes.")
    rng = np.random.default_rng(seed)
    n_classes = n_classes or max(1, round(np.sqrt(n_types)))
    type_class = np.sort(rng.integers(0, n_classes, size=n_types))

    def sparse_effect(n_rows: int, frac: float, scale: float) -> np.ndarray:
        mask = rng.random((n_rows, n_genes)) < frac
        return mask * rng.normal(0.0, scale, size=(n_rows, n_genes))

    baseline = rng.normal(0.0, 1.0, size=n_genes)
    genes = rng.permutation(n_genes)
    programme_genes = genes[:n_programme_genes]
    marker_genes = genes[n_programme_genes : n_programme_genes + n_types * n_markers].reshape(
        n_types, n_markers
    )
    class_effect = sparse_effect(n_classes, 0.10, 1.0)
    type_effect = sparse_effect(n_types, 0.05, 0.6) + class_effect[type_class]
    type_effect[:, programme_genes] = 0.0  # the programme responds only to the state
    marker_of = np.full(n_genes, "", dtype=object)
    for k in range(n_types):
        type_effect[:, marker_genes[k]] = 0.0
        type_effect[k, marker_genes[k]] = 2.5
        marker_of[marker_genes[k]] = f"T{k:02d}"
    weight = np.zeros(n_genes)
    weight[programme_genes] = rng.uniform(0.5, 1.5, size=n_programme_genes)
    gain = rng.uniform(1.0, 2.5, size=n_types)
    gain[rng.permutation(n_types)[: round(frac_types_without_programme * n_types)]] = 0.0

    sizes = _type_sizes(rng, n_cells, n_types, imbalance, min_cells=5)
    cell_type = rng.permutation(np.repeat(np.arange(n_types), sizes))
    activity = rng.uniform(0.0, 1.0, size=n_cells)
    library = library_size * rng.lognormal(0.0, 0.3, size=n_cells)

    def count_rows(rows: slice) -> sparse.csr_matrix:
        drive = (gain[cell_type[rows]] * activity[rows])[:, None] * weight
        log_rate = baseline + type_effect[cell_type[rows]] + drive
        proportions = np.exp(log_rate - log_rate.max(axis=1, keepdims=True))
        proportions /= proportions.sum(axis=1, keepdims=True)
        mean = library[rows, None] * proportions
        counts = rng.poisson(rng.gamma(dispersion, mean / dispersion)).astype(np.float32)
        return sparse.csr_matrix(counts)

    # Dense intermediates exist for one block of cells at a time, so a million cells fit in
    # memory as the sparse result; up to one block the draws are as in earlier versions.
    matrix = sparse.vstack(
        [
            count_rows(slice(start, start + _SIMULATION_BLOCK))
            for start in range(0, n_cells, _SIMULATION_BLOCK)
        ],
        format="csr",
    )

    type_names = np.array([f"T{k:02d}" for k in range(n_types)])
    obs = pd.DataFrame(
        {
            "type": pd.Categorical(type_names[cell_type], categories=type_names),
            "class": pd.Categorical([f"C{g}" for g in type_class[cell_type]]),
            "activity": activity,
            "gain": gain[cell_type],
        },
        index=pd.Index([f"cell_{i:05d}" for i in range(n_cells)]),
    )
    names = np.array([f"gene_{j:04d}" for j in range(n_genes)], dtype=object)
    names[programme_genes] = [f"IEG_{j:02d}" for j in range(n_programme_genes)]
    var = pd.DataFrame(
        {"programme": weight > 0, "programme_weight": weight, "marker_of": marker_of.astype(str)},
        index=pd.Index(names.astype(str)),
    )
    adata = AnnData(X=matrix, obs=obs, var=var)
    adata.layers["counts"] = matrix.copy()
    return adata
