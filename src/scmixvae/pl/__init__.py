"""Plots, scanpy style."""

from ._confusion import confusion
from ._history import history
from ._pruning import arm_agreement, consensus_curve

__all__ = ["arm_agreement", "confusion", "consensus_curve", "history"]
