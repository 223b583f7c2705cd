"""Issue 28 research: does the merge tree of the types say how many types there are?

The defaults are trained from ``n_categories`` = 2 × the true number of types. Two trees are
built, each by the merge's own linkage (average linkage on the geodesic of the decoders'
Jeffreys divergence, discounted between neighbouring clusters:
``scmixvae.start.merge_categories``):

- ``merge``: at the over-clustering start's merge (half of the training), over its
  4 × K_true k-means clusters, from the evidence the merge reads;
- ``trained``: after training, over the model's K_max types, each cell labelled by the
  type whose decoder explains it best (types without cells left out).

For every number of groups ``g`` the row records the height at which the tree goes from
``g`` to ``g − 1`` groups and the ACC of the cells' groups at ``g``. The table reads off the
rule "the ``g`` before the largest rise in height ``h_g / h_{g+1}``", over every ``g`` with at
least three merges below it (the first merges, between near-identical clusters, have heights
near 0 and ratios that mean nothing).

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
    results_path,
    run_metadata,
    write_table,
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


def merge_tree(evidence, labels: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The merge's linkage over the categories ``columns``; ``labels`` index ``columns``."""
    scores = evidence.scores[:, columns]
    connectivity = neighbour_connectivity(evidence.embedding, labels, len(columns))
    divergence = decoder_divergence(scores, labels) / (1.0 + connectivity / CONNECTIVITY_SCALE)
    return linkage(squareform(geodesic_divergence(divergence), checks=False), "average")


def tree_row(tree: np.ndarray, labels: np.ndarray, levels: dict, k_max: int) -> dict:
    """Heights and ACC of the cuts of ``tree`` at ``g`` groups, for ``g`` in ``[2, K_max]``."""
    n_leaves = len(tree) + 1
    groups = list(range(2, min(k_max, n_leaves) + 1))
    cut = cut_tree(tree, n_clusters=groups)
    return {
        "n_leaves": n_leaves,
        # heights[g - 2]: the merge from g to g - 1 groups
        "heights": [float(tree[n_leaves - g, 2]) for g in groups],
        "acc": {
            level: [hungarian_accuracy(cut[labels, i], reference) for i in range(len(groups))]
            for level, reference in levels.items()
        },
    }


class TreeAtMerge(Callback):
    """At the start of the merge epoch, before the merge, keep the merge's evidence."""

    def __init__(self, model, merge_epoch: int):
        self.model, self.merge_epoch, self.evidence = model, merge_epoch, None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch >= self.merge_epoch and self.evidence is None:
            self.evidence = merge_evidence(self.model, self.model._sampled_cells())


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
    cells = model._sampled_cells()
    levels = {key: adata.obs[key].astype(str).to_numpy()[cells]}
    if dataset in OTHER_LEVELS:
        other = OTHER_LEVELS[dataset]
        levels[other] = adata.obs[other].astype(str).to_numpy()[cells]
    at_merge = recorder.evidence
    n_slots = at_merge.scores.shape[1]
    trained = merge_evidence(model, cells)
    active = np.flatnonzero(model.module.active.cpu().numpy())
    best = active[trained.scores[:, active].argmin(1)]
    used = np.unique(best)
    labels = np.searchsorted(used, best)
    return {
        "dataset": dataset,
        "seed": seed,
        "k_true": int(k_true),
        "k_max": k_max,
        "n_slots": n_slots,
        "merge": tree_row(
            merge_tree(at_merge, at_merge.clusters, np.arange(n_slots)),
            at_merge.clusters,
            levels,
            k_max,
        ),
        "trained": tree_row(merge_tree(trained, labels, used), labels, levels, k_max),
        **run_metadata(),
    }


def largest_rise(heights: list[float], below: int = 3) -> int:
    """The number of groups ``g`` before the largest rise in merge height ``h_g / h_{g+1}``.

    ``heights[g - 2]`` is the merge from ``g`` groups; only ``g`` with at least ``below``
    merges before them (from more groups) are considered.

    Examples
    --------
    >>> largest_rise([9.0, 8.0, 7.0, 1.0, 0.9, 0.5, 0.0])  # 4 → 3 costs 7 times 5 → 4
    4
    """
    h = np.asarray(heights)
    rise = h[:-1] / np.maximum(h[1:], 1e-12)  # rise[g - 2] for g in [2, len(h)]
    return int(np.argmax(rise[: len(rise) - below + 1]) + 2)


def render() -> None:
    rows = pd.read_json(RESULTS, lines=True)
    latest = rows.groupby(["dataset", "seed"]).tail(1)
    lines = [
        "# The merge tree and the number of types (issue 28 research)",
        "",
        "Generated by `python benchmarks/merge_tree.py --render` from `results/merge_tree.jsonl`.",
        *(__doc__ or "").split("\n\n")[1:4],
        "",
        "`rule`: the `g` the rule chooses, `±10 %`: whether it is within 10 % of the true K. "
        "ACC of the tree cut at `g` groups (Hungarian: groups beyond the labels count as "
        "wrong); `ACC (model)`: the trained model's own types (K max of them).",
        "",
        "| dataset | labels | seed | true K | K max | tree | h at K+1 → K | h at K → K−1 | rule "
        "| ±10 % | ACC at rule | ACC at true K | ACC at K max | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in latest.itertuples():
        k = row.k_true
        for tree in ("merge", "trained"):
            heights, accuracy = row._asdict()[tree]["heights"], row._asdict()[tree]["acc"]
            rule = largest_rise(heights)
            within = "yes" if abs(rule - k) <= 0.1 * k else "no"
            for index, (level, values) in enumerate(accuracy.items()):
                own = index == 0  # the dataset's own labels, K of them
                at_k = f"{values[k - 2]:.3f}" if own and k - 2 < len(values) else "—"
                lines.append(
                    f"| {row.dataset} | {level} | {row.seed} | {k} | {row.k_max} | {tree} | "
                    f"{heights[k - 1]:.1f} | {heights[k - 2]:.1f} | {rule} | "
                    f"{within if own else '—'} | {values[rule - 2]:.3f} | {at_k} | "
                    f"{values[-1]:.3f} | {row.commit} |"
                )
    write_table("merge_tree.md", lines, latest)


if __name__ == "__main__":
    dataset_seed_main(
        __doc__,
        run,
        render,
        RESULTS,
        datasets=("sim10s0", "sim30s0", "sim40", "zeisel47", "pbmc"),
    )
