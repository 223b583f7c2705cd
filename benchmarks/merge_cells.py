"""How many cells the over-clustering start's merge must score (issue 32).

The merge scores every sampled cell (up to 20,000) under every one of the 2K categories,
which is most of a default training's fixed cost (``start_cost.md``). This trains the
package's defaults up to the merge on data larger than the cap, scores all sampled cells
once, and then merges from the full evidence and from random subsets of ``--cells`` of them
(``--draws`` subsets each), as the package's merge would on fewer cells. Each merge is
scored against the true types on all scored cells (ACC), and against the full merge (ARI
between the two merged labellings). The training stops at the merge.

    python benchmarks/merge_cells.py --dataset large50s0 hard50s0 --seed 0 1 2
    python benchmarks/merge_cells.py --render
"""

from __future__ import annotations

import time
from unittest import mock

import numpy as np
import scvi
from common import QUIET, Results, dataset_seed_main, load, run_metadata
from sklearn.metrics import adjusted_rand_score

import scmixvae
import scmixvae.start._type_start as type_start
from scmixvae.start import merge_categories, neighbour_connectivity
from scmixvae.start._merge_step import balanced_cells, merge_evidence

RESULTS = Results("merge_cells")
CELLS = (2_000, 4_000, 6_000, 10_000)
#: Budgets of the balanced subsets: each cluster's cells up to a common cap.
BALANCED = (2_000, 3_000, 4_000)
DRAWS = 3


class _MergeReached(Exception):
    """Raised at the merge, to stop the training there."""


def merged_labels(evidence, cells: np.ndarray, n_types: int, graph_on_all: bool) -> np.ndarray:
    """Every scored cell's type after the package's merge judged on the rows ``cells``.

    ``graph_on_all``: the clusters' shared neighbours counted on every scored cell (no
    decoder needed), the decoders' divergence on ``cells`` only.
    """
    n_categories = evidence.scores.shape[1]
    clusters = evidence.clusters[cells]
    graph_cells = slice(None) if graph_on_all else cells
    connectivity = neighbour_connectivity(
        evidence.embedding[graph_cells], evidence.clusters[graph_cells], n_categories
    )
    groups = merge_categories(evidence.scores[cells], clusters, n_types, connectivity)
    return groups[evidence.clusters]


def run(dataset: str, seed: int) -> dict:
    adata, label_key = load(dataset)
    n_types = adata.obs[label_key].nunique()
    scvi.settings.seed = seed
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=n_types)
    reached = {}

    def score_and_stop(model, indices, judged, n_types):
        start = time.perf_counter()
        reached["evidence"] = merge_evidence(model, indices)
        reached["seconds"], reached["indices"] = time.perf_counter() - start, indices
        raise _MergeReached

    with mock.patch.object(type_start, "merge_over_clusters", score_and_stop):
        try:
            model.train(**QUIET)
        except _MergeReached:
            pass
    evidence, indices = reached["evidence"], reached["indices"]
    reference = adata.obs[label_key].astype(str).to_numpy()[indices]

    def acc(labels):
        return scmixvae.tl.matched_accuracy(labels.astype(str), reference)

    n_scored = len(indices)
    full = merged_labels(evidence, np.arange(n_scored), n_types, graph_on_all=True)
    row = {"dataset": dataset, "seed": seed, "cells": n_scored, "types": n_types}
    row |= {"start_acc": acc(evidence.clusters), "full_acc": acc(full)}
    row["scoring_s"] = round(reached["seconds"], 1)
    rng = np.random.default_rng(seed)
    for n_cells in CELLS:
        draws = [np.sort(rng.choice(n_scored, n_cells, replace=False)) for _ in range(DRAWS)]
        for graph_on_all, prefix in [(False, ""), (True, "graph_all_")]:
            labels = [merged_labels(evidence, cells, n_types, graph_on_all) for cells in draws]
            row[f"{prefix}acc_{n_cells}"] = [round(acc(merged), 4) for merged in labels]
            row[f"{prefix}ari_{n_cells}"] = [
                round(adjusted_rand_score(full, merged), 4) for merged in labels
            ]
    for n_cells in BALANCED:
        draws = [balanced_cells(evidence.clusters, n_cells, seed + draw) for draw in range(DRAWS)]
        labels = [merged_labels(evidence, cells, n_types, graph_on_all=True) for cells in draws]
        row[f"balanced_acc_{n_cells}"] = [round(acc(merged), 4) for merged in labels]
        row[f"balanced_ari_{n_cells}"] = [round(adjusted_rand_score(full, m), 4) for m in labels]
    return row | run_metadata()


