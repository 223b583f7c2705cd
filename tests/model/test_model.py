import numpy as np
import pandas as pd
import pytest
import scvi
import torch
from anndata import AnnData
from conftest import QUIET

import scmixvae
from scmixvae import CplMixVAE


def test_annotate_writes_documented_keys(trained, small_adata):
    trained.annotate()
    obs, obsm = small_adata.obs, small_adata.obsm
    assert obs["cplmix_type"].dtype.name == "category"
    assert set(obs["cplmix_type"].cat.categories) <= set(trained.category_names)
    assert obs["cplmix_confidence"].between(0.25, 1.0).all()
    assert set(np.unique(obs["cplmix_agreement"])) <= {0.0, 0.5, 1.0}
    assert {"cplmix_type_arm0", "cplmix_type_arm1"} <= set(obs.columns)
    assert obsm["X_cplmix_state"].shape == (240, 2)
    probs = obsm["cplmix_type_prob"]
    assert probs.shape == (240, 4) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    settings = small_adata.uns["cplmix"]
    assert settings["n_arms"] == 2 and settings["likelihood"] == "nb"
    assert settings["categories"] == ["0", "1", "2", "3"]
    assert settings["coupling_weight"] == 0.01 and settings["entropy_weight"] == 0.0
    assert settings["initialization"] == "random"


def test_getters_are_consistent(trained, small_adata):
    types = trained.get_cell_types()
    soft = trained.get_cell_types(soft=True)
    assert isinstance(types, pd.Series) and types.dtype.name == "category"
    assert list(types.index) == list(small_adata.obs_names)
    assert (soft.idxmax(axis=1).to_numpy() == types.astype(str).to_numpy()).all()
    assert np.allclose(soft.sum(axis=1), 1.0, atol=1e-5)
    arms = trained.get_arm_labels()
    consensus = trained.get_consensus()
    assert (consensus["type"].astype(str) == types.astype(str)).all()
    expected = (arms.astype(str).to_numpy() == types.astype(str).to_numpy()[:, None]).mean(1)
    assert np.allclose(consensus["agreement"].to_numpy(), expected)
    assert np.allclose(consensus["confidence"], soft.max(axis=1).to_numpy(), atol=1e-6)
    state = trained.get_state_representation(arm=1)
    assert state.shape == (240, 2) and np.isfinite(state).all()
    subset = trained.get_cell_types(indices=[0, 5, 7])
    assert list(subset.index) == list(small_adata.obs_names[[0, 5, 7]])
    assert (subset.astype(str).to_numpy() == types.astype(str).to_numpy()[[0, 5, 7]]).all()
    with pytest.raises(ValueError, match="arm must be"):
        trained.get_state_representation(arm=2)


def test_history_logs_loss_terms(trained):
    assert {"coupling_train", "entropy_train", "temperature", "elbo_train"} <= set(trained.history)
    assert np.isfinite(trained.history["train_loss"].to_numpy().astype(float)).all()


def test_save_load_round_trip(trained, small_adata, tmp_path):
    before = trained.get_cell_types(soft=True)
    state = trained.get_state_representation()
    trained.save(tmp_path / "with", save_anndata=True)
    trained.save(tmp_path / "without")
    loaded = CplMixVAE.load(tmp_path / "with")
    assert np.array_equal(loaded.get_cell_types(soft=True).to_numpy(), before.to_numpy())
    loaded = CplMixVAE.load(tmp_path / "without", adata=small_adata)
    assert np.array_equal(loaded.get_cell_types(soft=True).to_numpy(), before.to_numpy())
    assert np.array_equal(loaded.get_state_representation(), state)


def test_load_against_other_genes_fails(trained, small_adata, tmp_path):
    trained.save(tmp_path / "m")
    other = small_adata[:, :50].copy()
    with pytest.raises(ValueError):
        CplMixVAE.load(tmp_path / "m", adata=other)


def _fit(adata, seed, **kwargs):
    scvi.settings.seed = seed
    CplMixVAE.setup_anndata(adata, layer="counts")
    model = CplMixVAE(adata, n_categories=4, n_hidden=32, **kwargs)
    model.train(max_epochs=2, batch_size=64, **QUIET)
    return model


def test_same_seed_same_labels(small_adata):
    first = _fit(small_adata.copy(), seed=7).get_cell_types(soft=True)
    second = _fit(small_adata.copy(), seed=7).get_cell_types(soft=True)
    other = _fit(small_adata.copy(), seed=8).get_cell_types(soft=True)
    assert np.array_equal(first.to_numpy(), second.to_numpy())
    assert not np.array_equal(first.to_numpy(), other.to_numpy())


@pytest.mark.parametrize(
    ("likelihood", "augmentation", "n_arms"),
    [
        ("nb", "thinning", 2),
        ("zinb", "none", 3),
        ("nb", "dropout", 1),
        ("normal", "dropout", 2),
        ("bernoulli", "none", 2),
    ],
)
def test_configurations_train(small_adata, likelihood, augmentation, n_arms):
    adata = small_adata
    layer = "counts"
    if likelihood == "normal":
        adata.layers["log"] = adata.layers["counts"].log1p()
        layer = "log"
    elif likelihood == "bernoulli":
        adata.layers["binary"] = (adata.layers["counts"] > 2).astype(np.float32)
        layer = "binary"
    scvi.settings.seed = 0
    CplMixVAE.setup_anndata(adata, layer=layer)
    model = CplMixVAE(
        adata,
        n_categories=4,
        n_arms=n_arms,
        likelihood=likelihood,
        augmentation=augmentation,
        n_hidden=16,
    )
    model.train(
        max_epochs=2,
        batch_size=64,
        plan_kwargs={"min_temperature": 0.5, "n_epochs_temperature": 2},
        **QUIET,
    )
    model.annotate()
    assert adata.obs["cplmix_agreement"].notna().all()
    assert np.isfinite(adata.obsm["X_cplmix_state"]).all()


