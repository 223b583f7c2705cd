"""Training curves."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._utils import finish, new_axes


def history(
    model,
    *,
    keys: list[str] | None = None,
    show: bool | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Plot the logged training curves of a trained model, one line per key.

    Parameters
    ----------
    model
        A trained :class:`~scmixvae.CplMixVAE`.
    keys
        Keys of ``model.history`` to draw; default every train / validation loss logged.
    show, ax, return_fig
        As in scanpy.

    Examples
    --------
    >>> scmixvae.pl.history(model, keys=["train_loss"], show=False)  # doctest: +SKIP

    """
    logged = model.history
    if not logged:
        raise ValueError("The model has no training history; call model.train() first.")
    if keys is None:
        keys = [k for k in logged if "loss" in k or k.startswith(("coupling", "entropy"))]
    missing = [k for k in keys if k not in logged]
    if missing:
        raise ValueError(f"Keys {missing} not in model.history (available: {sorted(logged)}).")
    fig, ax = new_axes(ax, (5.0, 3.5))
    for key in keys:
        series = logged[key].iloc[:, 0].astype(float)
        ax.plot(series.index, series.to_numpy(), label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    if any((logged[k].iloc[:, 0].astype(float) > 0).all() for k in keys):
        ax.set_yscale("symlog")
    ax.legend(fontsize="small", frameon=False)
    return finish(fig, ax, show, return_fig)
