"""Checks on user input, run before anything is written into the AnnData.

Each failure is a :class:`ValueError` that says what is wrong and what to do about it.
The matrix is inspected in row blocks (or through the stored non-zeros of a sparse matrix),
so no dense copy of the whole matrix is ever made.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from anndata import AnnData
from mudata import MuData
from scipy import sparse

from ..module import COUNT_LIKELIHOODS

_BLOCK_ROWS = 10_000
_BLOCK_VALUES = 20_000_000


def _value_blocks(matrix) -> Iterator[np.ndarray]:
    """Yield the values of ``matrix`` block by block (sparse: only stored values).

    Works on in-memory matrices and on backed ones (``read_h5ad(..., backed="r")``), which
    are read one block of rows at a time.
    """
    if sparse.issparse(matrix):
        values = np.asarray(matrix.data)
        # In slices: the checks' temporaries stay small next to a matrix of 10^9 values.
        for start in range(0, values.size, _BLOCK_VALUES):
            yield values[start : start + _BLOCK_VALUES]
        return
    for start in range(0, matrix.shape[0], _BLOCK_ROWS):
        block = matrix[start : start + _BLOCK_ROWS]
        yield np.asarray(block.data) if sparse.issparse(block) else np.asarray(block)


def _where(layer: str | None) -> str:
    return "adata.X" if layer is None else f"adata.layers[{layer!r}]"


def get_matrix(adata: AnnData, layer: str | None):
    """Return ``adata.X`` or ``adata.layers[layer]``, with a clear error if it is missing."""
    if layer is None:
        if adata.X is None:
            raise ValueError(
                "adata.X is empty; pass `layer=` naming the layer that holds the data."
            )
        return adata.X
    if layer not in adata.layers:
        raise ValueError(
            f"Layer {layer!r} not found in adata.layers (available: {list(adata.layers)}). "
            "Pass an existing layer, or layer=None to use adata.X."
        )
    return adata.layers[layer]


def refuse_view(adata) -> None:
    """Refuse to register a view: the registration would go to a copy, not the user's object.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> refuse_view(anndata.AnnData(np.ones((3, 2)))[:2])
    Traceback (most recent call last):
    ValueError: The data passed is a view (a subset of another object). Set up a copy instead: adata = adata[...].copy().

    """  # noqa: E501
    if adata.is_view:
        raise ValueError(
            "The data passed is a view (a subset of another object). Set up a copy instead: "
            "adata = adata[...].copy()."
        )


def validate_setup(adata: AnnData, layer: str | None, batch_key: str | None) -> None:
    """Check the arguments of ``setup_anndata`` and that the data are finite.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> validate_setup(anndata.AnnData(np.ones((3, 2))), layer=None, batch_key=None)

    """
    if adata.n_obs == 0:
        raise ValueError("The AnnData has zero cells; there is nothing to model.")
    if adata.n_vars == 0:
        raise ValueError("The AnnData has zero genes; there is nothing to model.")
    duplicated = adata.var_names[adata.var_names.duplicated()].unique()
    if len(duplicated):
        raise ValueError(
            f"{len(duplicated)} gene names occur more than once (e.g. {list(duplicated[:5])}), "
            "so the model's genes could not be matched by name on new data. Make them unique "
            "first: adata.var_names_make_unique()."
        )
    matrix = get_matrix(adata, layer)
    if batch_key is not None and batch_key not in adata.obs:
        raise ValueError(
            f"batch_key {batch_key!r} is not a column of adata.obs "
            f"(columns: {list(adata.obs.columns)})."
        )
    if batch_key is not None and adata.obs[batch_key].isna().any():
        raise ValueError(
            f"adata.obs[{batch_key!r}] has missing values; fill them in or drop those cells."
        )
    for block in _value_blocks(matrix):
        if not np.isfinite(block).all():
            raise ValueError(
                f"{_where(layer)} contains NaN or infinite values; remove or impute them "
                "before setting up the model."
            )


def validate_values(adata: AnnData, layer: str | None, likelihood: str) -> None:
    """Check that the data suit ``likelihood``: counts for count likelihoods, [0, 1] for Bernoulli.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> validate_values(anndata.AnnData(np.ones((3, 2))), None, "nb")

    """
    matrix = get_matrix(adata, layer)
    for block in _value_blocks(matrix):
        if likelihood in COUNT_LIKELIHOODS:
            if (block < 0).any() or (block != np.round(block)).any():
                raise ValueError(
                    f"likelihood={likelihood!r} needs raw, non-negative integer counts, but "
                    f"{_where(layer)} has negative or non-integer values. Set up the model on "
                    "the raw counts (e.g. `layer='counts'`), or use likelihood='normal' for "
                    "log-normalised data."
                )
        elif likelihood == "bernoulli" and ((block < 0) | (block > 1)).any():
            raise ValueError(
                f"likelihood='bernoulli' needs values in [0, 1], but {_where(layer)} has values "
                "outside it. Rescale the data, or choose another likelihood."
            )


def training_split_options(
    n_obs: int, batch_size: int, train_size: float | None, datasplitter_kwargs: dict | None
) -> dict:
    """Check that the cells can be trained on; return the data splitter's keyword arguments.

    BatchNorm cannot train on a minibatch of one cell. scvi-tools moves a last minibatch of
    1-2 cells to the validation set when ``train_size`` is left to it, but not when it is
    given; then such a minibatch is dropped instead.

    Examples
    --------
    >>> training_split_options(1000, 128, None, None)
    {}
    >>> training_split_options(129, 128, 1.0, None)
    {'drop_last': True}

    """
    if not isinstance(batch_size, int | np.integer) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2, got {batch_size!r}.")
    if n_obs < 3:
        raise ValueError(
            f"Training needs at least 3 cells (BatchNorm needs 2 per minibatch); got {n_obs}."
        )
    options = dict(datasplitter_kwargs or {})
    if train_size is not None and int(np.ceil(train_size * n_obs)) % batch_size == 1:
        options.setdefault("drop_last", True)
    return options


def data_source(adata: AnnData | MuData, setup_args: dict) -> tuple[AnnData, str | None]:
    """Return the AnnData holding a model's genes (a MuData's RNA modality) and its layer."""
    if isinstance(adata, MuData):
        return adata.mod[setup_args["modalities"]["rna_layer"]], setup_args["rna_layer"]
    return adata, setup_args["layer"]


def check_genes(data_genes: Sequence[str], model_genes: Sequence[str]) -> None:
    """Refuse data whose genes differ from the training genes, in content or in order.

    Examples
    --------
    >>> check_genes(["a", "b"], ["a", "b"])
    >>> check_genes(["b", "a"], ["a", "b"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: The data have the model's 2 genes in another order. ...

    """
    data_genes = np.asarray(data_genes, dtype=str)
    model_genes = np.asarray(model_genes, dtype=str)
    if np.array_equal(data_genes, model_genes):
        return
    missing = np.setdiff1d(model_genes, data_genes)
    extra = np.setdiff1d(data_genes, model_genes)
    if len(missing) == 0 and len(extra) == 0 and len(data_genes) == len(model_genes):
        raise ValueError(
            f"The data have the model's {len(model_genes)} genes in another order. Reorder "
            "them first: adata = adata[:, model_genes].copy(), with model_genes = "
            "model.training_genes_."
        )
    raise ValueError(
        f"The data's genes differ from the {len(model_genes)} the model was trained on: "
        f"{len(missing)} missing (e.g. {list(missing[:5])}), {len(extra)} not in the model "
        f"(e.g. {list(extra[:5])}). Select the training genes (model.training_genes_) in the "
        "same order; a gene the data lack cannot be made up."
    )
