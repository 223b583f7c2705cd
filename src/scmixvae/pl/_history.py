"""Training curves: one panel per loss term, training and validation together."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: The loss terms logged in training, in the order drawn.
TERMS = ("loss", "reconstruction_loss", "kl_local", "kl_global", "coupling", "entropy")


def _curves(logged: dict, term: str) -> dict[str, object]:
    """Return the ``train`` and ``validation`` series of a term that were logged."""
    names = {
        "train": "train_loss" if term == "loss" else f"{term}_train",
        "validation": "validation_loss" if term == "loss" else f"{term}_validation",
    }
    return {
        split: logged[name].iloc[:, 0].astype(float)
        for split, name in names.items()
        if name in logged and len(logged[name])
    }


def history(
    model,
    *,
    terms: list[str] | None = None,
    ncols: int = 3,
    show: bool | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot the training curves: one panel per loss term, each on its own scale.

    Training (per epoch) and validation (every tenth of the epochs, by default) share a
    panel. A term that stayed 0 throughout (e.g. the coupling of one arm) is not drawn; the
    figure's title names it.

    Parameters
    ----------
    model
        A trained :class:`~scmixvae.CplMixVAE`.
    terms
        Terms to draw, of :data:`TERMS`; default every one logged and not always 0.
    ncols
        Panels per row.
    show, return_fig
        As in scanpy.
    ax
        An Axes to draw on, for a single term only.

    Returns
    -------
    With ``show=False``, the Axes (one term) or the list of Axes.

    Examples
    --------
    >>> scmixvae.pl.history(model, show=False)  # doctest: +SKIP
    >>> scmixvae.pl.history(model, terms=["loss"], ax=ax, show=False)  # doctest: +SKIP

    """
    logged = model.history
    if not logged:
        raise ValueError("The model has no training history; call model.train() first.")
    unknown = sorted(set(terms or ()) - set(TERMS))
    if unknown:
        raise ValueError(f"Unknown terms {unknown}; choose among {list(TERMS)}.")
    curves = {term: _curves(logged, term) for term in (terms or TERMS)}
    curves = {term: series for term, series in curves.items() if series}
    flat = [t for t, series in curves.items() if all((s == 0).all() for s in series.values())]
    if terms is None:
        curves = {term: series for term, series in curves.items() if term not in flat}
    if not curves:
        raise ValueError(f"None of the terms {terms or list(TERMS)} was logged.")
    if ax is not None and len(curves) > 1:
        raise ValueError("ax= draws a single term; pass terms=[...] with one term.")
    if ax is None:
        ncols = min(ncols, len(curves))
        nrows = int(np.ceil(len(curves) / ncols))
        fig, grid = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
        axes = list(grid.ravel())
        for unused in axes[len(curves) :]:
            unused.remove()
        axes = axes[: len(curves)]
    else:
        fig, axes = ax.figure, [ax]
    for panel, (term, series) in zip(axes, curves.items(), strict=True):
        for split, values in series.items():
            style = {"marker": "o", "markersize": 3} if split == "validation" else {}
            panel.plot(values.index + 1, values.to_numpy(), label=split, **style)
        values = np.concatenate([v.to_numpy() for v in series.values()])
        typical = float(np.median(np.abs(values)))
        if np.abs(values).max() > 50 * max(typical, 1e-12):  # a spike would flatten the rest
            panel.set_yscale("symlog", linthresh=max(typical, 1e-3))
        panel.set_title(term.replace("_", " "), fontsize="medium")
        panel.set_xlabel("epoch")
        panel.tick_params(labelsize="small")
    axes[0].legend(fontsize="small", frameon=False)
    if flat and terms is None:
        fig.suptitle(f"0 throughout, not drawn: {', '.join(flat)}", fontsize="small")
    fig.tight_layout()
    if return_fig:
        return fig
    if show is None or show:
        plt.show()
        return None
    return axes[0] if len(axes) == 1 else axes
