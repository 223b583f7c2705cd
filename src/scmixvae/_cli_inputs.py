"""What the command line reads: an ``.h5ad`` or a built-in dataset, and numeric options."""

from __future__ import annotations

from pathlib import Path

import anndata
import scanpy as sc

from . import datasets


class InputError(Exception):
    """A problem with what the user asked for; printed as ``error: ...``, exit code 1."""


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
