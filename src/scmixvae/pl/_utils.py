"""Figure handling shared by all plots: scanpy's ``show`` / ``ax`` / ``return_fig`` contract."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure


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
