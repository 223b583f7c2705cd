import numpy as np
import pytest
from anndata import AnnData
from scipy import sparse

from scmixvae import CplMixVAE


def _snapshot(adata):
    return (set(adata.obs.columns), set(adata.obsm), set(adata.uns), set(adata.layers))


def _counts_adata(n=40, d=10, sparse_x=False):
    x = np.random.default_rng(0).poisson(3.0, size=(n, d)).astype(np.float32)
    return AnnData(sparse.csr_matrix(x) if sparse_x else x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("sparse_x", [False, True])
def test_non_finite_values(bad, sparse_x):
    adata = _counts_adata(sparse_x=sparse_x)
    if sparse_x:
        adata.X.data[3] = bad
    else:
        adata.X[2, 3] = bad
    before = _snapshot(adata)
    with pytest.raises(ValueError, match="NaN or infinite"):
        CplMixVAE.setup_anndata(adata)
    assert _snapshot(adata) == before


@pytest.mark.parametrize("bad", [-1.0, 0.5])
def test_count_likelihood_needs_counts(bad):
    adata = _counts_adata()
    adata.X[0, 0] = bad
    CplMixVAE.setup_anndata(adata)
    before = _snapshot(adata)
    with pytest.raises(ValueError, match="non-negative integer counts"):
        CplMixVAE(adata, n_categories=2)
    assert _snapshot(adata) == before
    CplMixVAE(adata, n_categories=2, likelihood="normal")  # fine for a Gaussian


def test_bernoulli_needs_unit_interval():
    adata = _counts_adata()
    CplMixVAE.setup_anndata(adata)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CplMixVAE(adata, n_categories=2, likelihood="bernoulli")


def test_zero_cells_and_zero_genes():
    with pytest.raises(ValueError, match="zero cells"):
        CplMixVAE.setup_anndata(AnnData(np.zeros((0, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match="zero genes"):
        CplMixVAE.setup_anndata(AnnData(np.zeros((5, 0), dtype=np.float32)))


@pytest.mark.parametrize("k", [1, 0, 41, 2.5])
def test_n_categories_out_of_range(k):
    adata = _counts_adata()
    CplMixVAE.setup_anndata(adata)
    with pytest.raises(ValueError, match="n_categories"):
        CplMixVAE(adata, n_categories=k)


def test_n_arms_and_n_states():
    adata = _counts_adata()
    CplMixVAE.setup_anndata(adata)
    with pytest.raises(ValueError, match="n_arms"):
        CplMixVAE(adata, n_categories=2, n_arms=0)
    with pytest.raises(ValueError, match="n_states"):
        CplMixVAE(adata, n_categories=2, n_states=0)


def test_unknown_options():
    adata = _counts_adata()
    CplMixVAE.setup_anndata(adata)
    with pytest.raises(ValueError, match="likelihood"):
        CplMixVAE(adata, n_categories=2, likelihood="poisson")
    with pytest.raises(ValueError, match="augmentation"):
        CplMixVAE(adata, n_categories=2, augmentation="mixup")
    with pytest.raises(ValueError, match="Unknown initialization 'leiden'"):
        CplMixVAE(adata, n_categories=2, initialization="leiden")
    with pytest.raises(ValueError, match="Unknown state_prior"):
        CplMixVAE(adata, n_categories=2, state_prior="flat")
    with pytest.raises(TypeError, match="coupling_input"):  # a removed variant
        CplMixVAE(adata, n_categories=2, coupling_input="both")


def test_missing_layer_and_batch_key():
    adata = _counts_adata()
    before = _snapshot(adata)
    with pytest.raises(ValueError, match="Layer 'counts' not found"):
        CplMixVAE.setup_anndata(adata, layer="counts")
    with pytest.raises(ValueError, match="batch_key 'sample'"):
        CplMixVAE.setup_anndata(adata, batch_key="sample")
    assert _snapshot(adata) == before
    adata.obs["sample"] = ["a"] * 39 + [None]
    with pytest.raises(ValueError, match="missing values"):
        CplMixVAE.setup_anndata(adata, batch_key="sample")
    assert set(adata.obs.columns) == {"sample"} and not adata.uns


def test_bad_query_adata_is_refused_untouched(trained, small_adata):
    query = small_adata[:20].copy()
    query.layers["counts"] = query.layers["counts"].toarray()
    query.layers["counts"][0, 0] = 0.5
    query.uns = {}
    before = _snapshot(query)
    with pytest.raises(ValueError, match="non-negative integer counts"):
        trained.annotate(query)
    assert _snapshot(query) == before


def test_getters_before_training_raise(small_adata):
    CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = CplMixVAE(small_adata, n_categories=3)
    with pytest.raises(RuntimeError, match="untrained model"):
        model.get_cell_types()
    with pytest.raises(RuntimeError, match="untrained model"):
        model.annotate()
    assert "cplmix_type" not in small_adata.obs


@pytest.mark.parametrize("max_epochs", [0, -1, 2.5, True, "3"])
def test_max_epochs_must_be_a_positive_integer(small_adata, max_epochs):
    CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = CplMixVAE(small_adata, n_categories=2, n_hidden=8, initialization="random")
    with pytest.raises(ValueError, match="max_epochs must be an integer >= 1"):
        model.train(max_epochs=max_epochs)
    assert not model.is_trained_


def test_duplicated_gene_names_are_refused_with_examples():
    adata = _counts_adata()
    adata.var_names = ["a", "a", "b", "b", *[f"g{i}" for i in range(6)]]
    with pytest.raises(ValueError, match=r"2 gene names .* \['a', 'b'\].*var_names_make_unique"):
        CplMixVAE.setup_anndata(adata)


def test_no_cells_asked_gives_empty_results(trained):
    assert trained.get_cell_types(indices=[]).empty
    assert trained.get_cell_types(indices=[], soft=True).shape == (0, 4)
    assert trained.get_consensus(indices=[]).shape == (0, 3)
    assert trained.get_state_representation(indices=[]).shape == (0, 2)


@pytest.mark.parametrize("arm", [True, 1.5, -1, 2, "0"])
def test_arm_must_be_an_arm_index(trained, arm):
    with pytest.raises(ValueError, match=r"arm must be an integer in \[0, 2\)"):
        trained.get_state_representation(arm=arm)


def test_new_data_without_the_batch_column_is_refused_as_by_load(small_adata, tmp_path):
    small_adata.obs["batch"] = ["a", "b"] * (small_adata.n_obs // 2)
    CplMixVAE.setup_anndata(small_adata, layer="counts", batch_key="batch")
    model = CplMixVAE(small_adata, n_categories=2, n_hidden=8, initialization="random")
    model.train(max_epochs=1, enable_progress_bar=False)
    model.save(tmp_path / "m")
    query = small_adata.copy()
    del query.obs["batch"]
    before = _snapshot(query)
    message = "batch_key 'batch' is not a column of adata.obs"
    with pytest.raises(ValueError, match=message):
        model.annotate(query)
    with pytest.raises(ValueError, match=message):
        CplMixVAE.load(tmp_path / "m", adata=query)
    assert _snapshot(query) == before


def test_annotate_removes_stale_arm_columns(trained, small_adata):
    small_adata.obs["cplmix_type_arm5"] = "0"  # left by a model with more arms
    small_adata.obs["cplmix_type_arm5_note"] = "kept"  # not ours
    trained.annotate()
    arm_columns = [c for c in small_adata.obs if c.startswith("cplmix_type_arm")]
    assert arm_columns == ["cplmix_type_arm5_note", "cplmix_type_arm0", "cplmix_type_arm1"]
