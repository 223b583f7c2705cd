"""The user-facing model."""

from ._cplmixvae import CplMixVAE

__all__ = ["CplMixVAE"]
