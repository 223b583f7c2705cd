"""The augmenter interface: how each arm gets its own type-preserving copy of a cell.

See docs/method.md, "Augmentation". An augmenter is a :class:`torch.nn.Module` that maps
a minibatch ``(B, D)`` to ``A`` copies ``(A, B, D)``, drawing independent randomness per arm.
It runs inside the module, on the module's device, and only in training: at inference every
arm sees the cell itself.
A learned augmenter (the deep generative one) plugs in by subclassing :class:`Augmenter`.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn


class Augmenter(nn.Module):
    """Base class of all augmenters.

    Subclasses implement :meth:`forward`. Set ``requires_counts = True`` when the augmenter
    only makes sense on non-negative integer counts.
    """

    #: Whether the augmenter needs raw counts (a count likelihood).
    requires_counts: bool = False

    def check_features(self, n_features: int) -> None:
        """Raise a ``ValueError`` if rows of ``n_features`` values cannot be augmented.

        Called when a model is built, so that a mismatch fails before training; the base
        class accepts any number of features.
        """

    def config(self) -> dict:
        """Return the constructor's arguments that rebuild this augmenter (saved with a model).

        Each argument is read from the attribute of the same name, so a subclass that wants
        its models saved keeps every constructor argument under its own name.

        Examples
        --------
        >>> from scmixvae.augment import InputDropout
        >>> InputDropout(rate=0.3).config()
        {'rate': 0.3}

        """
        parameters = inspect.signature(type(self).__init__).parameters.values()
        names = [
            p.name
            for p in parameters
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        missing = [name for name in names if not hasattr(self, name)]
        if missing:
            raise ValueError(
                f"{type(self).__name__} keeps no attribute for its argument(s) {missing}, so a "
                "model using it cannot be saved; store each constructor argument under its name."
            )
        return {name: getattr(self, name) for name in names}

    def forward(self, x: torch.Tensor, n_arms: int) -> torch.Tensor:
        """Return ``n_arms`` augmented copies of ``x``, shape ``(n_arms, *x.shape)``."""
        raise NotImplementedError
