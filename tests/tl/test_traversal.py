import numpy as np
import pandas as pd
import pytest
import scvi
import torch
from conftest import QUIET
from scipy.stats import norm

import scmixvae
from scmixvae.tl import state_gene_scores, traversal


def test_decoded_expression_is_per_10k_and_matches_the_decoder(trained):
    states = np.array([[0.0, 0.0], [1.0, -1.0], [-2.0, 3.0]])
    expression = trained.get_decoded_expression("2", states, arm=1)
    assert expression.shape == (3, trained.adata.n_vars)
    np.testing.assert_allclose(expression.sum(1), 1e4, rtol=1e-4)
    module = trained.module
    with torch.no_grad():
        c = torch.zeros(module.n_arms, 3, module.n_slots)
        c[..., 2] = 1.0
        s = torch.tensor(states, dtype=torch.float32).expand(module.n_arms, 3, 2)
        # the decoder reads the cells' typical depth; the mean is scaled to 10,000 counts
        depth = module.typical_depth().expand(module.n_arms, 3, 1)
        direct = module.decode(c, s, torch.ones(module.n_arms, 3, 1), depth=depth).mu[1] * 1e4
    np.testing.assert_allclose(expression, direct.numpy(), rtol=1e-5)
    # Different states decode differently.
    assert not np.allclose(expression[0], expression[1])


def test_state_prior_reads_the_type_parameters(trained):
    with torch.no_grad():
        trained.module.prior_mean[1, 3] = torch.tensor([1.0, -2.0])
        trained.module.prior_log_var[1, 3] = torch.log(torch.tensor([4.0, 0.25]))
    mean, std = trained.get_state_prior("3", arm=1)
    np.testing.assert_allclose(mean, [1.0, -2.0])
    np.testing.assert_allclose(std, [2.0, 0.5], rtol=1e-6)


def test_prior_traversal_steps_through_prior_quantiles(trained):
    with torch.no_grad():
        trained.module.prior_mean[0, 1] = torch.tensor([1.0, -2.0])
        trained.module.prior_log_var[0, 1] = torch.log(torch.tensor([4.0, 1.0]))
    one_sd = norm.cdf(1.0)
    table = traversal(
        trained,
        "1",
        dimensions=0,
        n_steps=3,
        quantile_range=(1 - one_sd, one_sd),
        state_range="prior",
    )
    n_genes = trained.adata.n_vars
    assert len(table) == 3 * n_genes
    assert list(table.columns) == [
        "type", "dimension", "step", "quantile", "state", "gene", "expression",
        "normalized_expression",
    ]  # fmt: skip
    steps = table.drop_duplicates("step")
    np.testing.assert_allclose(steps["state"], [-1.0, 1.0, 3.0], rtol=1e-5)
    # The other dimension is held at the prior mean: decode the same states by hand.
    expected = trained.get_decoded_expression("1", np.array([[-1.0, -2], [1, -2], [3, -2]]))
    np.testing.assert_allclose(
        table["expression"].to_numpy().reshape(3, n_genes), expected, rtol=1e-5
    )
    peak = table.groupby("gene", observed=True)["normalized_expression"].max()
    np.testing.assert_allclose(peak, 1.0)
    assert table["gene"].cat.categories.tolist() == trained.adata.var_names.tolist()


def test_traversal_defaults_cover_assigned_types_and_all_dimensions(trained):
    assigned = set(trained.get_cell_types().astype(str))
    table = traversal(trained, n_steps=4, genes=["IEG_00", "gene_0001"])
    assert set(table["type"].astype(str)) == assigned
    assert sorted(table["dimension"].unique()) == [0, 1]
    assert len(table) == len(assigned) * 2 * 4 * 2


def test_cells_traversal_uses_the_quantiles_of_the_types_states(trained):
    types = trained.get_cell_types()
    states = trained.get_state_representation()
    name = types.value_counts().index[0]
    own = states[(types == name).to_numpy()]
    table = traversal(trained, name, dimensions=1, genes="IEG_00", n_steps=5)
    expected = np.quantile(own[:, 1], np.linspace(0.05, 0.95, 5))
    np.testing.assert_allclose(table["state"], expected, rtol=1e-5)


def test_traversal_averages_decoders_over_batches(small_adata):
    small_adata.obs["batch"] = np.where(np.arange(small_adata.n_obs) % 2, "a", "b")
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(small_adata, layer="counts", batch_key="batch")
    # cold start: categories keep their numbers (no merge), so category 0 is type "0"
    model = scmixvae.CplMixVAE(small_adata, n_categories=3, n_hidden=16, initialization="random")
    model.train(max_epochs=1, batch_size=64, **QUIET)
    module = model.module
    states = np.zeros((2, 2))
    with torch.no_grad():
        c = torch.zeros(module.n_arms, 2, 3)
        c[..., 0] = 1.0
        s = torch.zeros(module.n_arms, 2, 2)
        lib = torch.full((module.n_arms, 2, 1), 1e4)
        depth = module.typical_depth().expand_as(lib)
        per_batch = [
            module.decode(c, s, lib, torch.full((2, 1), b), depth=depth).mu[0].numpy()
            for b in (0, 1)
        ]
    np.testing.assert_allclose(
        model.get_decoded_expression("0", states), np.mean(per_batch, axis=0), rtol=1e-5
    )


