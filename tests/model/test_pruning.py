import anndata
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scvi
import torch
from conftest import QUIET
from scvi import REGISTRY_KEYS

import scmixvae
from scmixvae.model._consensus import category_consensus, select_round
from scmixvae.module import CplMixVAEModule


def test_consensus_counts_every_cell_and_every_pair():
    codes = np.array([[0, 0, 0], [0, 0, 1], [1, 1, 1], [2, 1, 1]])
    kappa = category_consensus(codes, 4)
    # pairs (0,1): k0 2/2, k1 1/2;  (0,2): k0 1/2, k1 1/3;  (1,2): k0 1/2, k1 2/3;  k2 never agrees
    np.testing.assert_allclose(kappa, [(1 + 0.5 + 0.5) / 3, (0.5 + 1 / 3 + 2 / 3) / 3, 0, 0])
    with pytest.raises(ValueError, match="at least 2 arms"):
        category_consensus(codes[:, :1], 4)


def test_select_round_rule_on_hand_made_curves():
    curve = pd.DataFrame({"consensus": [0.80, 0.96, 0.962, 0.99, 0.992]})
    assert select_round(curve, 0.95) == 1  # the jump into eligibility, 0.80 -> 0.96
    assert select_round(curve, 0.97) == 3  # 0.962 -> 0.99
    assert select_round(curve, 0.999) == 4  # nothing eligible: the highest consensus
    assert select_round(pd.DataFrame({"consensus": [0.97]}), 0.95) == 0


def test_masked_category_has_zero_posterior_in_training_and_eval():
    module = CplMixVAEModule(n_input=12, n_slots=4, n_arms=2)
    module.mask_category(1)
    x = torch.poisson(torch.full((32, 12), 3.0))
    torch.manual_seed(0)
    inf, _, out = module({REGISTRY_KEYS.X_KEY: x})
    assert torch.all(inf["log_q"][..., 1] == float("-inf"))
    assert torch.all(inf["c"][..., 1] == 0)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)
    module.eval()
    inf, _, _ = module({REGISTRY_KEYS.X_KEY: x})
    assert not (inf["log_q"].argmax(-1) == 1).any()
    with pytest.raises(ValueError, match="already masked"):
        module.mask_category(1)
    module.mask_category(0)
    with pytest.raises(ValueError, match="At least 2"):
        module.mask_category(2)


def _prune(model, **kwargs):
    return model.prune(steps_per_round=2, batch_size=64, **QUIET, **kwargs)


def test_prune_bookkeeping_and_outputs(trained, small_adata, tmp_path):
    history = trained.history["train_loss"].copy()
    rounds = _prune(trained, threshold=1.0, min_categories=2)
    assert list(rounds["n_categories"]) == [4, 3, 2]
    assert list(rounds.columns) == [
        "round",
        "n_categories",
        "consensus",
        "min_consensus",
        "reconstruction_loss",
        "pruned",
        "type_consensus",
        "selected",
    ]
    assert rounds["selected"].sum() == 1
    assert rounds["pruned"].iloc[-1] == "" and (rounds["pruned"].iloc[:-1] != "").all()
    assert all(
        len(c) == k for c, k in zip(rounds["type_consensus"], rounds["n_categories"], strict=True)
    )
    pd.testing.assert_frame_equal(trained.history["train_loss"], history)  # kept
    for k in (2, 3, 4):
        trained.select_k(k)
        assert int(trained.module.active.sum()) == k
        pruned = set(rounds["pruned"].iloc[: 4 - k])
        types = trained.get_cell_types()
        assert not pruned & set(types.cat.categories)
        soft = trained.get_cell_types(soft=True)
        assert soft.shape[1] == k and not pruned & set(soft.columns)
        np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-5)
    trained.annotate()
    assert small_adata.obsm["cplmix_type_prob"].shape[1] == 4
    assert len(small_adata.uns["cplmix"]["pruning_rounds"]) == 3
    small_adata.write_h5ad(tmp_path / "pruned.h5ad")
    back = anndata.read_h5ad(tmp_path / "pruned.h5ad").uns["cplmix"]["pruning_rounds"]
    assert list(back["n_categories"]) == [4, 3, 2]
    with pytest.raises(ValueError, match="No pruning round has 7"):
        trained.select_k(7)


def test_prune_stops_when_every_type_reaches_threshold(trained, monkeypatch):
    names = trained.category_names
    agreeing = pd.Series([0.99] * len(names), index=names, name="consensus")
    monkeypatch.setattr(trained, "_round_statistics", lambda batch_size=None: (agreeing, 1.0))
    rounds = _prune(trained, threshold=0.95)
    assert len(rounds) == 1 and rounds["selected"].iloc[0]
    assert int(trained.module.active.sum()) == len(names)


