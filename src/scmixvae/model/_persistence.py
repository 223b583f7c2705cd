"""Saved models: the format version they record, and the checks made when one is loaded."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from anndata import AnnData
from mudata import MuData

from .. import __version__

#: Version of the saved-model layout (weights, buffers and attributes). Raise it whenever a
#: model saved before the change could not be loaded correctly after it.
#: 2: the defaults of ``initialization`` and ``category_input`` changed, and a model saved
#: without them would rebuild with the new ones.
#: 3: the default ``merge_method`` changed to ``"geodesic"``; a model saved without it would
#: report, and before its merge use, the new one.
#: 4: the k-means teacher reads the counts' Pearson residuals by default (``clustering_input``)
#: and holds their gene fractions; a model saved before would lack them.
SAVE_FORMAT = 4


def read_saved_attributes(dir_path: str, prefix: str | None = None) -> dict:
    """Return the attributes stored in a saved model folder (without building the model)."""
    path = os.path.join(dir_path, f"{prefix or ''}model.pt")
    if not os.path.exists(path):
        raise ValueError(f"No saved model at {path!r}; pass the folder given to model.save().")
    # Memory-mapped, so the weights are not read twice (scvi-tools' load reads them next).
    saved = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    return saved.get("attr_dict", {})


def data_source(adata: AnnData | MuData, setup_args: dict) -> tuple[AnnData, str | None]:
    """Return the AnnData holding a model's genes (a MuData's RNA modality) and its layer."""
    if isinstance(adata, MuData):
        return adata.mod[setup_args["modalities"]["rna_layer"]], setup_args["rna_layer"]
    return adata, setup_args["layer"]


def check_save_format(attributes: dict, current_version: str, dir_path: str) -> None:
    """Refuse a saved model whose format this version of scmixvae cannot read."""
    saved_format = attributes.get("save_format_")
    saved_version = attributes.get("scmixvae_version_", "unknown (before 0.1.0 formats)")
    if saved_format == SAVE_FORMAT:
        return
    if saved_format is None:
        problem = "records no format version: it was saved by a development version"
    elif saved_format > SAVE_FORMAT:
        problem = f"uses format {saved_format}, newer than this scmixvae reads ({SAVE_FORMAT})"
    else:
        problem = f"uses format {saved_format}, older than this scmixvae reads ({SAVE_FORMAT})"
    raise ValueError(
        f"The model in {dir_path!r} (saved by scmixvae {saved_version}) {problem}. "
        f"This is scmixvae {current_version}: install the version that saved it to use it, "
        "or train the model again."
    )


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


class PersistenceMixin:
    """``save`` / ``load`` that record and check the package and format versions and the genes."""

    def _record_versions(self) -> None:
        """Stamp the model with this package's version and save format (saved by scvi-tools)."""
        self.scmixvae_version_ = __version__
        self.save_format_ = SAVE_FORMAT

    def save(self, dir_path: str, *args, **kwargs) -> None:
        """Save the model (scvi-tools' ``save``), stamped with the scmixvae and format versions.

        Examples
        --------
        >>> model.save("my_model/", overwrite=True)  # doctest: +SKIP

        """
        self._record_versions()
        super().save(dir_path, *args, **kwargs)

    @classmethod
    def load(cls, dir_path: str, adata: AnnData | None = None, **kwargs):
        """Load a saved model (scvi-tools' ``load``) after checking that it can be used.

        A model saved in another format version, or data whose genes are not the training
        genes in the training order, is refused with a :class:`ValueError` that says what to
        do; the AnnData is left untouched.

        Examples
        --------
        >>> model = scmixvae.CplMixVAE.load("my_model/", adata=adata)  # doctest: +SKIP

        """
        attributes = read_saved_attributes(dir_path, kwargs.get("prefix"))
        check_save_format(attributes, __version__, dir_path)
        if isinstance(adata, AnnData | MuData):
            data, _ = data_source(adata, attributes["registry_"]["setup_args"])
            check_genes(data.var_names, attributes["training_genes_"])
        return super().load(dir_path, adata=adata, **kwargs)
