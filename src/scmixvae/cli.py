"""The ``scmixvae`` command: fit a model to an ``.h5ad``, run the demo, evaluate results.

Exit codes: 0 success; 1 bad input (a missing file, layer or column, data the model cannot
use, an output that cannot be written); 2 bad command-line usage; 3 training failed (a
non-finite loss); 4 an unexpected error (--debug shows its traceback); 130 interrupted
(Ctrl+C); 143 terminated (SIGTERM, e.g. a scheduler's pre-emption). Outputs are written
whole or not at all: an interrupted job leaves the previous file or none.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("agg")  # a command-line job never opens windows

import anndata  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import scanpy as sc  # noqa: E402
import scvi  # noqa: E402
import torch  # noqa: E402

from . import __version__, pl, tl  # noqa: E402
from ._atomic import atomic_file  # noqa: E402
from ._cli_inputs import (  # noqa: E402
    BUILTIN,
    InputError,
    add_training_options,
    load_data,
    read_h5ad,
    whole_number,
)
from ._cli_outputs import (  # noqa: E402
    check_accelerator,
    check_model_folder,
    check_output_file,
    check_writable_folder,
    save_figure,
    write_h5ad,
)
from ._cli_signals import (  # noqa: E402
    TERMINATED,
    StopWhenTerminated,
    quiet_swallowed_sigterm,
    stop_if_terminated,
    terminate,
)
from ._threads import default_threads  # noqa: E402
from .model import CplMixVAE  # noqa: E402
from .model._training_output import quiet_third_party  # noqa: E402
from .module import NonFiniteLossError  # noqa: E402

EXIT_BAD_INPUT, EXIT_TRAINING_FAILED, EXIT_UNEXPECTED = 1, 3, 4
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


def _embedding(adata: anndata.AnnData) -> None:
    """Compute a UMAP of the model's latent space ``X_cplmix`` unless the data carry one."""
    if "X_umap" in adata.obsm:
        return
    work = anndata.AnnData(obs=adata.obs[[]], obsm={"X_cplmix": adata.obsm["X_cplmix"]})
    sc.pp.neighbors(work, use_rep="X_cplmix")
    sc.tl.umap(work)
    adata.obsm["X_umap"] = work.obsm["X_umap"]


def _fit(
    adata: anndata.AnnData,
    args: argparse.Namespace,
    layer: str | None,
    label_key: str | None,
    n_types: int | None,
) -> tuple[CplMixVAE, dict]:
    """Train and annotate; return the model and the summary printed at the end."""
    if label_key is not None and label_key not in adata.obs:
        raise InputError(f"label key {label_key!r} is not a column of adata.obs.")
    if n_types is None and label_key is not None:
        n_types = adata.obs[label_key].nunique()
    if n_types is None:
        raise InputError("pass --n-types (there is no label column to take it from).")
    max_epochs = whole_number(args.max_epochs, "--max-epochs", 1)
    threads = whole_number(args.threads, "--threads", 1) or default_threads()
    check_accelerator(args.accelerator)
    start = time.perf_counter()
    torch.set_num_threads(threads)
    if args.seed is not None:
        with quiet_third_party():
            scvi.settings.seed = args.seed
    CplMixVAE.setup_anndata(adata, layer=layer, batch_key=args.batch_key)
    model = CplMixVAE(
        adata,
        n_categories=n_types,
        n_arms=args.n_arms,
        likelihood=args.likelihood,
        augmentation=args.augmentation,
    )
    model.train(
        max_epochs=max_epochs,
        accelerator=args.accelerator,
        enable_progress_bar=not args.quiet,
        callbacks=[StopWhenTerminated()],
    )
    model.annotate()
    summary = {
        "cells": adata.n_obs,
        "genes": adata.n_vars,
        "n_types": n_types,
        "augmentation": args.augmentation,
        "seed": args.seed,
        "threads": threads,
        "types_used": int(adata.obs["cplmix_type"].nunique()),
        "mean_agreement": round(float(adata.obs["cplmix_agreement"].mean()), 4),
        "mean_confidence": round(float(adata.obs["cplmix_confidence"].mean()), 4),
        "seconds": round(time.perf_counter() - start, 1),
        "scmixvae": __version__,
    }
    if label_key is not None:
        scores = tl.evaluate(adata, "cplmix_type", label_key)
        summary |= {k: round(v, 4) for k, v in scores.items()}
    return model, summary


