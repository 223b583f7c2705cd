"""``self_labelling``: categories trained by classification EM on the model's own scores."""

import pytest
import torch
import torch.nn.functional as F
from scvi import REGISTRY_KEYS

from scmixvae.module import CplMixVAEModule, gaussian_kl

X = REGISTRY_KEYS.X_KEY


def _counts(n=10, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((n, d), 3.0), generator=g)


def _module(**kwargs):
    torch.manual_seed(0)
    return CplMixVAEModule(n_input=12, n_categories=4, self_labelling=True, **kwargs)


def _scores_by_hand(module, x, batch_index=None):
    """Reconstruction + state KL of every cell under every category, ``(A, B, K)``.

    As in training, ``z`` comes from the encoder's batch statistics and the decoder uses its
    running ones.
    """
    x_arm = x.expand(module.n_arms, *x.shape)
    library = module.library_size(x_arm)
    z, _ = module.encode(x_arm, library)
    module.decoder.eval()
    scores = []
    for category in range(module.n_categories):
        c = F.one_hot(torch.full(z.shape[:-1], category), module.n_categories).float()
        mean, var = module.state_posterior(z, c)
        prior_mean, prior_var = module.state_prior_params(c)
        rec = -module.decode(c, mean, library, batch_index).log_prob(x_arm).sum(-1)
        scores.append(rec + gaussian_kl(mean, var, prior_mean, prior_var))
    module.decoder.train()
    return torch.stack(scores, -1)


def test_each_cell_gets_the_category_its_decoder_scores_best():
    module, x = _module(), _counts()
    module({X: x})  # one training step, so that the running statistics are not the initial ones
    expected = _scores_by_hand(module, x).argmin(-1)
    torch.manual_seed(1)
    inf, _, _ = module({X: x})
    assert torch.equal(inf["teacher_labels"], expected)
    assert torch.equal(inf["c"], F.one_hot(expected, 4).float())


def test_pruned_categories_are_never_assigned():
    module, x = _module(), _counts()
    best = _scores_by_hand(module, x).argmin(-1)
    module.mask_category(int(best[0, 0]))
    inf, _, _ = module({X: x})
    assert not (inf["teacher_labels"] == best[0, 0]).any()


def test_scoring_leaves_the_decoders_statistics_and_mode_alone():
    module, x = _module(), _counts()
    module({X: x})
    before = {k: v.clone() for k, v in module.decoder.state_dict().items()}
    x_arm = x.expand(2, *x.shape)
    library = module.library_size(x_arm)
    z, _ = module.encode(x_arm, library)
    module.best_categories(x_arm, z, library)
    assert module.decoder.training
    for key, value in module.decoder.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_the_head_learns_the_assignment_by_cross_entropy():
    module, x = _module(coupling_weight=0.0), _counts()
    inf, gen, out = module({X: x})
    rec = -gen["px"].log_prob(inf["x_arm"]).sum(-1).mean(-1)
    kl = gaussian_kl(inf["s_mean"], inf["s_var"], gen["prior_mean"], gen["prior_var"]).mean(-1)
    cross_entropy = F.nll_loss(
        inf["log_q"].transpose(1, 2), inf["teacher_labels"], reduction="none"
    ).mean(-1)
    assert out.loss.item() == pytest.approx(torch.sum(rec + kl + cross_entropy).item(), rel=1e-6)
    out.loss.backward()
    assert module.category_head.weight.grad.abs().sum() > 0


def test_the_assignment_decodes_with_the_cells_batch():
    module, x = _module(n_batch=2), _counts()
    tensors = {X: x, REGISTRY_KEYS.BATCH_KEY: torch.arange(10).remainder(2).unsqueeze(1)}
    module(tensors)
    expected = _scores_by_hand(module, x, tensors[REGISTRY_KEYS.BATCH_KEY]).argmin(-1)
    inf, _, _ = module(tensors)
    assert torch.equal(inf["teacher_labels"], expected)


def test_self_labelling_and_enumeration_are_exclusive():
    with pytest.raises(ValueError, match="choose one"):
        CplMixVAEModule(n_input=12, n_categories=4, self_labelling=True, n_enumerated=2)


def test_model_trains_saves_and_loads_with_self_labelling(tmp_path):
    import scmixvae

    adata = scmixvae.datasets.simulate(n_cells=120, n_types=3, n_genes=60, seed=0)
    scmixvae.CplMixVAE.setup_anndata(adata, layer="counts")
    model = scmixvae.CplMixVAE(adata, n_categories=3, self_labelling=True)
    model.train(max_epochs=2, enable_progress_bar=False, accelerator="cpu")
    model.save(tmp_path / "model")
    loaded = scmixvae.CplMixVAE.load(tmp_path / "model", adata=adata)
    assert loaded.module.self_labelling
    assert loaded.get_cell_types().equals(model.get_cell_types())
