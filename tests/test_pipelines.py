"""CplMixVAE inside the scanpy workflows people run: files, HVG selection, views, MuData."""

import anndata
import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import mudata  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scanpy as sc  # noqa: E402
import scvi  # noqa: E402
from conftest import QUIET  # noqa: E402

import scmixvae  # noqa: E402

TRAIN = {"max_epochs": 2, "batch_size": 64, **QUIET}


def _fit(adata, max_epochs=2, **setup):
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(adata, **setup)
    # Cold start: these few epochs on 240 cells are too few for the over-clustering start's
    # category head to learn the merged types (it needs hundreds of steps).
    model = scmixvae.CplMixVAE(adata, n_categories=4, n_hidden=16, initialization="random")
    model.train(**(TRAIN | {"max_epochs": max_epochs}))
    model.annotate()
    return model


def test_from_read_h5ad_with_a_counts_layer(small_adata, tmp_path):
    small_adata.X = small_adata.X.astype(np.float32)
    sc.pp.normalize_total(small_adata, target_sum=1e4)  # X log-normalised, counts kept
    sc.pp.log1p(small_adata)
    small_adata.write_h5ad(tmp_path / "data.h5ad")
    adata = sc.read_h5ad(tmp_path / "data.h5ad")
    _fit(adata, layer="counts")
    assert adata.obs["cplmix_type"].notna().all()
    with pytest.raises(ValueError, match="non-integer values"):  # X is no longer counts
        scmixvae.CplMixVAE.setup_anndata(adata)
        scmixvae.CplMixVAE(adata, n_categories=4)


def test_after_highly_variable_genes_subset(small_adata):
    sc.pp.normalize_total(small_adata, target_sum=1e4)
    sc.pp.log1p(small_adata)
    sc.pp.highly_variable_genes(small_adata, n_top_genes=30, subset=True)
    assert small_adata.n_vars == 30
    model = _fit(small_adata, layer="counts")
    assert model.training_genes_ == small_adata.var_names.tolist()
    assert small_adata.obsm["cplmix_type_prob"].shape[0] == small_adata.n_obs


def test_views_setup_is_refused_inference_works(small_adata):
    view = small_adata[:100]
    with pytest.raises(ValueError, match="is a view"):
        scmixvae.CplMixVAE.setup_anndata(view, layer="counts")
    assert "_scvi_uuid" not in view.uns
    model = _fit(small_adata, layer="counts")
    subset = small_adata[small_adata.obs["type"] == "T01"]
    types = model.get_cell_types(adata=subset)
    expected = small_adata.obs.loc[subset.obs_names, "cplmix_type"]
    assert (types.astype(str) == expected.astype(str)).all()


def test_mudata_rna_modality(tmp_path):
    rna = scmixvae.datasets.simulate(n_cells=240, n_types=4, n_genes=60, n_programme_genes=10)
    protein = anndata.AnnData(
        np.random.default_rng(0).poisson(5, size=(rna.n_obs, 6)).astype(np.float32),
        obs=rna.obs[[]],
    )
    protein.var_names = [f"prot{i}" for i in range(6)]
    mdata = mudata.MuData({"rna": rna, "prot": protein})
    with pytest.raises(ValueError, match="must name the RNA modality"):
        scmixvae.CplMixVAE.setup_mudata(mdata, rna_layer="counts", modalities={"rna": "rna"})
    with pytest.raises(ValueError, match="use setup_mudata"):
        scmixvae.CplMixVAE.setup_anndata(mdata)
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_mudata(mdata, rna_layer="counts", modalities={"rna_layer": "rna"})
    model = scmixvae.CplMixVAE(mdata, n_categories=4, n_hidden=16)
    assert model.training_genes_ == rna.var_names.tolist()  # protein features are not genes
    model.train(**TRAIN)
    model.annotate()
    assert mdata.obs["cplmix_type"].notna().all()
    assert mdata.obsm["X_cplmix_state"].shape == (rna.n_obs, 2)
    table = scmixvae.tl.traversal(model, n_steps=3, genes=["IEG_00"])
    assert set(table["gene"]) == {"IEG_00"}
    model.save(tmp_path / "m", save_anndata=True)
    for data in (None, mdata):  # the saved MuData, then the caller's
        loaded = scmixvae.CplMixVAE.load(tmp_path / "m", adata=data)
        assert loaded.get_cell_types().equals(model.get_cell_types())


def test_results_feed_scanpy_plots_and_marker_tests(small_adata):
    _fit(small_adata, max_epochs=30, layer="counts")
    sc.pp.normalize_total(small_adata, target_sum=1e4)
    sc.pp.log1p(small_adata)
    sc.pp.pca(small_adata, n_comps=10)
    sc.pp.neighbors(small_adata)
    sc.tl.umap(small_adata)
    sc.pl.umap(small_adata, color=["cplmix_type", "cplmix_confidence"], show=False)
    plt.close("all")
    assert "cplmix_type_colors" in small_adata.uns  # scanpy set the palette
    groups = small_adata.obs["cplmix_type"].value_counts()
    assert (groups >= 2).sum() >= 2, "the test needs two inferred types"
    subset = small_adata[small_adata.obs["cplmix_type"].isin(groups.index[groups >= 2])].copy()
    sc.tl.rank_genes_groups(subset, groupby="cplmix_type", method="wilcoxon")
    names = subset.uns["rank_genes_groups"]["names"]
    assert set(names.dtype.names) == set(groups.index[groups >= 2])
    sc.pl.embedding(small_adata, basis="X_cplmix_state", color="cplmix_type", show=False)
    plt.close("all")
