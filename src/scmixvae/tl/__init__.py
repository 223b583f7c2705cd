"""Analysis tools: metrics against reference labels."""

from ._metrics import (
    adjusted_rand_index,
    contingency,
    evaluate,
    matched_accuracy,
    normalized_mutual_info,
)

__all__ = [
    "adjusted_rand_index",
    "contingency",
    "evaluate",
    "matched_accuracy",
    "normalized_mutual_info",
]
