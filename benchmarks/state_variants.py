"""Variants of the state's encoder and decoder, measured by ``state_recovery.py`` (issue 33).

Each is a :class:`~scmixvae.module.CplMixVAEModule` subclass with the model class that builds
it; the package keeps only what wins (``state_recovery.md``).
"""

from __future__ import annotations

import torch

import scmixvae
from scmixvae.module import ArmLinear, ArmMLP, CplMixVAEModule, StateTeacher, gaussian_kl


class HiddenStateModule(CplMixVAEModule):
    """``q(s | c, x)`` reads the encoder's last hidden layer (width ``F``) instead of ``z``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.state_head = ArmLinear(self.n_arms, self.n_hidden + self.n_slots, 2 * self.n_states)
        del self.encoder_out

    def _encode_normalised(self, encoder_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(encoder_input)
        return hidden, self.log_posterior(self.category_head(hidden))


class WideDecoderInputModule(CplMixVAEModule):
    """The decoder's first layer is ``F`` wide instead of the ``L = 10`` of the bottleneck.

    ``[c, s, log depth]`` otherwise meet in 10 units, where the ``K`` types' one-hots and the
    state share too little room for a state effect that differs between types.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n_decoder_input = self.decoder.layers[0].weight.shape[1]
        self.decoder = ArmMLP(self.n_arms, [n_decoder_input] + [self.n_hidden] * 5)


