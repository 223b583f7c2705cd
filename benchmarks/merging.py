"""How to merge over-clustered categories into types (issue 3; ``initialization="overcluster"``).

Trains the first half of the over-clustering start by itself: k-means into 2K clusters on
the teacher's PCA, the model taught those clusters for half the default epochs (what
``initialization="overcluster"`` does before its merge; ``--clusters-per-type`` replaces
the 2, ``--arms`` the default 2 arms). Then merges the clusters into K several ways and
scores each merge against the true types:

- ``decoder_<linkage>``: :func:`merge_variants.merge_variant` with that SciPy linkage
  on the Jeffreys divergence between the categories' decoders, per cell;
- ``decoder_geodesic``: the same function's ``"geodesic"``: average linkage on the cheapest
  chains of steps through that divergence;
- ``graph_<merge>``: each ``decoder_<merge>`` with the divergence discounted by the
  clusters' shared neighbours (``connectivity=``, :func:`scmixvae.start.neighbour_connectivity`);
  ``graph_geodesic`` is the package's merge (:func:`scmixvae.start.merge_categories`);
- ``per_count_<merge>``: each ``decoder_<merge>`` on the cells' scores per count
  (``library=``, :func:`merge_variants.per_count_scores`);
- ``decoder_modularity``: the same function's ``"modularity"``: greedy modularity on how
  many cells of each cluster the decoders give to each other one;
- ``pca_<linkage>``: the same linkage on Euclidean distances between the clusters' PCA
  centroids, no model: what the decoders add over the clustering's own geometry;
- ``start``: the 2K clusters themselves; ``ceiling``: every cluster given its majority type,
  the best any merge of these clusters can reach (it may use fewer than K types).

    python benchmarks/merging.py --dataset sim40 --seed 0
    python benchmarks/merging.py --dataset zeisel7 --seed 0 1 2 --arms 3
    python benchmarks/merging.py --dataset sim40 --seed 0 --clusters-per-type 4
    python benchmarks/merging.py --render
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scvi
from common import QUIET, Results, dataset_seed_main, load, prose, run_metadata
from merge_variants import MERGE_METHODS, candidate_merge, merge_variant, nearest_candidates
from scipy.cluster.hierarchy import fcluster, linkage

import scmixvae
from scmixvae.model._training import default_max_epochs
from scmixvae.start import merge_categories, neighbour_connectivity
from scmixvae.start._merge_step import merge_evidence
from scmixvae.start._type_start import CLUSTERS_PER_TYPE, MERGE_FRACTION

RESULTS = Results("merging")
LINKAGES = ("average", "complete", "single")
DECODER_MERGES = MERGE_METHODS
#: The variants of the decoder merges with a table each: the column prefix, the merges
#: measured with it, the title and the description.
VARIANT_TABLES = [
    (
        "graph",
        (*LINKAGES, "geodesic"),
        "The divergence discounted by shared neighbours",
        [
            "The linkage merges on the decoders' divergence as it is (`decoder_*`, the table",
            "above) and divided by `1 + C / 0.01`, `C` the clusters' share of each other's 15",
            "nearest neighbours in the teacher's PCA (`graph_*`, `merge_connectivity=True`),",
            "on the rows that measured both (the same trained models).",
        ],
    ),
    (
        "per_count",
        DECODER_MERGES,
        "Per cell or per count",
        [
            "The same merges, on every cell's scores as they are (`decoder_*`, the table above)",
            "and divided by the cell's depth relative to the median (`per_count_*`,",
            "`merge_depth_normalised=True`, not the default), on the rows that measured both",
            "(the same trained models).",
        ],
    ),
]


def pca_merge(model, clusters: np.ndarray, k: int, method: str) -> np.ndarray:
    """Each cell's group when the clusters' PCA centroids are merged by ``method``."""
    centroids = model.module.teacher.centroids[0].cpu().numpy()  # arm 0: the merged clusters
    used = np.unique(clusters)
    groups = fcluster(linkage(centroids[used], method), k, "maxclust")
    group_of = np.zeros(len(centroids), dtype=int)
    group_of[used] = groups
    return group_of[clusters]


#: Cells per cluster the package's merge is judged on, in ``cap<n>_geodesic`` (issue 32).
CELL_CAPS = (16, 32, 64)
#: Categories each cluster's cells are scored under, in ``nearest<m>_geodesic`` (issue 32).
NEAREST_CANDIDATES = (8, 16)
#: Issue 32's cheaper merges against the package's (``graph_geodesic``): the columns, the
#: section title and its description.
CHEAPER_MERGE_TABLES = [
    (
        [f"cap{cap}_geodesic" for cap in CELL_CAPS],
        "The merge judged on fewer cells per cluster (issue 32)",
        [
            "`graph_geodesic` (the package's merge, on every cell) against the same merge",
            "scoring at most 16, 32 or 64 random cells of each cluster (`cap<n>_geodesic`),",
            "from the same trained model: the merge's scoring is most of the start's cost.",
        ],
    ),
    (
        [f"nearest{m}_geodesic" for m in NEAREST_CANDIDATES],
        "The merge scoring each cluster under its nearest categories only (issue 32)",
        [
            "`graph_geodesic` against the same merge when each cluster's cells are scored",
            "under only the 8 or 16 categories whose k-means centroids are nearest its own",
            "(`merge_variants.candidate_merge`): pairs neither of which scored the other are",
            "no step of any chain. Scoring is proportional to the categories scored.",
        ],
    ),
]


def capped_merge(scores, clusters, embedding, k: int, cap: int, seed: int) -> np.ndarray:
    """The package's merge judged on at most ``cap`` random cells of each cluster; every
    cell's group."""
    rng = np.random.default_rng(seed)
    kept = np.concatenate(
        [
            rng.permutation(np.flatnonzero(clusters == cluster))[:cap]
            for cluster in np.unique(clusters)
        ]
    )
    connectivity = neighbour_connectivity(embedding[kept], clusters[kept], scores.shape[1])
    return merge_categories(scores[kept], clusters[kept], k, connectivity)[clusters]


