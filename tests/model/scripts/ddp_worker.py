"""Train a small CplMixVAE with Lightning's DDP on 2 CPU processes (gloo); run by test_ddp.py.

    python tests/scripts/ddp_worker.py OUT_DIR

Lightning starts the second process by running this script again. Each rank saves its final
parameters to ``OUT_DIR/rank{r}.pt``; rank 0 also writes the loss history and the types.
"""

import os
import sys
from pathlib import Path

import scvi
import torch

import scmixvae


def main(out: Path) -> None:
    torch.set_num_threads(1)
    adata = scmixvae.datasets.simulate(n_cells=400, n_types=4, n_genes=60, seed=0)
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=4, n_hidden=16)
    model.train(
        max_epochs=3,
        batch_size=64,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    rank = int(os.environ.get("LOCAL_RANK", 0))  # set by Lightning in the second process
    parameters = {name: p.detach().clone() for name, p in model.module.named_parameters()}
    torch.save(parameters, out / f"rank{rank}.pt")
    if rank == 0:  # the logger, and so the history, lives on rank 0
        model.history["train_loss"].to_csv(out / "train_loss.csv")
        model.annotate()
        adata.obs[["type", "cplmix_type"]].to_csv(out / "types.csv")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
