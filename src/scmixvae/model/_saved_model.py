"""Reading a saved model folder as data: its settings, registry, attributes and weights.

Nothing in the folder is unpickled or run; see :mod:`scmixvae.model._persistence` for the
format.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import anndata
import mudata
import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from mudata import MuData
from safetensors import SafetensorError
from safetensors.torch import load_file

from .. import __version__
from ._plain_data import NotPlainDataError, loads
from ._removed_settings import saved_settings
from ._validation import check_genes, data_source

#: Version of the saved-model layout. Raise it only when the weights' layout changes: the
#: settings are saved whole, so a model keeps its own when a default changes.
SAVE_FORMAT = 5
#: The last format written as one pickle (``model.pt``), readable with ``trust_pickle=True``.
PICKLE_FORMAT = 4
WEIGHTS_FILE, SETTINGS_FILE, LEGACY_FILE = "model.safetensors", "model.json", "model.pt"
#: The data saved with ``save_anndata=True``: an AnnData, or a MuData.
DATA_FILES = ("adata.h5ad", "adata.h5mu")


def _is_frame_dict(value) -> bool:
    return isinstance(value, dict) and all(isinstance(v, pd.DataFrame) for v in value.values())


def _is_string_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_index_array(value) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu"


#: Attributes saved with a model besides its settings (the others are rebuilt from them),
#: with the test each must pass when read back.
SAVED_ATTRIBUTES = {
    "history_": _is_frame_dict,
    "is_trained_": lambda value: isinstance(value, bool),
    "train_indices_": _is_index_array,
    "validation_indices_": _is_index_array,
    "test_indices_": _is_index_array,
    "training_genes_": _is_string_list,
    "category_names": _is_string_list,
    "augmenter_history_": lambda value: isinstance(value, dict),
    "pruning_rounds_": lambda value: isinstance(value, pd.DataFrame),
}
_SETUP_METHODS = ("setup_anndata", "setup_mudata")
#: Module arguments the model derives from the data and its own arguments, not saved.
DERIVED_MODULE_ARGUMENTS = {"self", "n_input", "n_slots", "n_batch", "augmentation_kwargs"}
PICKLE_RISK = (
    "Reading a pickle can run any code it holds, so load it only if you trust where it "
    "came from: then CplMixVAE.load(path, adata, trust_pickle=True), or convert it once "
    "with `scmixvae convert PATH NEW_PATH` and share the converted folder."
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def not_a_model(folder: Path, why: str) -> ValueError:
    return ValueError(f"{str(folder)!r} is not a scmixvae model that can be loaded: {why}.")


class SavedModel:
    """What a saved model folder holds, read as data: settings, registry, attributes, weights.

    Parameters
    ----------
    folder
        The folder given to :meth:`CplMixVAE.save <scmixvae.CplMixVAE.save>`.
    trust_pickle
        Read a model saved in the pickle format of scmixvae 0.1.0 (``model.pt``). Only for
        a file whose source you trust: reading a pickle can run code.

    Examples
    --------
    >>> saved = SavedModel("my_model/")  # doctest: +SKIP
    >>> saved.settings["n_categories"]  # doctest: +SKIP

    """

    def __init__(self, folder: str | os.PathLike, trust_pickle: bool = False):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(
                f"No saved model at {str(self.folder)!r}; pass the folder given to model.save()."
            )
        if (self.folder / SETTINGS_FILE).is_file():
            self._read_safe_format()
        elif (self.folder / LEGACY_FILE).is_file():
            if not trust_pickle:
                raise ValueError(
                    f"{str(self.folder)!r} is not a scmixvae model in the safe format: it holds "
                    f"a pickle ({LEGACY_FILE}), as scmixvae 0.1.0 and scvi-tools save models. "
                    f"{PICKLE_RISK}"
                )
            self._read_pickle_format()
        else:
            raise not_a_model(self.folder, f"it has no {SETTINGS_FILE}")

    def _read_safe_format(self) -> None:
        try:
            document = loads((self.folder / SETTINGS_FILE).read_text(encoding="utf-8"))
        except (NotPlainDataError, UnicodeDecodeError) as error:
            raise not_a_model(self.folder, f"{SETTINGS_FILE} is not readable ({error})") from None
        if not isinstance(document, dict) or document.get("model") != "CplMixVAE":
            raise not_a_model(self.folder, f"{SETTINGS_FILE} does not describe a CplMixVAE")
        saved_format = document.get("format")
        if saved_format != SAVE_FORMAT:
            version = document.get("scmixvae_version", "unknown")
            newer = isinstance(saved_format, int) and saved_format > SAVE_FORMAT
            raise ValueError(
                f"The model in {str(self.folder)!r} (saved by scmixvae {version}) uses format "
                f"{saved_format!r}, {'newer' if newer else 'other'} than this scmixvae reads "
                f"({SAVE_FORMAT}). This is scmixvae {__version__}: install the version that "
                "saved it to use it, or train the model again."
            )
        try:
            settings = dict(document["settings"])
            self.registry = dict(document["registry"])
            self.attributes = dict(document["attributes"])
            weights_hash = str(document["weights_sha256"])
        except (KeyError, TypeError, ValueError) as error:
            raise not_a_model(self.folder, f"{SETTINGS_FILE} lacks {error}") from None
        saved_by = str(document.get("scmixvae_version", "0.1.0"))
        self.settings = saved_settings(settings, self.folder, saved_by)
        unexpected = [
            name
            for name, value in self.attributes.items()
            if name not in SAVED_ATTRIBUTES or not SAVED_ATTRIBUTES[name](value)
        ]
        if unexpected or "training_genes_" not in self.attributes:
            raise not_a_model(
                self.folder, f"unexpected or missing attributes {unexpected or ['training_genes_']}"
            )
        weights = self.folder / WEIGHTS_FILE
        if not weights.is_file() or sha256_of(weights) != weights_hash:
            raise not_a_model(
                self.folder, f"{WEIGHTS_FILE} is missing or not the one saved with the settings"
            )
        try:
            self.weights = load_file(weights, device="cpu")
        except (SafetensorError, OSError) as error:
            raise not_a_model(self.folder, f"{WEIGHTS_FILE} is not readable ({error})") from None

    def _read_pickle_format(self) -> None:
        try:
            saved = torch.load(self.folder / LEGACY_FILE, map_location="cpu", weights_only=False)
            attributes = dict(saved["attr_dict"])
            self.weights = dict(saved["model_state_dict"])
            self.weights.pop("pyro_param_store", None)  # scvi-tools' save adds it
            self.registry = dict(attributes.pop("registry_"))
            init_params = attributes.pop("init_params_")
        except Exception as error:  # a corrupt or foreign pickle fails in any way
            raise not_a_model(self.folder, f"{LEGACY_FILE} is not readable ({error})") from None
        if self.registry.get("model_name") != "CplMixVAE":
            raise not_a_model(self.folder, f"it is a {self.registry.get('model_name')} model")
        if attributes.get("save_format_") != PICKLE_FORMAT:
            raise ValueError(
                f"The model in {str(self.folder)!r} uses pickle format "
                f"{attributes.get('save_format_')!r}; only format {PICKLE_FORMAT} can be "
                "converted. Train the model again."
            )
        settings = dict(init_params["non_kwargs"])
        for group in init_params["kwargs"].values():
            settings |= group
        self.settings = saved_settings(settings, self.folder, "0.1.0")
        self.attributes = {k: v for k, v in attributes.items() if k in SAVED_ATTRIBUTES}

    def setup(self, adata: AnnData | MuData | None, model_cls: type) -> AnnData | MuData:
        """Register ``adata`` (or the saved data) as it was for training; return the data."""
        if adata is None:
            adata = self._saved_data()
        if not isinstance(adata, AnnData | MuData):
            raise ValueError(f"adata must be an AnnData or MuData, got {type(adata).__name__}.")
        if self.registry.get("model_name") != model_cls.__name__:
            raise not_a_model(self.folder, "its registry names another model class")
        method = self.registry.get("setup_method_name")
        if method not in _SETUP_METHODS:  # never call a method named by the file otherwise
            raise not_a_model(self.folder, f"unknown set-up method {method!r}")
        setup_args = self.registry.get("setup_args")
        if not isinstance(setup_args, dict):
            raise not_a_model(self.folder, "its registry has no set-up arguments")
        try:
            data, _ = data_source(adata, setup_args)
            check_genes(data.var_names, self.attributes["training_genes_"])
            getattr(model_cls, method)(adata, source_registry=self.registry, **setup_args)
        except ValueError:  # ours or scvi-tools', about the data: the message says what to do
            raise
        except Exception as error:  # a damaged registry fails inside scvi-tools in any way
            raise not_a_model(self.folder, f"its registry does not fit ({error!r})") from None
        return adata

    def _saved_data(self) -> AnnData | MuData:
        anndata_file, mudata_file = (self.folder / name for name in DATA_FILES)
        if anndata_file.is_file():
            return anndata.read_h5ad(anndata_file)
        if mudata_file.is_file():
            return mudata.read_h5mu(mudata_file)
        raise ValueError(
            f"The model in {str(self.folder)!r} was saved without its data; pass adata=."
        )
