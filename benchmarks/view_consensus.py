"""Issue 28 research: can the agreement of clusterings of different views choose K?

No model is trained: this asks whether the information is there before any arm learns it.
Each of A "arms" clusters the cells with its own k-means (10 restarts) into 2 × K_true
clusters, on the start's representation (PCA of the counts' Pearson residuals, 50
components), from its own view: ``seed``, the same cells with another k-means seed;
``bootstrap``, a bootstrap resample of the cells (all cells are then labelled by their
nearest centroid). Arms are matched to arm 0 (Hungarian on their contingency table). Then
the package's consensus pruning is replayed on the clusterings: each round computes every
cluster's consensus ``κ_k`` (``scmixvae.model._consensus.category_consensus``), drops the
lowest-consensus cluster in every arm (its cells go to their nearest remaining centroid),
until every cluster reaches 0.95; ``select_round`` then chooses the round, as ``prune()``
does.

    python benchmarks/view_consensus.py --dataset sim10s0 sim30s0 sim40 --seed 0 1 2
    python benchmarks/view_consensus.py --render
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from common import Results, dataset_seed_main, load, run_metadata
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

import scmixvae
from scmixvae._expression import pearson_residuals
from scmixvae.model._consensus import category_consensus, select_round
from scmixvae.start._kmeans import match_clusters

RESULTS = Results("view_consensus")


VIEWS = ("seed", "bootstrap")
ARMS = (2, 4)
THRESHOLD = 0.95


def residual_pca(adata) -> np.ndarray:
    """50 principal components of the counts' analytic Pearson residuals (the start's input)."""
    counts = adata.layers["counts"]
    x = torch.as_tensor(
        counts.toarray() if hasattr(counts, "toarray") else np.asarray(counts), dtype=torch.float32
    )
    totals = x.sum(0).double()
    residuals = pearson_residuals(x, (totals / totals.sum()).float(), torch.tensor(len(x) ** 0.5))
    return PCA(50, random_state=0).fit_transform(residuals.numpy())


def nearest(embedding: np.ndarray, centroids: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Each cell's nearest centroid among the ``alive`` ones (indices into all centroids)."""
    distances = ((embedding[:, None, :] - centroids[None, alive, :]) ** 2).sum(-1)
    return np.flatnonzero(alive)[distances.argmin(1)]


def arm_centroids(embedding, n_clusters, view, n_arms, seed) -> list[np.ndarray]:
    """Every arm's centroids, matched to arm 0's clusters."""
    rng = np.random.default_rng(seed)
    n = len(embedding)
    arms, labels = [], []
    for arm in range(n_arms):
        cells = rng.choice(n, n, replace=True) if view == "bootstrap" else np.arange(n)
        kmeans = KMeans(n_clusters, n_init=10, random_state=seed * 100 + arm)
        centroids = kmeans.fit(embedding[cells]).cluster_centers_
        own = nearest(embedding, centroids, np.ones(n_clusters, bool))
        if arm:
            order = match_clusters(labels[0], own, n_clusters)
            centroids, own = centroids[order], np.argsort(order)[own]
        arms.append(centroids)
        labels.append(own)
    return arms


def run(dataset: str, seed: int, view: str = "bootstrap", n_arms: int = 2) -> dict:
    adata, key = load(dataset)
    reference = adata.obs[key].astype(str).to_numpy()
    k_true = adata.obs[key].nunique()
    embedding = residual_pca(adata)
    arms = arm_centroids(embedding, 2 * k_true, view, n_arms, seed)
    alive = np.ones(2 * k_true, bool)
    rounds = []
    while True:
        labels = np.stack([nearest(embedding, centroids, alive) for centroids in arms], 1)
        kappa = category_consensus(labels, 2 * k_true)[alive]
        rounds.append(
            {
                "n_categories": int(alive.sum()),
                "consensus": float(kappa.mean()),
                "min_consensus": float(kappa.min()),
                "acc": scmixvae.tl.matched_accuracy(labels[:, 0].astype(str), reference),
            }
        )
        if kappa.min() >= THRESHOLD or alive.sum() <= 2:
            break
        alive[np.flatnonzero(alive)[kappa.argmin()]] = False
    curve = pd.DataFrame(rounds)
    chosen = curve.iloc[select_round(curve, THRESHOLD)]
    at_truth = curve.iloc[(curve.n_categories - k_true).abs().argmin()]
    return {
        "dataset": dataset,
        "seed": seed,
        "view": view,
        "n_arms": n_arms,
        "k_true": int(k_true),
        "k_chosen": int(chosen.n_categories),
        "acc_chosen": float(chosen.acc),
        "consensus_at_true_k": float(at_truth.consensus),
        "acc_at_true_k": float(at_truth.acc),
        "curve": rounds,
        **run_metadata(),
    }


def run_views(dataset: str, seed: int) -> list[dict]:
    return [run(dataset, seed, view, n_arms) for view in VIEWS for n_arms in ARMS]


def render() -> None:
    rows = RESULTS.rows()
    latest = rows.drop_duplicates(["dataset", "seed", "view", "n_arms"], keep="last")
    lines = [
        "# Consensus of clusterings of different views, and K (issue 28 research)",
        "",
        "Generated by `python benchmarks/view_consensus.py --render` from "
        "`results/view_consensus.jsonl`.",
        " ".join((__doc__ or "").split("\n\n")[1].split()),
        "`±10 %`: whether the chosen K is within 10 % of the true K. ACC of arm 0's clusters.",
        "",
        "| dataset | view | arms | seed | true K | chosen K | ±10 % | ACC chosen | "
        "consensus at true K | ACC at true K | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in latest.sort_values(["dataset", "view", "n_arms", "seed"]).itertuples():
        within = "yes" if abs(r.k_chosen - r.k_true) <= 0.1 * r.k_true else "no"
        lines.append(
            f"| {r.dataset} | {r.view} | {r.n_arms} | {r.seed} | {r.k_true} | {r.k_chosen} | "
            f"{within} | {r.acc_chosen:.3f} | {r.consensus_at_true_k:.3f} | "
            f"{r.acc_at_true_k:.3f} | {r.commit} |"
        )
    RESULTS.write_table(lines, latest)


if __name__ == "__main__":
    dataset_seed_main(
        __doc__, run_views, render, RESULTS, datasets=("sim10s0", "sim30s0", "sim40", "sim20s1")
    )
