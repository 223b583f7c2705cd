"""Reliability diagram: how often a cell's type is right at each confidence."""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..tl import calibration as calibration_bins
from ..tl._metrics import expected_calibration_error
from ._utils import finish, new_axes


def calibration(
    adata: AnnData,
    reference_key: str,
    key: str = "cplmix",
    *,
    n_bins: int = 10,
    show: bool | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Share of cells whose type is right against their confidence, per confidence bin.

    Each bar is a bin of :func:`scmixvae.tl.calibration`: its height is the share of the
    bin's cells whose type matches their reference label, drawn over the bin's width; the dot
    is the cells' mean confidence. A trustworthy confidence has bars on the diagonal. Bars
    below it are overconfident. The title gives the expected calibration error (ECE) and the
    share of cells in the top bin; the number of cells is written above each bar.

    Parameters
    ----------
    adata
        AnnData annotated by the model, with reference labels in ``obs``.
    reference_key
        Column with the reference labels.
    key
        The prefix :meth:`~scmixvae.CplMixVAE.annotate` wrote with.
    n_bins
        Number of confidence bins.
    show, ax, return_fig
        As in scanpy.

    Examples
    --------
    >>> scmixvae.pl.calibration(adata, "cell_type", show=False)  # doctest: +SKIP

    """
    bins = calibration_bins(adata, reference_key, key, n_bins=n_bins)
    fig, ax = new_axes(ax, (3.6, 3.6))
    weights = bins.n_cells / bins.n_cells.sum()
    ece = expected_calibration_error(bins)
    ax.bar(
        bins.low,
        bins.accuracy,
        width=bins.high - bins.low,
        align="edge",
        color="#4c72b0",
        edgecolor="white",
        label="share right",
    )
    ax.plot(bins.confidence, bins.accuracy, "o", color="#dd8452", ms=4, label="mean confidence")
    ax.plot([0, 1], [0, 1], "--", color="0.4", lw=1)
    for row in bins.itertuples():
        ax.text(
            (row.low + row.high) / 2,
            min(row.accuracy + 0.02, 0.97),
            f"{row.n_cells:,}",
            ha="center",
            va="bottom",
            fontsize=6,
            rotation=90,
        )
    top = float(weights.iloc[-1]) if np.isclose(bins.high.iloc[-1], 1.0) else 0.0
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel=f"{key}_confidence",
        ylabel=f"share whose type matches {reference_key}",
        title=f"ECE {ece:.3f}; {top:.0%} of cells in the top bin",
    )
    ax.title.set_fontsize(9)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return finish(fig, ax, show, return_fig)
