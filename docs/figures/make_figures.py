"""Render the figures of the docs (``docs/images/``) from models trained here.

    python docs/figures/make_figures.py          # ~5 minutes on 2 CPU cores

Two models, default settings, seed 0:

- the 10-type simulation of ``benchmarks/traversal.py`` (``simulate(3000 cells, 10 types,
  1000 genes)``): traversal, confusion and training history;
- PBMC 68k reduced, 10 types: traversal with data-driven marker genes and the shipped human
  IEG / HKG lists.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import scvi  # noqa: E402

import scmixvae  # noqa: E402

warnings.filterwarnings("ignore")
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
IMAGES = Path(__file__).resolve().parents[1] / "images"
QUIET = {"accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False}


def train(adata, n_types: int) -> scmixvae.CplMixVAE:
    """Train and annotate a default model, seed 0."""
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=n_types)
    model.train(**QUIET)
    model.annotate()
    return model


def save(fig, name: str) -> None:
    """Write one figure under docs/images and close it."""
    fig.savefig(IMAGES / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print("wrote", IMAGES / name)


def simulated_figures() -> None:
    """Confusion, history and traversal on the 10-type simulation."""
    adata = scmixvae.datasets.simulate(n_cells=3000, n_types=10, n_genes=1000, seed=0)
    model = train(adata, 10)
    save(scmixvae.pl.confusion(adata, "cplmix_type", "type", return_fig=True), "confusion.png")
    save(scmixvae.pl.history(model, return_fig=True), "history.png")
    # Four large inferred types; their true markers, programme (IEG-like) genes, and the
    # most expressed genes that are neither (housekeeping-like).
    types = list(adata.obs["cplmix_type"].value_counts().index[:4])
    markers = scmixvae.tl.marker_genes(adata, n_genes=3, layer="counts", groups=types)
    var = adata.var
    programme = list(var.index[var["programme"]][:10])
    marker_genes = [g for t in types for g in markers[t]]
    neutral = var.index[
        ~var["programme"] & (var["marker_of"] == "") & ~var.index.isin(marker_genes)
    ]
    depth = adata.layers["counts"][:, var.index.get_indexer(neutral)].mean(0).A1
    housekeeping = list(neutral[depth.argsort()[::-1][:6]])
    genes = {
        "MG": marker_genes,
        "IEG-like": programme,
        "HKG-like": housekeeping,
    }
    fig = scmixvae.pl.traversal(model, types=types, genes=genes, ncols=2, return_fig=True)
    save(fig, "traversal_simulated.png")


def pbmc_figures() -> None:
    """Traversal on PBMC with data-driven markers and the shipped human IEG / HKG lists."""
    adata = scmixvae.datasets.pbmc68k()
    model = train(adata, 10)
    types = list(adata.obs["cplmix_type"].value_counts().index[:4])
    markers = scmixvae.tl.marker_genes(adata, n_genes=3, layer="counts", groups=types)
    genes = {"MG": [g for t in types for g in markers[t]], "IEG": "IEG", "HKG": "HKG"}
    fig = scmixvae.pl.traversal(model, types=types, genes=genes, ncols=2, return_fig=True)
    save(fig, "traversal_pbmc.png")


if __name__ == "__main__":
    IMAGES.mkdir(exist_ok=True)
    simulated_figures()
    pbmc_figures()
