"""The pure maths of the cpl-mixVAE objective (Eq. 7 of the paper, with numerical guards).

Every function takes and returns tensors; none holds parameters. Shapes use ``A`` arms,
``B`` cells, ``K`` categories and ``S`` state dimensions.
"""

from __future__ import annotations

import math

import torch


def log_gumbel_softmax_sample(log_q: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log of a relaxed one-hot sample ``c = softmax((log q + g) / T)`` with Gumbel noise ``g``.

    The Gumbel-softmax sample of ``c`` (Jang et al. 2016). The logarithm is returned because the
    coupling needs ``log c``; computing it by ``log_softmax`` avoids ``log(0)``.

    Parameters
    ----------
    log_q
        Log-probabilities, categories on the last dimension.
    temperature
        Relaxation temperature ``T > 0``; small values approach a hard one-hot sample.

    Examples
    --------
    >>> log_q = torch.log_softmax(torch.randn(4, 3), dim=-1)
    >>> sample = log_gumbel_softmax_sample(log_q, temperature=1.0).exp()
    >>> torch.allclose(sample.sum(-1), torch.ones(4))
    True

    """
    uniform = torch.rand_like(log_q)
    # Clamping keeps -log(-log U) finite at U in {0, 1}.
    tiny = torch.finfo(log_q.dtype).tiny
    gumbel = -torch.log(-torch.log(uniform.clamp(tiny, 1.0 - 1e-7)))
    return torch.log_softmax((log_q + gumbel) / temperature, dim=-1)


def categorical_entropy(log_q: torch.Tensor) -> torch.Tensor:
    """Mean entropy of categorical posteriors over the cell dimension.

    ``H(q_a)`` of Eq. 7, the confidence penalty (Pereyra et al. 2017).

    Parameters
    ----------
    log_q
        Log-probabilities shaped ``(A, B, K)``.

    Returns
    -------
    Entropy per arm, shape ``(A,)``, in nats.

    Examples
    --------
    >>> uniform = torch.full((1, 2, 4), math.log(0.25))
    >>> categorical_entropy(uniform)  # log 4
    tensor([1.3863])

    """
    return -(log_q.exp() * log_q).sum(dim=-1).mean(dim=-1)


def perturbed_aitchison_distance(
    log_q: torch.Tensor,
    var_floor: float = 1e-4,
    prob_offset: float = 1e-3,
) -> torch.Tensor:
    """Perturbed Aitchison distance ``d²_σ`` between every pair of arms (Eq. 7 of the paper).

    ``d²_σ(c_a, c_b) = mean_cells Σ_k (clr(c_a)_k / σ_ak − clr(c_b)_k / σ_bk)²`` where
    ``clr(c)_k = log c_k − mean_j log c_j`` is the centred log-ratio transform and ``σ²_ak``
    the variance of ``c_ak`` over the minibatch. ``c`` are points on the simplex: the arms'
    posteriors ``q(c | x_a)`` or their Gumbel-softmax samples. With ``σ = 1`` this is the
    squared Aitchison distance ``‖clr(c_a) − clr(c_b)‖²``.

    The centring matters: without it, two arms with equal posteriors but different batch
    spreads ``σ`` differ by ``log(1/K) (1/σ_a − 1/σ_b)`` in every category, a term that
    dominated the loss and kept the arms from aligning (``benchmarks/coupling.md``).

    Two guards make it numerically safe: the variance is floored at
    ``var_floor``, and the logarithm is taken of ``q + prob_offset`` (computed stably from
    ``log_q``), so a posterior that puts ~0 mass on a category cannot send the loss to 1e8.
    The population variance is used, so a minibatch of one cell gives ``σ² = var_floor``
    rather than NaN.

    Parameters
    ----------
    log_q
        Logarithms of the simplex points, shaped ``(A, B, K)``; ``-inf`` is allowed.
    var_floor
        Lower bound on ``σ²``. Keep it well below ``1/K``: a larger floor flattens the
        perturbation and switches the coupling off.
    prob_offset
        ``ε`` in ``log(q + ε)``.

    Returns
    -------
    Distances for the pairs ``a < b`` in :func:`torch.triu_indices` order, shape
    ``(A (A - 1) / 2,)``; empty when ``A = 1``.

    Examples
    --------
    >>> log_q = torch.log_softmax(torch.randn(1, 8, 3), dim=-1).expand(2, 8, 3)
    >>> perturbed_aitchison_distance(log_q)  # identical arms
    tensor([0.])

    """
    n_arms = log_q.shape[0]
    var = log_q.exp().var(dim=1, keepdim=True, correction=0).clamp_min(var_floor)
    log_q_safe = torch.logaddexp(log_q, torch.full_like(log_q, math.log(prob_offset)))
    clr = log_q_safe - log_q_safe.mean(dim=-1, keepdim=True)
    scaled = clr * torch.rsqrt(var)
    arm_a, arm_b = torch.triu_indices(n_arms, n_arms, offset=1, device=log_q.device)
    return (scaled[arm_a] - scaled[arm_b]).pow(2).sum(dim=-1).mean(dim=-1)


def gaussian_kl(
    mean_q: torch.Tensor,
    var_q: torch.Tensor,
    mean_p: torch.Tensor,
    var_p: torch.Tensor,
) -> torch.Tensor:
    """``KL(N(mean_q, var_q) ‖ N(mean_p, var_p))`` for diagonal Gaussians, summed on the last axis.

    Examples
    --------
    >>> one, zero = torch.ones(1, 2), torch.zeros(1, 2)
    >>> gaussian_kl(zero, one, zero, one)
    tensor([0.])

    """
    ratio = var_q / var_p
    return 0.5 * (ratio + (mean_q - mean_p).pow(2) / var_p - 1.0 - torch.log(ratio)).sum(-1)
