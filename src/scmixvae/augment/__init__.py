"""Augmenters that give each arm its own type-preserving copy of a cell (docs: method)."""

from __future__ import annotations

from typing import Literal

from .._choices import check_choice
from ._affine import RandomAffine
from ._base import Augmenter
from ._generative import GenerativeAugmenter, GeneratorLosses
from ._simple import BinomialThinning, InputDropout, NoAugmentation

#: Names accepted by ``CplMixVAE(augmentation=...)``.
AugmentationName = Literal["none", "dropout", "thinning", "affine", "generative"]
#: The augmenter class of each name.
AUGMENTATIONS = {
    "none": NoAugmentation,
    "dropout": InputDropout,
    "thinning": BinomialThinning,
    "affine": RandomAffine,
    "generative": GenerativeAugmenter,
}


def make_augmenter(augmentation: AugmentationName | Augmenter, **kwargs) -> Augmenter:
    """Return the augmenter named ``augmentation`` (or ``augmentation`` itself if it is one).

    Parameters
    ----------
    augmentation
        A key of :data:`AUGMENTATIONS` or an :class:`Augmenter` instance.
    **kwargs
        Passed to the augmenter's constructor, e.g. ``rate=0.3`` for ``"dropout"`` or
        ``image_shape=(28, 28)`` for ``"affine"``.

    Examples
    --------
    >>> make_augmenter("thinning", keep=0.8).keep
    0.8

    """
    if isinstance(augmentation, Augmenter):
        return augmentation
    check_choice("augmentation (or an scmixvae.augment.Augmenter)", augmentation, AugmentationName)
    return AUGMENTATIONS[augmentation](**kwargs)


__all__ = [
    "AUGMENTATIONS",
    "AugmentationName",
    "Augmenter",
    "BinomialThinning",
    "GenerativeAugmenter",
    "GeneratorLosses",
    "InputDropout",
    "NoAugmentation",
    "RandomAffine",
    "make_augmenter",
]
