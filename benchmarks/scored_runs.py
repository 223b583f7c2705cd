"""One labelling method run on one dataset and seed, scored against the reference labels.

:func:`run_one` appends a row (ACC, ARI, NMI, clusters used, time, commit) to a results file;
:func:`results_table` renders the last run of every dataset / method / seed as markdown.
``accuracy.py`` and ``ablation.py`` are commands on them.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from common import DATASETS, Results, load, run_metadata

import scmixvae


def run_one(dataset: str, method: str, seed: int, methods: dict, results: Results) -> dict:
    """Run one method on one dataset and seed; append its scores to ``results``."""
    adata, label_key = load(dataset)
    k = adata.obs[label_key].nunique()
    start = time.perf_counter()
    labels, extra = methods[method](adata, k, seed, dataset)
    seconds = time.perf_counter() - start
    reference = adata.obs[label_key].astype(str).to_numpy()
    row = {
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "k_true": int(k),
        "n_cells": int(adata.n_obs),
        "acc": scmixvae.tl.matched_accuracy(labels, reference),
        "ari": scmixvae.tl.adjusted_rand_index(labels, reference),
        "nmi": scmixvae.tl.normalized_mutual_info(labels, reference),
        "n_used": int(np.unique(labels).size),
        "seconds": round(seconds, 1),
        "cells_per_s": round(adata.n_obs * extra.get("epochs", 0) / seconds, 1)
        if "epochs" in extra
        else None,
        **extra,
        **run_metadata(),
    }
    results.append(row)
    return row


def _dataset_order(dataset: str) -> tuple:
    """The benchmark datasets first, in their order; any other after them, by name."""
    return (DATASETS.index(dataset), "") if dataset in DATASETS else (len(DATASETS), dataset)


def results_table(results: Results, methods) -> tuple[list[str], pd.DataFrame]:
    """Markdown rows (mean ± s.d. over seeds) of the last run of each dataset / method / seed."""
    rows = results.rows()
    latest = rows[rows.method.isin(list(methods))].drop_duplicates(
        ["dataset", "method", "seed"], keep="last"
    )

    def fmt(series):
        return f"{series.mean():.3f} ± {series.std(ddof=0):.3f}"

    lines = [
        "| dataset | method | seeds | ACC | ARI | NMI | used / K | wall s | cells/s (train) "
        "| commit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {m: i for i, m in enumerate(methods)}
    for (dataset, method), group in sorted(
        latest.groupby(["dataset", "method"]),
        key=lambda g: (_dataset_order(g[0][0]), order[g[0][1]]),
    ):
        speed = group["cells_per_s"].dropna()
        seeds = ",".join(map(str, sorted(group.seed)))
        cells = [
            dataset,
            method,
            seeds,
            fmt(group.acc),
            fmt(group.ari),
            fmt(group.nmi),
            f"{group.n_used.mean():.1f} / {group.k_true.iloc[0]}",
            f"{group.seconds.mean():.0f}",
            f"{speed.mean():.0f}" if len(speed) else "",
            ",".join(sorted(group["commit"].dropna().unique())) if "commit" in group else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines, latest
