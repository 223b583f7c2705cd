import numpy as np
import pytest
import torch
from scipy import stats

from scmixvae.module import observation_distribution


def test_nb_matches_scipy():
    decoded = torch.tensor([[0.0, 1.0, -1.0]], dtype=torch.float64)
    library = torch.tensor([[50.0]], dtype=torch.float64)
    log_disp = torch.tensor([[0.5, 1.0, 2.0]], dtype=torch.float64)
    x = torch.tensor([[3.0, 30.0, 0.0]], dtype=torch.float64)
    got = observation_distribution("nb", decoded, library, log_dispersion=log_disp).log_prob(x)
    mean = 50.0 * torch.softmax(decoded, -1).numpy()[0]
    theta = np.exp(log_disp.numpy()[0])
    expected = stats.nbinom.logpmf(x.numpy()[0], theta, theta / (theta + mean))
    assert np.allclose(got.numpy()[0], expected, atol=1e-5)


def test_zinb_without_inflation_is_nb():
    decoded = torch.randn(2, 4, dtype=torch.float64)
    library = torch.full((2, 1), 20.0, dtype=torch.float64)
    log_disp = torch.zeros(1, 4, dtype=torch.float64)
    x = torch.poisson(torch.full((2, 4), 5.0, dtype=torch.float64))
    nb = observation_distribution("nb", decoded, library, log_dispersion=log_disp).log_prob(x)
    zinb = observation_distribution(
        "zinb", decoded, library, log_dispersion=log_disp, dropout_logits=torch.full((2, 4), -50.0)
    ).log_prob(x)
    assert torch.allclose(nb, zinb, atol=1e-6)


def test_normal_is_unit_variance_gaussian():
    got = observation_distribution("normal", torch.tensor([[1.0]]), torch.ones(1, 1)).log_prob(
        torch.tensor([[3.0]])
    )
    assert got.item() == pytest.approx(-0.5 * 4 - 0.5 * np.log(2 * np.pi))


def test_bernoulli_accepts_fractions():
    dist = observation_distribution("bernoulli", torch.tensor([[0.0]]), torch.ones(1, 1))
    assert dist.log_prob(torch.tensor([[0.25]])).item() == pytest.approx(np.log(0.5))


def test_unknown_likelihood():
    with pytest.raises(ValueError, match="Unknown likelihood"):
        observation_distribution("poisson", torch.zeros(1, 1), torch.ones(1, 1))


def test_log_mean_nb_matches_scvi_in_value_and_gradient():
    from scvi.distributions import NegativeBinomial

    from scmixvae.module import LogMeanNegativeBinomial

    torch.manual_seed(0)
    decoded = torch.randn(2, 5, 7, dtype=torch.float64, requires_grad=True)
    log_disp = torch.randn(2, 1, 7, dtype=torch.float64, requires_grad=True)
    library = torch.tensor([[[40.0], [0.0], [3.0], [900.0], [1.0]]], dtype=torch.float64)
    x = torch.poisson(library * torch.full((2, 5, 7), 1 / 7, dtype=torch.float64))
    ours = LogMeanNegativeBinomial.from_decoder(decoded, library, log_disp)
    theirs = NegativeBinomial(mu=library * decoded.softmax(-1), theta=log_disp.exp())
    assert ours.log_prob(x).shape == (2, 5, 7)
    assert torch.allclose(ours.log_prob(x), theirs.log_prob(x), atol=1e-6)
    assert torch.isfinite(ours.log_prob(x)).all()  # the cell with no counts included
    assert torch.allclose(ours.mu, theirs.mu)
    grads = [torch.autograd.grad(d.log_prob(x).sum(), (decoded, log_disp)) for d in (ours, theirs)]
    for got, expected in zip(*grads, strict=True):
        assert torch.allclose(got, expected, atol=1e-5)
