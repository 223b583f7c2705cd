"""Consensus-pruning benchmark (issue 4): does ``model.prune()`` find the number of types?

For each dataset and seed: train CplMixVAE with the defaults at ``K_max``, prune with the
defaults, and score the selected round; for the simulation also train a model given the
true K. Runs append to ``benchmarks/results/pruning.jsonl``; ``--render`` writes
``pruning.md``.

    python benchmarks/pruning.py --dataset sim30 --seed 0 1 2
    python benchmarks/pruning.py --dataset zeisel47 --seed 0 --no-true-k
    python benchmarks/pruning.py --dataset sim30 --seed 2 --true-k-only
    python benchmarks/pruning.py --dataset sim30 --seed 0 --start defaults
    python benchmarks/pruning.py --render
"""

from __future__ import annotations

import time

import pandas as pd
import scvi
import torch
from common import QUIET, Results, command_line, load, run_metadata
from independent_arms import IndependentModel
from tree_k import merge_by_tree
from variants import COLD_START

import scmixvae

RESULTS = Results("pruning")
#: dataset -> K_max, the upper bound pruning starts from.
K_MAX = {"sim10": 20, "sim30": 60, "sim40": 80, "zeisel47": 70, "pbmc": 20}
#: --start -> model arguments: the cold start the first rows were measured with, or the
#: current defaults. The rows of the merges that left the package (``average_merge``,
#: ``modularity_merge``; ``tried.md``) stay in the results and the table. ``merge_tree``
#: (issue 28 research): the defaults, with K chosen by the merge tree of the trained types
#: (``tree_k.merge_by_tree``) instead of ``prune()``. ``independent`` (issue 28 research): each
#: further arm taught its own bootstrap clustering, the merge judged by every arm's decoder
#: (``independent_arms.py``); the defaults since then judge it by arm 0's alone.
STARTS = {
    "cold": COLD_START,
    "defaults": {},
    "merge_tree": {},
    "independent": {"model_cls": IndependentModel},
}


def load_pruning(name: str, seed: int):
    """The simulations are drawn with the run's seed (6,000 cells, 1,000 genes)."""
    if name.startswith("sim"):
        n_types = int(name[3:])
        adata = scmixvae.datasets.simulate(n_cells=6000, n_types=n_types, n_genes=1000, seed=seed)
        return adata, "type"
    return load(name)


def scores(labels, reference) -> dict:
    return {
        "acc": scmixvae.tl.matched_accuracy(labels, reference),
        "ari": scmixvae.tl.adjusted_rand_index(labels, reference),
        "nmi": scmixvae.tl.normalized_mutual_info(labels, reference),
    }


def train(adata, k, seed, start="cold"):
    scvi.settings.seed = seed
    settings = dict(STARTS[start])
    model_cls = settings.pop("model_cls", scmixvae.CplMixVAE)
    model_cls.setup_anndata(adata, layer="counts")
    model = model_cls(adata, n_categories=k, **settings)
    began = time.perf_counter()
    model.train(accelerator="cpu", **QUIET)
    return model, time.perf_counter() - began


def clustering(model) -> str:
    """What the model's k-means read (recorded since the default became the residuals)."""
    teacher = model.module.teacher
    return "—" if teacher is None else "pearson_residuals" if teacher.counts else "as_is"


def neighbour_discount(model) -> bool:
    """Whether the model's merge discounts neighbouring clusters: always, since it is the
    package's only merge (recorded since it could be switched off)."""
    return model.module.teacher is not None


def append(row: dict) -> None:
    RESULTS.append(row)


