"""Datasets that load offline, and a simulator with a known ground truth."""

from ._pbmc import pbmc68k
from ._simulate import simulate
from ._zeisel import zeisel

__all__ = ["pbmc68k", "simulate", "zeisel"]
