"""Diagnose the coupling: do the arms align, and how confident and accurate do they get?

A plain torch loop (no Lightning) over the module, printing every 5 epochs the mean loss
terms, the agreement of the arms' argmax labels on all cells, the categories used by the
consensus, ACC / ARI against the truth and the mean posterior entropy / log K.
Used to choose the coupling defaults; results in ``coupling.md``.

    python benchmarks/coupling_diagnostics.py '{"augmentation": "none"}' --epochs 40
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scvi import REGISTRY_KEYS

import scmixvae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("module_kwargs", help="JSON of CplMixVAEModule keyword arguments")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    adata = scmixvae.datasets.simulate(n_cells=3000, n_types=20, n_genes=1000, seed=1)
    x = torch.tensor(adata.X.toarray())
    truth = adata.obs["type"].cat.codes.to_numpy()
    k = 20
    # The cold start, whose category head reads the bottleneck, as when coupling.md was measured.
    settings = {"initialization": "random"} | json.loads(args.module_kwargs)
    module = scmixvae.module.CplMixVAEModule(x.shape[1], k, **settings)
    # scvi-tools' TrainingPlan defaults: Adam, lr 1e-3, eps 0.01, weight decay 1e-6.
    optimiser = torch.optim.Adam(module.parameters(), 1e-3, eps=0.01, weight_decay=1e-6)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        module.train()
        sums, steps = {}, 0
        for batch in torch.randperm(x.shape[0]).split(args.batch_size):
            _, _, out = module({REGISTRY_KEYS.X_KEY: x[batch]})
            optimiser.zero_grad()
            out.loss.backward()
            optimiser.step()
            terms = {
                "loss": out.loss,
                "rec": out.reconstruction_loss_sum / len(batch),
                "coupling": out.extra_metrics["coupling"],
            }
            sums = {name: sums.get(name, 0.0) + value.item() for name, value in terms.items()}
            steps += 1
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            module.eval()
            with torch.no_grad():
                _, log_q = module.encode(x.expand(module.n_arms, *x.shape))
            codes = log_q.argmax(-1).numpy()
            consensus = log_q.exp().mean(0).argmax(-1).numpy()
            entropy = -(log_q.exp() * log_q).sum(-1).mean().item() / np.log(k)
            row = {name: round(value / steps, 1) for name, value in sums.items()}
            row |= {
                "epoch": epoch + 1,
                "agree": round(float((codes[0] == codes[-1]).mean()), 3),
                "used": int(np.unique(consensus).size),
                "acc": round(scmixvae.tl.matched_accuracy(consensus, truth), 3),
                "ari": round(scmixvae.tl.adjusted_rand_index(consensus, truth), 3),
                "entropy/logK": round(entropy, 3),
                "seconds": round(time.perf_counter() - start),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