def true_k_only(dataset: str, seed: int, start: str) -> None:
    """Score only the model given the true K (to complete a run made with --no-true-k)."""
    adata, label_key = load_pruning(dataset, seed)
    reference = adata.obs[label_key].astype(str).to_numpy()
    model, _ = train(adata, adata.obs[label_key].nunique(), seed, start)
    labels = model.get_cell_types().astype(str).to_numpy()
    scored = {f"true_k_{key}": value for key, value in scores(labels, reference).items()}
    append(
        {
            "dataset": dataset,
            "seed": seed,
            "start": start,
            "clustering_input": clustering(model),
            "merge_connectivity": neighbour_discount(model),
            **scored,
            **run_metadata(),
        }
    )


def run_one(dataset: str, seed: int, with_true_k: bool, start: str) -> dict:
    adata, label_key = load_pruning(dataset, seed)
    reference = adata.obs[label_key].astype(str).to_numpy()
    k_true = adata.obs[label_key].nunique()
    model, train_s = train(adata, K_MAX[dataset], seed, start)
    began = time.perf_counter()
    if start == "merge_tree":
        k_chosen = merge_by_tree(model, accelerator="cpu")
        consensus = model.get_type_consensus().mean()
        table = pd.DataFrame({"n_categories": [k_chosen], "consensus": [consensus]})
        table["selected"] = True
    else:
        table = model.prune(accelerator="cpu", **QUIET)
    prune_s = time.perf_counter() - began
    chosen = table[table["selected"]].iloc[0]
    labels = model.get_cell_types().astype(str).to_numpy()
    row = {
        "dataset": dataset,
        "seed": seed,
        "start": start,
        "k_true": int(k_true),
        "k_max": K_MAX[dataset],
        "k_chosen": int(chosen["n_categories"]),
        "consensus_chosen": float(chosen["consensus"]),
        "n_rounds": len(table) - 1 if start != "merge_tree" else 1,
        "clustering_input": clustering(model),
        "merge_connectivity": neighbour_discount(model),
        **scores(labels, reference),
        "train_s": round(train_s, 1),
        "prune_s": round(prune_s, 1),
        "curve": table[["n_categories", "consensus"]].to_numpy().round(4).tolist(),
        **run_metadata(),
    }
    if with_true_k:
        true_model, _ = train(adata, k_true, seed, start)
        true_labels = true_model.get_cell_types().astype(str).to_numpy()
        row |= {f"true_k_{key}": value for key, value in scores(true_labels, reference).items()}
    append(row)
    return row


