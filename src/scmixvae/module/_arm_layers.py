"""Layers whose arm is a tensor dimension: ``A`` independent networks, one batched computation.

Every tensor flowing through these layers is shaped ``(A, B, F)``: arms, cells, features.
Each layer holds weights for all arms at once, so ``A`` arms cost one ``baddbmm`` per layer
instead of ``A`` kernel launches (``STYLE.md``, "Arms as a tensor dimension").
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def once_if_shared(function, x_arm: torch.Tensor) -> torch.Tensor:
    """``function(x_arm)``, computed on one arm's slice when every arm holds the same data.

    Without augmentation every arm's input is an expanded view of the same minibatch (stride 0
    along the arm axis); an elementwise or per-cell ``function`` then needs computing once,
    and its result is expanded back to ``A`` arms without a copy.

    Examples
    --------
    >>> x = torch.ones(4, 3).expand(2, 4, 3)
    >>> once_if_shared(torch.log1p, x).shape
    torch.Size([2, 4, 3])

    """
    if x_arm.dim() >= 2 and x_arm.shape[0] > 1 and x_arm.stride(0) == 0:
        once = function(x_arm[:1])
        return once.expand(x_arm.shape[0], *once.shape[1:])
    return function(x_arm)


class ArmLinear(nn.Module):
    """``A`` independent affine maps ``(A, B, n_in) -> (A, B, n_out)``.

    Initialised like :class:`torch.nn.Linear`, independently per arm.

    Examples
    --------
    >>> layer = ArmLinear(n_arms=2, n_in=5, n_out=3)
    >>> layer(torch.zeros(2, 4, 5)).shape
    torch.Size([2, 4, 3])

    """

    def __init__(self, n_arms: int, n_in: int, n_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(n_arms, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_arms, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply each arm's map to its slice of ``x`` (shape ``(A, B, n_in)``)."""
        return torch.baddbmm(self.bias, x, self.weight)


class ArmBatchNorm(nn.Module):
    """Batch normalisation without affine parameters, with statistics kept per arm and feature.

    Matches :class:`torch.nn.BatchNorm1d` with ``affine=False`` applied to each arm separately
    (running averages with ``momentum``, unbiased running variance). With ``momentum=None``
    the running statistics are the average over every cell seen since
    :meth:`reset_running_stats`, each minibatch weighted by its number of cells: the
    population statistics of the current weights, which :meth:`scmixvae.CplMixVAE.train`
    computes at the end of every training and before the over-clustering start's merge.

    Examples
    --------
    >>> bn = ArmBatchNorm(n_arms=2, n_features=3)
    >>> out = bn(torch.randn(2, 8, 3))
    >>> torch.allclose(out.mean(dim=1), torch.zeros(2, 3), atol=1e-5)
    True

    """

    def __init__(
        self, n_arms: int, n_features: int, momentum: float | None = 0.01, eps: float = 1e-5
    ):
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.n_cells_seen = 0  # cells averaged so far when ``momentum`` is None
        self.register_buffer("running_mean", torch.zeros(n_arms, 1, n_features))
        self.register_buffer("running_var", torch.ones(n_arms, 1, n_features))

    def reset_running_stats(self) -> None:
        """Forget the running statistics (mean 0, variance 1, no cells seen)."""
        self.running_mean.zero_()
        self.running_var.fill_(1.0)
        self.n_cells_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (shape ``(A, B, F)``) over the cell dimension."""
        if self.training:
            var, mean = torch.var_mean(x, dim=1, keepdim=True, correction=0)
            n_cells = x.shape[1]
            if self.momentum is None:
                self.n_cells_seen += n_cells
                weight = n_cells / self.n_cells_seen
            else:
                weight = self.momentum
            with torch.no_grad():
                self.running_mean.lerp_(mean, weight)
                unbiased = var * (n_cells / (n_cells - 1)) if n_cells > 1 else var
                self.running_var.lerp_(unbiased, weight)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps)


class ArmMLP(nn.Module):
    """A stack of ``ArmLinear -> ReLU -> ArmBatchNorm`` blocks (docs/method.md, "One arm").

    Parameters
    ----------
    n_arms
        Number of independent arms ``A``.
    widths
        Layer widths, input first: ``[n_in, h1, ..., n_out]``.

    Examples
    --------
    >>> mlp = ArmMLP(n_arms=3, widths=[10, 8, 8])
    >>> mlp(torch.randn(3, 5, 10)).shape
    torch.Size([3, 5, 8])

    """

    def __init__(self, n_arms: int, widths: list[int]):
        super().__init__()
        blocks = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            blocks += [ArmLinear(n_arms, n_in, n_out), nn.ReLU(), ArmBatchNorm(n_arms, n_out)]
        self.layers = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the blocks to ``x`` of shape ``(A, B, widths[0])``."""
        return self.layers(x)


def single_arm(module: nn.Module, arm: int, arm_tensors: tuple[str, ...] = ()) -> nn.Module:
    """Return a copy of ``module`` that computes arm ``arm`` alone (``A = 1``).

    The arm axis is cut from every :class:`ArmLinear` and :class:`ArmBatchNorm` and from the
    parameters and buffers named in ``arm_tensors`` (dotted names, skipped where absent); the
    copy's ``n_arms`` becomes 1. Cheaper than running every arm when one arm's output is
    read, e.g. the ``K`` decoder passes per cell of a category score.

    Examples
    --------
    >>> mlp = ArmMLP(n_arms=2, widths=[4, 3]).eval()
    >>> x = torch.randn(5, 4)
    >>> torch.allclose(single_arm(mlp, 1)(x[None]), mlp(x.expand(2, 5, 4))[1:])
    True

    """
    single = copy.deepcopy(module)
    keep = slice(arm, arm + 1)
    names = {name for name, _ in single.named_parameters()}
    names |= {name for name, _ in single.named_buffers()}
    for name in names:
        owner_name, _, leaf = name.rpartition(".")
        owner = single.get_submodule(owner_name)
        if isinstance(owner, ArmLinear | ArmBatchNorm) or name in arm_tensors:
            tensor = getattr(owner, leaf)
            tensor.data = tensor.data[keep].clone()
    if hasattr(single, "n_arms"):
        single.n_arms = 1
    return single