def _write_figures(model: CplMixVAE, label_key: str | None, out: Path) -> None:
    """UMAP coloured by type, training curves, traversals and, with labels, the confusion.

    Called once the data and the model are written, so that a plotting error costs neither.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        adata = model.adata
        sc.pl.umap(adata, color="cplmix_type", show=False)
        save_figure(out / "umap_cplmix_type.png")
        pl.history(model, show=False)
        save_figure(out / "history.png")
        largest = list(adata.obs["cplmix_type"].value_counts().index[:4])
        # The state dimension that carries the most about these types (not a collapsed one).
        kl = model.get_state_kl().loc[largest].drop(columns="n_cells").mean()
        dimension = int(kl.to_numpy().argmax())
        pl.traversal(model, types=largest, dimension=dimension, show=False)
        plt.suptitle(f"state dimension {dimension} (mean KL to its prior {kl.iloc[dimension]:.2f})")
        save_figure(out / "traversal.png")
        if label_key is not None:
            pl.confusion(adata, "cplmix_type", label_key, show=False)
            save_figure(out / "confusion.png")
    except Exception as error:  # not KeyboardInterrupt: an interrupt stays one
        raise RuntimeError(
            f"the annotated data and the model were written, but a figure failed: {error}"
        ) from error


def _print_summary(summary: dict) -> None:
    width = max(map(len, summary))
    print("\n".join(f"{key:<{width}}  {value}" for key, value in summary.items()))


def _run_into_folder(args: argparse.Namespace, data: str) -> dict:
    """Run the ``run`` / ``demo`` job: everything into one output folder."""
    out = Path(args.out)
    check_writable_folder(out)
    adata, layer, label_key = load_data(data, args.layer, args.label_key)
    model, summary = _fit(adata, args, layer, label_key, _n_types(args))
    _embedding(adata)
    stop_if_terminated()
    write_h5ad(adata, out / "annotated.h5ad")
    model.save(out / "model", overwrite=True)  # the job's own folder: rewritten each run
    summary = {"data": data} | summary
    with atomic_file(out / "summary.json") as temporary:
        temporary.write_text(json.dumps(summary, indent=2))
    _write_figures(model, label_key, out)
    _print_summary(summary)
    print(f"results in {out.resolve()}: annotated.h5ad, model/, *.png, summary.json")
    return summary


def _command_run(args: argparse.Namespace) -> None:
    _run_into_folder(args, args.data)


def _command_demo(args: argparse.Namespace) -> None:
    _run_into_folder(args, "pbmc68k")


def _n_types(args: argparse.Namespace) -> int | None:
    return whole_number(args.n_types, "--n-types", 2)


def _command_fit(args: argparse.Namespace) -> None:
    output = Path(args.output)
    check_output_file(output, [Path(args.input)], args.overwrite, ".h5ad")
    figures = Path(args.figures) if args.figures else output.with_name(output.stem + "_figures")
    check_writable_folder(figures)
    if args.model_dir:
        check_model_folder(Path(args.model_dir), args.overwrite)
    adata = read_h5ad(args.input)
    model, summary = _fit(adata, args, args.layer, args.label_key, _n_types(args))
    _embedding(adata)
    stop_if_terminated()
    write_h5ad(adata, output)
    if args.model_dir:
        model.save(args.model_dir, overwrite=True)  # checked before training: empty, or --overwrite
    _write_figures(model, args.label_key, figures)
    _print_summary({"input": args.input} | summary)
    print(f"wrote {output} and figures in {figures}")


def _command_evaluate(args: argparse.Namespace) -> None:
    adata = read_h5ad(args.input)
    for column in (args.key, args.reference):
        if column not in adata.obs:
            raise InputError(
                f"{column!r} is not a column of obs in {args.input!r} "
                f"(columns: {list(adata.obs.columns)})."
            )
    scores = tl.evaluate(adata, args.key, args.reference)
    pl.confusion(adata, args.key, args.reference, show=False)
    source = Path(args.input)
    figure = Path(args.figure or source.with_name(f"{source.stem}_figures") / "confusion.png")
    check_writable_folder(figure.parent)
    save_figure(figure)
    if args.json:
        print(json.dumps(scores))
    else:
        _print_summary({k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()})
        print(f"confusion figure: {figure}")


def _command_convert(args: argparse.Namespace) -> None:
    check_model_folder(Path(args.output), args.overwrite)
    adata = read_h5ad(args.data) if args.data else None
    CplMixVAE.convert(args.model, args.output, adata=adata, overwrite=True)  # checked above
    print(f"wrote {args.output} (safe format)")


def _add_folder_job(commands, name: str, handler, **texts) -> argparse.ArgumentParser:
    """Add a command that trains and writes everything into one ``--out`` folder."""
    parser = commands.add_parser(name, **texts)
    parser.add_argument("--out", default="scmixvae_out", help="output folder")
    add_training_options(parser, n_types_required=False)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``scmixvae`` command."""
    parser = argparse.ArgumentParser(
        prog="scmixvae",
        description="Cell types and their continuous states with the coupled mixture VAE.",
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--version", action="version", version=f"scmixvae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser(
        "fit",
        help="train on an .h5ad and write it back annotated, with figures",
        description="Train CplMixVAE on IN.h5ad, annotate it (obs cplmix_type, ...) and "
        "write OUT.h5ad, plus figures in OUT_figures/.",
    )
    fit.add_argument("input", metavar="IN.h5ad")
    fit.add_argument("-o", "--output", required=True, metavar="OUT.h5ad")
    add_training_options(fit, n_types_required=True)
    fit.add_argument("--figures", default=None, help="figure folder (default: OUT_figures/)")
    fit.add_argument("--model-dir", default=None, help="also save the model to this folder")
    fit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing model folder, or the input itself when OUT is IN",
    )
    fit.set_defaults(handler=_command_fit)

    _add_folder_job(
        commands,
        "demo",
        _command_demo,
        help="the README's main job: PBMC 68k (reduced), end to end",
        description="Train on the PBMC 68k (reduced) data shipped with scanpy and write the "
        "annotated data, the model, figures and a summary to --out.",
    )
    run = _add_folder_job(
        commands,
        "run",
        _command_run,
        help="train on a built-in dataset or an .h5ad; everything into one folder",
        description="Like demo, on any built-in dataset or .h5ad file.",
    )
    run.add_argument("--data", default="pbmc68k", help=f"{sorted(BUILTIN)} or a path to an .h5ad")

    evaluate = commands.add_parser(
        "evaluate",
        help="score the types of an annotated .h5ad against reference labels",
        description="Print ACC (Hungarian-matched), ARI and NMI of obs[--key] against "
        "obs[--reference], and draw the confusion heatmap.",
    )
    evaluate.add_argument("input", metavar="OUT.h5ad")
    evaluate.add_argument("--reference", required=True, help="obs column of reference labels")
    evaluate.add_argument("--key", default="cplmix_type", help="obs column of inferred types")
    evaluate.add_argument(
        "--figure", default=None, help="default: OUT_figures/confusion.png, beside fit's figures"
    )
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluate.set_defaults(handler=_command_evaluate)

    convert = commands.add_parser(
        "convert",
        help="convert a model saved by scmixvae 0.1.0 (a pickle) to the safe format",
        description="Read a model saved by scmixvae 0.1.0 (model.pt, a pickle) and write it in "
        "the safe format that loads without running code. Reading a pickle can run any code "
        "it holds: convert only a model whose source you trust.",
    )
    convert.add_argument("model", metavar="OLD_MODEL_DIR")
    convert.add_argument("output", metavar="NEW_MODEL_DIR")
    convert.add_argument(
        "--data", default=None, help="an .h5ad with the training genes, if not saved with it"
    )
    convert.add_argument("--overwrite", action="store_true", help="replace NEW_MODEL_DIR")
    convert.set_defaults(handler=_command_convert)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one ``warning: ...`` line, without the source line behind it."""
    print(f"warning: {message}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    try:
        args.handler(args)
        stop_if_terminated()
    except KeyboardInterrupt:
        if TERMINATED.is_set():
            print("terminated (SIGTERM); no output was left half-written", file=sys.stderr)
            return EXIT_TERMINATED
        print("interrupted; no output was left half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, InputError | ValueError):
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(error, NonFiniteLossError):
            print(f"error: training failed: {error}", file=sys.stderr)
            return EXIT_TRAINING_FAILED
        print(f"error: {error} (--debug shows where)", file=sys.stderr)
        return EXIT_UNEXPECTED
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scmixvae`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    TERMINATED.clear()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if in_main_thread else None
    show_warning, warnings.showwarning = warnings.showwarning, _show_warning
    unraisable_hook, sys.unraisablehook = sys.unraisablehook, quiet_swallowed_sigterm
    try:
        return _run(args)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        warnings.showwarning = show_warning
        sys.unraisablehook = unraisable_hook


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
