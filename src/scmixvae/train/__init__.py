"""Training plans."""

from ._plan import CplMixVAETrainingPlan

__all__ = ["CplMixVAETrainingPlan"]
