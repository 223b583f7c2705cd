"""The type start's numpy side: merging the over-clustering start's clusters into types."""

from ._merge import (
    CONNECTIVITY_SCALE,
    decoder_divergence,
    geodesic_divergence,
    group_representatives,
    linkage_groups,
    merge_categories,
    neighbour_connectivity,
)

__all__ = [
    "CONNECTIVITY_SCALE",
    "decoder_divergence",
    "geodesic_divergence",
    "group_representatives",
    "linkage_groups",
    "merge_categories",
    "neighbour_connectivity",
]
