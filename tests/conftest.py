import logging
import os
import warnings

os.environ.setdefault("MPLBACKEND", "agg")

import pytest  # noqa: E402
import scvi  # noqa: E402
import torch  # noqa: E402
from scvi.model.base import BaseModelClass  # noqa: E402

import scmixvae  # noqa: E402
from scmixvae.model._saved_model import PICKLE_FORMAT  # noqa: E402

torch.set_num_threads(2)
logging.getLogger("lightning").setLevel(logging.ERROR)
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="lightning")

#: Keyword arguments that keep Lightning quiet and fast in tests.
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}


@pytest.fixture
def small_adata():
    """240 cells, 4 well separated types, 60 genes: counts in X and layers['counts']."""
    return scmixvae.datasets.simulate(
        n_cells=240, n_types=4, n_genes=60, n_markers=5, n_programme_genes=10, seed=3
    )


@pytest.fixture
def trained(small_adata):
    """A 2-arm model trained for a few epochs on ``small_adata``.

    Cold start: three epochs are too few for the over-clustering start's merged types to be
    learned, and the tests that use this model are about what comes after training.
    """
    return _train_small(small_adata)


@pytest.fixture
def h5ad(tmp_path):
    """A simulated ``.h5ad`` of 200 cells, 4 types, 60 genes (counts in ``layers``)."""
    adata = scmixvae.datasets.simulate(n_cells=200, n_types=4, n_genes=60, n_programme_genes=10)
    path = tmp_path / "sim.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.fixture
def trained_as_before(small_adata):
    """``trained`` as scmixvae 0.1.0 built it: the decoder does not read depth."""
    return _train_small(small_adata, depth_in_decoder=False)


def _train_small(adata, **settings):
    """``trained``'s model and training, with ``settings`` for the model."""
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(
        adata, n_categories=4, n_hidden=32, initialization="random", **settings
    )
    model.train(max_epochs=3, batch_size=64, **QUIET)
    return model


def save_as_pickle(model, folder, **extra_attributes):
    """Save ``model`` as scmixvae 0.1.0 did: scvi-tools' one pickle, format 4.

    0.1.0 had no ``depth_in_decoder`` setting: the model must be built without depth in the
    decoder, and the setting is left out of the pickle, as an old model lacks it.
    """
    assert not model.module.depth_in_decoder, "0.1.0's decoders did not read depth"
    model.save_format_ = PICKLE_FORMAT
    kwargs = model.init_params_["kwargs"]
    kwargs["module_kwargs"] = dict(kwargs["module_kwargs"])
    kwargs["module_kwargs"].pop("depth_in_decoder", None)
    for name, value in extra_attributes.items():
        setattr(model, name, value)
    try:
        BaseModelClass.save(model, str(folder), save_anndata=False)
    finally:
        del model.save_format_
        for name in extra_attributes:
            delattr(model, name)