def render() -> None:
    rows = RESULTS.rows()
    rows["start"] = rows.get("start", pd.Series(index=rows.index)).fillna("cold")
    # Runs since the package recomputes batch-norm statistics after training record nothing.
    rows["batch_norm"] = rows.get("batch_norm", pd.Series(index=rows.index)).fillna("recomputed")
    # Runs before the residuals became the default record nothing: the cold start has no
    # k-means, the over-clustering starts read the log-normalised counts.
    before = rows.get("clustering_input", pd.Series(index=rows.index, dtype=object))
    rows["clustering_input"] = before.fillna(
        rows["start"].map(lambda start: "—" if start == "cold" else "log_normalised")
    )
    # Runs before the neighbour discount record nothing: their merges read the divergence alone.
    discount = rows.get("merge_connectivity", pd.Series(False, index=rows.index))
    rows["discount"] = discount.fillna(False).astype(bool).map({True: "yes", False: "no"})
    key = ["dataset", "seed", "start", "batch_norm", "clustering_input", "discount"]
    # A run with --no-true-k takes the true-K scores of an earlier run of the same data and seed.
    true_k = rows.dropna(subset=["true_k_acc"]).drop_duplicates(key, keep="last")
    rows = rows.dropna(subset=["k_chosen"]).drop_duplicates(key, keep="last")
    rows = rows.astype({"k_true": int, "k_max": int, "k_chosen": int, "n_rounds": int})
    rows = rows.drop(columns=["true_k_acc", "true_k_ari", "true_k_nmi"], errors="ignore")
    rows = rows.merge(true_k[[*key, "true_k_acc", "true_k_ari"]], on=key, how="left")
    lines = [
        "# Consensus-pruning benchmark (issue 4)",
        "",
        "Generated by `python benchmarks/pruning.py --render` from `results/pruning.jsonl`.",
        "`CplMixVAE(adata, n_categories=K_max)`, `train()`, `prune()` (threshold 0.95;",
        "fine-tuning steps per round = 0.75 × initial steps / rounds allowed). `start`: `cold`,",
        'the defaults when pruning was built (`initialization="random"`, category head on the',
        "bottleneck); `defaults`: the package's current defaults (the over-clustering start,",
        '`merge_method="geodesic"`; these rows ran as `geodesic_merge` before it became the',
        "default, those of commit 599ed63 as `defaults` while it briefly was);",
        '`average_merge` / `modularity_merge`: that with `merge_method="average"` (the',
        'earlier default; its rows ran as `defaults`) / `"modularity"`. `batch norm`: whether',
        "evaluation used the running averages of training (before commit 81b80b5) or",
        "statistics recomputed after training, and after each pruning round's fine-tuning.",
        "`k-means on`: what the start's k-means read (`clustering_input`; Pearson residuals",
        "by default since commit 591c5c2, the log-normalised counts before). `discount`:",
        "whether the merge discounted neighbouring clusters (`merge_connectivity`, the default",
        "since commit 0155ece). `merge_tree` (issue 28 research, not the package's `prune()`):",
        "the defaults, then the trained types merged where their merge tree rises most",
        "(`tree_k.merge_by_tree`, `merge_tree.md`) and fine-tuned for 0.25 × the initial steps;",
        "its `prune s` is that merge and fine-tuning, its consensus the arms' after it.",
        "`independent` (issue 28 research): each further arm taught its own bootstrap",
        "k-means clustering, the merge judged by every arm's decoder (`independent_arms.py`),",
        "then `prune()`; the defaults since commit COMMIT judge the merge by arm 0's alone.",
        "ACC / ARI / NMI are those of the selected round; `true K` is a model trained with",
        "the true number of types (same seed). `train s` / `prune s`:",
        "wall time of the initial training and of all pruning rounds, measured while 2-4",
        "benchmark processes shared the 2 cores, so their ratio is noisy.",
        "",
        "| dataset | start | batch norm | k-means on | discount | seed | K true | K max | K chosen "
        "| consensus | rounds | ACC | ARI | NMI | true-K ACC | true-K ARI | train s | prune s "
        "| prune / train |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in rows.iterrows():
        true_k_scores = [r.get("true_k_acc"), r.get("true_k_ari")]
        scores = [r["consensus_chosen"], r["acc"], r["ari"], r["nmi"]]
        cells = [r[name] for name in ["dataset", "start", "batch_norm", "clustering_input"]]
        cells += [r[name] for name in ["discount", "seed", "k_true", "k_max", "k_chosen"]]
        cells += [f"{scores[0]:.3f}", r["n_rounds"], *(f"{score:.3f}" for score in scores[1:])]
        cells += ["" if pd.isna(score) else f"{score:.3f}" for score in true_k_scores]
        cells += [
            f"{r['train_s']:.0f}",
            f"{r['prune_s']:.0f}",
            f"{r['prune_s'] / r['train_s']:.2f}",
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    RESULTS.write_table(lines, rows)


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--dataset", nargs="+", default=list(K_MAX), choices=list(K_MAX))
    parser.add_argument("--seed", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-true-k", action="store_true", help="skip the true-K model")
    parser.add_argument("--true-k-only", action="store_true", help="only the true-K model")
    parser.add_argument("--start", choices=list(STARTS), default="defaults")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.render:
        render()
        return
    for seed in args.seed:
        for dataset in args.dataset:
            if args.true_k_only:
                true_k_only(dataset, seed, args.start)
            else:
                run_one(dataset, seed, with_true_k=not args.no_true_k, start=args.start)


if __name__ == "__main__":
    main()
