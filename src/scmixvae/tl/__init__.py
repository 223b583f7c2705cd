"""Analysis tools: metrics and calibration against reference labels, traversals, gene sets."""

from ._gene_sets import GENE_SETS, gene_set, marker_genes, match_genes
from ._metrics import (
    adjusted_rand_index,
    calibration,
    contingency,
    evaluate,
    matched_accuracy,
    normalized_mutual_info,
)
from ._traversal import state_gene_scores, traversal

__all__ = [
    "GENE_SETS",
    "adjusted_rand_index",
    "calibration",
    "contingency",
    "evaluate",
    "gene_set",
    "marker_genes",
    "match_genes",
    "matched_accuracy",
    "normalized_mutual_info",
    "state_gene_scores",
    "traversal",
]
