"""Plots, scanpy style."""

from ._confusion import confusion
from ._history import history

__all__ = ["confusion", "history"]
