"""Each arm's passes: counts to ``z`` and ``log q(c | x)``, then ``q(s | c, x)``, ``p(x | c, s)``.

The networks themselves are built by :class:`~scmixvae.module.CplMixVAEModule`
(docs/method.md, "One arm"); these are the steps its inference, generative and
decoder-readout passes are made of.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._expression import log_normalise
from ._likelihoods import COUNT_LIKELIHOODS, observation_distribution


class ArmPassesMixin:
    """Encoder, state and decoder passes of every arm, for :class:`CplMixVAEModule`."""

    def library_size(self, x_arm: torch.Tensor) -> torch.Tensor:
        """Total counts per cell for count likelihoods, ones otherwise; ``(A, B, 1)``."""
        if self.likelihood in COUNT_LIKELIHOODS:
            return x_arm.sum(-1, keepdim=True)
        return x_arm.new_ones((*x_arm.shape[:-1], 1))

    def encoder_input(self, x_arm: torch.Tensor, library: torch.Tensor) -> torch.Tensor:
        """Depth-normalise and log-transform counts, so that types do not follow depth."""
        if self.likelihood not in COUNT_LIKELIHOODS:
            return x_arm
        return log_normalise(x_arm, library)

    def encode(
        self, x_arm: torch.Tensor, library: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Bottleneck ``z`` and categorical log-posterior ``log q(c | x)``, both ``(A, B, ·)``.

        ``library`` (from :meth:`library_size`) is computed here when not given.
        """
        if library is None:
            library = self.library_size(x_arm)
        return self._encode_normalised(self.encoder_input(x_arm, library))

    def _head_width(self) -> int:
        # Measured per start (benchmarks/tried.md; see ``initialization``).
        return self.n_latent if self.initialization == "random" else self.n_hidden

    def _encode_normalised(self, encoder_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(encoder_input)
        z = self.encoder_out(hidden)
        head_input = z if self.initialization == "random" else hidden
        return z, self.log_posterior(self.category_head(head_input))

    def state_posterior(
        self, z: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``q(s | c, x)`` from ``[z, c]``, each ``(A, B, S)``."""
        mean, log_var = self.state_head(torch.cat([z, c], dim=-1)).chunk(2, dim=-1)
        return mean, log_var.exp() + 1e-4

    def state_prior_params(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``p(s | c)``; a soft ``c`` mixes the per-type parameters."""
        if self.state_prior == "standard":
            shape = (*c.shape[:-1], self.n_states)
            return c.new_zeros(shape), c.new_ones(shape)
        return torch.bmm(c, self.prior_mean), torch.bmm(c, self.prior_log_var).exp()

    def decode(
        self,
        c: torch.Tensor,
        s: torch.Tensor,
        library: torch.Tensor,
        batch_index: torch.Tensor | None = None,
        depth: torch.Tensor | None = None,
    ) -> torch.distributions.Distribution:
        """``p(x | c, s, batch)`` for every arm; ``c`` and ``s`` are ``(A, B, ·)``.

        ``library`` scales the mean; ``depth`` is the total counts the decoder reads with
        ``depth_in_decoder`` (default: ``library``), e.g. :meth:`typical_depth` to decode
        a typical cell per ``library`` counts.
        """
        inputs = [c, s]
        if self.depth_in_decoder:
            depth = library if depth is None else depth
            # A cell without counts reads as depth 1, not log 0.
            inputs.append(self.depth_norm(depth.clamp(min=1.0).log()))
        if self.n_batch > 0:
            one_hot = F.one_hot(batch_index.reshape(-1).long(), self.n_batch).to(c.dtype)
            inputs.append(one_hot.expand(self.n_arms, *one_hot.shape))
        hidden = self.decoder(torch.cat(inputs, dim=-1))
        return observation_distribution(
            self.likelihood,
            self.decoder_out(hidden),
            library,
            log_dispersion=getattr(self, "log_dispersion", None),
            dropout_logits=self.dropout_out(hidden) if self.likelihood == "zinb" else None,
        )

    def typical_depth(self) -> torch.Tensor:
        """Each arm's geometric-mean depth of the cells, ``(A, 1, 1)``.

        Where the decoder's depth input is 0 in evaluation: the exponential of the depth
        batch-norm layer's running mean of log depth.
        """
        return self.depth_norm.running_mean.exp()
