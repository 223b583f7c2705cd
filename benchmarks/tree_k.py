"""Issue 28 research: choosing K from the merge tree of a model's types.

The over-clustering start merges its clusters by average linkage on the geodesic of the
decoders' Jeffreys divergence, discounted between neighbouring clusters
(``scmixvae.start.merge_categories``). The same tree, built over a trained model's types,
rises sharply where the next merge would join two real types (``merge_tree.md``):
:func:`largest_rise` reads K off it, and :func:`merge_by_tree` merges the model's types
into that many and fine-tunes, as a research stand-in for ``prune()``.
"""

from __future__ import annotations

import math

import numpy as np
from common import QUIET
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import squareform

from scmixvae.start import (
    CONNECTIVITY_SCALE,
    decoder_divergence,
    geodesic_divergence,
    group_representatives,
    neighbour_connectivity,
)
from scmixvae.start._merge_step import MergeEvidence, merge_evidence, names_by_size

#: Fine-tuning after the merge, as a share of the initial training's minibatch steps.
FINE_TUNE_SHARE = 0.25


def merge_tree(evidence: MergeEvidence, labels: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The merge's linkage over the categories ``columns``; ``labels`` index ``columns``."""
    scores = evidence.scores[:, columns]
    connectivity = neighbour_connectivity(evidence.embedding, labels, len(columns))
    divergence = decoder_divergence(scores, labels) / (1.0 + connectivity / CONNECTIVITY_SCALE)
    return linkage(squareform(geodesic_divergence(divergence), checks=False), "average")


def tree_heights(tree: np.ndarray, most: int) -> list[float]:
    """``heights[g − 2]``: the merge from ``g`` to ``g − 1`` groups, ``g`` in ``[2, most]``."""
    n_leaves = len(tree) + 1
    return [float(tree[n_leaves - g, 2]) for g in range(2, min(most, n_leaves) + 1)]


def largest_rise(heights: list[float], below: int = 3) -> int:
    """The number of groups ``g`` before the largest rise in merge height ``h_g / h_{g+1}``.

    ``heights[g - 2]`` is the merge from ``g`` groups; only ``g`` with at least ``below``
    merges before them (from more groups) are considered: the first merges, of
    near-identical clusters, have heights near 0 and ratios that mean nothing.

    Examples
    --------
    >>> largest_rise([9.0, 8.0, 7.0, 1.0, 0.9, 0.5, 0.0])  # 4 → 3 costs 7 times 5 → 4
    4
    """
    h = np.asarray(heights)
    rise = h[:-1] / np.maximum(h[1:], 1e-12)  # rise[g - 2] for g in [2, len(h)]
    return int(np.argmax(rise[: len(rise) - below + 1]) + 2)


def trained_tree(model, cells: np.ndarray) -> tuple[MergeEvidence, np.ndarray, np.ndarray]:
    """The evidence of ``cells``, their types' indices into the used types, and those types.

    Each cell is labelled by the active type whose decoder explains it best; types no cell
    is labelled with are left out.
    """
    evidence = merge_evidence(model, cells)
    active = np.flatnonzero(model.module.active.cpu().numpy())
    best = active[evidence.scores[:, active].argmin(1)]
    used = np.unique(best)
    return evidence, np.searchsorted(used, best), used


def merge_by_tree(model, **train_kwargs) -> int:
    """Merge a trained model's types at the tree's largest rise, fine-tune; return the new K.

    Types no cell is labelled with are pruned. Fine-tuning takes :data:`FINE_TUNE_SHARE` of
    the initial training's minibatch steps.
    """
    module = model.module
    evidence, labels, used = trained_tree(model, model._sampled_cells())
    tree = merge_tree(evidence, labels, used)
    k = largest_rise(tree_heights(tree, len(used)))
    groups = cut_tree(tree, n_clusters=k).ravel()
    representative = np.arange(module.n_slots)
    representative[used] = used[group_representatives(groups, evidence.scores[:, used], labels)]
    module.merge_into(representative)
    for slot in np.flatnonzero(module.active.cpu().numpy()):
        if slot not in used:
            module.mask_category(slot)
    sizes = np.bincount(representative[used][labels], minlength=module.n_slots)
    model.category_names = names_by_size(module.active.cpu().numpy(), sizes)
    batch_size = train_kwargs.pop("batch_size", 256)
    steps_per_epoch = math.ceil(len(model.train_indices) / batch_size)
    initial_steps = len(model.history["train_loss"]) * steps_per_epoch
    steps = max(1, int(FINE_TUNE_SHARE * initial_steps))
    model.train(
        max_epochs=math.ceil(steps / steps_per_epoch),
        max_steps=steps,
        batch_size=batch_size,
        check_state_collapse=False,
        **QUIET,
        **train_kwargs,
    )
    return k
