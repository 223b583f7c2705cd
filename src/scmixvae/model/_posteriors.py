"""What one inference pass over the cells yields, and the per-cell summaries derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass
class Posteriors:
    """What one inference pass over the cells yields (numpy, cells first).

    Kept per cell as the pass goes, not as the per-arm ``log q(c | x)`` of every category:
    at a million cells and 2K categories of 2 arms those alone would take 1.6 GB.
    """

    consensus_prob: np.ndarray  # (n, K) arm-averaged q(c | x)
    arm_codes: np.ndarray  # (n, A) each arm's most probable category
    state: np.ndarray  # (n, A, S) mean of q(s | c*, x) under the consensus type c*
    state_kl: np.ndarray  # (n, A, S) KL(q(s | c*, x) || p(s | c*)) per state dimension

    @classmethod
    def empty(cls, n_cells: int, n_arms: int, n_categories: int, n_states: int) -> Posteriors:
        """Zeroed arrays for ``n_cells`` cells, to be filled by :meth:`fill`."""
        per_state = (n_cells, n_arms, n_states)
        return cls(
            np.zeros((n_cells, n_categories), np.float32),
            np.zeros((n_cells, n_arms), np.int64),
            np.zeros(per_state, np.float32),
            np.zeros(per_state, np.float32),
        )

    def fill(self, rows: slice, consensus_prob, arm_codes, state, state_kl) -> None:
        """Write one minibatch of torch tensors into the cells ``rows``.

        ``consensus_prob`` is ``(B, K)``; the per-arm ``arm_codes``, ``state`` and
        ``state_kl`` are arms first, ``(A, B)`` and ``(A, B, S)``.
        """
        self.consensus_prob[rows] = consensus_prob.cpu().numpy()
        self.arm_codes[rows] = arm_codes.transpose(0, 1).cpu().numpy()
        self.state[rows] = state.transpose(0, 1).cpu().numpy()
        self.state_kl[rows] = state_kl.transpose(0, 1).cpu().numpy()

    @cached_property
    def consensus_code(self) -> np.ndarray:
        return self.consensus_prob.argmax(axis=1)

    @cached_property
    def agreement(self) -> np.ndarray:
        """Fraction of arms whose own label equals the consensus label."""
        return (self.arm_codes == self.consensus_code[:, None]).mean(axis=1)

    @cached_property
    def confidence(self) -> np.ndarray:
        """Consensus probability of the assigned type."""
        return self.consensus_prob.max(axis=1)
