"""What a new user reads after training: an embedding, K types named 0..K-1, clear warnings."""

import warnings

import numpy as np
import pytest
import scanpy as sc
import scvi
from conftest import QUIET

import scmixvae


@pytest.fixture(scope="module")
def merged_model():
    """The over-clustering start (8 slots merged into 4 types), trained briefly."""
    scvi.settings.seed = 0
    adata = scmixvae.datasets.simulate(
        n_cells=400, n_types=4, n_genes=60, n_markers=5, n_programme_genes=10, seed=3
    )
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=4, n_hidden=32)
    model.train(max_epochs=8, batch_size=64, **QUIET)
    return model


def test_types_are_named_0_to_k_minus_1_from_the_largest(merged_model):
    model = merged_model
    assert model.module.n_slots == 8
    assert model._active_names() == ["0", "1", "2", "3"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.annotate()
    adata = model.adata
    present = list(adata.obs["cplmix_type"].cat.categories)
    assert adata.uns["cplmix"]["categories"] == present
    assert set(present) <= {"0", "1", "2", "3"} and present == sorted(present, key=int)
    assert adata.uns["cplmix"]["type_prob_categories"] == ["0", "1", "2", "3"]
    probabilities = model.get_cell_types(soft=True)
    assert list(probabilities.columns) == ["0", "1", "2", "3"]
    np.testing.assert_allclose(adata.obsm["cplmix_type_prob"], probabilities.to_numpy())
    # the columns are in name order: each cell's most probable column is its type
    best = probabilities.to_numpy().argmax(1)
    assert (probabilities.columns[best] == adata.obs["cplmix_type"].astype(str)).all()


def test_names_survive_save_and_load(merged_model, tmp_path):
    merged_model.save(tmp_path / "m")
    loaded = scmixvae.CplMixVAE.load(tmp_path / "m", adata=merged_model.adata)
    assert loaded.category_names == merged_model.category_names
    assert loaded.get_cell_types().equals(merged_model.get_cell_types())


def test_latent_feeds_neighbours_and_umap(merged_model):
    model = merged_model
    adata = model.adata.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.annotate(adata)
    latent = adata.obsm["X_cplmix"]
    assert latent.shape == (adata.n_obs, 4 + 2)  # each type's evidence, then the state
    np.testing.assert_allclose(latent, model.get_latent_representation(adata), rtol=1e-6)
    probabilities = model.get_cell_types(adata, soft=True).to_numpy()
    np.testing.assert_allclose(latent[:, :4], np.log(np.maximum(probabilities, 0.01)), rtol=1e-5)
    np.testing.assert_allclose(latent[:, 4:], adata.obsm["X_cplmix_state"], rtol=1e-6)
    other_arm = model.get_latent_representation(adata, arm=1)
    assert np.allclose(latent[:, :4], other_arm[:, :4]) and not np.allclose(latent, other_arm)
    sc.pp.neighbors(adata, use_rep="X_cplmix")
    sc.tl.umap(adata)
    assert np.isfinite(adata.obsm["X_umap"]).all()
    # the embedding keeps the simulated types apart: most neighbours share the type
    neighbours = adata.obsp["distances"].tolil().rows
    truth = adata.obs["type"].to_numpy()
    purity = np.mean([np.mean(truth[row] == truth[i]) for i, row in enumerate(neighbours)])
    assert purity > 0.8


def test_fewer_types_with_cells_and_small_types_are_reported(merged_model, monkeypatch):
    model = merged_model
    posteriors = model._posteriors(None, None, None)
    # Make every cell of one type go to another, and one more type tiny.
    prob, arm_codes = posteriors.consensus_prob.copy(), posteriors.arm_codes.copy()
    slots = model._active_slots()
    codes = posteriors.consensus_code
    moved = np.flatnonzero(codes == slots[3])  # all of type 3 ...
    moved = np.concatenate([moved, np.flatnonzero(codes == slots[2])[3:]])  # ... and most of 2
    prob[moved] = 0.0
    prob[moved, slots[0]] = 1.0
    arm_codes[moved] = slots[0]
    forged = type(posteriors)(prob, arm_codes, posteriors.state, posteriors.state_kl)
    monkeypatch.setattr(model, "_posteriors", lambda *args: forged)
    with pytest.warns(UserWarning) as caught:
        model.annotate()
    message = " ".join(str(w.message) for w in caught)
    assert "3 of the model's 4 types have cells: ['3']" in message
    assert "fewer than 10 cells: 2 (3 cells)" in message
    assert model.adata.uns["cplmix"]["categories"] == ["0", "1", "2"]


def test_state_kl_per_type_and_dimension(merged_model):
    table = merged_model.get_state_kl()
    assert list(table.columns) == ["dim0", "dim1", "n_cells"]
    assert table["n_cells"].sum() == merged_model.adata.n_obs
    assert (table[["dim0", "dim1"]] >= -1e-5).all().all()


def test_a_collapsed_state_dimension_is_warned_about(merged_model, monkeypatch):
    model = merged_model
    real = model._posteriors(None, None, None)
    collapsed = real.state_kl.copy()
    collapsed[..., 1] = 0.001
    forged = type(real)(real.consensus_prob, real.arm_codes, real.state, collapsed)
    monkeypatch.setattr(model, "_posteriors", lambda *args: forged)
    with pytest.warns(UserWarning, match=r"State dimension\(s\) \['dim1'\] carry almost nothing"):
        model._warn_if_state_collapsed(np.arange(model.adata.n_obs))
    axes = scmixvae.pl.traversal(model, types=["0"], dimension=1, genes=["gene_0001"], show=False)
    assert "s1 collapsed" in axes.get_title()


def test_default_neighbours_work_on_more_than_4096_cells():
    """Scanpy's own verb, with its defaults, after our install (no transformer workaround)."""
    rng = np.random.default_rng(0)
    adata = sc.AnnData(rng.normal(size=(4200, 20)).astype(np.float32))
    sc.pp.pca(adata, n_comps=10)
    sc.pp.neighbors(adata)
    sc.pp.neighbors(adata, transformer="pynndescent", key_added="nnd")
    assert adata.obsp["connectivities"].shape == (4200, 4200)
    assert adata.obsp["nnd_connectivities"].nnz > 0