def subset_table(rows, prefix: str, sizes: tuple[int, ...] = CELLS) -> list[str]:
    """Markdown rows of the subsets' merges (``prefix``: which subsets and neighbour graph)."""
    header = ["data", "seed", "cells scored", "start ACC", "merge ACC, all cells"]
    header += [f"ACC at {n:,} (ARI to all)" for n in sizes]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in rows.sort_values(["dataset", "seed"]).iterrows():
        cells = [r.dataset, str(r.seed), f"{r.cells:,}", f"{r.start_acc:.3f}", f"{r.full_acc:.3f}"]
        for n in sizes:
            acc = np.asarray(r[f"{prefix}acc_{n}"])
            cells.append(
                f"{acc.min():.3f} / {acc.mean():.3f} / {acc.max():.3f} "
                f"({np.mean(r[f'{prefix}ari_{n}']):.3f})"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render() -> None:
    rows = RESULTS.rows().drop_duplicates(["dataset", "seed"], keep="last")
    graph_all = rows.dropna(subset=[f"graph_all_acc_{CELLS[0]}"])
    lines = [
        "# How many cells the merge must score (issue 32)",
        "",
        "Generated by `python benchmarks/merge_cells.py --render` from",
        "`results/merge_cells.jsonl`. The package's defaults trained up to the merge",
        "(`CplMixVAE(adata, n_categories=K).train()`, over-clustering start, 2 arms), the",
        "sampled cells scored once; then the package's merge judged on all of them and on",
        f"{DRAWS} random subsets of each size. ACC against the true types of all scored cells",
        "after each merge (min / mean / max over the subsets); in brackets the mean ARI",
        "between the subset's merged labels and the full merge's. `start`: the 2K clusters.",
        "`large<T>s<S>`: `simulate(20,000 cells, T types, 2,000 genes, seed S)`; `hard`: also",
        "Zipf sizes of exponent 1.5 (28 to 8,503 cells a type), 2 markers a type, 1,500",
        "counts a cell.",
        "",
        "## The whole merge on the subset",
        "",
        "The decoders' divergence and the clusters' shared neighbours both counted on the",
        "subset's cells.",
        "",
        *subset_table(rows, ""),
        "",
        "## The divergence on the subset, the neighbours on every cell",
        "",
        "Only the decoders' divergence (the costly part) is judged on the subset; the",
        "clusters' shared neighbours in the teacher's PCA are counted on all scored cells, as",
        "the package does. A neighbour graph on fewer cells reaches further, so it counts",
        "more edges between adjacent clusters and merges them sooner. Until commit 1f0e8b9",
        "the package judged 6,000 random cells so.",
        "",
        *subset_table(graph_all, "graph_all_"),
        "",
        "## Balanced subsets",
        "",
        "As above (the neighbours on every cell), but the subset takes each teacher",
        "cluster's cells up to a common cap, the largest that fits the budget",
        "(`start._merge_step.balanced_cells`), so that a small cluster's divergence is",
        "judged on all its cells and a large one's on no more than it needs. At 3,000",
        "cells every draw stays within ARI 0.98 of the full merge, where 6,000 random cells",
        "fell to 0.93: the package judges 3,000 so chosen (`MAX_MERGE_CELLS`).",
        "",
        *subset_table(rows.dropna(subset=[f"balanced_acc_{BALANCED[0]}"]), "balanced_", BALANCED),
    ]
    RESULTS.write_table(lines, rows)


if __name__ == "__main__":
    dataset_seed_main(__doc__, run, render, RESULTS, datasets=["large50s0", "hard50s0"])
