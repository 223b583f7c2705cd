"""What one inference pass over the cells yields, and the per-cell summaries derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass
class Posteriors:
    """What one inference pass over the cells yields (numpy, cells first)."""

    log_q: np.ndarray  # (n, A, K) per-arm log q(c | x)
    state: np.ndarray  # (n, A, S) mean of q(s | c*, x) under the consensus type c*
    state_kl: np.ndarray  # (n, A, S) KL(q(s | c*, x) || p(s | c*)) per state dimension

    @cached_property
    def consensus_prob(self) -> np.ndarray:
        """Arm-averaged type probabilities, ``(n, K)``."""
        return np.exp(self.log_q).mean(axis=1)

    @cached_property
    def consensus_code(self) -> np.ndarray:
        return self.consensus_prob.argmax(axis=1)

    @cached_property
    def arm_codes(self) -> np.ndarray:
        return self.log_q.argmax(axis=2)

    @cached_property
    def agreement(self) -> np.ndarray:
        """Fraction of arms whose own label equals the consensus label."""
        return (self.arm_codes == self.consensus_code[:, None]).mean(axis=1)

    @cached_property
    def confidence(self) -> np.ndarray:
        """Consensus probability of the assigned type."""
        return self.consensus_prob.max(axis=1)
