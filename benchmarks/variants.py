"""Model variants that left the package but that committed benchmark rows were measured with.

The package's category head reads the encoder's last hidden layer; the paper's, and this
package's before the over-clustering start, read the 10-wide bottleneck ``z``
(``tried.md``). Benchmarks that reproduce the paper or pin that earlier configuration build
:class:`BottleneckHeadModel` instead of :class:`scmixvae.CplMixVAE`.
"""

from __future__ import annotations

import torch

import scmixvae
from scmixvae.module import ArmLinear, CplMixVAEModule


class BottleneckHeadModule(CplMixVAEModule):
    """:class:`~scmixvae.module.CplMixVAEModule` whose ``q(c | x)`` reads ``z``, as in the paper."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category_head = ArmLinear(self.n_arms, self.n_latent, self.n_categories)

    def _encode_normalised(self, encoder_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder_out(self.encoder(encoder_input))
        return z, self.log_posterior(self.category_head(z))


class BottleneckHeadModel(scmixvae.CplMixVAE):
    """:class:`scmixvae.CplMixVAE` built on :class:`BottleneckHeadModule`."""

    _module_cls = BottleneckHeadModule


def setup_and_build(
    adata, layer="counts", batch_key=None, model_cls=scmixvae.CplMixVAE, **model_kwargs
):
    """Register ``adata`` with ``model_cls`` and build it: ``model_cls`` is a variant's key."""
    model_cls.setup_anndata(adata, layer=layer, batch_key=batch_key)
    return model_cls(adata, **model_kwargs)
