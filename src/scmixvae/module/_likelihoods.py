"""Observation models ``p(x | c, s)``: how decoder outputs become a distribution over genes.

See docs/method.md, "One arm". The names are the values of ``CplMixVAE(likelihood=...)``.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from scvi.distributions import ZeroInflatedNegativeBinomial
from torch.distributions import Bernoulli, Distribution, Normal

from ._negative_binomial import LogMeanNegativeBinomial

#: The observation models: two on raw counts, with the cell's library size, then two others.
Likelihood = Literal["nb", "zinb", "normal", "bernoulli"]
#: Every supported likelihood.
LIKELIHOODS = get_args(Likelihood)
#: Likelihoods on raw, non-negative integer counts, with the cell's library size.
COUNT_LIKELIHOODS = ("nb", "zinb")


def observation_distribution(
    likelihood: Likelihood,
    decoded: torch.Tensor,
    library: torch.Tensor,
    log_dispersion: torch.Tensor | None = None,
    dropout_logits: torch.Tensor | None = None,
) -> Distribution:
    """Build the per-gene distribution of one or more decoded cells.

    Parameters
    ----------
    likelihood
        One of :data:`LIKELIHOODS`:

        ``"nb"``
            negative binomial with mean ``library · softmax(decoded)`` and gene-wise
            inverse dispersion ``exp(log_dispersion)`` (scvi-tools' parameterisation);
        ``"zinb"``
            the same, zero-inflated with ``dropout_logits``;
        ``"normal"``
            unit-variance Gaussian with mean ``decoded`` (the paper's MSE on log values);
        ``"bernoulli"``
            Bernoulli with logits ``decoded``, for values in ``[0, 1]``.
    decoded
        Decoder output, genes on the last axis.
    library
        Total counts of each cell, broadcastable to ``decoded``; used by count likelihoods.
    log_dispersion
        Gene-wise log inverse dispersion; count likelihoods only.
    dropout_logits
        Zero-inflation logits; ``"zinb"`` only.

    Examples
    --------
    >>> dist = observation_distribution("normal", torch.zeros(2, 3), library=torch.ones(2, 1))
    >>> dist.log_prob(torch.zeros(2, 3)).shape
    torch.Size([2, 3])

    """
    if likelihood == "nb":
        return LogMeanNegativeBinomial.from_decoder(decoded, library, log_dispersion)
    if likelihood == "zinb":
        return ZeroInflatedNegativeBinomial(
            mu=library * torch.softmax(decoded, dim=-1),
            theta=log_dispersion.exp(),
            zi_logits=dropout_logits,
            validate_args=False,
        )
    if likelihood == "normal":
        return Normal(decoded, torch.ones_like(decoded), validate_args=False)
    if likelihood == "bernoulli":
        # validate_args=False lets fractional targets (grey pixels) through as soft labels.
        return Bernoulli(logits=decoded, validate_args=False)
    raise ValueError(f"Unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}.")
