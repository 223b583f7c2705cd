"""``scmixvae run``: train on a dataset, write an annotated ``.h5ad``, figures and a summary."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("agg")  # a command-line job never opens windows

import anndata  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import scanpy as sc  # noqa: E402
import scvi  # noqa: E402

from . import __version__, datasets, pl, tl  # noqa: E402
from .model import CplMixVAE  # noqa: E402

#: Built-in datasets: loader, layer with counts, reference label column.
BUILTIN = {
    "pbmc68k": (datasets.pbmc68k, "counts", "bulk_labels"),
    "zeisel": (datasets.zeisel, "counts", "class"),
    "simulate": (datasets.simulate, "counts", "type"),
}


def _load(
    data: str, layer: str | None, label_key: str | None
) -> tuple[anndata.AnnData, str | None, str | None]:
    if data in BUILTIN:
        loader, default_layer, default_label = BUILTIN[data]
        return loader(), layer or default_layer, label_key or default_label
    path = Path(data)
    if not path.exists():
        raise SystemExit(
            f"error: {data!r} is neither a built-in dataset {sorted(BUILTIN)} nor a file."
        )
    return sc.read_h5ad(path), layer, label_key


def _embedding(adata: anndata.AnnData, layer: str | None) -> None:
    """Compute a UMAP of the cells (from the counts model's input) unless the data carry one."""
    if "X_umap" in adata.obsm:
        return
    counts = adata.X if layer is None else adata.layers[layer]
    work = anndata.AnnData(counts.copy(), obs=adata.obs[[]])
    sc.pp.normalize_total(work, target_sum=1e4)
    sc.pp.log1p(work)
    sc.pp.pca(work, n_comps=min(30, min(work.shape) - 1))
    sc.pp.neighbors(work, transformer="sklearn")
    sc.tl.umap(work)
    adata.obsm["X_umap"] = work.obsm["X_umap"]


def run(args: argparse.Namespace) -> dict:
    """Train, annotate, write results; return the summary that is printed."""
    start = time.perf_counter()
    adata, layer, label_key = _load(args.data, args.layer, args.label_key)
    if label_key is not None and label_key not in adata.obs:
        raise SystemExit(f"error: label key {label_key!r} is not a column of adata.obs.")
    n_categories = args.n_categories or (adata.obs[label_key].nunique() if label_key else None)
    if n_categories is None:
        raise SystemExit("error: pass --n-categories (no label column to take it from).")
    scvi.settings.seed = args.seed
    CplMixVAE.setup_anndata(adata, layer=layer, batch_key=args.batch_key)
    model = CplMixVAE(
        adata, n_categories=n_categories, n_arms=args.n_arms, likelihood=args.likelihood
    )
    model.train(max_epochs=args.max_epochs, accelerator=args.accelerator, enable_progress_bar=False)
    train_seconds = time.perf_counter() - start
    model.annotate()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "data": args.data,
        "cells": adata.n_obs,
        "genes": adata.n_vars,
        "n_categories": n_categories,
        "categories_used": int(adata.obs["cplmix_type"].nunique()),
        "mean_agreement": round(float(adata.obs["cplmix_agreement"].mean()), 4),
        "mean_confidence": round(float(adata.obs["cplmix_confidence"].mean()), 4),
        "seconds": round(train_seconds, 1),
        "scmixvae": __version__,
    }
    _embedding(adata, layer)
    sc.pl.umap(adata, color="cplmix_type", show=False)
    plt.savefig(out / "umap_cplmix_type.png", dpi=120, bbox_inches="tight")
    pl.history(model, show=False)
    plt.savefig(out / "history.png", dpi=120, bbox_inches="tight")
    largest = list(adata.obs["cplmix_type"].value_counts().index[:4])
    pl.traversal(model, types=largest, show=False)  # their top state-driven genes
    plt.savefig(out / "traversal.png", dpi=120, bbox_inches="tight")
    if label_key is not None:
        summary.update(
            {k: round(v, 4) for k, v in tl.evaluate(adata, "cplmix_type", label_key).items()}
        )
        pl.confusion(adata, "cplmix_type", label_key, show=False)
        plt.savefig(out / "confusion.png", dpi=120, bbox_inches="tight")
    plt.close("all")
    adata.write_h5ad(out / "annotated.h5ad")
    model.save(out / "model", overwrite=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scmixvae`` command."""
    parser = argparse.ArgumentParser(prog="scmixvae", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="train, annotate, write .h5ad, figures and summary")
    runner.add_argument(
        "--data", default="pbmc68k", help=f"{sorted(BUILTIN)} or a path to an .h5ad"
    )
    runner.add_argument(
        "--layer", default=None, help="layer with raw counts (default: X, or the built-in's)"
    )
    runner.add_argument("--batch-key", default=None, help="obs column with batches")
    runner.add_argument(
        "--label-key", default=None, help="obs column with reference labels, for scoring"
    )
    runner.add_argument(
        "--n-categories", type=int, default=None, help="K (default: number of labels)"
    )
    runner.add_argument("--n-arms", type=int, default=2)
    runner.add_argument("--likelihood", default="nb", choices=["nb", "zinb", "normal", "bernoulli"])
    runner.add_argument(
        "--max-epochs", type=int, default=None, help="default: 300,000 cells seen, 20-400 epochs"
    )
    runner.add_argument("--accelerator", default="auto")
    runner.add_argument("--seed", type=int, default=0)
    runner.add_argument("--out", default="scmixvae_out", help="output folder")
    args = parser.parse_args(argv)
    summary = run(args)
    width = max(map(len, summary))
    print("\n".join(f"{key:<{width}}  {value}" for key, value in summary.items()))
    print(f"results in {Path(args.out).resolve()}: annotated.h5ad, model/, *.png, summary.json")


if __name__ == "__main__":  # pragma: no cover
    main()
