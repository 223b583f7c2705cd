import math

import numpy as np
import pytest
import torch

from scmixvae.module import (
    categorical_entropy,
    gaussian_kl,
    log_gumbel_softmax_sample,
    perturbed_aitchison_distance,
)


def test_entropy_hand_checked():
    q = torch.tensor([[[0.5, 0.5], [1.0 - 1e-12, 1e-12]]])  # one arm, two cells
    expected = (math.log(2) + 0.0) / 2
    assert categorical_entropy(q.log()).item() == pytest.approx(expected, abs=1e-9)


def test_aitchison_hand_checked():
    # two arms, two cells, two categories; no guard is active (variance > floor, offset tiny)
    qa = np.array([[0.9, 0.1], [0.2, 0.8]])
    qb = np.array([[0.6, 0.4], [0.3, 0.7]])
    log_q = torch.tensor(np.log(np.stack([qa, qb])))
    got = perturbed_aitchison_distance(log_q, var_floor=1e-12, prob_offset=1e-300).item()
    sa, sb = qa.std(axis=0), qb.std(axis=0)  # population std over the batch
    clr_a = np.log(qa) - np.log(qa).mean(axis=1, keepdims=True)
    clr_b = np.log(qb) - np.log(qb).mean(axis=1, keepdims=True)
    expected = ((clr_a / sa - clr_b / sb) ** 2).sum(axis=1).mean()
    assert got == pytest.approx(expected, rel=1e-9)


def test_aitchison_pairs_and_single_arm():
    log_q = torch.log_softmax(torch.randn(3, 16, 5, dtype=torch.float64), -1)
    d = perturbed_aitchison_distance(log_q)
    assert d.shape == (3,)
    pair_02 = perturbed_aitchison_distance(log_q[[0, 2]])
    assert d[1].item() == pytest.approx(pair_02.item())
    assert perturbed_aitchison_distance(log_q[:1]).numel() == 0


def test_aitchison_is_finite_on_degenerate_input():
    # One-hot, identical posteriors across the batch: zero variance, log q = -inf.
    logits = torch.full((2, 1, 4), -1e4)
    logits[..., 0] = 0.0
    log_q = torch.log_softmax(logits, -1).requires_grad_()
    d = perturbed_aitchison_distance(log_q)
    d.sum().backward()
    assert torch.isfinite(d).all() and torch.isfinite(log_q.grad).all()
    # a batch of one cell is guarded too
    assert torch.isfinite(
        perturbed_aitchison_distance(torch.log_softmax(torch.randn(2, 1, 3), -1))
    ).all()


def test_aitchison_offset_matches_formula():
    log_q = torch.log_softmax(torch.randn(2, 8, 3, dtype=torch.float64), -1)
    q = log_q.exp()
    var = q.var(dim=1, keepdim=True, correction=0).clamp_min(1e-4)
    log_q_safe = torch.log(q + 1e-3)
    u = (log_q_safe - log_q_safe.mean(-1, keepdim=True)) / var.sqrt()
    expected = (u[0] - u[1]).pow(2).sum(-1).mean()
    assert perturbed_aitchison_distance(log_q).item() == pytest.approx(expected.item(), rel=1e-9)


def test_gaussian_kl_hand_checked():
    # KL(N(1, 4) || N(0, 1)) = 0.5 (4 + 1 - 1 - log 4)
    got = gaussian_kl(
        torch.tensor([[1.0]]), torch.tensor([[4.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]])
    )
    assert got.item() == pytest.approx(0.5 * (4 - math.log(4)))


def test_gumbel_softmax_statistics():
    torch.manual_seed(0)
    probs = torch.tensor([0.7, 0.2, 0.1])
    log_q = probs.log().expand(20000, 3)
    hard_counts = (
        log_gumbel_softmax_sample(log_q, temperature=0.05).argmax(-1).bincount(minlength=3)
    )
    assert np.allclose(hard_counts.numpy() / 20000, probs.numpy(), atol=0.02)
    soft = log_gumbel_softmax_sample(log_q, temperature=10.0).exp()
    assert soft.max(-1).values.mean() < 0.4  # high temperature flattens the sample


def test_gumbel_softmax_gradient_reaches_logits():
    logits = torch.randn(4, 3, requires_grad=True)
    sample = log_gumbel_softmax_sample(torch.log_softmax(logits, -1), temperature=1.0).exp()
    (sample[:, 0]).sum().backward()
    assert logits.grad.abs().sum() > 0


def test_aitchison_without_perturbation_is_clr_distance():
    # With unit spread (floor 1, tiny offset) the distance is ||clr(a) - clr(b)||^2,
    # which ignores a common rescaling of a posterior's entries.
    qa = torch.tensor([[[0.5, 0.3, 0.2]]], dtype=torch.float64)
    qb = torch.tensor([[[0.2, 0.3, 0.5]]], dtype=torch.float64)
    d = perturbed_aitchison_distance(torch.cat([qa, qb]).log(), var_floor=1.0, prob_offset=1e-300)
    clr = lambda q: q.log() - q.log().mean(-1, keepdim=True)  # noqa: E731
    assert d.item() == pytest.approx((clr(qa) - clr(qb)).pow(2).sum().item(), rel=1e-9)
