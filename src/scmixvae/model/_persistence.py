"""Saved models: a folder of data that is read without running any code.

A saved model is a folder with

``model.safetensors``
    the module's weights and buffers (safetensors: tensors and a JSON header, nothing else);
``model.json``
    the format version, the constructor's settings, scvi-tools' data registry, the training
    genes, the history and the pruning rounds, as plain JSON (:mod:`._plain_data`), with the
    SHA-256 of the weights file;
``adata.h5ad`` (or ``adata.h5mu``)
    the data, only with ``save(..., save_anndata=True)``.

The folder is written under a temporary name and renamed into place, so an interrupted save
leaves the previous folder or the new one. Models saved by scmixvae 0.1.0 before this format
are one pickle (``model.pt``), which can run code when read: they are refused unless the user
says they trust the file (``trust_pickle=True``, or ``scmixvae convert``).
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from anndata import AnnData
from mudata import MuData
from safetensors.torch import save_file
from scvi.model._utils import parse_device_args

from .. import __version__
from .._atomic import atomic_directory
from ..augment import AUGMENTATIONS
from ._plain_data import NotPlainDataError, dumps
from ._saved_model import (
    DATA_FILES,
    DERIVED_MODULE_ARGUMENTS,
    SAVE_FORMAT,
    SAVED_ATTRIBUTES,
    SETTINGS_FILE,
    WEIGHTS_FILE,
    SavedModel,
    not_a_model,
    sha256_of,
)


def portable_settings(model) -> dict:
    """Return every setting that rebuilds ``model``, as plain data (the augmenter by name).

    The constructor's arguments, and every argument of the module's constructor read back
    from the module, so that a saved model keeps its settings when a default changes.
    """
    params = model.init_params_
    settings = dict(params["non_kwargs"])
    for group in params["kwargs"].values():
        settings |= group
    module = model.module
    model_arguments = set(inspect.signature(type(model).__init__).parameters)
    for name in inspect.signature(type(module).__init__).parameters:
        if name not in model_arguments | DERIVED_MODULE_ARGUMENTS:
            settings[name] = getattr(module, name)
    augmenter = module.augmenter
    names = [name for name, cls in AUGMENTATIONS.items() if type(augmenter) is cls]
    if not names:
        raise ValueError(
            f"A model with a custom augmenter ({type(augmenter).__name__}) cannot be saved: "
            "only the built-in augmenters can be rebuilt from a saved file."
        )
    return settings | {"augmentation": names[0], "augmentation_kwargs": augmenter.config()}


class PersistenceMixin:
    """``save`` / ``load`` in scmixvae's safe format, with the format and gene checks."""

    def save(
        self,
        dir_path: str | os.PathLike,
        overwrite: bool = False,
        save_anndata: bool = False,
        **anndata_write_kwargs,
    ) -> None:
        """Save the model to a folder that can be loaded without running code.

        The folder is written under a temporary name and renamed into place: an interrupted
        save leaves the previous folder (or none), never a half-written one.

        Parameters
        ----------
        dir_path
            Folder to create.
        overwrite
            Replace an existing folder.
        save_anndata
            Also save the data (``adata.h5ad``, or ``adata.h5mu`` for a MuData).
        **anndata_write_kwargs
            Passed to ``write_h5ad`` / ``write_h5mu``.

        Examples
        --------
        >>> model.save("my_model/", overwrite=True)  # doctest: +SKIP

        """
        document = {
            "model": type(self).__name__,
            "format": SAVE_FORMAT,
            "scmixvae_version": __version__,
            "settings": portable_settings(self),
            "registry": self.registry_,
            "attributes": {
                name: getattr(self, name)
                for name in SAVED_ATTRIBUTES
                if getattr(self, name, None) is not None
            },
        }
        try:
            dumps(document)  # refuse what is not plain data before anything is written
        except NotPlainDataError as error:
            raise ValueError(f"The model cannot be saved: {error}") from None
        weights = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        with atomic_directory(dir_path, overwrite=overwrite) as folder:
            save_file(weights, folder / WEIGHTS_FILE)
            document["weights_sha256"] = sha256_of(folder / WEIGHTS_FILE)
            (folder / SETTINGS_FILE).write_text(dumps(document), encoding="utf-8")
            if save_anndata:
                if isinstance(self.adata, MuData):
                    self.adata.write_h5mu(folder / "adata.h5mu", **anndata_write_kwargs)
                else:
                    self.adata.write_h5ad(folder / "adata.h5ad", **anndata_write_kwargs)

    @classmethod
    def load(
        cls,
        dir_path: str | os.PathLike,
        adata: AnnData | MuData | None = None,
        accelerator: str = "auto",
        device: int | str = "auto",
        trust_pickle: bool = False,
    ):
        """Load a saved model; reading the folder runs no code from it.

        A folder that is not a scmixvae model, a model of another format version, or data
        whose genes are not the training genes in the training order are refused with a
        :class:`ValueError` that says what to do; the AnnData is left untouched.

        Parameters
        ----------
        dir_path
            Folder written by :meth:`save`.
        adata
            Data with the training genes; ``None`` for the data saved with the model.
        accelerator, device
            Where to put the model (Lightning's names, as in scvi-tools).
        trust_pickle
            Also read a model saved by scmixvae 0.1.0 as a pickle (``model.pt``). Reading a
            pickle can run any code it holds: only for files whose source you trust.

        Examples
        --------
        >>> model = scmixvae.CplMixVAE.load("my_model/", adata=adata)  # doctest: +SKIP

        """
        saved = SavedModel(dir_path, trust_pickle=trust_pickle)
        _, _, torch_device = parse_device_args(
            accelerator=accelerator, devices=device, return_device="torch",
            validate_single_device=True,
        )  # fmt: skip
        adata = saved.setup(adata, cls)
        try:
            model = cls(adata, **saved.settings)
        except ValueError:  # a setting out of range: the message names it
            raise
        except Exception as error:  # a damaged setting fails inside torch in any way
            raise not_a_model(saved.folder, f"its settings do not fit ({error!r})") from None
        for name, value in saved.attributes.items():
            setattr(model, name, value)
        model.module.on_load(model)
        try:
            model.module.load_state_dict(saved.weights)
        except RuntimeError as error:
            raise not_a_model(saved.folder, f"its weights do not fit ({error})") from None
        model.to_device(torch_device)
        model.module.eval()
        return model

    @classmethod
    def convert(
        cls,
        dir_path: str | os.PathLike,
        new_path: str | os.PathLike,
        adata: AnnData | MuData | None = None,
        overwrite: bool = False,
    ) -> None:
        """Convert a model saved by scmixvae 0.1.0 as a pickle to the safe format.

        Reading the pickle can run any code it holds: convert only a file you trust.

        Parameters
        ----------
        dir_path
            Folder of the old model (with ``model.pt``).
        new_path
            Folder to write the converted model to.
        adata
            The training data (or data with the training genes); ``None`` for the data
            saved with the old model. Saved with the new model if they were with the old.
        overwrite
            Replace an existing ``new_path``.

        Examples
        --------
        >>> scmixvae.CplMixVAE.convert("old_model/", "new_model/", adata)  # doctest: +SKIP

        """
        with_data = any((Path(dir_path) / name).is_file() for name in DATA_FILES)
        model = cls.load(dir_path, adata, trust_pickle=True)
        model.save(new_path, overwrite=overwrite, save_anndata=with_data)
