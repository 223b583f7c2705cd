"""The deep generative augmenter (the paper's): new cells near a cell in a learned space.

A generator maps a cell plus noise to a copy of it; a discriminator tells real cells from copies.
Both work on the log-normalised expression ``log1p(10^4 · x / library)`` of count data (or on the
values themselves for other data). The generator is trained, without labels, on four terms:

- **adversarial**: copies should fool the discriminator (non-saturating GAN loss);
- **feature matching**: the discriminator's hidden features of copies and of real cells should
  have the same minibatch mean (Salimans et al. 2016), which steadies the adversarial game;
- **reconstruction**: with the noise set to zero the generator reproduces its input;
- **triplet**, anchored at the cell: its noisy copy lies at least a margin farther from it than
  its noise-free copy (the noise must make a new cell), and nearer to it than another cell's
  copy (the new cell stays in its neighbourhood, so keeps its type).

The discriminator sees continuous expression, so every term reaches the generator by ordinary
backpropagation (the research code binarised copies before the discriminator and so trained only
the reconstruction). Copies keep the input's zero pattern. Once trained, the
augmenter is frozen (:meth:`GenerativeAugmenter.freeze`): eval mode, no gradients, for good.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._budget import epochs_for
from .._expression import LIBRARY_SCALE, log_normalise
from ._base import Augmenter

# Default training length of the augmenter, in cells seen (benchmarks/augmentation.md): a third of
# the mixture model's, so that the augmenter adds at most about half to a Zeisel training.
_CELL_PASSES = 100_000


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear -> ReLU blocks through ``widths`` (the last block included)."""
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers)


@dataclass
class GeneratorLosses:
    """The generator's loss terms on one minibatch (each a scalar tensor)."""

    adversarial: torch.Tensor
    feature_matching: torch.Tensor
    reconstruction: torch.Tensor
    triplet: torch.Tensor


