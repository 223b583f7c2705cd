"""Plots, scanpy style."""

from ._calibration import calibration
from ._confusion import confusion
from ._history import history
from ._pruning import arm_agreement, consensus_curve
from ._traversal import traversal

__all__ = ["arm_agreement", "calibration", "confusion", "consensus_curve", "history", "traversal"]
