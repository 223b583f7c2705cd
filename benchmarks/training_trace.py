"""Trace a CplMixVAE training epoch by epoch: accuracy, category use, confidence, agreement.

Trains through the model API (so ``initialization="kmeans"`` and the training plan apply) on
``simulate(n_cells=2000, n_types=10, n_genes=300, seed=0)`` with K = 10 and prints after every
epoch, on all cells, with batch statistics: ACC / ARI of the consensus, the categories it uses,
the mean posterior entropy / log K and the agreement of the first and last arm. Used for the
issue-3 diagnosis in ``ablation.md``; raw output in ``results/traces/``.

    python benchmarks/training_trace.py NAME '{"entropy_weight": 0}' '{"lr": 3e-3}' --epochs 40
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings

import numpy as np
import scvi
import torch
from lightning.pytorch.callbacks import Callback
from variants import COLD_START

import scmixvae

warnings.filterwarnings("ignore")
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)


class Trace(Callback):
    """Print the consensus's quality on all cells at the end of every epoch."""

    def __init__(self, name: str, x: torch.Tensor, reference: np.ndarray):
        self.name, self.x, self.reference = name, x, reference

    def on_train_epoch_end(self, trainer, pl_module):
        module = pl_module.module
        k = int(module.active.sum())
        with torch.no_grad():  # training mode: BatchNorm uses the statistics of all cells
            _, log_q = module.encode(self.x.expand(module.n_arms, *self.x.shape))
        q = log_q.exp()
        labels = q.mean(0).argmax(-1).numpy().astype(str)
        codes = log_q.argmax(-1)
        row = {
            "name": self.name,
            "epoch": trainer.current_epoch,
            "acc": round(scmixvae.tl.matched_accuracy(labels, self.reference), 3),
            "ari": round(scmixvae.tl.adjusted_rand_index(labels, self.reference), 3),
            "used": int(np.unique(labels).size),
            "entropy/logK": round(float(-(q * log_q).nan_to_num().sum(-1).mean()) / np.log(k), 3),
            "agree": round(float((codes[0] == codes[-1]).float().mean()), 3),
        }
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("model_kwargs", help="JSON of CplMixVAE keyword arguments")
    parser.add_argument("plan_kwargs", nargs="?", default="{}", help="JSON of plan_kwargs")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    scvi.settings.seed = args.seed
    adata = scmixvae.datasets.simulate(n_cells=2000, n_types=10, n_genes=300, seed=0)
    x = torch.as_tensor(adata.layers["counts"].toarray(), dtype=torch.float32)
    reference = adata.obs["type"].astype(str).to_numpy()
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    # The cold start unless given: the default when the committed traces were measured.
    model_kwargs = COLD_START | json.loads(args.model_kwargs)
    model = scmixvae.CplMixVAE(adata, n_categories=10, **model_kwargs)
    model.train(
        max_epochs=args.epochs,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        plan_kwargs=json.loads(args.plan_kwargs),
        callbacks=[Trace(args.name, x, reference)],
    )


if __name__ == "__main__":
    main()
