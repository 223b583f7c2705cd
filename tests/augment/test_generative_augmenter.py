"""The deep generative augmenter: every loss term trains what it should; frozen means frozen."""

import numpy as np
import pytest
import torch

from scmixvae.augment import GenerativeAugmenter, GeneratorLosses


def _counts(n=64, d=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.poisson(3.0, size=(n, d)).astype(np.float32)


def _grad_norms(augmenter, loss):
    augmenter.zero_grad()
    loss.backward()
    parts = {
        "body": augmenter.body,
        "mix": augmenter.mix,
        "decoder": augmenter.decoder,
        "discriminator": augmenter.discriminator_body,
    }
    return {
        name: sum(p.grad.abs().sum().item() for p in part.parameters() if p.grad is not None)
        for name, part in parts.items()
    }


@pytest.mark.parametrize("term", list(GeneratorLosses.__dataclass_fields__))
def test_each_generator_term_reaches_the_generator(term):
    torch.manual_seed(0)
    augmenter = GenerativeAugmenter(n_input=30)
    expression = augmenter.expression(torch.from_numpy(_counts()))
    norms = _grad_norms(augmenter, getattr(augmenter.generator_losses(expression), term))
    assert norms["body"] > 0 and norms["mix"] > 0 and norms["decoder"] > 0
    if term == "adversarial":  # through the discriminator, which it must not train
        assert norms["discriminator"] > 0  # (its step uses only the generator's optimiser)


def test_reconstruction_does_not_train_the_noise_weights():
    augmenter = GenerativeAugmenter(n_input=30, n_noise=5)
    expression = augmenter.expression(torch.from_numpy(_counts()))
    augmenter.zero_grad()
    augmenter.generator_losses(expression).reconstruction.backward()
    noise_columns = augmenter.mix.weight.grad[:, 100:]
    assert torch.equal(noise_columns, torch.zeros_like(noise_columns))  # noise-free copy


def test_discriminator_loss_trains_only_the_discriminator():
    augmenter = GenerativeAugmenter(n_input=30)
    expression = augmenter.expression(torch.from_numpy(_counts()))
    norms = _grad_norms(augmenter, augmenter.discriminator_loss(expression))
    assert norms["discriminator"] > 0
    assert norms["body"] == norms["mix"] == norms["decoder"] == 0


def test_fit_lowers_reconstruction_and_freeze_fixes_everything():
    augmenter = GenerativeAugmenter(n_input=30)
    history = augmenter.fit(_counts(n=200), max_epochs=30, batch_size=50, seed=0)
    assert set(history) == {*GeneratorLosses.__dataclass_fields__, "discriminator"}
    assert history["reconstruction"][-1] < 0.5 * history["reconstruction"][0]
    augmenter.freeze()
    assert not augmenter.training
    assert all(not p.requires_grad for p in augmenter.parameters())
    augmenter.train()  # what Lightning calls on the parent module
    assert not augmenter.training
    with pytest.raises(ValueError, match="frozen"):
        augmenter.fit(_counts(), max_epochs=1)


def test_default_budget_is_about_100k_cells_seen_within_20_to_200_epochs():
    from scmixvae._budget import epochs_for

    assert epochs_for(3005, 100_000, 20, 200) == 33
    assert epochs_for(50, 100_000, 20, 200) == 200
    assert epochs_for(1_000_000, 100_000, 20, 200) == 20
    history = GenerativeAugmenter(n_input=5).fit(_counts(n=10_000, d=5), batch_size=2000)
    assert len(history["reconstruction"]) == 20


def test_copies_are_counts_with_the_input_zero_pattern_and_differ_per_arm():
    augmenter = GenerativeAugmenter(n_input=30)
    x = torch.from_numpy(_counts())
    x[:, :5] = 0
    with pytest.raises(ValueError, match="fit"):
        augmenter(x, n_arms=2)
    augmenter.fit(x.numpy(), max_epochs=5, batch_size=32)
    augmenter.freeze()
    torch.manual_seed(1)
    copies = augmenter(x, n_arms=2)
    assert copies.shape == (2, 64, 30)
    assert torch.equal(copies, copies.round()) and (copies >= 0).all()
    assert (copies[:, x == 0] == 0).all()
    assert not torch.equal(copies[0], copies[1])
    assert not torch.equal(copies[0], x)


def test_errors():
    with pytest.raises(ValueError, match="Unknown loss_weights"):
        GenerativeAugmenter(n_input=5, loss_weights={"cycle": 1.0})
    augmenter = GenerativeAugmenter(n_input=5)
    with pytest.raises(ValueError, match="built for 5 features, the data have 6"):
        augmenter.fit(np.ones((10, 6)), max_epochs=1)
    with pytest.raises(ValueError, match="at least 2 cells"):
        augmenter.fit(np.ones((1, 5)), max_epochs=1)
    with pytest.raises(ValueError, match="built for 5 features"):
        augmenter.check_features(7)


def test_model_trains_the_augmenter_first_and_never_again(small_adata, tmp_path):
    import scvi
    from conftest import QUIET

    from scmixvae import CplMixVAE

    scvi.settings.seed = 0
    CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = CplMixVAE(small_adata, n_categories=4, n_hidden=16, augmentation="generative")
    augmenter = model.module.augmenter
    assert isinstance(augmenter, GenerativeAugmenter) and not bool(augmenter.frozen)
    model.train(max_epochs=2, batch_size=64, augmenter_kwargs={"max_epochs": 3}, **QUIET)
    assert bool(augmenter.frozen) and len(model.augmenter_history_["triplet"]) == 3
    before = {k: v.clone() for k, v in augmenter.state_dict().items()}
    model.train(max_epochs=2, batch_size=64, **QUIET)  # more mixture training
    assert not augmenter.training
    for name, value in augmenter.state_dict().items():
        assert torch.equal(value, before[name]), name
    model.save(tmp_path / "model")
    loaded = CplMixVAE.load(tmp_path / "model", adata=small_adata)
    reloaded = loaded.module.augmenter
    assert bool(reloaded.frozen) and not any(p.requires_grad for p in reloaded.parameters())
    assert torch.equal(reloaded.mix.weight, augmenter.mix.weight)


def test_model_uses_a_pretrained_augmenter_as_given(small_adata):
    import scvi
    from conftest import QUIET

    from scmixvae import CplMixVAE

    augmenter = GenerativeAugmenter(n_input=small_adata.n_vars)
    augmenter.fit(small_adata.layers["counts"], max_epochs=2, batch_size=64)
    augmenter.freeze()
    before = {k: v.clone() for k, v in augmenter.state_dict().items()}
    scvi.settings.seed = 0
    CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = CplMixVAE(small_adata, n_categories=4, n_hidden=16, augmentation=augmenter)
    model.train(max_epochs=2, batch_size=64, **QUIET)
    assert not hasattr(model, "augmenter_history_")
    with pytest.warns(UserWarning, match="already trained and frozen"):
        model.train(max_epochs=1, batch_size=64, augmenter_kwargs={"max_epochs": 5}, **QUIET)
    for name, value in model.module.augmenter.state_dict().items():
        assert torch.equal(value, before[name]), name
    plain = CplMixVAE(small_adata, n_categories=4, n_hidden=16, augmentation="thinning")
    with pytest.raises(ValueError, match="apply to a generative augmenter only"):
        plain.train(max_epochs=1, augmenter_kwargs={"max_epochs": 5}, **QUIET)
    fewer_genes = small_adata[:, :10].copy()
    CplMixVAE.setup_anndata(fewer_genes, layer="counts")
    with pytest.raises(ValueError, match="built for 60 features, the data have 10"):
        CplMixVAE(fewer_genes, n_categories=4, augmentation=augmenter)


def _log_normalised(x):
    x = np.asarray(x, dtype=np.float64)
    return np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1) * 1e4)


