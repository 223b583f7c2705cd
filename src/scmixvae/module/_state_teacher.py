"""The state's teacher: each type's principal axes, taught to the state after the merge.

Within a type, the first principal components of the type's own Pearson residuals follow a
programme the type's cells vary along, and not their depth. Without a teacher the state of
a type often collapses to its prior before it finds such a programme, and does not reopen
(``benchmarks/state_recovery.md``). The over-clustering start therefore fits, once the
types are merged, each type's residual mean and top ``S`` axes, and for a while teaches
each arm's state mean the cell's coordinates on its type's axes, each scaled to unit
variance (docs/method.md, "Initialisation", step 5).
"""

from __future__ import annotations

import torch
from torch import nn

from .._expression import pearson_residuals

#: Fewest cells of a type whose axes are fitted; a smaller type's state is not taught.
MIN_TYPE_CELLS = 10


class StateTeacher(nn.Module):
    """Per type ``k``: gene fractions ``p_k``, residual mean ``m_k`` and scaled axes ``V_k``.

    The target of a cell ``x`` taught type ``k`` is ``(r_k(x) − m_k) V_k``, with ``r_k`` the
    Pearson residuals against ``p_k`` for counts (``x`` itself otherwise), and the columns of
    ``V_k`` the type's top principal axes divided by their standard deviations. A type with
    no fitted axes has target 0.

    Parameters
    ----------
    n_input
        Number of features ``D``.
    n_categories
        Number of category slots ``K``.
    n_states
        Number of state dimensions ``S``.
    counts
        Whether the data are counts (Pearson residuals per type) or not (the data as they are).

    Examples
    --------
    >>> x = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]] * 5)
    >>> labels = torch.tensor([0, 0, 1, 1] * 5)
    >>> teacher = StateTeacher(2, n_categories=2, n_states=1, counts=False).fit(x, labels)
    >>> teacher.target(x[:2], labels[:2]).abs().squeeze(-1)
    tensor([1., 1.])

    """

    def __init__(self, n_input: int, n_categories: int, n_states: int, counts: bool = True):
        super().__init__()
        self.counts = counts
        # Whether the state is taught in the current epoch; the start's schedule sets it.
        self.teaching = False
        self.register_buffer("residual_clip", torch.zeros(()))
        self.register_buffer("gene_fraction", torch.zeros(n_categories, n_input))
        self.register_buffer("mean", torch.zeros(n_categories, n_input))
        self.register_buffer("axes", torch.zeros(n_categories, n_input, n_states))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Models saved before the state had a teacher load with an unfitted one; a trained
        # model's teacher is not used again.
        for name, buffer in self.named_buffers(recurse=False):
            state_dict.setdefault(prefix + name, buffer.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def residuals(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``r_k(x)`` of every row of ``x`` against the type ``labels`` of its row."""
        if not self.counts:
            return x
        return pearson_residuals(x, self.gene_fraction[labels], self.residual_clip)

    def target(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``(r_k(x) − m_k) V_k`` of every row, ``(..., S)``, for types ``labels`` ``(...)``."""
        centred = self.residuals(x, labels) - self.mean[labels]
        return torch.einsum("...d,...ds->...s", centred, self.axes[labels])

    @torch.no_grad()
    def fit(self, x: torch.Tensor, labels: torch.Tensor) -> StateTeacher:
        """Fit every type's fractions, mean and axes on cells ``x`` taught types ``labels``.

        Types with fewer than :data:`MIN_TYPE_CELLS` cells keep zero axes. Returns ``self``.
        """
        self.residual_clip.fill_(len(x) ** 0.5)  # the clip of Lause et al., as the start's
        self.axes.zero_()
        n_states = self.axes.shape[-1]
        for k in labels.unique().tolist():
            own = x[labels == k]
            if len(own) < max(MIN_TYPE_CELLS, n_states + 1):
                continue
            genes = own.sum(0)
            self.gene_fraction[k] = genes / genes.sum().clamp_min(1e-12)
            residuals = self.residuals(own, torch.full((len(own),), k, device=x.device))
            self.mean[k] = residuals.mean(0)
            singular, axes = top_axes(residuals - self.mean[k], n_states)
            sd = singular / len(own) ** 0.5
            # An axis without variance (fewer features than states) teaches nothing.
            scale = torch.where(sd > 1e-6, 1 / sd.clamp_min(1e-6), 0.0)
            self.axes[k, :, : len(sd)] = axes * scale
        return self


def top_axes(x: torch.Tensor, n: int, n_iter: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the top ``n`` singular values of ``x`` and right singular vectors ``(D, n)``.

    By subspace iteration from a fixed random start (Halko et al., 2011), so that a type of
    many cells and genes costs ``O(cells × genes × n)`` a step, and the global random state
    (the training's) is left as it was.

    Examples
    --------
    >>> x = torch.tensor([[3.0, 0.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])
    >>> values, vectors = top_axes(x, 1)
    >>> values, vectors.abs().squeeze(-1).round(decimals=4)
    (tensor([4.2426]), tensor([1., 0., 0.]))

    """
    n = min(n, *x.shape)
    width = min(n + 8, *x.shape)
    generator = torch.Generator().manual_seed(0)
    basis = torch.randn(x.shape[1], width, generator=generator, dtype=x.dtype).to(x.device)
    for _ in range(n_iter):
        basis = torch.linalg.qr(x.T @ (x @ basis)).Q
    _, values, vectors = torch.linalg.svd(x @ basis, full_matrices=False)
    return values[:n], basis @ vectors[:n].T
