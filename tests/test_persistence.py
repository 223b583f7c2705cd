import numpy as np
import pytest
import torch

import scmixvae
from scmixvae.model._persistence import SAVE_FORMAT, read_saved_attributes


def _rewrite_attributes(path, **changes):
    saved = torch.load(path / "model.pt", weights_only=False)
    for key, value in changes.items():
        if value is None:
            saved["attr_dict"].pop(key)
        else:
            saved["attr_dict"][key] = value
    torch.save(saved, path / "model.pt")


def test_saved_model_records_versions_and_genes(trained, tmp_path):
    trained.save(tmp_path / "m", save_anndata=False)
    attributes = read_saved_attributes(tmp_path / "m")
    assert attributes["scmixvae_version_"] == scmixvae.__version__
    assert attributes["save_format_"] == SAVE_FORMAT
    assert attributes["training_genes_"] == trained.adata.var_names.tolist()


@pytest.mark.parametrize(
    ("saved_format", "message"),
    [
        (SAVE_FORMAT + 1, "newer than this scmixvae reads"),
        (SAVE_FORMAT - 1, "older than this scmixvae reads"),
        (None, "records no format version"),
    ],
)
def test_incompatible_format_is_refused(trained, small_adata, tmp_path, saved_format, message):
    trained.save(tmp_path / "m", save_anndata=False)
    _rewrite_attributes(tmp_path / "m", save_format_=saved_format, scmixvae_version_="9.9.9")
    with pytest.raises(ValueError, match=message) as error:
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert "train the model again" in str(error.value)
    if saved_format is not None:
        assert "scmixvae 9.9.9" in str(error.value)


def test_load_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="No saved model"):
        scmixvae.CplMixVAE.load(tmp_path / "nothing")


def test_reordered_genes_are_refused_and_data_untouched(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m", save_anndata=False)
    reordered = small_adata[:, small_adata.var_names[::-1]].copy()
    obs_before, uns_before = list(reordered.obs.columns), set(reordered.uns)
    with pytest.raises(ValueError, match="in another order"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=reordered)
    with pytest.raises(ValueError, match="in another order"):
        trained.get_cell_types(adata=reordered)
    assert list(reordered.obs.columns) == obs_before and set(reordered.uns) == uns_before
    # The fix the message gives works.
    fixed = reordered[:, trained.training_genes_].copy()
    assert trained.get_cell_types(adata=fixed).index.equals(fixed.obs_names)


def test_other_genes_are_refused(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m", save_anndata=False)
    renamed = small_adata.copy()
    renamed.var_names = [f"other_{i}" for i in range(renamed.n_vars)]
    with pytest.raises(ValueError, match=r"60 missing .* 60 not in the model"):
        scmixvae.CplMixVAE.load(tmp_path / "m", adata=renamed)
    fewer = small_adata[:, 5:].copy()
    with pytest.raises(ValueError, match="5 missing"):
        trained.annotate(adata=fewer)
    assert "cplmix_type" not in fewer.obs


def test_round_trip_restamps_the_current_version(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m", save_anndata=False)
    loaded = scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert loaded.save_format_ == SAVE_FORMAT
    assert loaded.training_genes_ == trained.training_genes_
    np.testing.assert_array_equal(
        loaded.get_cell_types().to_numpy(), trained.get_cell_types().to_numpy()
    )
