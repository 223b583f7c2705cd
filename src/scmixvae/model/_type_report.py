"""How ``annotate`` orders type names and reports types that are empty or very small."""

from __future__ import annotations

import warnings

import pandas as pd

#: Types with fewer cells than this are named in a warning by ``annotate``.
MIN_TYPE_CELLS = 10


def name_order(name: str) -> tuple:
    """Sort key: type names that are numbers in numeric order, before any other name."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def warn_about_type_sizes(sizes: pd.Series, categories: list[str]) -> None:
    """Warn when categories have no cells, or types fewer than :data:`MIN_TYPE_CELLS`."""
    problems = []
    if len(sizes) < len(categories):
        problems.append(
            f"{len(sizes)} of the model's {len(categories)} types have cells: "
            f"{sorted(set(categories) - set(sizes.index), key=categories.index)} are no "
            "cell's most probable type (their cells went to neighbouring types)"
        )
    small = sizes[sizes < MIN_TYPE_CELLS]
    if len(small):
        listed = ", ".join(f"{name} ({count} cells)" for name, count in small.items())
        problems.append(f"types with fewer than {MIN_TYPE_CELLS} cells: {listed}")
    if problems:
        warnings.warn(
            "; ".join(problems) + ". Fewer types (n_categories) or model.prune() may fit "
            "these data better.",
            UserWarning,
            stacklevel=3,
        )
