"""Variants of the state's encoder and decoder, measured by ``state_recovery.py`` (issue 33).

Each is a :class:`~scmixvae.module.CplMixVAEModule` subclass with the model class that builds
it; the package keeps only what wins (``state_recovery.md``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

import scmixvae
from scmixvae.model._interpretation import DECODED_LIBRARY_SIZE
from scmixvae.module import ArmLinear, ArmMLP, CplMixVAEModule, gaussian_kl


class HiddenStateModule(CplMixVAEModule):
    """``q(s | c, x)`` reads the encoder's last hidden layer (width ``F``) instead of ``z``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.state_head = ArmLinear(self.n_arms, self.n_hidden + self.n_slots, 2 * self.n_states)
        del self.encoder_out

    def _encode_normalised(self, encoder_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(encoder_input)
        return hidden, self.log_posterior(self.category_head(hidden))


class TypeStateModule(CplMixVAEModule):
    """``q(s | c, x)``: a linear map of ``z`` of each type's own, not one map shifted per type."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        shape = (self.n_arms, self.n_slots, self.n_latent, 2 * self.n_states)
        # As nn.Linear initialises: uniform within ±1/√fan-in.
        bound = 1.0 / math.sqrt(self.n_latent)
        self.type_state_weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.type_state_bias = nn.Parameter(torch.zeros(self.n_arms, self.n_slots, shape[-1]))
        del self.state_head

    def state_posterior(
        self, z: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        weight = torch.einsum("abk,akio->abio", c, self.type_state_weight)
        out = torch.einsum("abi,abio->abo", z, weight) + torch.bmm(c, self.type_state_bias)
        mean, log_var = out.chunk(2, dim=-1)
        return mean, log_var.exp() + 1e-4


class DepthDecoderModule(CplMixVAEModule):
    """The decoder also reads the cell's log total counts, so the state need not carry depth."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        widths = [self.n_slots + self.n_states + self.n_batch + 1, self.n_latent]
        self.decoder = ArmMLP(self.n_arms, widths + [self.n_hidden] * 4)

    def decode(self, c, s, library, batch_index=None):
        log_depth = library.log() - math.log(DECODED_LIBRARY_SIZE)
        return super().decode(c, torch.cat([s, log_depth], dim=-1), library, batch_index)


class FreeBitsModule(CplMixVAEModule):
    """The state KL of each dimension costs nothing below ``free_nats`` (its minibatch mean).

    "Free bits" (Kingma et al., 2016): ``Σ_d max(KL_d, λ)`` replaces ``Σ_d KL_d``, so a
    dimension can carry up to ``λ`` nats a cell without paying for them.
    """

    free_nats = 0.5

    def loss(self, tensors, inference_outputs, generative_outputs, kl_weight=1.0):
        output = super().loss(tensors, inference_outputs, generative_outputs, kl_weight)
        inf, gen = inference_outputs, generative_outputs
        per_dim = gaussian_kl(
            *(
                t.unsqueeze(-1)
                for t in (inf["s_mean"], inf["s_var"], gen["prior_mean"], gen["prior_var"])
            )
        ).mean(1)  # (A, S): each arm's minibatch mean per dimension
        refund = per_dim.clamp(min=self.free_nats) - per_dim
        arm_factor = max(self.n_arms - 1, 1)
        output.loss = output.loss + arm_factor * self.kl_weight * kl_weight * refund.sum()
        return output


def free_bits(nats: float, base: type[CplMixVAEModule] = CplMixVAEModule) -> type:
    """:class:`FreeBitsModule` with ``nats`` free a dimension, on top of ``base``."""
    return type(f"FreeBits{nats}", (FreeBitsModule, base), {"free_nats": nats})


def model_class(module_cls: type[CplMixVAEModule]) -> type[scmixvae.CplMixVAE]:
    """A :class:`scmixvae.CplMixVAE` that builds ``module_cls``."""
    return type(f"{module_cls.__name__}Model", (scmixvae.CplMixVAE,), {"_module_cls": module_cls})


#: ``state_recovery.py``'s variants: the model's keyword arguments, with an optional
#: ``model_cls`` and ``train_kwargs`` (``state_measures.train``).
VARIANTS = {
    "default": {},
    "kl_weight_0.5": {"kl_weight": 0.5},
    "kl_weight_2": {"kl_weight": 2.0},
    "standard_prior": {"state_prior": "standard"},
    "n_states_4": {"n_states": 4},
    "epochs_x2": {"train_kwargs": {"max_epochs": 100}},
    "state_from_hidden": {"model_cls": model_class(HiddenStateModule)},
    "state_per_type": {"model_cls": model_class(TypeStateModule)},
    "depth_to_decoder": {"model_cls": model_class(DepthDecoderModule)},
    "free_bits_0.5": {"model_cls": model_class(free_bits(0.5))},
    "free_bits_1": {"model_cls": model_class(free_bits(1.0))},
    "free_bits_0.5_depth": {"model_cls": model_class(free_bits(0.5, DepthDecoderModule))},
    "free_bits_1_depth": {"model_cls": model_class(free_bits(1.0, DepthDecoderModule))},
    "kl_weight_0.5_depth": {"kl_weight": 0.5, "model_cls": model_class(DepthDecoderModule)},
    # β rises linearly from 0 over the first half of the (50 at 6,000 cells) epochs.
    "kl_warmup_depth": {
        "model_cls": model_class(DepthDecoderModule),
        "train_kwargs": {"plan_kwargs": {"n_epochs_kl_warmup": 25}},
    },
    "epochs_x2_depth": {
        "model_cls": model_class(DepthDecoderModule),
        "train_kwargs": {"max_epochs": 100},
    },
}