def test_batch_key_conditions_decoder(small_adata):
    small_adata.obs["batch"] = np.where(np.arange(240) % 2, "a", "b")
    CplMixVAE.setup_anndata(small_adata, layer="counts", batch_key="batch")
    model = CplMixVAE(small_adata, n_categories=4, n_hidden=16)
    assert model.module.n_batch == 2
    model.train(max_epochs=1, batch_size=64, **QUIET)
    model.annotate()
    assert small_adata.obs["cplmix_type"].notna().all()


def test_annotate_new_adata_with_custom_key(trained, small_adata):
    query = small_adata[:30].copy()
    del query.uns  # a fresh object, as a user would load it
    trained.annotate(query, key_added="mix")
    assert query.obs["mix_type"].shape == (30,)
    assert "X_mix_state" in query.obsm and "mix" in query.uns
    assert "mix_type" not in small_adata.obs


def test_train_defaults_use_heuristic_epochs(small_adata):
    CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = CplMixVAE(small_adata, n_categories=4, n_hidden=8)
    model.train(max_epochs=None, batch_size=240, train_size=1.0, **QUIET)
    assert len(model.history["train_loss"]) == 400  # 300,000 cell passes, capped at 400


def test_typical_depth_is_the_geometric_mean_depth_of_the_cells(trained, small_adata):
    # training ends with a batch-norm pass over every cell (fewer than 20,000)
    depth = np.asarray(small_adata.layers["counts"].sum(1)).ravel()
    expected = np.exp(np.log(depth).mean())
    typical = trained.module.typical_depth().flatten().numpy()
    np.testing.assert_allclose(typical, [expected] * trained.module.n_arms, rtol=1e-4)


def test_model_summary_mentions_settings(trained, capsys):
    print(trained)
    out = capsys.readouterr().out
    assert "2 arm(s)" in out and "4 categories" in out


def test_public_api():
    assert scmixvae.CplMixVAE is CplMixVAE
    assert callable(scmixvae.datasets.simulate) and callable(scmixvae.tl.evaluate)


def test_early_stopping_and_plan_kwargs(small_adata):
    scvi.settings.seed = 0
    CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = CplMixVAE(small_adata, n_categories=4, n_hidden=8)
    model.train(
        max_epochs=3,
        batch_size=64,
        early_stopping=True,
        plan_kwargs={"lr": 5e-3, "temperature": 2.0},
        **QUIET,
    )
    assert "elbo_validation" in model.history
    assert model.history["temperature"].iloc[0, 0] == 2.0


def test_training_after_inference_runs_in_training_mode(trained):
    from lightning.pytorch.callbacks import Callback

    modes = []

    class RecordMode(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            modes.append(pl_module.module.training)

    trained.get_cell_types()  # leaves the module in eval mode
    assert not trained.module.training
    trained.train(max_epochs=1, batch_size=64, callbacks=[RecordMode()], **QUIET)
    assert modes and all(modes)


def test_images_train_with_affine_augmentation_and_reload(tmp_path):
    rng = np.random.default_rng(0)
    images = np.zeros((120, 8, 8), dtype=np.float32)
    images[:60, 2:6, 3:5] = 1.0  # vertical bars
    images[60:, 3:5, 2:6] = 1.0  # horizontal bars
    adata = AnnData(np.clip(images + rng.uniform(0, 0.1, images.shape), 0, 1).reshape(120, 64))
    CplMixVAE.setup_anndata(adata)
    scvi.settings.seed = 0
    model = CplMixVAE(
        adata,
        n_categories=2,
        likelihood="bernoulli",
        augmentation="affine",
        augmentation_kwargs={"image_shape": (8, 8), "rotation": 10.0},
        n_hidden=16,
    )
    model.train(max_epochs=2, batch_size=32, **QUIET)
    model.module.train()
    x_arm = model.module.inference(torch.from_numpy(adata.X[:4]))["x_arm"]
    assert not torch.allclose(x_arm[0], x_arm[1])  # each arm its own transform
    model.save(tmp_path / "model")
    loaded = CplMixVAE.load(tmp_path / "model", adata=adata)
    assert loaded.module.augmenter.image_shape == (1, 8, 8)
    assert loaded.module.augmenter.rotation == 10.0
    assert (loaded.get_cell_types() == model.get_cell_types()).all()


def test_types_come_from_the_head_or_from_each_arms_decoders(trained, small_adata):
    module = trained.module.eval()
    x = torch.as_tensor(small_adata.layers["counts"].toarray(), dtype=torch.float32)
    x_arm = x.expand(module.n_arms, *x.shape)
    library = module.library_size(x_arm)
    with torch.no_grad():
        z, log_q = module.encode(x_arm, library)
        scores = module.category_scores(x_arm, z, library)
    assert trained.settings()["type_readout"] == "encoder"
    head = log_q.exp().mean(0).numpy()
    assert np.allclose(trained.get_cell_types(soft=True).to_numpy(), head, atol=1e-5)
    try:
        module.type_readout = "decoder"
        by_hand = torch.softmax(-scores, -1).mean(0).numpy()  # arm-averaged p(c | x)
        assert np.allclose(trained.get_cell_types(soft=True).to_numpy(), by_hand, atol=1e-5)
    finally:
        module.type_readout = "encoder"


def test_unknown_type_readout_is_refused(small_adata):
    CplMixVAE.setup_anndata(small_adata, layer="counts")
    with pytest.raises(ValueError, match="type_readout"):
        CplMixVAE(small_adata, n_categories=4, type_readout="head")
