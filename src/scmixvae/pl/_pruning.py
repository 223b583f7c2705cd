"""Plots of consensus pruning: the consensus-versus-K curve and the arms' agreement."""

from __future__ import annotations

from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..tl import contingency
from ._utils import finish, fraction_heatmap, new_axes


def consensus_curve(
    model,
    *,
    show: bool | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Mean and minimum per-type consensus against the number of types, chosen K marked.

    Parameters
    ----------
    model
        A :class:`~scmixvae.CplMixVAE` after :meth:`~scmixvae.CplMixVAE.prune`.
    show, ax, return_fig
        As in scanpy.

    Examples
    --------
    >>> model.prune()  # doctest: +SKIP
    >>> scmixvae.pl.consensus_curve(model, show=False)  # doctest: +SKIP

    """
    rounds = getattr(model, "pruning_rounds_", None)
    if rounds is None:
        raise ValueError("The model has no pruning rounds; call `model.prune()` first.")
    fig, ax = new_axes(ax, (4.5, 3.2))
    ax.plot(rounds["n_categories"], rounds["consensus"], "o-", ms=3, label="mean")
    ax.plot(rounds["n_categories"], rounds["min_consensus"], "--", color="0.5", label="minimum")
    chosen = rounds[rounds["selected"]].iloc[0]  # prune() always selects a round
    ax.axvline(chosen["n_categories"], color="C3", lw=1)
    ax.annotate(
        f"K = {chosen['n_categories']}",
        (chosen["n_categories"], chosen["consensus"]),
        xytext=(4, -12),
        textcoords="offset points",
        color="C3",
    )
    ax.set_xlabel("number of types K")
    ax.set_ylabel("consensus between arms")
    ax.set_ylim(0, 1.02)
    ax.invert_xaxis()  # pruning goes from large to small K
    ax.legend(frameon=False, fontsize="small")
    return finish(fig, ax, show, return_fig)


def arm_agreement(
    model,
    adata: AnnData | None = None,
    *,
    arms: tuple[int, int] = (0, 1),
    cmap: str = "viridis",
    show: bool | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Contingency heatmap of two arms' labels, columns matched to rows (Hungarian).

    Each row is a category of the first arm; it shows how that arm's cells are labelled by
    the second arm, as fractions. Perfect agreement is a diagonal.

    Parameters
    ----------
    model
        A trained :class:`~scmixvae.CplMixVAE` with at least 2 arms.
    adata
        Cells to label; ``None`` for the training data.
    arms
        The two arms to compare.
    cmap
        Colour map.
    show, ax, return_fig
        As in scanpy.

    Examples
    --------
    >>> scmixvae.pl.arm_agreement(model, show=False)  # doctest: +SKIP

    """
    n_arms = model.module.n_arms
    first, second = arms
    if n_arms < 2 or first == second or not (0 <= first < n_arms and 0 <= second < n_arms):
        raise ValueError(
            f"arms must be two different arms in [0, {n_arms}); got {arms!r}"
            + (" (this model has a single arm)." if n_arms < 2 else ".")
        )
    labels = model.get_arm_labels(adata)
    table = contingency(labels[f"arm{first}"].astype(str), labels[f"arm{second}"].astype(str))
    fig, ax = fraction_heatmap(
        table,
        ax,
        cluster_rows=False,
        ylabel=f"arm {first}",
        xlabel=f"arm {second}",
        cmap=cmap,
        colorbar_label=f"fraction of arm-{first} category",
    )
    return finish(fig, ax, show, return_fig)
