"""Issue 28 research: does the over-clustering start's merge tree say how many types there are?

The defaults, from ``n_categories`` = 2 × the true number of types, are trained up to the
merge (half of a default training). There the merge's evidence (every sampled cell scored
under every one of the 4 × K_true categories) gives the tree the merge cuts:
average linkage on the geodesic of the decoders' Jeffreys divergence, discounted between
neighbouring clusters (``scmixvae.start.merge_categories``). For every number of groups
``g`` in ``[2, K_max]`` the row records the height at which the tree goes from ``g`` to
``g − 1`` groups and the ACC of the cells' groups at ``g``; the table reads off two rules:
the ``g`` before the largest rise in height (``h_g / h_{g+1}``) over ``[2, K_max]`` and over
``[3, K_max]``.

    python benchmarks/merge_tree.py --dataset sim10s0 sim30s0 sim40 --seed 0 1 2
    python benchmarks/merge_tree.py --render
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scvi
from common import (
    QUIET,
    dataset_seed_main,
    load,
    machine_line,
    results_path,
    run_metadata,
    table_path,
)
from lightning.pytorch.callbacks import Callback
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import squareform

import scmixvae
from scmixvae.model._training import default_max_epochs
from scmixvae.start import (
    CONNECTIVITY_SCALE,
    decoder_divergence,
    geodesic_divergence,
    neighbour_connectivity,
)
from scmixvae.start._merge_step import merge_evidence
from scmixvae.start._type_start import MERGE_FRACTION

RESULTS = results_path("merge_tree.jsonl")
#: Further label levels scored beside the dataset's own.
OTHER_LEVELS = {"zeisel47": "class"}


def hungarian_accuracy(labels: np.ndarray, reference: np.ndarray) -> float:
    """Share of cells whose group is matched to their reference label (one-to-one)."""
    table = pd.crosstab(labels, reference).to_numpy()
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(labels))


class TreeAtMerge(Callback):
    """At the start of the merge epoch, before the merge, keep the merge tree; then stop."""

    def __init__(self, model, merge_epoch: int):
        self.model, self.merge_epoch, self.tree = model, merge_epoch, None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch < self.merge_epoch or self.tree is not None:
            return
        cells = self.model._sampled_cells()
        evidence = merge_evidence(self.model, cells)
        n_slots = evidence.scores.shape[1]
        connectivity = neighbour_connectivity(evidence.embedding, evidence.clusters, n_slots)
        divergence = decoder_divergence(evidence.scores, evidence.clusters)
        divergence = divergence / (1.0 + connectivity / CONNECTIVITY_SCALE)
        condensed = squareform(geodesic_divergence(divergence), checks=False)
        self.tree = (linkage(condensed, "average"), evidence.clusters, cells)
        trainer.should_stop = True


def run(dataset: str, seed: int) -> dict:
    adata, key = load(dataset)
    k_true = adata.obs[key].nunique()
    k_max = 2 * k_true
    scvi.settings.seed = seed
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=k_max)
    max_epochs = default_max_epochs(adata.n_obs)
    recorder = TreeAtMerge(model, round(MERGE_FRACTION * max_epochs))
    model.train(max_epochs=max_epochs, callbacks=[recorder], check_state_collapse=False, **QUIET)
    tree, clusters, cells = recorder.tree
    n_slots = len(tree) + 1
    groups = range(2, k_max + 1)
    cut = cut_tree(tree, n_clusters=list(groups))
    levels = {key: adata.obs[key].astype(str).to_numpy()[cells]}
    if dataset in OTHER_LEVELS:
        other = OTHER_LEVELS[dataset]
        levels[other] = adata.obs[other].astype(str).to_numpy()[cells]
    return {
        "dataset": dataset,
        "seed": seed,
        "k_true": int(k_true),
        "k_max": k_max,
        "n_slots": n_slots,
        # heights[g - 2]: the merge from g to g - 1 groups
        "heights": [float(tree[n_slots - g, 2]) for g in groups],
        "acc": {
            level: [hungarian_accuracy(cut[clusters, i], labels) for i in range(len(groups))]
            for level, labels in levels.items()
        },
        **run_metadata(),
    }


def largest_rise(heights: list[float], lowest: int) -> int:
    """The number of groups before the largest relative rise in merge height, ``g >= lowest``.

    ``heights[g - 2]`` is the merge from ``g`` groups; the rise at ``g`` is
    ``h_g / h_{g + 1}``.

    Examples
    --------
    >>> largest_rise([9.0, 8.0, 7.0, 1.0, 0.9], lowest=2)
    5
    """
    h = np.asarray(heights)
    rise = h[:-1] / np.maximum(h[1:], 1e-12)  # rise[g - 2] for g in [2, K_max - 1]
    return int(np.argmax(rise[lowest - 2 :]) + lowest)


def render() -> None:
    rows = pd.read_json(RESULTS, lines=True)
    latest = rows.groupby(["dataset", "seed"]).tail(1)
    lines = [
        "# The merge tree and the number of types (issue 28 research)",
        "",
        "Generated by `python benchmarks/merge_tree.py --render` from "
        "`results/merge_tree.jsonl`.",
        (__doc__ or "").split("\n\n")[1].replace("\n", " "),
        "",
        "`ACC at g`: of the tree cut at `g` groups (Hungarian, so groups beyond the labels count "
        "as wrong). `rule ≥ 2` / `rule ≥ 3`: the `g` the rule chooses, and its ACC. "
        "`within 10 %`: whether the `rule ≥ 3` choice is within ±10 % of the true K.",
        "",
        "| dataset | labels | seed | true K | K max | h at K+1 → K | h at K → K−1 | rule ≥ 2 | "
        "rule ≥ 3 | within 10 % | ACC at K max | ACC at true K | ACC at rule ≥ 3 | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in latest.itertuples():
        k = row.k_true
        heights = row.heights
        rule2, rule3 = largest_rise(heights, 2), largest_rise(heights, 3)
        for level, accuracy in row.acc.items():
            n_labels = k if level == next(iter(row.acc)) else None
            at_k = f"{accuracy[k - 2]:.3f}" if n_labels else "—"
            within = "yes" if abs(rule3 - k) <= 0.1 * k else "no"
            lines.append(
                f"| {row.dataset} | {level} | {row.seed} | {k} | {row.k_max} | "
                f"{heights[k - 1]:.1f} | {heights[k - 2]:.1f} | {rule2} ({accuracy[rule2 - 2]:.3f}) | "
                f"{rule3} ({accuracy[rule3 - 2]:.3f}) | {within if n_labels else '—'} | "
                f"{accuracy[-1]:.3f} | {at_k} | {accuracy[rule3 - 2]:.3f} | {row.commit} |"
            )
    lines += ["", machine_line(latest)]
    table_path("merge_tree.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    dataset_seed_main(
        __doc__, run, render, RESULTS, datasets=("sim10s0", "sim30s0", "sim40", "zeisel47", "pbmc")
    )
