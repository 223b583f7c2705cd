"""Depth-normalised log expression, the space where the encoder and the augmenter see cells."""

from __future__ import annotations

import torch

#: Counts per cell after depth normalisation, before the log.
LIBRARY_SCALE = 1e4


def log_normalise(x: torch.Tensor, library: torch.Tensor) -> torch.Tensor:
    """``log1p(10^4 · x / library)``; libraries below 1 count as 1, so empty cells stay 0.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    >>> log_normalise(x, x.sum(-1, keepdim=True))
    tensor([[7.8244, 8.9228],
            [0.0000, 0.0000]])

    """
    return torch.log1p(x * (LIBRARY_SCALE / library.clamp_min(1.0)))


#: Inverse overdispersion ``θ`` of the Pearson residuals (Lause, Berens & Kobak 2021).
RESIDUAL_THETA = 100.0


def pearson_residuals(
    x: torch.Tensor,
    gene_fraction: torch.Tensor,
    clip: float | torch.Tensor,
    theta: float = RESIDUAL_THETA,
) -> torch.Tensor:
    """Analytic Pearson residuals of counts under a null model without types.

    ``r = (x − μ) / √(μ + μ²/θ)`` with ``μ = library · gene_fraction`` (the expected count
    if every cell had the same expression profile), clipped to ``[−clip, clip]`` (``clip``
    a number or a 0-d tensor). Genes
    with ``gene_fraction = 0`` get residual 0. Unlike the log of depth-normalised counts,
    the residuals of a lowly expressed gene are not dominated by sampling noise, so
    marker genes of small types weigh more in a PCA of them.

    Examples
    --------
    >>> x = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
    >>> pearson_residuals(x, torch.tensor([0.5, 0.5]), clip=10.0, theta=1e9)
    tensor([[ 1.4142, -1.4142],
            [-1.4142,  1.4142]])

    """
    mean = x.sum(-1, keepdim=True) * gene_fraction
    scale = torch.sqrt(mean + mean**2 / theta)
    residuals = torch.where(scale > 0, (x - mean) / scale.clamp_min(1e-12), 0.0)
    return residuals.clamp(-clip, clip)
