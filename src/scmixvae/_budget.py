"""Training budgets measured in cells seen, so that small and large data get similar compute."""

from __future__ import annotations

import numpy as np


def epochs_for(n_obs: int, cell_passes: int, min_epochs: int, max_epochs: int) -> int:
    """Epochs that show the model about ``cell_passes`` cells, clipped to the given range.

    Examples
    --------
    >>> epochs_for(3005, 300_000, 20, 400)
    100

    """
    return int(np.clip(round(cell_passes / n_obs), min_epochs, max_epochs))
