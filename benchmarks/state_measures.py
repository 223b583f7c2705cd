"""What the state recovers on the simulator: the measures of ``traversal.py``, per type.

The simulator (``scmixvae.datasets.simulate``) knows each cell's activity, each type's
programme gain and its marker genes; these functions train a model on it, match true types
to inferred ones and measure each matched type (``traversal.py`` documents the measures).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from common import QUIET
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr
from variants import COLD_START

import scmixvae

MIN_CELLS = 50


# A matched inferred type is "pure" when at least this share of its cells is its true type.
PURE = 0.9


STATE_RANGES = ("prior", "cells")


# The package's defaults (the over-clustering start), and the cold start, the default when
# the first results were measured (their rows ran as "default", "a1" and "standard_prior").
VARIANTS = {
    "default": {},
    # The defaults before the decoder read depth (rows at 9d86600 and earlier).
    "no_depth_in_decoder": {"depth_in_decoder": False},
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
    adata = scmixvae.datasets.simulate(**DATASETS[dataset])
    return train(adata, VARIANTS[variant], seed)


def train(adata, settings: dict, seed: int):
    """``adata``, a model trained on it with ``settings`` at the true K, and the seconds taken.

    ``settings`` are the model's keyword arguments; its optional ``model_cls`` (a variant's
    model class) and ``train_kwargs`` (for ``train``) are taken out first.
    """
    import scvi

    settings = dict(settings)
    model_cls = settings.pop("model_cls", scmixvae.CplMixVAE)
    train_kwargs = settings.pop("train_kwargs", {})
    k = adata.obs["type"].nunique()
    scvi.settings.seed = seed
    model_cls.setup_anndata(adata, layer="counts")
    model = model_cls(adata, n_categories=k, **settings)
    start = time.perf_counter()
    model.train(accelerator="cpu", **QUIET, **train_kwargs)
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
