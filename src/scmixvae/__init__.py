"""scmixvae: cell types and type-specific continuous states with the coupled mixture VAE."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scmixvae")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from . import augment, datasets, module, pl, start, tl, train  # noqa: E402
from ._threads import default_threads  # noqa: E402
from .model import CplMixVAE  # noqa: E402

__all__ = [
    "CplMixVAE",
    "augment",
    "datasets",
    "default_threads",
    "module",
    "pl",
    "start",
    "tl",
    "train",
    "__version__",
]
