"""Each arm's mixture classifying a cell with its own decoders (``type_readout="decoder"``).

The score of a cell under a category is its reconstruction loss plus state KL with that
category fed to the decoder; the over-clustering start's merge reads the same scores.
"""

from __future__ import annotations

import torch

from ._negative_binomial import LogMeanNegativeBinomial
from ._objective import gaussian_kl


def _mean_dependent_log_likelihood(px, x: torch.Tensor) -> torch.Tensor:
    """``log p(x)`` summed over genes, up to the terms that do not depend on the mean."""
    if isinstance(px, LogMeanNegativeBinomial):
        return px.log_prob_mean_terms(x).sum(-1)
    return px.log_prob(x).sum(-1)


class DecoderReadoutMixin:
    """Decoder scores and type posteriors, for :class:`~scmixvae.module.CplMixVAEModule`."""

    @torch.no_grad()
    def category_scores(
        self,
        x_arm: torch.Tensor,
        z: torch.Tensor,
        library: torch.Tensor,
        batch_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reconstruction + state KL of each cell under each category, ``(A, B, K)``.

        Up to a constant per cell and arm: the likelihood's terms that do not depend on the
        decoded mean (for the negative binomial, those of the counts and the dispersion
        alone) are left out, since every use of the scores compares categories on the same
        cell (their differences, a softmax, an argmin); they were most of the cost. ``s`` is
        the posterior mean given the candidate category, and the decoder runs with its
        running batch-norm statistics, so that scoring ``K`` candidates neither needs their
        batch statistics nor moves them. Masked categories score ``inf``.
        """
        decoder_mode = self.decoder.training
        self.decoder.eval()
        scores = torch.full((*z.shape[:-1], self.n_slots), float("inf"), device=z.device)
        try:
            for category in self.active.nonzero().flatten().tolist():
                c = torch.zeros_like(scores)
                c[..., category] = 1.0
                s_mean, s_var = self.state_posterior(z, c)
                prior_mean, prior_var = self.state_prior_params(c)
                px = self.decode(c, s_mean, library, batch_index)
                reconstruction = -_mean_dependent_log_likelihood(px, x_arm)
                kl_state = gaussian_kl(s_mean, s_var, prior_mean, prior_var)
                scores[..., category] = reconstruction + kl_state
        finally:
            self.decoder.train(decoder_mode)
        return scores

    @torch.no_grad()
    def classify(
        self, x_arm: torch.Tensor, batch_index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Bottleneck ``z`` and each arm's log-posterior over types, both ``(A, B, ·)``.

        The log-posterior is read as ``type_readout`` says: from the decoders (each arm's
        mixture classifying the cell) or from the category head. Pruned and merged-away
        categories get ``-inf``. ``batch_index`` may be on any device.

        Examples
        --------
        >>> from scmixvae.module import CplMixVAEModule
        >>> module = CplMixVAEModule(n_input=20, n_slots=3).eval()
        >>> x = torch.poisson(torch.full((8, 20), 2.0))
        >>> z, log_p = module.classify(x.expand(2, *x.shape))
        >>> tuple(log_p.shape), bool(torch.allclose(log_p.exp().sum(-1), torch.ones(2, 8)))
        ((2, 8, 3), True)

        """
        library = self.library_size(x_arm)
        z, log_q = self.encode(x_arm, library)
        if self.type_readout == "encoder":
            return z, log_q
        if batch_index is not None:
            batch_index = batch_index.to(x_arm.device)
        scores = self.category_scores(x_arm, z, library, batch_index)
        return z, torch.log_softmax(-scores, dim=-1)
