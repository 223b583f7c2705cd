"""Pure-torch building blocks of cpl-mixVAE: the module, its layers and its loss terms."""

from ._arm_layers import ArmBatchNorm, ArmLinear, ArmMLP, once_if_shared
from ._category_merging import (
    MERGE_METHODS,
    decoder_confusion,
    decoder_divergence,
    geodesic_divergence,
    greedy_modularity_merge,
    merge_categories,
    neighbour_connectivity,
    per_count_scores,
)
from ._cluster_teacher import ClusterTeacher
from ._cplmixvae_module import COUPLING_INPUTS, INITIALIZATIONS, STATE_PRIORS, CplMixVAEModule
from ._finite_guard import NonFiniteLossError, check_finite_loss
from ._likelihoods import COUNT_LIKELIHOODS, LIKELIHOODS, observation_distribution
from ._negative_binomial import LogMeanNegativeBinomial
from ._objective import (
    categorical_entropy,
    gaussian_kl,
    log_gumbel_softmax_sample,
    perturbed_aitchison_distance,
)

__all__ = [
    "COUNT_LIKELIHOODS",
    "COUPLING_INPUTS",
    "INITIALIZATIONS",
    "LIKELIHOODS",
    "MERGE_METHODS",
    "STATE_PRIORS",
    "ArmBatchNorm",
    "ArmLinear",
    "ArmMLP",
    "ClusterTeacher",
    "CplMixVAEModule",
    "LogMeanNegativeBinomial",
    "NonFiniteLossError",
    "categorical_entropy",
    "check_finite_loss",
    "decoder_confusion",
    "decoder_divergence",
    "geodesic_divergence",
    "gaussian_kl",
    "greedy_modularity_merge",
    "log_gumbel_softmax_sample",
    "merge_categories",
    "neighbour_connectivity",
    "per_count_scores",
    "observation_distribution",
    "once_if_shared",
    "perturbed_aitchison_distance",
]
