"""Figure handling shared by all plots: scanpy's ``show`` / ``ax`` / ``return_fig`` contract."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.optimize import linear_sum_assignment


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Return ``ax`` and its figure, or a new figure with one Axes."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def finish(fig: Figure, ax: Axes, show: bool | None, return_fig: bool) -> Figure | Axes | None:
    """Show or return, as scanpy does.

    ``return_fig`` returns the Figure; otherwise ``show=None`` or ``True`` shows it and
    ``show=False`` returns the Axes.
    """
    if return_fig:
        return fig
    if show is None or show:
        plt.show()
        return None
    return ax


def matched_column_order(fractions: np.ndarray) -> list[int]:
    """Column order putting each row's Hungarian-matched column on the diagonal.

    Unmatched columns (more columns than rows) follow in their original order.
    """
    rows, cols = linear_sum_assignment(fractions, maximize=True)
    matched = list(cols[np.argsort(rows)])
    return matched + [c for c in range(fractions.shape[1]) if c not in set(matched)]


def fraction_heatmap(
    table: pd.DataFrame,
    ax: Axes | None,
    *,
    cluster_rows: bool,
    ylabel: str,
    xlabel: str,
    cmap: str,
    colorbar_label: str,
) -> tuple[Figure, Axes]:
    """Heatmap of a count table as row fractions, columns matched to rows (Hungarian).

    With ``cluster_rows`` the rows are ordered by average-linkage clustering of their
    fraction profiles, so that similar rows sit together.
    """
    fractions = table.to_numpy(dtype=float, copy=True)  # pandas 3 may hand out a read-only view
    fractions /= fractions.sum(axis=1, keepdims=True)
    row_order = np.arange(len(fractions))
    if cluster_rows and len(fractions) > 2:
        row_order = leaves_list(linkage(fractions, "average"))
    fractions = fractions[row_order]
    col_order = matched_column_order(fractions)
    fractions = fractions[:, col_order]
    fig, ax = new_axes(ax, (0.2 * fractions.shape[1] + 2.5, 0.2 * fractions.shape[0] + 1.5))
    image = ax.imshow(
        fractions, aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    ax.set_yticks(range(fractions.shape[0]), np.asarray(table.index)[row_order], fontsize="small")
    ax.set_xticks(
        range(fractions.shape[1]),
        np.asarray(table.columns)[col_order],
        fontsize="small",
        rotation=90,
    )
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    fig.colorbar(image, ax=ax, label=colorbar_label)
    return fig, ax