class GenerativeAugmenter(Augmenter):
    """A VAE-GAN-like generator of type-preserving copies, trained once and then frozen.

    Architecture (docs/method.md, "Augmentation"): body ``D → D/5 → D/5 → 100 → 100``,
    noise ``N(0, I_50)`` mixed in to a latent of 10, a mirrored decoder with a ReLU output;
    discriminator ``D → 100 → 100 → 1``.

    Parameters
    ----------
    n_input
        Number of features ``D``.
    counts
        ``True`` for raw counts (copies are counts, drawn around the generated expression at the
        cell's own depth); ``False`` for values used as they are (log-normalised data).
    n_noise
        Dimensions of the noise mixed into the latent.
    n_latent
        Latent width.
    noise_scale
        Standard deviation of the noise when copies are made for the arms.
    triplet_margin
        How much farther than the noise-free copy a noisy copy must lie from its cell, in units
        of the mean distance between cells of the minibatch.
    loss_weights
        Weights of ``adversarial``, ``feature_matching``, ``reconstruction`` and ``triplet``.

    Examples
    --------
    >>> augmenter = GenerativeAugmenter(n_input=50)
    >>> x = torch.poisson(torch.full((64, 50), 3.0))
    >>> history = augmenter.fit(x.numpy(), max_epochs=2, batch_size=32)
    >>> frozen = augmenter.freeze()  # returns the augmenter itself
    >>> frozen(x, n_arms=2).shape
    torch.Size([2, 64, 50])

    """

    def __init__(
        self,
        n_input: int,
        counts: bool = True,
        n_noise: int = 50,
        n_latent: int = 10,
        noise_scale: float = 1.0,
        triplet_margin: float = 0.2,
        loss_weights: dict[str, float] | None = None,
    ):
        super().__init__()
        if n_input < 1:
            raise ValueError(f"n_input must be >= 1, got {n_input}.")
        self.n_input = n_input
        self.counts = counts
        self.requires_counts = counts
        self.n_noise = n_noise
        self.n_latent = n_latent
        self.noise_scale = noise_scale
        self.triplet_margin = triplet_margin
        self.loss_weights = {
            "adversarial": 1.0,
            "feature_matching": 1.0,
            "reconstruction": 1.0,
            "triplet": 1.0,
        } | (loss_weights or {})
        unknown = set(self.loss_weights) - set(GeneratorLosses.__dataclass_fields__)
        if unknown:
            raise ValueError(f"Unknown loss_weights {sorted(unknown)}.")
        wide = max(n_input // 5, 1)
        self.body = _mlp([n_input, wide, wide, 100, 100])
        self.mix = nn.Linear(100 + n_noise, n_latent)
        self.decoder = nn.Sequential(
            _mlp([n_latent, 100, 100, wide, wide]), nn.Linear(wide, n_input)
        )
        self.discriminator_body = _mlp([n_input, 100, 100])
        self.discriminator_out = nn.Linear(100, 1)
        self.register_buffer("frozen", torch.tensor(False))

    # ---- the two networks ---------------------------------------------------------------
    def expression(self, x: torch.Tensor) -> torch.Tensor:
        """Map cells to the networks' space: ``log1p(10^4 x / library)`` for counts, else ``x``."""
        if not self.counts:
            return x
        return log_normalise(x, x.sum(-1, keepdim=True))

    def generate(self, expression: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Make a copy of each cell (in expression space) for the given noise; keep its zeros."""
        latent = self.mix(torch.cat([self.body(expression), noise], dim=-1))
        # Residual: the decoder proposes a change to the cell, so an untrained generator
        # already returns cells near their input and training shapes the change.
        return F.relu(expression + self.decoder(latent)) * (expression > 0)

    def discriminate(self, expression: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logit that each cell is real, and the hidden features used by feature matching."""
        features = self.discriminator_body(expression)
        return self.discriminator_out(features).squeeze(-1), features

    def draw_noise(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(n, self.n_noise, device=like.device, dtype=like.dtype)

    # ---- losses -------------------------------------------------------------------------
    def generator_losses(self, expression: torch.Tensor) -> GeneratorLosses:
        """Compute the four generator terms on one minibatch of expression (module docstring)."""
        n = expression.shape[0]
        copies = self.generate(expression, self.draw_noise(n, expression))
        fake_logit, fake_features = self.discriminate(copies)
        _, real_features = self.discriminate(expression)
        adversarial = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
        feature_matching = (fake_features.mean(0) - real_features.detach().mean(0)).pow(2).mean()
        noise_free = self.generate(expression, torch.zeros_like(self.draw_noise(n, expression)))
        reconstruction = (noise_free - expression).pow(2).sum(-1).mean()
        # Triplet, anchored at the cell: its noisy copy must lie at least `margin` farther
        # from it than its noise-free copy (so the noise makes new cells), and nearer to it
        # than the copy of another cell (so the new cell stays in its neighbourhood).
        scale = torch.cdist(expression, expression).mean().detach().clamp_min(1e-6)
        to_copy = (copies - expression).norm(dim=-1) / scale
        to_reconstruction = (noise_free - expression).norm(dim=-1) / scale
        to_other = (torch.roll(copies, shifts=1, dims=0) - expression).norm(dim=-1) / scale
        triplet = (
            F.relu(to_reconstruction - to_copy + self.triplet_margin) + F.relu(to_copy - to_other)
        ).mean()
        return GeneratorLosses(adversarial, feature_matching, reconstruction, triplet)

    def discriminator_loss(self, expression: torch.Tensor) -> torch.Tensor:
        """Real cells labelled 1, copies (no gradient to the generator) labelled 0."""
        with torch.no_grad():
            copies = self.generate(expression, self.draw_noise(expression.shape[0], expression))
        real_logit, _ = self.discriminate(expression)
        fake_logit, _ = self.discriminate(copies)
        return F.binary_cross_entropy_with_logits(
            real_logit, torch.ones_like(real_logit)
        ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))

    def generator_parameters(self) -> list[nn.Parameter]:
        return [*self.body.parameters(), *self.mix.parameters(), *self.decoder.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [*self.discriminator_body.parameters(), *self.discriminator_out.parameters()]

    # ---- training -----------------------------------------------------------------------
    def fit(
        self,
        data,
        max_epochs: int | None = None,
        batch_size: int = 1000,
        lr: float = 1e-3,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> dict[str, list[float]]:
        """Train generator and discriminator, alternating one step each per minibatch.

        Parameters
        ----------
        data
            Cells × features, dense or scipy sparse (densified one minibatch at a time).
        max_epochs
            Passes through the data. ``None``: about 100,000 cells seen, clipped to 20–200
            epochs (3,005 cells: 33 epochs). The research code's 1,000 epochs would take hours
            on a CPU; ``benchmarks/augmentation.md`` shows what the shorter budget keeps.
        batch_size, lr
            Cells per step and Adam's learning rate (the paper's: batch 1,000, lr 1e-3).
        seed
            Seeds the minibatch order, the noise and the initial weights' further draws.
        device
            Where to train.

        Returns
        -------
        Per-epoch means of each generator term and of the discriminator loss.

        """
        if bool(self.frozen):
            raise ValueError("This augmenter is frozen; build a new one to train again.")
        if data.shape[1] != self.n_input:
            raise ValueError(
                f"The augmenter was built for {self.n_input} features, the data have "
                f"{data.shape[1]}."
            )
        n_obs = data.shape[0]
        if n_obs < 2:
            raise ValueError("The augmenter needs at least 2 cells to train.")
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.to(device).train()
        g_opt = torch.optim.Adam(self.generator_parameters(), lr=lr)
        d_opt = torch.optim.Adam(self.discriminator_parameters(), lr=lr)
        history: dict[str, list[float]] = {
            name: [] for name in [*GeneratorLosses.__dataclass_fields__, "discriminator"]
        }
        batch_size = min(batch_size, n_obs)
        if max_epochs is None:
            max_epochs = epochs_for(n_obs, _CELL_PASSES, 20, 200)
        for _ in range(max_epochs):
            sums = dict.fromkeys(history, 0.0)
            order = torch.randperm(n_obs, generator=generator).numpy()
            steps = 0
            for start in range(0, n_obs - 1, batch_size):
                rows = np.sort(order[start : start + batch_size])
                if len(rows) < 2:
                    continue
                expression = self.expression(_dense_rows(data, rows, device))
                d_opt.zero_grad()
                d_loss = self.discriminator_loss(expression)
                d_loss.backward()
                d_opt.step()
                g_opt.zero_grad()
                losses = self.generator_losses(expression)
                total = sum(self.loss_weights[k] * getattr(losses, k) for k in self.loss_weights)
                total.backward()
                g_opt.step()
                for name in GeneratorLosses.__dataclass_fields__:
                    sums[name] += getattr(losses, name).item()
                sums["discriminator"] += d_loss.item()
                steps += 1
            for name in history:
                history[name].append(sums[name] / max(steps, 1))
        return history

    def freeze(self) -> GenerativeAugmenter:
        """Fix the weights for good: eval mode, no gradients, and :meth:`train` stays a no-op."""
        self.frozen.fill_(True)
        self.requires_grad_(False)
        return super().train(False)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if bool(self.frozen):  # a saved frozen augmenter comes back frozen
            self.freeze()

    def train(self, mode: bool = True) -> GenerativeAugmenter:
        """Switch modes, except once frozen: a frozen augmenter stays in eval mode."""
        return super().train(mode and not bool(self.frozen))

    # ---- augmenter protocol -------------------------------------------------------------
    def check_features(self, n_features: int) -> None:
        """Raise unless the augmenter was built for ``n_features`` features."""
        if n_features != self.n_input:
            raise ValueError(
                f"The generative augmenter was built for {self.n_input} features, the data "
                f"have {n_features}."
            )

    def forward(self, x: torch.Tensor, n_arms: int) -> torch.Tensor:
        """``n_arms`` copies of ``x``, each arm with its own noise; counts stay counts."""
        if not bool(self.frozen):
            raise ValueError(
                "Train the generative augmenter with `fit` and `freeze` it before the mixture "
                "model uses it."
            )
        n = x.shape[0]
        with torch.no_grad():
            expression = self.expression(x)
            noise = self.noise_scale * self.draw_noise(n_arms * n, x)
            copies = self.generate(expression.repeat(n_arms, 1), noise).reshape(n_arms, *x.shape)
            if not self.counts:
                return copies
            # Back to counts at the cell's own depth, drawn as Poisson around the copy.
            library = x.sum(-1, keepdim=True)
            return torch.poisson(torch.expm1(copies) * (library / LIBRARY_SCALE))


def _dense_rows(data, rows: np.ndarray, device) -> torch.Tensor:
    block = data[rows]
    block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
    return torch.as_tensor(block, dtype=torch.float32, device=device)
