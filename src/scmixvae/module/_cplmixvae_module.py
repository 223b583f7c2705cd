"""The cpl-mixVAE module: ``A`` coupled mixture VAEs as one batched torch computation.

Pure torch (no AnnData): tensors in, tensors out, ``inference -> generative -> loss``
as in scvi-tools. Equations follow the paper (docs/method.md, "One arm" and "The
objective"); the maths lives in :mod:`scmixvae.module._objective`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from scvi import REGISTRY_KEYS
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from torch import nn

from .._choices import check_choice
from ..augment import AugmentationName, Augmenter, make_augmenter
from ._arm_layers import ArmBatchNorm, ArmLinear, ArmMLP, once_if_shared, single_arm
from ._arm_passes import ArmPassesMixin
from ._category_slots import CategorySlotsMixin
from ._cluster_teacher import ClusterTeacher
from ._decoder_readout import DecoderReadoutMixin
from ._finite_guard import check_finite_loss
from ._likelihoods import COUNT_LIKELIHOODS, Likelihood
from ._objective import (
    categorical_entropy,
    gaussian_kl,
    log_gumbel_softmax_sample,
    perturbed_aitchison_distance,
)
from ._state_teacher import StateTeacher

#: The state prior: a learnable ``N(m_c, diag v_c)`` per type, or ``N(0, I)``.
StatePrior = Literal["type", "standard"]
#: How the categorical posterior starts (see ``ClusterTeacher``).
Initialization = Literal["random", "kmeans", "overcluster"]
#: Where a trained model's types are read from: the category head or the arms' decoders.
TypeReadout = Literal["encoder", "decoder"]
#: Weight, per squared unit of the state, of the state teacher's pull
#: (``benchmarks/state_recovery.md``, ``state_teacher_half``).
STATE_TEACHING_WEIGHT = 10.0


class CplMixVAEModule(ArmPassesMixin, CategorySlotsMixin, DecoderReadoutMixin, BaseModuleClass):
    """``A`` independent mixture-VAE arms coupled through their categorical posteriors.

    Parameters
    ----------
    n_input
        Number of genes ``D``.
    n_slots
        Category slots: the model's ``K`` types, or ``2 × K`` k-means clusters for the
        over-clustering start, merged into ``K`` during training (the model decides; see
        :class:`~scmixvae.start.TypeStart`).
    n_states
        State dimensions ``S``.
    n_arms
        Number of arms ``A``; ``1`` is the uncoupled, JointVAE-like ablation.
    n_batch
        Number of batches; ``0`` for no batch covariate. The decoder sees the batch one-hot.
    likelihood
        Observation model, see :func:`~scmixvae.module.observation_distribution`.
    augmentation
        Name of an augmenter (``"none"``, ``"dropout"``, ``"thinning"``, ``"affine"``,
        ``"generative"``) or an
        :class:`~scmixvae.augment.Augmenter`.
    augmentation_kwargs
        Passed to the augmenter's constructor.
    state_prior
        ``"type"`` for the type-conditional prior ``p(s | c)``, ``"standard"`` for ``N(0, I)``.
    n_hidden
        Hidden width ``F``.
    n_latent
        Encoder bottleneck width ``L``.
    kl_weight
        ``β`` on the state KL term.
    coupling_weight
        ``λ`` on the coupling distance. The paper uses 1; the default 0.01 was chosen by
        measurement (``benchmarks/ablation.md``): at λ = 1 the coupling keeps the posteriors
        near uniform.
    entropy_weight
        Weight of the entropy confidence penalty ``−H(q)``; ``1`` is Eq. 7 of the paper. The
        default 0 was chosen by measurement (``benchmarks/ablation.md``).
    initialization
        The start, as :class:`~scmixvae.start.TypeStart` runs it for the model (the same
        default). ``"random"``: the paper's cold start; the category head reads the
        bottleneck ``z``, as in the paper. ``"kmeans"``: the module holds a
        :class:`~scmixvae.module.ClusterTeacher`; while ``inference(use_teacher=True)`` the
        decoder is fed the teacher's k-means labels and the category head learns them by
        cross-entropy (the model's ``train`` fits the teacher and sets the phase).
        ``"overcluster"``: the same teacher, whose centroids are later merged into fewer
        categories (:meth:`ClusterTeacher.assign_categories`); the model builds the module
        with more categories than types and merges them in ``train``. The teacher's
        k-means reads the counts' Pearson residuals for count likelihoods, the data as
        given otherwise. With a teacher the category head reads the encoder's last hidden
        layer: a linear map of the 10-wide ``z`` could not tell ``2K`` clusters apart.
        ``"overcluster"`` also builds a :class:`~scmixvae.module.StateTeacher`: while its
        ``teaching`` is on (the model's ``train`` fits it at the merge and sets it), each
        arm's state mean is pulled toward the cell's coordinates on its taught type's
        principal axes, at :data:`STATE_TEACHING_WEIGHT` per squared unit.
    depth_in_decoder
        Count likelihoods only: the decoder also reads the cell's log total counts,
        standardised over the cells by a batch-norm layer, so that the state need not carry
        sequencing depth (``docs/method.md``, "One arm"). ``False`` builds the decoder of
        models saved before this input existed, which read ``[c, s]`` only (a state
        dimension may then follow depth); they load with it.
    type_readout
        Where :meth:`classify` reads each arm's types from. ``"encoder"`` (default): the
        category head's ``q(c | x)``, one pass. ``"decoder"``: the arm's own mixture,
        ``log p(c | x) = −score_c − log Σ_k exp(−score_k)`` with ``score`` the
        reconstruction + state KL under each category (:meth:`category_scores`) and equal
        prior weights; ``K`` decoder passes per cell instead of one encoder pass. It was as
        accurate as the head, or slightly better (``benchmarks/accuracy.md``). Training
        always uses the head.

    Examples
    --------
    >>> module = CplMixVAEModule(n_input=20, n_slots=3)
    >>> x = torch.poisson(torch.full((8, 20), 2.0))
    >>> _, _, losses = module({REGISTRY_KEYS.X_KEY: x})
    >>> losses.loss.ndim
    0

    """

    def __init__(
        self,
        n_input: int,
        n_slots: int,
        n_states: int = 2,
        n_arms: int = 2,
        n_batch: int = 0,
        likelihood: Likelihood = "nb",
        augmentation: AugmentationName | Augmenter = "none",
        augmentation_kwargs: dict | None = None,
        state_prior: StatePrior = "type",
        n_hidden: int = 100,
        n_latent: int = 10,
        kl_weight: float = 1.0,
        coupling_weight: float = 0.01,
        entropy_weight: float = 0.0,
        initialization: Initialization = "overcluster",
        depth_in_decoder: bool = True,
        type_readout: TypeReadout = "encoder",
    ):
        super().__init__()
        check_choice("likelihood", likelihood, Likelihood)
        check_choice("state_prior", state_prior, StatePrior)
        check_choice("initialization", initialization, Initialization)
        check_choice("type_readout", type_readout, TypeReadout)
        self.n_input = n_input
        self.n_slots = n_slots
        self.n_states = n_states
        self.n_latent = n_latent
        self.n_hidden = n_hidden
        self.n_arms = n_arms
        self.n_batch = n_batch
        self.likelihood = likelihood
        self.state_prior = state_prior
        self.kl_weight = kl_weight
        self.coupling_weight = coupling_weight
        self.entropy_weight = entropy_weight
        self.initialization = initialization
        self.depth_in_decoder = bool(depth_in_decoder) and likelihood in COUNT_LIKELIHOODS
        self.type_readout = type_readout
        augmentation_kwargs = augmentation_kwargs or {}
        if augmentation == "generative":  # built for these data; the model trains it first
            augmentation_kwargs = {
                "n_input": n_input,
                "counts": likelihood in COUNT_LIKELIHOODS,
            } | augmentation_kwargs
        self.augmenter = make_augmenter(augmentation, **augmentation_kwargs)
        self.augmenter.check_features(n_input)
        if self.augmenter.requires_counts and likelihood not in COUNT_LIKELIHOODS:
            raise ValueError(
                f"augmentation={augmentation!r} needs raw counts, but likelihood={likelihood!r} "
                f"is not a count likelihood; use one of {COUNT_LIKELIHOODS} or "
                "augmentation='dropout'."
            )

        arms, width = n_arms, n_hidden
        # Encoder D -> F -> F -> F -> F -> L (docs/method.md, "One arm").
        self.encoder = ArmMLP(arms, [n_input, width, width, width, width])
        self.encoder_out = nn.Sequential(
            ArmLinear(arms, width, n_latent), ArmBatchNorm(arms, n_latent)
        )
        self.category_head = ArmLinear(arms, self._head_width(), n_slots)
        self.state_head = ArmLinear(arms, n_latent + n_slots, 2 * n_states)
        if state_prior == "type":
            self.prior_mean = nn.Parameter(torch.zeros(arms, n_slots, n_states))
            self.prior_log_var = nn.Parameter(torch.zeros(arms, n_slots, n_states))
        # Decoder [c, s, log depth, batch] -> L -> F -> F -> F -> F -> D.
        if self.depth_in_decoder:
            self.depth_norm = ArmBatchNorm(arms, 1)
        n_decoder_input = n_slots + n_states + int(self.depth_in_decoder) + n_batch
        self.decoder = ArmMLP(arms, [n_decoder_input, n_latent] + [width] * 4)
        self.decoder_out = ArmLinear(arms, width, n_input)
        if likelihood == "zinb":
            self.dropout_out = ArmLinear(arms, width, n_input)
        if likelihood in COUNT_LIKELIHOODS:
            self.log_dispersion = nn.Parameter(torch.zeros(arms, 1, n_input))
        counts = likelihood in COUNT_LIKELIHOODS
        self.teacher = (
            ClusterTeacher(n_input, n_slots, counts=counts, n_arms=arms)
            if initialization != "random"
            else None
        )
        self.state_teacher = (
            StateTeacher(n_input, n_slots, n_states, counts=counts)
            if initialization == "overcluster"
            else None
        )
        self.register_category_slots(n_slots)

    def arm(self, index: int) -> CplMixVAEModule:
        """Return a 1-arm copy of arm ``index``: its weights and statistics, the same slots.

        Examples
        --------
        >>> CplMixVAEModule(n_input=20, n_slots=3, n_arms=3).arm(2).n_arms
        1

        """
        arm_tensors = ("prior_mean", "prior_log_var", "log_dispersion", "teacher.centroids")
        return single_arm(self, index, arm_tensors)

    # ---- scvi-tools module protocol -----------------------------------------------------
    def _get_inference_input(self, tensors: dict, **kwargs) -> dict:
        return {"x": tensors[REGISTRY_KEYS.X_KEY]}

    def _get_generative_input(self, tensors: dict, inference_outputs: dict, **kwargs) -> dict:
        return {
            "c": inference_outputs["c"],
            "s": inference_outputs["s"],
            "library": inference_outputs["library"],
            "batch_index": tensors.get(REGISTRY_KEYS.BATCH_KEY),
        }

    @auto_move_data
    def inference(
        self,
        x: torch.Tensor,
        temperature: float = 1.0,
        use_teacher: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Encode each arm's copy of ``x``; sample ``c`` (Gumbel-softmax) and ``s``.

        In training each arm sees its own augmented copy and ``c`` is a relaxed sample at
        ``temperature``; in evaluation every arm sees ``x`` and ``c`` is the one-hot argmax.
        With ``use_teacher`` (training only) ``c`` is the one-hot label of the
        :class:`ClusterTeacher`, returned as ``teacher_labels`` for the loss.
        """
        x = x.float()  # a float64 tensor passed in directly; the weights are float32
        x_arm = self.augmenter(x, self.n_arms) if self.training else x.expand(self.n_arms, *x.shape)
        library = once_if_shared(self.library_size, x_arm)
        encoder_input = once_if_shared(lambda x: self.encoder_input(x, self.library_size(x)), x_arm)
        z, log_q = self._encode_normalised(encoder_input)
        outputs = {}
        if self.training and use_teacher:
            if self.teacher is None:
                raise ValueError(
                    "use_teacher=True needs a module built with initialization='kmeans' or "
                    "'overcluster'."
                )
            outputs["teacher_labels"] = self.teacher(x_arm)
            if self.state_teacher is not None and self.state_teacher.teaching:
                outputs["state_targets"] = self.state_teacher.target(
                    x_arm, outputs["teacher_labels"]
                )
            c = F.one_hot(outputs["teacher_labels"], self.n_slots).to(log_q.dtype)
            log_c = c.log()
        elif self.training:
            log_c = log_gumbel_softmax_sample(log_q, temperature)
            c = log_c.exp()
        else:
            c = F.one_hot(log_q.argmax(-1), self.n_slots).to(log_q.dtype)
            log_c = c.log()  # -inf off the argmax; the coupling's offset keeps it finite
        s_mean, s_var = self.state_posterior(z, c)
        s = s_mean + s_var.sqrt() * torch.randn_like(s_mean)  # standard-normal noise
        return outputs | {
            "x_arm": x_arm,
            "library": library,
            "z": z,
            "log_q": log_q,
            "c": c,
            "log_c": log_c,
            "s": s,
            "s_mean": s_mean,
            "s_var": s_var,
        }

    @auto_move_data
    def generative(
        self,
        c: torch.Tensor,
        s: torch.Tensor,
        library: torch.Tensor,
        batch_index: torch.Tensor | None = None,
    ) -> dict:
        """Decode ``[c, s]`` and evaluate the state prior ``p(s | c)``."""
        prior_mean, prior_var = self.state_prior_params(c)
        return {
            "px": self.decode(c, s, library, batch_index),
            "prior_mean": prior_mean,
            "prior_var": prior_var,
        }

    def loss(
        self,
        tensors: dict,
        inference_outputs: dict,
        generative_outputs: dict,
        kl_weight: float = 1.0,
    ) -> LossOutput:
        """Compute the objective (Eq. 7 of the paper; docs/method.md, "The objective").

        ``L = w Σ_a [R_a + β KL_a − H(q_a)] + λ Σ_{a<b} d²_σ(c_a, c_b)`` with ``w = A − 1``,
        which is Eq. 7 rewritten (each arm is in ``A − 1`` pairs). For ``A = 1`` the
        factor is 1, giving the JointVAE-like ablation: reconstruction, KL and the
        confidence penalty, no coupling. ``kl_weight`` is the training plan's warm-up
        factor on ``β``.
        """
        inf, gen = inference_outputs, generative_outputs
        # Pruned categories (log q = -inf) are left out of every term on q.
        log_q = inf["log_q"][..., self.active]
        reconstruction = -gen["px"].log_prob(inf["x_arm"]).sum(-1)  # (A, B)
        kl_state = gaussian_kl(inf["s_mean"], inf["s_var"], gen["prior_mean"], gen["prior_var"])
        entropy = categorical_entropy(log_q)  # (A,)
        # The arms' samples c_a, c_b are compared: the expectation E_q[d²(c_a, c_b)] of Eq. 7.
        coupling = perturbed_aitchison_distance(inf["log_c"][..., self.active])  # (A(A-1)/2,)
        arm_factor = max(self.n_arms - 1, 1)
        per_arm = (
            reconstruction.mean(-1)
            + self.kl_weight * kl_weight * kl_state.mean(-1)
            - self.entropy_weight * entropy
        )
        if "teacher_labels" in inf:
            per_arm = per_arm + F.nll_loss(
                inf["log_q"].transpose(1, 2), inf["teacher_labels"], reduction="none"
            ).mean(-1)
        if "state_targets" in inf:
            taught = (inf["s_mean"] - inf["state_targets"]).square().sum(-1).mean(-1)
            per_arm = per_arm + STATE_TEACHING_WEIGHT * taught
        loss = arm_factor * per_arm.sum() + self.coupling_weight * coupling.sum()
        check_finite_loss(
            loss,
            {
                "reconstruction": reconstruction,
                "kl_state": kl_state,
                "entropy": entropy,
                "coupling": coupling,
                "per_arm_total": per_arm,
            },
        )
        return LossOutput(
            loss=loss,
            reconstruction_loss=reconstruction.mean(0),
            kl_local=kl_state.mean(0),
            extra_metrics={
                "coupling": coupling.mean() if coupling.numel() else loss.new_zeros(()),
                "entropy": entropy.mean(),
            },
        )
