"""A negative binomial whose log-likelihood costs fewer full-size tensor operations.

The training step's largest cost is the count likelihood over ``arms x cells x genes``
(``benchmarks/throughput.md``). scvi-tools' :class:`~scvi.distributions.NegativeBinomial`
broadcasts the gene-wise inverse dispersion ``θ`` to that full shape, so ``lgamma(θ)`` and
``log θ`` (and their gradients) are computed once per cell instead of once per gene. Here the
terms that depend on ``θ`` alone stay at ``θ``'s own shape, and the mean enters in log space
(``log μ = log library + log_softmax``), which also saves a ``log``; ``lgamma(x + 1)`` is
computed once when every arm sees the same counts.
"""

from __future__ import annotations

import torch
from scvi.distributions import NegativeBinomial
from torch.distributions import Distribution

from ._arm_layers import once_if_shared

# Smallest library size used in log space: a cell with no counts gets mean ~0, as in
# scvi-tools, instead of log(0) = -inf (which would make 0 * log(mu) NaN).
_MIN_LIBRARY = 1e-8


class LogMeanNegativeBinomial(NegativeBinomial):
    """scvi-tools' negative binomial, parameterised by ``log μ``, with a factorised log-pmf.

    ``log p(x) = θ log θ − lgamma(θ) + x log μ − (θ + x) log(θ + μ) + lgamma(x + θ)
    − lgamma(x + 1)``, the same value as scvi-tools' ``log_nb_positive`` (without its
    ``1e-8`` offsets). ``mu`` and ``theta`` are computed when read; ``sample`` and the rest
    are inherited.

    Parameters
    ----------
    log_mean
        ``log μ``, e.g. ``(A, B, D)``.
    theta
        Inverse dispersion, broadcastable to ``log_mean`` (e.g. ``(A, 1, D)``).

    Examples
    --------
    >>> nb = LogMeanNegativeBinomial(torch.zeros(2, 3), torch.ones(1, 3))
    >>> nb.log_prob(torch.ones(2, 3)).shape
    torch.Size([2, 3])

    """

    def __init__(self, log_mean: torch.Tensor, theta: torch.Tensor):
        # The parent's __init__ would compute exp(log_mean) and broadcast theta on every
        # training step, though log_prob needs neither; ``mu`` and ``theta`` are made on use.
        Distribution.__init__(self, validate_args=False)
        self.log_mean = log_mean
        self.gene_theta = theta
        self.scale = None
        self._eps = 1e-8
        self.on_mps = log_mean.device.type == "mps"

    @property
    def mu(self) -> torch.Tensor:
        """The mean ``μ``, shaped like ``log_mean``."""
        return self.log_mean.exp()

    @property
    def theta(self) -> torch.Tensor:
        """The inverse dispersion broadcast to ``log_mean``'s shape."""
        return self.gene_theta.expand_as(self.log_mean)

    @classmethod
    def from_decoder(
        cls, decoded: torch.Tensor, library: torch.Tensor, log_dispersion: torch.Tensor
    ) -> LogMeanNegativeBinomial:
        """``μ = library · softmax(decoded)``, ``θ = exp(log_dispersion)``."""
        log_mean = torch.log(library.clamp_min(_MIN_LIBRARY)) + torch.log_softmax(decoded, -1)
        return cls(log_mean, log_dispersion.exp())

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log-pmf of ``value`` (counts), elementwise, shaped like ``log_mean``."""
        theta = self.gene_theta
        log_theta = torch.log(theta)
        theta_only = theta * log_theta - torch.lgamma(theta)  # at theta's shape
        log_theta_plus_mean = torch.logaddexp(log_theta, self.log_mean)
        return (
            theta_only
            + value * self.log_mean
            - (theta + value) * log_theta_plus_mean
            + torch.lgamma(value + theta)
            - once_if_shared(lambda counts: torch.lgamma(counts + 1), value)
        )

    def log_prob_mean_terms(self, value: torch.Tensor) -> torch.Tensor:
        """Return the terms of :meth:`log_prob` that depend on the mean, elementwise.

        ``x log μ − (θ + x) log(θ + μ)``: two means of the same counts under the same ``θ``
        differ in log-likelihood by exactly these terms' difference.

        Examples
        --------
        >>> x = torch.tensor([[0.0, 3.0]])
        >>> a = LogMeanNegativeBinomial(torch.zeros(1, 2), torch.ones(1, 2))
        >>> b = LogMeanNegativeBinomial(torch.ones(1, 2), torch.ones(1, 2))
        >>> full = a.log_prob(x) - b.log_prob(x)
        >>> bool(torch.allclose(full, a.log_prob_mean_terms(x) - b.log_prob_mean_terms(x)))
        True

        """
        log_theta_plus_mean = torch.logaddexp(torch.log(self.gene_theta), self.log_mean)
        return value * self.log_mean - (self.gene_theta + value) * log_theta_plus_mean
