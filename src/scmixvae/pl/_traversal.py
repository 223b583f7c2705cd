"""State traversal heatmaps, one panel per type (the paper's Fig. 4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..model._interpretation import COLLAPSED_KL
from ..tl import state_gene_scores
from ..tl import traversal as traversal_table
from ..tl._gene_sets import resolve_gene_groups
from ._utils import finish

# Genes per type in the default gene group (the top state-driven genes).
_DEFAULT_GENES_PER_TYPE = 5


def _type_colors(adata, key: str) -> dict[str, str]:
    """Colours of the types from ``adata.uns[f"{key}_colors"]``, as scanpy stores them."""
    colors = adata.uns.get(f"{key}_colors")
    if key not in adata.obs or colors is None or not hasattr(adata.obs[key], "cat"):
        return {}
    return dict(zip(adata.obs[key].cat.categories.astype(str), colors, strict=False))


def traversal(
    model,
    *,
    types: str | Iterable[str] | None = None,
    genes: Mapping[str, Iterable[str] | str] | Iterable[str] | None = None,
    dimension: int = 0,
    n_steps: int = 11,
    quantile_range: tuple[float, float] = (0.05, 0.95),
    state_range: str = "cells",
    arm: int = 0,
    values: str = "normalized_expression",
    key: str = "cplmix_type",
    cmap: str = "viridis",
    ncols: int = 4,
    show: bool | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Heatmaps of decoded expression along one state dimension, one panel per type.

    Rows are the traversal's steps (lowest state quantile at the top); columns are genes,
    grouped by gene set with the group's name above, e.g. marker genes (MG) next to
    immediate early genes (IEG) and housekeeping genes (HKG): MGs should stay flat down a
    panel while state-driven genes change.

    Parameters
    ----------
    model
        A trained :class:`~scmixvae.CplMixVAE`.
    types
        Types to draw, one panel each; ``None`` for every type assigned to a training cell.
    genes
        ``{group: genes}`` (a value may be ``"IEG"`` or ``"HKG"`` for the shipped sets, see
        :func:`~scmixvae.tl.gene_set`), or a list for a single group. Genes are matched to
        ``var_names`` case-insensitively; absent ones are skipped, a group with none is an
        error. ``None`` draws the 5 top-scoring state genes of each type
        (:func:`~scmixvae.tl.state_gene_scores`).
    dimension
        The state dimension stepped. A type in which it has collapsed onto its prior
        (mean KL below 0.05 nats, :meth:`~scmixvae.CplMixVAE.get_state_kl`) is drawn faded
        and titled "collapsed": its stripes are flat because the state carries nothing
        there, not because no gene responds.
    n_steps, quantile_range, state_range, arm
        As in :func:`~scmixvae.tl.traversal`.
    values
        Column of the traversal table to draw: ``"normalized_expression"`` (each gene
        divided by its maximum over all panels) or ``"expression"``.
    key
        ``obs`` column of the types; panel titles take their colours from
        ``adata.uns[f"{key}_colors"]`` when it exists.
    cmap
        Colour map.
    ncols
        Panels per row.
    show, ax, return_fig
        As in scanpy; ``ax`` only for a single panel. With ``show=False`` the Axes (a list
        for several panels) are returned.

    Examples
    --------
    >>> scmixvae.pl.traversal(
    ...     model, types=["3", "7"], genes={"MG": ["Sst", "Pvalb"], "IEG": "IEG", "HKG": "HKG"}
    ... )  # doctest: +SKIP

    """
    if values not in ("normalized_expression", "expression"):
        raise ValueError(f"values must be 'normalized_expression' or 'expression', got {values!r}.")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}.")
    options = {
        "dimensions": dimension,
        "n_steps": n_steps,
        "quantile_range": quantile_range,
        "state_range": state_range,
        "arm": arm,
    }
    if genes is None:  # one traversal of every gene, to pick and then draw the top ones
        table = traversal_table(model, types, **options)
        scores = state_gene_scores(table)
        top = scores.groupby("type", observed=True).head(_DEFAULT_GENES_PER_TYPE)["gene"]
        groups = {"state genes": list(dict.fromkeys(top))}
        table = table[table["gene"].isin(groups["state genes"])]
    else:
        groups = resolve_gene_groups(model.training_genes_, genes)
        shown = list(dict.fromkeys(gene for members in groups.values() for gene in members))
        table = traversal_table(model, types, genes=shown, **options)
    columns = [(group, gene) for group, members in groups.items() for gene in members]
    type_names = list(table["type"].cat.categories)
    if ax is not None and len(type_names) > 1:
        raise ValueError(
            f"ax holds one panel but {len(type_names)} types were asked for; pass one type "
            "or leave ax=None."
        )
    vmax = table[values].max()
    n_rows = int(np.ceil(len(type_names) / ncols))
    width = 0.28 * len(columns) + 1.6
    if ax is None:
        fig, axes = plt.subplots(
            n_rows,
            min(ncols, len(type_names)),
            figsize=(width * min(ncols, len(type_names)), (0.22 * n_steps + 2.2) * n_rows),
            squeeze=False,
            layout="constrained",
        )
        axes = list(axes.ravel())
    else:
        fig, axes = ax.figure, [ax]
    colors = _type_colors(model.adata, key)
    kl = model.get_state_kl(arm=arm)[f"dim{dimension}"]
    for panel, name in zip(axes, type_names, strict=False):
        block = table[table["type"] == name]
        wide = block.pivot_table(index="step", columns="gene", values=values, observed=True)
        matrix = wide[[gene for _, gene in columns]].to_numpy()
        image = panel.imshow(
            matrix, aspect="auto", cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest"
        )
        _label_panel(panel, block, columns, name, colors.get(name, "black"), dimension)
        if name in kl.index and kl[name] < COLLAPSED_KL:  # flat by construction: say so
            panel.set_title(f"type {name}: s{dimension} collapsed (KL {kl[name]:.2f})")
            panel.images[0].set_alpha(0.35)
    for panel in axes[len(type_names) :]:
        panel.set_visible(False)
    label = "expression / gene max" if values == "normalized_expression" else "expression"
    fig.colorbar(image, ax=axes[: len(type_names)], label=label, shrink=0.6)
    shown = axes[0] if len(type_names) == 1 else axes[: len(type_names)]
    return finish(fig, shown, show, return_fig)


def _label_panel(panel, block, columns, name, color, dimension) -> None:
    """Gene names below, group names above, state quantiles on the left, type as title."""
    panel.set_xticks(range(len(columns)), [gene for _, gene in columns], rotation=90)
    panel.tick_params(axis="x", labelsize="x-small")
    steps = block.drop_duplicates("step").sort_values("step")
    ticks = sorted({0, len(steps) // 2, len(steps) - 1})
    panel.set_yticks(ticks, [f"{steps['quantile'].iloc[t]:.2f}" for t in ticks])
    panel.set_ylabel(f"quantile of s{dimension}")
    groups = list(dict.fromkeys(group for group, _ in columns))
    sizes = [sum(1 for g, _ in columns if g == group) for group in groups]
    starts = np.cumsum([0, *sizes[:-1]])
    top = panel.secondary_xaxis("top")
    top.set_xticks(starts + (np.asarray(sizes) - 1) / 2, groups, fontsize="small")
    top.tick_params(length=0)
    for start in starts[1:]:
        panel.axvline(start - 0.5, color="white", linewidth=1.5)
    panel.set_title(f"type {name}", color=color)
