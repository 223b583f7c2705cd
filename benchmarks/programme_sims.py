"""Simulators harder than the shipped one, for the question: does the state find the programme?

``scmixvae.datasets.simulate`` draws equal-ish types on two levels, strong gains (1 to 2.5),
an activity in [0, 1] and little depth variation; the state recovers the activity there
(``traversal.md``). These simulators, written for issue 33 and tuned to nothing, make the
state's task harder in the ways real data are:

- types on three levels (class, subclass, type), so a type's nearest neighbours differ from
  it by a few genes only;
- Zipf type sizes, so some types have a hundred cells or fewer;
- a per-type gain drawn in [0.3, 2], and 0 for about a third of the types;
- an activity uniform in [-1, 1], so the programme goes down as well as up;
- a programme of ``n_programme`` genes (15, 30 or 60) among 1,500;
- library sizes log-normal with σ = 0.5 (about 2.7× between the 16th and 84th percentile)
  and gene-wise dispersions.

The AnnData carries the ground truth under the names of the shipped simulator
(``obs["type"]``, ``obs["activity"]``, ``obs["gain"]``, ``var["programme"]``,
``var["marker_of"]``), so ``state_measures`` scores it unchanged.

Names: ``prog<P>s<seed>``, e.g. ``prog30s1``: 6,000 cells, 12 types, a ``P``-gene programme.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

N_GENES = 1500
LEVELS = (2, 2, 3)  # classes, subclasses per class, types per subclass: 12 types
# Spread of each level's effect on the log rate, and the share of genes it touches.
LEVEL_EFFECTS = ((1.0, 0.08), (0.7, 0.05), (0.5, 0.03))
N_MARKERS = 3
MARKER_EFFECT = 2.0


def simulate_programme(
    n_programme: int, seed: int, n_cells: int = 6000, zipf: float = 1.0
) -> AnnData:
    """Counts of 12 hierarchical types with a per-type programme; ground truth in obs / var.

    Examples
    --------
    >>> adata = simulate_programme(n_programme=30, seed=0, n_cells=600)
    >>> adata.obs["type"].nunique(), int(adata.var["programme"].sum())
    (12, 30)

    """
    rng = np.random.default_rng(seed)
    n_types = int(np.prod(LEVELS))
    # Each type's path down the hierarchy: (class, subclass, type) indices.
    paths = np.array(np.unravel_index(np.arange(n_types), LEVELS)).T
    log_rate = np.tile(rng.normal(0.0, 1.0, N_GENES), (n_types, 1))
    for level, (scale, share) in enumerate(LEVEL_EFFECTS):
        n_nodes = int(np.prod(LEVELS[: level + 1]))
        effect = (rng.random((n_nodes, N_GENES)) < share) * rng.normal(
            0.0, scale, (n_nodes, N_GENES)
        )
        node = np.ravel_multi_index(paths[:, : level + 1].T, LEVELS[: level + 1])
        log_rate += effect[node]
    genes = rng.permutation(N_GENES)
    programme = genes[:n_programme]
    markers = genes[n_programme : n_programme + n_types * N_MARKERS].reshape(n_types, N_MARKERS)
    log_rate[:, programme] = log_rate[0, programme]  # the programme answers to the state only
    marker_of = np.full(N_GENES, "", dtype=object)
    for k in range(n_types):
        log_rate[:, markers[k]] = log_rate[0, markers[k]]
        log_rate[k, markers[k]] += MARKER_EFFECT
        marker_of[markers[k]] = f"T{k:02d}"
    weight = np.zeros(N_GENES)
    weight[programme] = rng.uniform(0.5, 1.5, n_programme)
    gain = rng.uniform(0.3, 2.0, n_types)
    gain[rng.permutation(n_types)[: n_types // 3]] = 0.0

    sizes = 1.0 / np.arange(1, n_types + 1) ** zipf
    sizes = rng.permutation(np.maximum(np.round(sizes / sizes.sum() * n_cells), 60).astype(int))
    cell_type = rng.permutation(np.repeat(np.arange(n_types), sizes))
    n_obs = len(cell_type)
    activity = rng.uniform(-1.0, 1.0, n_obs)
    library = 2500.0 * rng.lognormal(0.0, 0.5, n_obs)
    dispersion = np.exp(rng.normal(np.log(5.0), 0.5, N_GENES))

    cell_log_rate = log_rate[cell_type] + (gain[cell_type] * activity)[:, None] * weight
    proportions = np.exp(cell_log_rate - cell_log_rate.max(1, keepdims=True))
    proportions /= proportions.sum(1, keepdims=True)
    mean = library[:, None] * proportions
    counts = rng.poisson(rng.gamma(dispersion, mean / dispersion)).astype(np.float32)
    matrix = sparse.csr_matrix(counts)

    type_names = np.array([f"T{k:02d}" for k in range(n_types)])
    obs = pd.DataFrame(
        {
            "type": pd.Categorical(type_names[cell_type], categories=type_names),
            "activity": activity,
            "gain": gain[cell_type],
            "log_depth": np.log(np.asarray(matrix.sum(1)).ravel()),
        },
        index=[f"cell_{i:05d}" for i in range(n_obs)],
    )
    names = np.array([f"gene_{j:04d}" for j in range(N_GENES)], dtype=object)
    names[programme] = [f"PROG_{j:02d}" for j in range(n_programme)]
    var = pd.DataFrame(
        {"programme": weight > 0, "programme_weight": weight, "marker_of": marker_of.astype(str)},
        index=names.astype(str),
    )
    adata = AnnData(X=matrix, obs=obs, var=var)
    adata.layers["counts"] = matrix.copy()
    return adata


def load_programme(name: str) -> AnnData | None:
    """The simulator named ``prog<P>s<seed>``; ``None`` for any other name."""
    match = re.fullmatch(r"prog(\d+)s(\d+)", name)
    if match is None:
        return None
    return simulate_programme(n_programme=int(match.group(1)), seed=int(match.group(2)))