class SkipDecoder(torch.nn.Module):
    """The decoder's MLP with the state (and, with ``with_type``, the type) fed to every layer.

    Its input is the module's ``[c, s, log depth, batch]``; the columns of ``c`` and ``s`` are
    concatenated again to each later layer's input, the generative skip connections of
    Dieng et al. (2019), which keep a decoder from learning to ignore its latent.
    """

    def __init__(self, n_arms: int, widths: list[int], n_slots: int, n_states: int, with_type):
        super().__init__()
        self.skipped = slice(0 if with_type else n_slots, n_slots + n_states)
        n_skip = self.skipped.stop - self.skipped.start
        self.layers = torch.nn.ModuleList(
            ArmMLP(n_arms, [n_in + (n_skip if index else 0), n_out])
            for index, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip, hidden = x[..., self.skipped], x
        for index, layer in enumerate(self.layers):
            hidden = layer(torch.cat([hidden, skip], dim=-1) if index else hidden)
        return hidden


class SkipStateModule(CplMixVAEModule):
    """:class:`CplMixVAEModule` whose decoder is a :class:`SkipDecoder`."""

    with_type = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n_decoder_input = self.decoder.layers[0].weight.shape[1]
        widths = [n_decoder_input, self.n_latent] + [self.n_hidden] * 4
        self.decoder = SkipDecoder(self.n_arms, widths, self.n_slots, self.n_states, self.with_type)


class SkipTypeStateModule(SkipStateModule):
    """:class:`SkipStateModule` that also feeds the type to every layer."""

    with_type = True


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


class LinearStateModule(CplMixVAEModule):
    """The state also acts on the genes directly: ``W s`` is added to the decoded log means.

    As in a linearly decoded VAE (Svensson et al., 2020), a gene's response to the state is
    one weight, so a programme of a few genes is a direct path for the state's gradient
    rather than one learnt through the decoder's layers. ``per_type``: one ``W`` per type,
    ``Σ_k c_k W_k s``; else one ``W`` for every type. ``W`` starts at zero.
    """

    per_type = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        types = self.n_slots if self.per_type else 1
        self.state_genes = torch.nn.Parameter(
            torch.zeros(self.n_arms, types * self.n_states, self.n_input)
        )

    def decode(self, c, s, library, batch_index=None, depth=None):
        px = super().decode(c, s, library, batch_index, depth)
        state = (c.unsqueeze(-1) * s.unsqueeze(-2)).flatten(-2) if self.per_type else s
        # Added before the softmax over genes: the means still sum to the library.
        shifted = px.log_mean + torch.bmm(state, self.state_genes)
        total = px.log_mean.logsumexp(-1, keepdim=True)
        px.log_mean = shifted - shifted.logsumexp(-1, keepdim=True) + total
        return px


class PerTypeLinearStateModule(LinearStateModule):
    """:class:`LinearStateModule` with one ``W`` per type."""

    per_type = True


class _UntaughtStateTeacher(StateTeacher):
    """A state teacher whose teaching never turns on."""

    teaching = property(lambda self: False, lambda self, value: None)


class NoStateTeacherModule(CplMixVAEModule):
    """The defaults before the state had a teacher: the state is never taught."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.state_teacher.__class__ = _UntaughtStateTeacher


def free_bits(nats: float) -> type[CplMixVAEModule]:
    """:class:`FreeBitsModule` with ``nats`` free a dimension."""
    return type(f"FreeBits{nats}", (FreeBitsModule,), {"free_nats": nats})


def model_class(module_cls: type[CplMixVAEModule]) -> type[scmixvae.CplMixVAE]:
    """A :class:`scmixvae.CplMixVAE` that builds ``module_cls``."""
    return type(f"{module_cls.__name__}Model", (scmixvae.CplMixVAE,), {"_module_cls": module_cls})


#: ``state_recovery.py``'s variants: the model's keyword arguments, with an optional
#: ``model_cls`` and ``train_kwargs`` (``state_measures.train``). Rows measured before the
#: decoder read depth (commit 185f8b9) ran ``*_depth`` variants and ``depth_to_decoder`` on
#: a prototype of it (log depth / 10⁴, no batch norm), since removed; git keeps its code.
_NO_DEPTH = {"depth_in_decoder": False}
VARIANTS = {
    "default": {},
    # The defaults before the decoder read depth.
    "no_depth_in_decoder": _NO_DEPTH,
    "kl_weight_0.5_no_depth": {"kl_weight": 0.5, **_NO_DEPTH},
    "kl_weight_0.5_depth": {"kl_weight": 0.5},
    "state_from_hidden_no_depth": {"model_cls": model_class(HiddenStateModule), **_NO_DEPTH},
    "free_bits_0.5_depth": {"model_cls": model_class(free_bits(0.5))},
    "free_bits_1_depth": {"model_cls": model_class(free_bits(1.0))},
    "free_bits_1_no_depth": {"model_cls": model_class(free_bits(1.0)), **_NO_DEPTH},
    # β rises linearly from 0 over the first half of the (50 at 6,000 cells) epochs.
    "kl_warmup_depth": {"train_kwargs": {"plan_kwargs": {"n_epochs_kl_warmup": 25}}},
    "linear_state": {"model_cls": model_class(LinearStateModule)},
    "per_type_linear_state": {"model_cls": model_class(PerTypeLinearStateModule)},
    # More room for the programme beside depth and the type's own axes.
    "n_states_4": {"n_states": 4},
    # Twice the default epochs (100 at 6,000 cells): does the state need longer to form?
    "epochs_x2": {"train_kwargs": {"max_epochs": 100}},
    # The state prior N(0, I) instead of the learnable p(s | c), which can shrink.
    "standard_prior": {"state_prior": "standard"},
    "wide_decoder_input": {"model_cls": model_class(WideDecoderInputModule)},
    "skip_state": {"model_cls": model_class(SkipStateModule)},
    "skip_type_state": {"model_cls": model_class(SkipTypeStateModule)},
    # K k-means clusters taught for a fifth of the epochs, no over-clustering and merge: do
    # the start's 2K clusters split a type along its programme, so that the state never
    # needs to carry it?
    "kmeans_start": {"initialization": "kmeans"},
    # The defaults before the state's teacher (rows at 3141cc9 ran the package of that commit).
    "no_state_teacher": {"model_cls": model_class(NoStateTeacherModule)},
}
