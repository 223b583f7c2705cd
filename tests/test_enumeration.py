"""``n_enumerated``: the reconstruction averaged exactly over each cell's top categories."""

import pytest
import torch
import torch.nn.functional as F
from scvi import REGISTRY_KEYS

from scmixvae.module import CplMixVAEModule, gaussian_kl, perturbed_aitchison_distance

X = REGISTRY_KEYS.X_KEY


def _counts(n=10, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((n, d), 3.0), generator=g)


def _run(module, tensors):
    torch.manual_seed(0)
    return module(tensors)


def test_candidates_are_the_top_categories_with_renormalised_weights():
    module = CplMixVAEModule(n_input=12, n_categories=5, n_enumerated=3)
    inf, _, _ = _run(module, {X: _counts()})
    q = inf["log_q"].exp()  # (2, 10, 5)
    top_q, top = q.topk(3, dim=-1)
    assert torch.allclose(inf["enumeration_weights"], top_q / top_q.sum(-1, keepdim=True))
    # c holds 3 one-hot rows per cell, cell-major, in the order of decreasing q
    assert inf["c"].shape == (2, 30, 5)
    assert torch.equal(inf["c"].argmax(-1), top.flatten(1, 2))
    assert inf["s"].shape == (2, 30, 2) and inf["library"].shape == (2, 30, 1)
    assert inf["log_c"].shape == (2, 10, 5)  # one Gumbel sample per cell, for the coupling


def test_loss_is_the_weighted_average_of_each_candidates_terms():
    module = CplMixVAEModule(n_input=12, n_categories=4, n_enumerated=3, coupling_weight=0.5)
    x = _counts()
    inf, _, out = _run(module, {X: x})
    n_cells, m = x.shape[0], 3
    weights, top = inf["enumeration_weights"], inf["c"].argmax(-1).unflatten(1, (n_cells, m))
    # Decode the same rows candidate-major, a different order from the module's cell-major
    # one (batch normalisation is invariant to it), then weight each term by hand.
    order = torch.tensor([b * m + j for j in range(m) for b in range(n_cells)])
    c = F.one_hot(top.transpose(1, 2).flatten(1, 2), 4).float()
    s, library = inf["s"][:, order], inf["library"][:, order]
    px = module.decode(c, s, library)
    prior_mean, prior_var = module.state_prior_params(c)
    rec = -px.log_prob(x.repeat(m, 1)).sum(-1).unflatten(1, (m, n_cells))
    kl = gaussian_kl(inf["s_mean"][:, order], inf["s_var"][:, order], prior_mean, prior_var)
    per_cell = (weights.transpose(1, 2) * (rec + kl.unflatten(1, (m, n_cells)))).sum(1)
    coupling = perturbed_aitchison_distance(inf["log_c"])
    expected = per_cell.mean(-1).sum() + 0.5 * coupling.sum()  # A = 2: arm factor 1
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_posterior_learns_from_the_reconstruction_only_with_candidates_to_compare():
    def head_gradient(n_enumerated):
        module = CplMixVAEModule(
            n_input=12, n_categories=4, n_enumerated=n_enumerated, coupling_weight=0.0
        )
        _, _, out = _run(module, {X: _counts()})
        out.loss.backward()
        return module.category_head.weight.grad.abs().sum().item()

    assert head_gradient(1) == 0.0  # one candidate: weight 1, nothing to compare
    assert head_gradient(2) > 0.0


def test_batch_covariate_is_repeated_for_every_candidate():
    module = CplMixVAEModule(n_input=12, n_categories=4, n_batch=2, n_enumerated=2)
    batch = torch.tensor([0, 1] * 5).reshape(-1, 1)
    _, gen, out = _run(module, {X: _counts(), REGISTRY_KEYS.BATCH_KEY: batch})
    assert gen["px"].mean.shape == (2, 20, 12)
    out.loss.backward()
    assert module.decoder.layers[0].weight.grad[:, -2:].abs().sum() > 0


def test_evaluation_and_teacher_phase_do_not_enumerate():
    module = CplMixVAEModule(n_input=12, n_categories=4, n_enumerated=2, initialization="kmeans")
    inf, _, _ = module({X: _counts()}, inference_kwargs={"use_teacher": True})
    assert "enumeration_weights" not in inf and inf["c"].shape == (2, 10, 4)
    module.eval()
    inf, _, out = module({X: _counts()})
    assert "enumeration_weights" not in inf and torch.isfinite(out.loss)


@pytest.mark.parametrize("n_enumerated", [-1, 5])
def test_n_enumerated_out_of_range_is_refused(n_enumerated):
    with pytest.raises(ValueError, match="n_enumerated must be between 0 and n_categories=4"):
        CplMixVAEModule(n_input=12, n_categories=4, n_enumerated=n_enumerated)
