"""Simple, parameter-free augmenters (docs/method.md, "Augmentation")."""

from __future__ import annotations

import torch

from ._base import Augmenter


class NoAugmentation(Augmenter):
    """Every arm sees the cell itself.

    Examples
    --------
    >>> NoAugmentation()(torch.ones(3, 4), n_arms=2).shape
    torch.Size([2, 3, 4])

    """

    def forward(self, x: torch.Tensor, n_arms: int) -> torch.Tensor:
        """Return ``x`` repeated (as a view) for each arm."""
        return x.expand(n_arms, *x.shape)


class InputDropout(Augmenter):
    """Zero each entry independently with probability ``rate``, separately for each arm.

    No rescaling is applied, so counts stay integers.

    Parameters
    ----------
    rate
        Probability of zeroing an entry, in ``[0, 1)``. The paper-era runs used 0.5.

    Examples
    --------
    >>> copies = InputDropout(rate=0.5)(torch.ones(100, 50), n_arms=2)
    >>> 0.4 < (copies == 0).float().mean().item() < 0.6
    True

    """

    def __init__(self, rate: float = 0.5):
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must lie in [0, 1), got {rate}.")
        self.rate = rate

    def forward(self, x: torch.Tensor, n_arms: int) -> torch.Tensor:
        """Return ``n_arms`` independently masked copies of ``x``."""
        keep = torch.rand((n_arms, *x.shape), device=x.device) >= self.rate
        return x * keep


class BinomialThinning(Augmenter):
    """Keep each counted molecule independently with probability ``keep``, per arm.

    A thinned cell is what a shallower sequencing run of the same cell would give, so it keeps
    the cell's type while changing its counts.

    Parameters
    ----------
    keep
        Probability of keeping a molecule, in ``(0, 1]``.

    Examples
    --------
    >>> copies = BinomialThinning(keep=0.5)(torch.full((100, 10), 20.0), n_arms=2)
    >>> 9.0 < copies.mean().item() < 11.0
    True

    """

    requires_counts = True

    def __init__(self, keep: float = 0.5):
        super().__init__()
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"Thinning keep probability must lie in (0, 1], got {keep}.")
        self.keep = keep

    def forward(self, x: torch.Tensor, n_arms: int) -> torch.Tensor:
        """Return ``n_arms`` independently thinned copies of the counts ``x``."""
        counts = x.expand(n_arms, *x.shape).contiguous()
        return torch.binomial(counts, torch.full_like(counts, self.keep))
