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
