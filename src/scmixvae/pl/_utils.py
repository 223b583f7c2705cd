"""Figure handling shared by all plots: scanpy's ``show`` / ``ax`` / ``return_fig`` contract."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
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


def heatmap(
    ax: Axes,
    fractions: np.ndarray,
    row_labels,
    col_labels,
    *,
    ylabel: str,
    xlabel: str,
    cmap: str,
    colorbar_label: str,
) -> None:
    """Draw a rows × columns fraction matrix in [0, 1] with labelled ticks and a colour bar."""
    image = ax.imshow(
        fractions, aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    ax.set_yticks(range(fractions.shape[0]), row_labels, fontsize="small")
    ax.set_xticks(range(fractions.shape[1]), col_labels, fontsize="small", rotation=90)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.figure.colorbar(image, ax=ax, label=colorbar_label)


def heatmap_size(fractions: np.ndarray) -> tuple[float, float]:
    return (0.2 * fractions.shape[1] + 2.5, 0.2 * fractions.shape[0] + 1.5)
