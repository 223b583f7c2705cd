"""How the types are found: the start's clustering (scikit-learn), its teaching and its merge.

:class:`TypeStart` owns the start a model was built with (``initialization``); the torch
side (the teacher's centroids, the category slots) lives in :mod:`scmixvae.module`.
"""

from ._kmeans import fit_cluster_teacher
from ._merge import (
    CONNECTIVITY_SCALE,
    decoder_divergence,
    geodesic_divergence,
    group_representatives,
    linkage_groups,
    merge_categories,
    neighbour_connectivity,
)
from ._type_start import StartSchedule, TypeStart, sample_cells

__all__ = [
    "CONNECTIVITY_SCALE",
    "StartSchedule",
    "TypeStart",
    "decoder_divergence",
    "fit_cluster_teacher",
    "geodesic_divergence",
    "group_representatives",
    "linkage_groups",
    "merge_categories",
    "neighbour_connectivity",
    "sample_cells",
]
