"""Stop training on the first non-finite loss, naming the terms that caused it."""

from __future__ import annotations

import torch


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the terms responsible."""


def check_finite_loss(loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
    """Raise :class:`NonFiniteLossError` if ``loss`` is not finite, naming the culprit terms.

    The check runs before the backward pass, so the weights are those of the last finite step.

    Examples
    --------
    >>> terms = {"reconstruction": torch.tensor([1.0]), "coupling": torch.tensor([float("nan")])}
    >>> check_finite_loss(torch.tensor(float("nan")), terms)
    Traceback (most recent call last):
    scmixvae.module._finite_guard.NonFiniteLossError: The loss is nan: term 'coupling' is not finite (nan). The weights are those of the last finite step. Lower the learning rate (plan_kwargs={'lr': ...}), or check the input for extreme values.

    """  # noqa: E501
    if bool(torch.isfinite(loss)):
        return
    culprits = {
        name: value.detach() for name, value in terms.items() if not torch.isfinite(value).all()
    }
    described = ", ".join(
        f"term {name!r} is not finite ({_first_bad(value)})" for name, value in culprits.items()
    )
    raise NonFiniteLossError(
        f"The loss is {loss.item()}: {described or 'every term is finite, their sum is not'}. "
        "The weights are those of the last finite step. Lower the learning rate "
        "(plan_kwargs={'lr': ...}), or check the input for extreme values."
    )


def _first_bad(value: torch.Tensor) -> str:
    """Return the first non-finite entry, as ``nan``, ``inf`` or ``-inf``."""
    bad = value[~torch.isfinite(value)]
    return str(bad.reshape(-1)[0].item())
