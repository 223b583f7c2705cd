"""What the command line reads: an ``.h5ad`` or a built-in dataset, and the training options."""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata
import scanpy as sc

from . import datasets
from .augment import AUGMENTATIONS
from .module import LIKELIHOODS


class InputError(Exception):
    """A problem with what the user asked for; printed as ``error: ...``, exit code 1."""


#: Augmentations for cells (``"affine"`` is for images and needs their shape).
CELL_AUGMENTATIONS = [name for name in AUGMENTATIONS if name != "affine"]
#: Built-in datasets: loader, layer with counts, reference label column.
BUILTIN = {
    "pbmc68k": (datasets.pbmc68k, "counts", "bulk_labels"),
    "zeisel": (datasets.zeisel, "counts", "class"),
    "simulate": (datasets.simulate, "counts", "type"),
}


def read_h5ad(path: str) -> anndata.AnnData:
    """Read the ``.h5ad`` at ``path``, or raise an :class:`InputError` that says why not."""
    if not Path(path).is_file():
        raise InputError(f"{path!r} is not a file; pass the path of an .h5ad file.")
    try:
        return sc.read_h5ad(path)
    except OSError as error:
        raise InputError(f"could not read {path!r} as an .h5ad file ({error}).") from None


def load_data(
    data: str, layer: str | None, label_key: str | None
) -> tuple[anndata.AnnData, str | None, str | None]:
    """Return a built-in dataset (with its count layer and labels) or an ``.h5ad`` file."""
    if data in BUILTIN:
        loader, default_layer, default_label = BUILTIN[data]
        return loader(), layer or default_layer, label_key or default_label
    if not Path(data).exists():
        raise InputError(f"{data!r} is neither a built-in dataset {sorted(BUILTIN)} nor a file.")
    return read_h5ad(data), layer, label_key


def whole_number(text: str | None, option: str, minimum: int) -> int | None:
    """Parse an option that must be an integer >= ``minimum`` (``None`` stays ``None``)."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise InputError(f"{option} must be an integer >= {minimum}, got {text!r}.")
    return value


def add_training_options(parser: argparse.ArgumentParser, *, n_types_required: bool) -> None:
    """Add the options of every command that trains: types, data, model and resources."""
    parser.add_argument(
        "--n-types",
        "--n-categories",
        dest="n_types",
        required=n_types_required,
        default=None,
        help="number of types K"
        + ("" if n_types_required else " (default: the number of reference labels)"),
    )
    parser.add_argument("--layer", default=None, help="layer with raw counts (default: X)")
    parser.add_argument("--batch-key", default=None, help="obs column with batches")
    parser.add_argument(
        "--label-key", default=None, help="obs column with reference labels, for scoring"
    )
    parser.add_argument("--n-arms", type=int, default=2, help="coupled arms (default: 2)")
    parser.add_argument("--likelihood", default="nb", choices=LIKELIHOODS)
    parser.add_argument(
        "--augmentation",
        default="none",
        choices=CELL_AUGMENTATIONS,
        help="each arm's copy of a cell in training (default: none)",
    )
    parser.add_argument(
        "--max-epochs", default=None, help="default: 300,000 cells seen, 20-400 epochs"
    )
    parser.add_argument(
        "--accelerator", default="auto", choices=["auto", "cpu", "gpu", "cuda", "mps"]
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for reproducible results (default: none, as in the Python API)",
    )
    parser.add_argument(
        "--threads",
        default=None,
        help="CPU threads for training (default: OMP_NUM_THREADS, else the free cores)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress (a bar, or lines in a log file)"
    )