def test_copies_keep_the_type():
    """A classifier of real cells labels the copies nearly as well as held-out real cells."""
    from sklearn.linear_model import LogisticRegression

    from scmixvae.datasets import simulate

    adata = simulate(n_cells=900, n_types=6, n_genes=200, seed=4)
    counts = adata.layers["counts"].toarray()
    labels = adata.obs["type"].to_numpy()
    train, held_out = np.arange(0, 900, 2), np.arange(1, 900, 2)
    classifier = LogisticRegression(max_iter=2000).fit(
        _log_normalised(counts[train]), labels[train]
    )
    real_accuracy = classifier.score(_log_normalised(counts[held_out]), labels[held_out])
    torch.manual_seed(0)
    augmenter = GenerativeAugmenter(n_input=200)
    augmenter.fit(counts, max_epochs=60, batch_size=300, seed=0)
    augmenter.freeze()
    copies = augmenter(torch.from_numpy(counts[held_out]), n_arms=1)[0].numpy()
    copy_accuracy = classifier.score(_log_normalised(copies), labels[held_out])
    assert real_accuracy > 0.9
    assert copy_accuracy >= 0.9 * real_accuracy
    # The copies are new cells: measurably away from their input, nearer it than other cells.
    real, copied = _log_normalised(counts[held_out]), _log_normalised(copies)
    to_input = np.linalg.norm(copied - real, axis=1)
    to_other = np.linalg.norm(copied - np.roll(real, 1, axis=0), axis=1)
    assert to_input.min() > 0 and np.median(to_input) < np.median(to_other)