def test_traversal_errors(trained, small_adata):
    untrained = scmixvae.CplMixVAE(small_adata, n_categories=4)
    with pytest.raises(RuntimeError, match="train"):
        traversal(untrained, "0")
    cases = [
        ({"state_range": "posterior"}, "Unknown state_range"),
        ({"n_steps": 1}, "n_steps must be"),
        ({"quantile_range": (0.0, 0.9)}, "quantile_range"),
        ({"quantile_range": (0.9, 0.1)}, "quantile_range"),
        ({"types": ["7"]}, "Unknown type '7'"),
        ({"types": []}, "types is empty"),
        ({"dimensions": [2]}, r"dimensions must be in \[0, 2\)"),
        ({"genes": ["nope"]}, r"Genes not in the model's var_names: \['nope'\]"),
        ({"arm": 2}, r"arm must be an integer in \[0, 2\)"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            traversal(trained, **({"types": "0", "state_range": "prior"} | kwargs))
    with pytest.raises(ValueError, match="shape"):
        trained.get_decoded_expression("0", np.zeros((3, 5)))
    with pytest.raises(ValueError, match="finite"):
        trained.get_decoded_expression("0", np.full((1, 2), np.nan))
    trained.module.mask_category(3)
    with pytest.raises(ValueError, match="Type '3' was pruned"):
        traversal(trained, "3")
    with torch.no_grad():  # no cell can be of type 2 any more
        trained.module.category_head.bias[..., 2] = -1e6
    with pytest.raises(ValueError, match="Type '2' has no cells"):
        traversal(trained, "2")
    assert "2" not in set(traversal(trained, genes="IEG_00", n_steps=2)["type"])


def test_standard_prior_traversal_is_centred(small_adata):
    scvi.settings.seed = 0
    scmixvae.CplMixVAE.setup_anndata(small_adata, layer="counts")
    model = scmixvae.CplMixVAE(
        small_adata, n_categories=2, state_prior="standard", n_hidden=16, initialization="random"
    )
    model.train(max_epochs=1, batch_size=64, **QUIET)
    mean, std = model.get_state_prior("1")
    np.testing.assert_array_equal(mean, [0.0, 0.0])
    np.testing.assert_array_equal(std, [1.0, 1.0])
    table = traversal(model, "1", dimensions=1, genes="IEG_00", n_steps=3, state_range="prior")
    np.testing.assert_allclose(table["state"], norm.ppf([0.05, 0.5, 0.95]), atol=1e-6)


def _hand_made_table() -> pd.DataFrame:
    steps = np.arange(4)
    genes = {
        "up": 2.0**steps - 0.1,  # log2(x + 0.1) rises by exactly 3 over the traversal
        "flat": np.full(4, 5.0),
        "down": np.array([8.0, 4.0, 2.0, 1.0]),
        "bump": np.array([1.0, 3.0, 3.5, 1.0]),
    }
    return pd.DataFrame(
        [
            {"type": "A", "dimension": 0, "step": s, "gene": g, "expression": v[s]}
            for g, v in genes.items()
            for s in steps
        ]
    )


def test_state_gene_scores_on_hand_checked_trends():
    scores = state_gene_scores(_hand_made_table()).set_index("gene")
    assert scores.loc["up", "spearman"] == pytest.approx(1.0)
    assert scores.loc["down", "spearman"] == pytest.approx(-1.0)
    assert scores.loc["flat", "spearman"] == 0.0 and scores.loc["flat", "score"] == 0.0
    assert scores.loc["up", "log2_fold_change"] == pytest.approx(3.0)
    assert scores.loc["down", "log2_fold_change"] == pytest.approx(np.log2(1.1 / 8.1))
    assert scores.loc["bump", "log2_fold_change"] == pytest.approx(0.0)
    assert scores.loc["bump", "log2_range"] == pytest.approx(np.log2(3.6 / 1.1))
    assert scores.loc["up", "score"] == pytest.approx(3.0)
    assert list(scores.index[:2]) == ["up", "down"]  # sorted by score


def test_state_gene_scores_on_a_model_table(trained):
    table = traversal(trained, ["0", "1"], n_steps=5, state_range="prior")
    scores = state_gene_scores(table)
    assert len(scores) == 2 * 2 * trained.adata.n_vars
    for _, block in scores.groupby(["type", "dimension"], observed=True):
        assert block["score"].is_monotonic_decreasing
    assert scores["spearman"].between(-1, 1).all()


def test_state_gene_scores_errors():
    with pytest.raises(ValueError, match=r"lacks columns \['expression'\]"):
        state_gene_scores(_hand_made_table().drop(columns="expression"))
    with pytest.raises(ValueError, match="at least 2 steps"):
        state_gene_scores(_hand_made_table().query("step == 0"))
