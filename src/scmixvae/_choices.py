"""Options that take one of a few names: typed with ``Literal``, checked by one function."""

from __future__ import annotations

from typing import Any, get_args


def check_choice(name: str, value: Any, choices: Any) -> None:
    """Raise a ``ValueError`` naming the choices unless ``value`` is one of ``choices``.

    ``choices`` is a ``Literal`` type (its arguments are the allowed values) or a tuple.

    Examples
    --------
    >>> from typing import Literal
    >>> check_choice("likelihood", "nb", Literal["nb", "normal"])
    >>> check_choice("likelihood", "poisson", Literal["nb", "normal"])
    Traceback (most recent call last):
    ...
    ValueError: Unknown likelihood 'poisson'; choose one of ('nb', 'normal').

    """
    allowed = choices if isinstance(choices, tuple) else get_args(choices)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {allowed}.")