def run(dataset: str, seed: int, arms: int = 2, clusters_per_type: int = CLUSTERS_PER_TYPE) -> dict:
    adata, label_key = load(dataset)
    k = adata.obs[label_key].nunique()
    reference = adata.obs[label_key].astype(str).to_numpy()
    scvi.settings.seed = seed
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    # The rows before the modularity merge were measured with the head on the bottleneck
    # (category_input="bottleneck"): results/merging_bottleneck_head.jsonl.
    model = scmixvae.CplMixVAE(
        adata,
        n_categories=min(clusters_per_type * k, adata.n_obs),
        initialization="kmeans",
        n_arms=arms,
    )
    epochs = round(MERGE_FRACTION * default_max_epochs(adata.n_obs))
    start = time.perf_counter()
    model.train(
        max_epochs=epochs, accelerator="cpu", plan_kwargs={"n_epochs_teacher": epochs}, **QUIET
    )
    scores, clusters, depths, embedding = merge_evidence(model, np.arange(adata.n_obs))
    connectivity = neighbour_connectivity(embedding, clusters, scores.shape[1])
    seconds = time.perf_counter() - start

    def acc(labels):
        return scmixvae.tl.matched_accuracy(np.asarray(labels).astype(str), reference)

    table = pd.crosstab(clusters, reference)
    majority = table.idxmax(axis=1).reindex(clusters).to_numpy()
    row = {"dataset": dataset, "seed": seed, "n_arms": arms, "clusters_per_type": clusters_per_type}
    row |= {"k": k, "start": acc(clusters)}
    row["ceiling"] = acc(majority)
    for method in DECODER_MERGES:
        row[f"decoder_{method}"] = acc(merge_variant(scores, clusters, k, method)[clusters])
        per_count = merge_variant(scores, clusters, k, method, library=depths)
        row[f"per_count_{method}"] = acc(per_count[clusters])
        graph = merge_variant(scores, clusters, k, method, connectivity=connectivity)
        row[f"graph_{method}"] = acc(graph[clusters])
    for method in LINKAGES:
        row[f"pca_{method}"] = acc(pca_merge(model, clusters, k, method))
    for cap in CELL_CAPS:
        row[f"cap{cap}_geodesic"] = acc(capped_merge(scores, clusters, embedding, k, cap, seed))
    centroids = model.module.teacher.centroids[0].cpu().numpy()  # arm 0: the merged clusters
    for m in NEAREST_CANDIDATES:
        candidates = nearest_candidates(centroids, min(m, len(centroids)))
        merged = candidate_merge(scores, clusters, k, candidates, connectivity)
        row[f"nearest{m}_geodesic"] = acc(merged[clusters])
    return row | {"seconds": round(seconds, 1), **run_metadata()}


