"""Pure-torch building blocks of cpl-mixVAE: the module, its layers and its loss terms."""

from ._arm_layers import ArmBatchNorm, ArmLinear, ArmMLP, once_if_shared
from ._cluster_teacher import ClusterTeacher
from ._cplmixvae_module import CplMixVAEModule, Initialization, StatePrior, TypeReadout
from ._finite_guard import NonFiniteLossError, check_finite_loss
from ._likelihoods import COUNT_LIKELIHOODS, LIKELIHOODS, Likelihood, observation_distribution
from ._negative_binomial import LogMeanNegativeBinomial
from ._objective import (
    categorical_entropy,
    gaussian_kl,
    log_gumbel_softmax_sample,
    perturbed_aitchison_distance,
)
from ._state_teacher import StateTeacher

__all__ = [
    "COUNT_LIKELIHOODS",
    "LIKELIHOODS",
    "ArmBatchNorm",
    "ArmLinear",
    "ArmMLP",
    "ClusterTeacher",
    "CplMixVAEModule",
    "Initialization",
    "Likelihood",
    "LogMeanNegativeBinomial",
    "NonFiniteLossError",
    "StatePrior",
    "StateTeacher",
    "TypeReadout",
    "categorical_entropy",
    "check_finite_loss",
    "gaussian_kl",
    "log_gumbel_softmax_sample",
    "observation_distribution",
    "once_if_shared",
    "perturbed_aitchison_distance",
]
