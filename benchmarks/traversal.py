"""Issue 6: does the state capture the type-specific programme? Proof on the simulator.

The simulator (``scmixvae.datasets.simulate``) knows each cell's activity ``t``, each type's
programme gain and each type's marker genes. For a trained model, true types are matched to
inferred types (Hungarian); for every true type with >= 50 cells in its matched type:

- ``state_rho``: |Spearman| of the inferred state with the true activity, over the cells of
  the type assigned to its matched type; ``best dim`` takes the state dimension that correlates
  best (so it uses the truth to pick the dimension), ``pc1`` the first principal component of
  the type's states (no truth used);
- along the decoded traversal (``tl.traversal``, prior quantiles 0.05-0.95) of that best
  dimension:
  - ``prog_rho``: |Spearman| of each programme gene with the step (gain > 0 types);
  - ``prog_lfc``: mean |log2 fold change| of the programme genes between the ends;
  - ``marker_ratio``: for the type's own markers, the log2 range along the state over the
    log2 difference between the type and the mean of the other types at their prior means;
- the same ``marker_ratio`` measured on the data itself (``truth``), from the type's cells in
  the bottom and top fifth of activity: the simulator's softmax makes markers dilute as the
  programme rises, so markers are not perfectly flat in the ground truth either.

    python benchmarks/traversal.py --dataset sim10 sim40 --variant default --seed 0 1 2
    python benchmarks/traversal.py --render
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
from accuracy import COLD_START
from common import QUIET, machine_line, results_path, run_metadata, table_path
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr

import scmixvae

RESULTS = results_path("traversal.jsonl")
MIN_CELLS = 50
# A matched inferred type is "pure" when at least this share of its cells is its true type.
PURE = 0.9
STATE_RANGES = ("prior", "cells")
# The package's defaults (the over-clustering start), and the cold start, the default when
# the first results were measured (their rows ran as "default", "a1" and "standard_prior").
VARIANTS = {
    "default": {},
    "a1": {"n_arms": 1},
    "standard_prior": {"state_prior": "standard"},
    "cold_start": COLD_START,
    "cold_start_a1": {"n_arms": 1, **COLD_START},
    "cold_start_standard_prior": {"state_prior": "standard", **COLD_START},
}
DATASETS = {
    "sim10": {"n_cells": 3000, "n_types": 10, "n_genes": 1000, "seed": 0},
    "sim40": {"n_cells": 6000, "n_types": 40, "n_genes": 1000, "seed": 0},
}


def match_types(true: pd.Series, inferred: pd.Series) -> dict[str, str]:
    """True type -> inferred type, one to one, maximising the shared cells."""
    table = scmixvae.tl.contingency(true.astype(str), inferred.astype(str))
    rows, cols = linear_sum_assignment(table.to_numpy(), maximize=True)
    return {table.index[r]: table.columns[c] for r, c in zip(rows, cols, strict=True)}


def log2_norm(counts, columns) -> np.ndarray:
    """log2 of counts per 10,000 (+ 0.1) of the genes ``columns``, depth from all genes."""
    depth = np.asarray(counts.sum(1)).reshape(-1, 1)
    dense = np.asarray(counts[:, columns].todense(), float)
    return np.log2(dense / depth * 1e4 + 0.1)


def evaluate_type(model, adata, true_type, inferred, cells, centres) -> dict:
    """All measures for one true type, whose cells ``cells`` were assigned ``inferred``."""
    state = adata.obsm["X_cplmix_state"][cells]
    activity = adata.obs["activity"].to_numpy()[cells]
    rhos = [abs(spearmanr(state[:, d], activity).statistic) for d in range(state.shape[1])]
    centred = state - state.mean(0)
    pc1 = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
    best = int(np.nanargmax(rhos))
    var = adata.var
    programme = var.index[var["programme"]].tolist()
    markers = var.index[var["marker_of"] == true_type].tolist()
    # Marker contrast at the prior means: this type against the mean of the others.
    marker_cols = var.index.get_indexer(markers)
    between = np.log2(centres.loc[inferred].iloc[marker_cols] + 0.1) - np.log2(
        centres.drop(index=inferred).iloc[:, marker_cols] + 0.1
    ).mean(0)
    along_state = {}
    for state_range in STATE_RANGES:
        table = scmixvae.tl.traversal(model, inferred, dimensions=best, state_range=state_range)
        scores = scmixvae.tl.state_gene_scores(table).set_index("gene")
        rho = scores.loc[programme, "spearman"].abs()
        along = scores.loc[markers, "log2_range"].to_numpy()
        along_state |= {
            f"{state_range}.prog_rho_mean": float(rho.mean()),
            f"{state_range}.prog_rho_frac_09": float((rho >= 0.9).mean()),
            f"{state_range}.prog_lfc": float(
                scores.loc[programme, "log2_fold_change"].abs().mean()
            ),
            f"{state_range}.marker_ratio": float(np.median(along / np.abs(between.to_numpy()))),
        }
    # The same on the data: the type's cells at low and high activity, and the other types.
    data = log2_norm(adata.layers["counts"], marker_cols)
    own = adata.obs["type"].to_numpy() == true_type
    all_activity = adata.obs["activity"].to_numpy()
    low, high = np.quantile(all_activity[own], [0.2, 0.8])
    truth_along = np.abs(
        data[own & (all_activity >= high)].mean(0) - data[own & (all_activity <= low)].mean(0)
    )
    truth_between = data[own].mean(0) - data[~own].mean(0)
    return {
        "type": true_type,
        "gain": float(adata.obs.loc[adata.obs["type"] == true_type, "gain"].iloc[0]),
        "n_cells": int(cells.sum()),
        # Share of the true type in its matched type, and of the matched type from it.
        "recall": float(cells.sum() / own.sum()),
        "purity": float(cells.sum() / (adata.obs["cplmix_type"] == inferred).sum()),
        "state_rho_best": float(np.nanmax(rhos)),
        "state_rho_pc1": float(abs(spearmanr(pc1, activity).statistic)),
        **along_state,
        "marker_ratio_truth": float(np.median(truth_along / np.abs(truth_between))),
    }


def summarise(types: pd.DataFrame, prefix: str) -> dict:
    """Averages over the scored types: state measures over the types with gain > 0."""
    driven, silent = types[types["gain"] > 0], types[types["gain"] == 0]
    summary = {
        "n_types": len(types),
        "n_driven": len(driven),
        "state_rho_best": driven["state_rho_best"].mean() if len(driven) else np.nan,
        "state_rho_pc1": driven["state_rho_pc1"].mean(),
        "marker_ratio_truth": types["marker_ratio_truth"].median(),
    }
    for state_range in STATE_RANGES:
        lfc = f"{state_range}.prog_lfc"
        summary |= {
            f"{state_range}.prog_rho_mean": driven[f"{state_range}.prog_rho_mean"].mean(),
            f"{state_range}.prog_rho_frac_09": driven[f"{state_range}.prog_rho_frac_09"].mean(),
            f"{state_range}.prog_lfc_driven": driven[lfc].mean(),
            f"{state_range}.prog_lfc_silent": silent[lfc].mean(),
            f"{state_range}.gain_vs_lfc_rho": float(spearmanr(types["gain"], types[lfc]).statistic)
            if len(types) > 2
            else np.nan,
            f"{state_range}.marker_ratio": types[f"{state_range}.marker_ratio"].median(),
        }
    return {f"{prefix}.{key}": value for key, value in summary.items()}


def trained_model(dataset: str, variant: str, seed: int):
    """The simulated data and a model trained on it; the seconds the training took."""
    import scvi

    adata = scmixvae.datasets.simulate(**DATASETS[dataset])
    k = adata.obs["type"].nunique()
    scvi.settings.seed = seed
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=k, **VARIANTS[variant])
    start = time.perf_counter()
    model.train(accelerator="cpu", **QUIET)
    return model, adata, time.perf_counter() - start


def measure(model, adata) -> tuple[float, list[dict]]:
    """Annotate ``adata``; ACC and the measures of every type with enough matched cells."""
    model.annotate()
    inferred = adata.obs["cplmix_type"]
    matches = match_types(adata.obs["type"], inferred)
    assigned = list(inferred.cat.categories)  # categories with cells
    centres = pd.DataFrame(
        np.vstack(
            [model.get_decoded_expression(c, model.get_state_prior(c)[0][None]) for c in assigned]
        ),
        index=assigned,
    )
    per_type = []
    for true_type, inferred_type in matches.items():
        cells = (adata.obs["type"] == true_type).to_numpy() & (inferred == inferred_type).to_numpy()
        if cells.sum() >= MIN_CELLS:
            per_type.append(evaluate_type(model, adata, true_type, inferred_type, cells, centres))
    return scmixvae.tl.matched_accuracy(inferred, adata.obs["type"]), per_type


def run(dataset: str, variant: str, seed: int) -> dict:
    model, adata, seconds = trained_model(dataset, variant, seed)
    acc, per_type = measure(model, adata)
    row = {
        "dataset": dataset,
        "variant": variant,
        "seed": seed,
        "acc": acc,
        "seconds": round(seconds, 1),
        "per_type": per_type,
        **run_metadata(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row | summarise(pd.DataFrame(per_type), "all")), flush=True)
    return row


STATE_COLUMNS = {
    "n_types": "types scored (with gain > 0)",
    "state_rho_best": "state vs activity, best dim",
    "state_rho_pc1": "state vs activity, PC1",
    "marker_ratio_truth": "marker ratio (data)",
}
TRAVERSAL_COLUMNS = {
    "prog_rho_mean": "programme |ρ|",
    "prog_rho_frac_09": "programme genes with |ρ| ≥ 0.9",
    "prog_lfc_driven": "programme \\|log2FC\\|, gain > 0",
    "prog_lfc_silent": "programme \\|log2FC\\|, gain = 0",
    "gain_vs_lfc_rho": "ρ(gain, programme \\|log2FC\\|)",
    "marker_ratio": "marker ratio (model)",
}


def cell(values: pd.Series) -> str:
    values = values.astype(float).dropna()
    if values.empty:
        return "–"
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=0):.2f}"


def render() -> None:
    rows = pd.read_json(RESULTS, lines=True)
    rows = rows.drop_duplicates(["dataset", "variant", "seed"], keep="last")
    summaries = []
    for per_type in rows["per_type"]:
        types = pd.DataFrame(per_type)
        summaries.append(
            summarise(types, "all") | summarise(types[types["purity"] >= PURE], "pure")
        )
    # Summaries are recomputed from the per-type rows (older lines also stored their own).
    stored = [c for c in rows.columns if not c.startswith(("all.", "clean.", "pure."))]
    rows = pd.concat([rows[stored].reset_index(drop=True), pd.DataFrame(summaries)], axis=1)
    lines = [
        "# State interpretation on the simulator (issue 6)",
        "",
        "Generated by `python benchmarks/traversal.py --render` from `results/traversal.jsonl`;",
        "the measures are defined in the docstring of `benchmarks/traversal.py`. Mean ± s.d. over",
        "model seeds (the data are fixed). Targets: programme |ρ| ≥ 0.9, state vs activity ≥ 0.8,",
        "marker ratio ≤ 0.1, no programme response at gain 0. What the numbers mean:",
        "`docs/method.md`, section 'Reading the state'.",
    ]
    for prefix, title in [
        ("all", "Every true type with ≥ 50 cells in its matched inferred type"),
        ("pure", f"Only types whose matched inferred type is ≥ {PURE:.0%} that type (purity)"),
    ]:
        lines += ["", f"## {title}", ""]
        header = ["data", "variant", "seeds", "ACC", "train s", *STATE_COLUMNS.values()]
        header += ["range", *TRAVERSAL_COLUMNS.values(), "commit"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for (dataset, variant), group in rows.groupby(["dataset", "variant"], sort=False):
            n = group[f"{prefix}.n_types"].astype(int)
            d = group[f"{prefix}.n_driven"].astype(int)
            front = [dataset, variant, str(len(group)), cell(group["acc"]), cell(group["seconds"])]
            front += [f"{n.min()}–{n.max()} ({d.min()}–{d.max()})"]
            front += [cell(group[f"{prefix}.{c}"]) for c in list(STATE_COLUMNS)[1:]]
            commits = ",".join(sorted(group["commit"].dropna().unique()))
            for state_range in STATE_RANGES:
                back = [cell(group[f"{prefix}.{state_range}.{c}"]) for c in TRAVERSAL_COLUMNS]
                back.append(commits)
                lines.append("| " + " | ".join([*front, state_range, *back]) + " |")
    lines += ["", machine_line(rows)]
    table_path("traversal.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", nargs="+", default=["sim10"], choices=list(DATASETS))
    parser.add_argument("--variant", nargs="+", default=["default"], choices=list(VARIANTS))
    parser.add_argument("--seed", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--render", action="store_true")
    args = parser.parse_args()
    if args.render:
        render()
    else:
        import torch

        torch.set_num_threads(args.threads)
        for dataset in args.dataset:
            for variant in args.variant:
                for seed in args.seed:
                    run(dataset, variant, seed)