def test_pruned_model_round_trips(trained, small_adata, tmp_path):
    _prune(trained, threshold=1.0, max_rounds=1)
    trained.select_k(3)
    trained.save(tmp_path / "m")
    loaded = scmixvae.CplMixVAE.load(tmp_path / "m", adata=small_adata)
    assert torch.equal(loaded.module.active, trained.module.active)
    assert loaded.get_cell_types().equals(trained.get_cell_types())
    pd.testing.assert_frame_equal(loaded.pruning_rounds_, trained.pruning_rounds_)
    with pytest.raises(ValueError, match="not saved with the model"):
        loaded.select_k(4)


def test_prune_errors(small_adata, trained):
    scmixvae.CplMixVAE.setup_anndata(small_adata, layer="counts")
    untrained = scmixvae.CplMixVAE(small_adata, n_categories=4)
    with pytest.raises(ValueError, match="not trained"):
        untrained.prune()
    with pytest.raises(ValueError, match="prune\\(\\)` first"):
        untrained.select_k(3)
    for bad in (0.0, 1.5, -1):
        with pytest.raises(ValueError, match="threshold"):
            trained.prune(threshold=bad)
    with pytest.raises(ValueError, match="min_categories"):
        trained.prune(min_categories=1)
    with pytest.raises(ValueError, match="exceeds"):
        trained.prune(min_categories=5)
    with pytest.raises(ValueError, match="max_rounds"):
        trained.prune(max_rounds=-1)
    with pytest.raises(ValueError, match="steps_per_round"):
        trained.prune(steps_per_round=0)
    scvi.settings.seed = 0
    one_arm = scmixvae.CplMixVAE(small_adata, n_categories=4, n_arms=1, n_hidden=16)
    one_arm.train(max_epochs=1, **QUIET)
    with pytest.raises(ValueError, match="at least 2 arms"):
        one_arm.prune()
    with pytest.raises(ValueError, match="two different arms"):
        scmixvae.pl.arm_agreement(one_arm, show=False)


def test_pruning_plots(trained):
    with pytest.raises(ValueError, match="prune\\(\\)` first"):
        scmixvae.pl.consensus_curve(trained, show=False)
    _prune(trained, threshold=1.0, max_rounds=1)
    ax = scmixvae.pl.consensus_curve(trained, show=False)
    assert len(ax.lines) >= 3 and ax.get_xlabel() == "number of types K"
    fig = scmixvae.pl.arm_agreement(trained, return_fig=True)
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(image).sum(1), 1.0)
    with pytest.raises(ValueError, match="two different arms"):
        scmixvae.pl.arm_agreement(trained, arms=(0, 0), show=False)
    plt.close("all")


def test_fine_tuning_spends_the_step_budget(trained):
    from lightning.pytorch.callbacks import Callback

    class CountSteps(Callback):
        steps = 0

        def on_train_batch_end(self, *args):
            CountSteps.steps += 1

    # 216 training cells in batches of 64: 4 steps per epoch; 3 epochs = 12 initial steps.
    # Default budget: int(0.75 * 12 / 2 rounds) = 4 steps per round.
    rounds = trained.prune(
        threshold=1.0, min_categories=2, batch_size=64, callbacks=[CountSteps()], **QUIET
    )
    assert CountSteps.steps == 4 * (len(rounds) - 1)
    CountSteps.steps = 0
    trained.select_k(4)  # back to all categories
    trained.prune(
        threshold=1.0,
        max_rounds=1,
        steps_per_round=3,
        batch_size=64,
        callbacks=[CountSteps()],
        **QUIET,
    )
    assert CountSteps.steps == 3


def test_type_consensus_follows_the_type_readout(trained):
    consensus = trained.get_type_consensus()
    codes = trained.get_arm_labels().apply(lambda column: column.astype(int)).to_numpy()
    expected = category_consensus(codes, trained.module.n_slots)
    np.testing.assert_allclose(consensus.to_numpy(), expected[trained._active_slots()])
    trained.module.type_readout = "decoder"
    codes = trained.get_arm_labels().apply(lambda column: column.astype(int)).to_numpy()
    expected = category_consensus(codes, trained.module.n_slots)
    by_decoders = trained.get_type_consensus().to_numpy()
    np.testing.assert_allclose(by_decoders, expected[trained._active_slots()])
    assert not np.allclose(by_decoders, consensus.to_numpy())  # the readouts disagree here
