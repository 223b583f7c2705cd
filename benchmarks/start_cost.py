"""Issue 32: where a default ``train()`` spends its time outside the epochs (the start's cost).

One default training (``CplMixVAE(adata, n_categories=50).train()``, batch 512) of
``simulate`` counts, with every phase outside the minibatch steps timed by wrapping the
function that does it: the start's k-means fit, the merge (scoring the sampled cells under
every category, the neighbour graph, the linkage), the batch-norm passes (at the merge,
before each validation, at the end) and the state-collapse check. Beside it, SCVI's epoch on
the same data and batch size, so that the fixed cost reads in SCVI epochs. One run appends a
JSON line to ``results/start_cost.jsonl``; ``--render`` writes ``start_cost.md``.

    python benchmarks/start_cost.py --cells 20000
    python benchmarks/start_cost.py --render
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import defaultdict
from contextlib import ExitStack
from unittest import mock

import scvi
from common import (
    QUIET,
    append_row,
    read_rows,
    results_path,
    run_metadata,
    write_table,
)
from lightning.pytorch.callbacks import Callback

import scmixvae
import scmixvae.start._merge_step as merge_step
import scmixvae.start._type_start as type_start
from scmixvae.train._batch_norm import BatchNormCalibration

warnings.filterwarnings("ignore")
RESULTS = results_path("start_cost.jsonl")
N_GENES, N_TYPES, BATCH = 2_000, 50, 512

#: phase -> (module, function name) wrapped to time it.
PHASES = {
    "kmeans fit": (type_start, "fit_cluster_teacher"),
    "merge: scoring": (merge_step, "merge_evidence"),
    "merge: neighbour graph": (merge_step, "neighbour_connectivity"),
    "merge: linkage": (merge_step, "merge_categories"),
    "batch-norm passes": (BatchNormCalibration, "on_validation_epoch_start"),
    "batch-norm passes (end)": (BatchNormCalibration, "on_train_end"),
}


class Timer(Callback):
    """Wall time of every training epoch and of every validation."""

    def __init__(self):
        self.epochs: list[float] = []
        self.validation = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self._epoch = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append(time.perf_counter() - self._epoch)

    def on_validation_start(self, trainer, pl_module):
        self._validation = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        self.validation += time.perf_counter() - self._validation


def timed(function, seconds: dict, phase: str):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[phase] += time.perf_counter() - start

    return wrapper


def scvi_epoch(adata, epochs: int = 3) -> float:
    """Mean seconds of an SCVI epoch after the first, batch :data:`BATCH`, all cells."""
    scvi.model.SCVI.setup_anndata(adata, layer="counts")
    model = scvi.model.SCVI(adata)
    timer = Timer()
    model.train(max_epochs=epochs, batch_size=BATCH, train_size=1.0, callbacks=[timer], **QUIET)
    return sum(timer.epochs[1:]) / (epochs - 1)


def run(n_cells: int, seed: int = 0) -> dict:
    adata = scmixvae.datasets.simulate(n_cells=n_cells, n_types=N_TYPES, n_genes=N_GENES, seed=seed)
    scvi.settings.seed = seed
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=N_TYPES)
    seconds: dict[str, float] = defaultdict(float)
    timer = Timer()
    with ExitStack() as stack:
        for phase, (module, name) in PHASES.items():
            wrapped = timed(getattr(module, name), seconds, phase)
            stack.enter_context(mock.patch.object(module, name, wrapped))
        collapse = timed(scmixvae.CplMixVAE._warn_if_state_collapsed, seconds, "state check")
        stack.enter_context(
            mock.patch.object(scmixvae.CplMixVAE, "_warn_if_state_collapsed", collapse)
        )
        start = time.perf_counter()
        model.train(batch_size=BATCH, callbacks=[timer], **QUIET)
        total = time.perf_counter() - start
    # The merge runs at the start of an epoch, and validations inside the epochs: both are
    # taken out of the epochs' time; the merge counts as fixed cost.
    merge = sum(value for phase, value in seconds.items() if phase.startswith("merge"))
    epochs = sum(timer.epochs) - merge - timer.validation
    row = {
        "cells": n_cells,
        "seed": seed,
        "epochs": len(timer.epochs),
        "epoch_s": round(epochs / len(timer.epochs), 2),
        "validation_s": round(timer.validation, 1),
        "train_s": round(total, 1),
        "fixed_s": round(total - epochs - timer.validation, 1),
        "phases": {phase: round(value, 2) for phase, value in seconds.items()},
        "scvi_epoch_s": round(scvi_epoch(adata.copy()), 2),
    }
    return row | run_metadata()


def render() -> None:
    rows = read_rows(RESULTS).drop_duplicates(["cells", "seed", "commit"], keep="last")
    lines = [
        "# The fixed cost of a default training (issue 32)",
        "",
        "Generated by `python benchmarks/start_cost.py --render` from `results/start_cost.jsonl`.",
        f"`simulate(n_cells, {N_TYPES} types, {N_GENES:,} genes)`, "
        f"`CplMixVAE(adata, n_categories={N_TYPES}).train(batch_size={BATCH})` with every "
        "other setting at its default (the over-clustering start, 2 arms, the default epochs).",
        "`fixed`: the training's wall time minus its epochs' and validations' (the start,",
        "the merge, the batch-norm passes, the state check, Lightning's set-up); the phases",
        "are timed by wrapping the functions that do them (the merge's scoring includes its",
        "batch-norm pass). The merge runs at the start of an epoch and the validations",
        "inside the epochs: `epoch s` leaves both out. SCVI: its epoch on the same data and",
        "batch size, all cells in training, in the same run.",
        "",
        "| cells | epochs | epoch s | SCVI epoch s | validations s | fixed s "
        "| fixed / SCVI epoch | phases (s) | commit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in rows.sort_values(["cells", "commit"]).iterrows():
        phases = ", ".join(f"{name} {value:.1f}" for name, value in r.phases.items() if value)
        lines.append(
            f"| {r.cells:,} | {r.epochs} | {r.epoch_s:.2f} | {r.scvi_epoch_s:.2f} "
            f"| {r.validation_s:.1f} | {r.fixed_s:.1f} | {r.fixed_s / r.scvi_epoch_s:.1f} "
            f"| {phases} | {r.commit} |"
        )
    write_table("start_cost.md", lines, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[20_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", action="store_true")
    args = parser.parse_args()
    if not args.render:
        for n_cells in args.cells:
            row = run(n_cells, args.seed)
            append_row(RESULTS, row)
            print(row)
    render()


if __name__ == "__main__":
    main()