def render() -> None:
    rows = RESULTS.rows()
    # Rows from before --arms / --clusters-per-type: the defaults, 2 arms and 2K clusters.
    for setting, default in [("n_arms", 2), ("clusters_per_type", CLUSTERS_PER_TYPE)]:
        rows[setting] = rows.get(setting, pd.Series(default, rows.index))
        rows[setting] = rows[setting].fillna(default).astype(int)
    rows = rows.drop_duplicates(["dataset", "seed", "n_arms", "clusters_per_type"], keep="last")
    other_arms = rows["n_arms"] != 2
    other_clusters = rows["clusters_per_type"] != CLUSTERS_PER_TYPE
    rows.loc[other_arms, "dataset"] += rows.loc[other_arms, "n_arms"].map(", {} arm(s)".format)
    rows.loc[other_clusters, "dataset"] += rows.loc[other_clusters, "clusters_per_type"].map(
        ", {}K clusters".format
    )
    defaults = ~(other_arms | other_clusters)
    columns = ["start", "ceiling"]
    columns += [f"decoder_{method}" for method in DECODER_MERGES]
    columns += [f"pca_{method}" for method in LINKAGES]
    lines = [
        "# Merging over-clustered categories (issue 3)",
        "",
        "Generated by `python benchmarks/merging.py --render` from `results/merging.jsonl`.",
        "k-means into 2K clusters, the model taught them for half the default epochs (the",
        'first phase of `initialization="overcluster"`), then the 2K clusters merged into K.',
        *prose(
            """
            ACC against the true types, mean ± s.d. over seeds. `decoder_<linkage>`: that
            linkage on the Jeffreys divergence between the clusters' decoders
            (`merge_variants.merge_variant`);
            `decoder_geodesic`, the package's merge: average linkage on the cheapest chains of
            steps through it (step costs squared, `scmixvae.start.geodesic_divergence`);
            `decoder_modularity`: greedy modularity on how many cells of each cluster the
            decoders give to each other cluster; `pca_*`: the linkage on the clusters' PCA
            centroids, no model; `start`: the 2K clusters; `ceiling`: each cluster given its
            majority type. `sim<T>s<S>`: more simulations (T types, data seed S), one model seed.
            2 arms and 2K clusters (the defaults) unless the dataset says otherwise (`--arms`,
            `--clusters-per-type`); the means below are over the rows with the defaults.
            Category head on the encoder's hidden layer (the default); the rows measured with
            the head on the bottleneck, before the modularity merge, are in
            `results/merging_bottleneck_head.jsonl`. `commit`: the package's commit the rows were
            made at; before commit 81b80b5 the clusters were scored with the batch-norm running
            averages of training, since then with statistics recomputed first, as the merge does.
            Since commit 591c5c2 the k-means reads the counts' Pearson residuals (the default
            `clustering_input`); rows before it read the log-normalised counts: the rows with
            other arms or cluster counts here, and the earlier default rows, which later ones
            replace in this table but which stay in the results file.
            """
        ),
        "",
        "| dataset | seeds | commit | " + " | ".join(columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    lines += table_rows(rows, defaults, columns)
    for kind, methods, title, description in VARIANT_TABLES:
        if f"{kind}_geodesic" not in rows:
            continue
        measured = rows.dropna(subset=[f"{kind}_geodesic"])
        columns = ["ceiling"]
        columns += [f"{prefix}_{method}" for method in methods for prefix in ("decoder", kind)]
        lines += ["", f"## {title}", "", *description, ""]
        lines += table_rows(measured, defaults.loc[measured.index], columns, header=True)
    for columns, title, description in CHEAPER_MERGE_TABLES:
        if columns[0] not in rows:
            continue
        measured = rows.dropna(subset=columns)
        lines += ["", f"## {title}", "", *description, ""]
        columns = ["graph_geodesic", *columns]
        lines += table_rows(measured, defaults.loc[measured.index], columns, header=True)
    RESULTS.write_table(lines, rows)


def table_rows(rows, defaults, columns, header=False) -> list[str]:
    """A markdown table: mean ± s.d. of ``columns`` per dataset, then means of datasets."""
    summary = rows.groupby("dataset")[columns].agg(["mean", "std"])
    counts = rows.groupby("dataset").seed.nunique()
    commits = rows.groupby("dataset").commit.agg(lambda c: ",".join(sorted(c.dropna().unique())))
    lines = []
    if header:
        lines += [
            "| dataset | seeds | commit | " + " | ".join(columns) + " |",
            "|---|---|---|" + "---|" * len(columns),
        ]
    for dataset, values in summary.iterrows():
        spread = np.nan_to_num(values.xs("std", level=1))  # one seed: no s.d.
        means = values.xs("mean", level=1)
        cells = [f"{means[c]:.3f} ± {s:.3f}" for c, s in zip(columns, spread, strict=True)]
        lines.append(
            f"| {dataset} | {counts[dataset]} | {commits[dataset]} | " + " | ".join(cells) + " |"
        )
    per_dataset = rows[defaults].groupby("dataset")[columns].mean()
    simulated = per_dataset.index.str.startswith("sim")
    for label, subset in [
        ("mean of datasets", per_dataset),
        ("mean of the real datasets", per_dataset[~simulated]),
        ("mean of the simulations", per_dataset[simulated]),
    ]:
        mean = subset.mean()
        lines.append(f"| {label} | | | " + " | ".join(f"{mean[c]:.3f}" for c in columns) + " |")
    return lines


if __name__ == "__main__":
    options = {"arms": 2, "clusters_per_type": CLUSTERS_PER_TYPE}
    dataset_seed_main(__doc__, run, render, RESULTS, options=options)
