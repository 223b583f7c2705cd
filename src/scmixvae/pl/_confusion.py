"""Confusion matrix of inferred types against reference labels (the paper's Fig. 3)."""

from __future__ import annotations

from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..tl import contingency
from ._utils import finish, fraction_heatmap


def confusion(
    adata: AnnData,
    key: str = "cplmix_type",
    reference_key: str = "cell_type",
    *,
    cmap: str = "viridis",
    show: bool | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Heatmap of the fraction of each reference label assigned to each inferred type.

    Rows are reference labels, ordered by hierarchical clustering of their assignment
    profiles, so related labels sit together; columns are inferred types, matched to the
    rows (Hungarian matching) so that a perfect clustering is a diagonal.

    Parameters
    ----------
    adata
        AnnData with both columns in ``obs``.
    key
        Inferred types.
    reference_key
        Reference labels.
    cmap
        Colour map.
    show, ax, return_fig
        As in scanpy.

    Examples
    --------
    >>> scmixvae.pl.confusion(adata, "cplmix_type", "subclass", show=False)  # doctest: +SKIP

    """
    for column in (key, reference_key):
        if column not in adata.obs:
            raise ValueError(f"{column!r} is not a column of adata.obs.")
    table = contingency(adata.obs[reference_key].astype(str), adata.obs[key].astype(str))
    fig, ax = fraction_heatmap(
        table,
        ax,
        cluster_rows=True,
        ylabel=reference_key,
        xlabel=key,
        cmap=cmap,
        colorbar_label="fraction of reference label",
    )
    return finish(fig, ax, show, return_fig)
