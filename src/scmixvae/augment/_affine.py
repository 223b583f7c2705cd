"""Small random affine transforms of images, for data laid out as pixels."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._base import Augmenter


class RandomAffine(Augmenter):
    """Rotate, scale and shift each image by a small random amount, separately for each arm.

    Each row of the input is read as an image of ``image_shape`` (``(H, W)`` or ``(C, H, W)``,
    row-major, as ``numpy.reshape`` lays it out). A digit or a sprite rotated by a few degrees,
    a little larger and a few pixels off keeps its class, so the arms see different copies of
    the same type. The transform runs on the input's device with bilinear interpolation;
    pixels moved in from outside the image are 0.

    Parameters
    ----------
    image_shape
        Shape of one image; its product must equal the number of features.
    rotation
        Largest rotation in degrees; angles are uniform in ``[-rotation, rotation]``.
    scale
        ``(low, high)`` zoom factors, uniform in that range; ``> 1`` enlarges.
    shift
        Largest shift along each axis, as a fraction of the image's width or height.

    Examples
    --------
    >>> augmenter = RandomAffine(image_shape=(28, 28))
    >>> augmenter(torch.rand(8, 784), n_arms=2).shape
    torch.Size([2, 8, 784])

    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        rotation: float = 15.0,
        scale: tuple[float, float] = (0.9, 1.1),
        shift: float = 0.1,
    ):
        super().__init__()
        shape = tuple(int(n) for n in image_shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(
                f"image_shape must be (height, width) or (channels, height, width) with "
                f"positive sizes, got {image_shape!r}."
            )
        if rotation < 0:
            raise ValueError(f"rotation must be >= 0 degrees, got {rotation}.")
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale!r}.")
        if not 0 <= shift < 1:
            raise ValueError(f"shift must lie in [0, 1), got {shift}.")
        self.image_shape = shape if len(shape) == 3 else (1, *shape)
        self.rotation = float(rotation)
        self.scale = (float(scale[0]), float(scale[1]))
        self.shift = float(shift)

    def check_features(self, n_features: int) -> None:
        """Raise if rows of ``n_features`` values cannot be read as ``image_shape`` images."""
        if math.prod(self.image_shape) != n_features:
            raise ValueError(
                f"RandomAffine(image_shape={self.image_shape}) needs "
                f"{math.prod(self.image_shape)} features per row, the data have {n_features}; "
                "pass the image shape of your data as augmentation_kwargs={'image_shape': ...}."
            )

    def transform(
        self,
        images: torch.Tensor,
        angles: torch.Tensor,
        scales: torch.Tensor,
        shifts: torch.Tensor,
    ) -> torch.Tensor:
        """Apply one given transform per image.

        Parameters
        ----------
        images
            ``(N, C, H, W)``.
        angles
            ``(N,)`` counter-clockwise rotations in radians, as seen with row 0 at the top.
        scales
            ``(N,)`` zoom factors.
        shifts
            ``(N, 2)`` shifts (right, down) as fractions of the width and height.

        """
        cos, sin = torch.cos(angles) / scales, torch.sin(angles) / scales
        # affine_grid maps each output pixel to the input location it reads from, in [-1, 1]
        # coordinates (x right, y down): the inverse of the transform we want to apply.
        theta = torch.stack(
            [
                torch.stack([cos, -sin, -2 * shifts[:, 0]], dim=-1),
                torch.stack([sin, cos, -2 * shifts[:, 1]], dim=-1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, n_arms: int) -> torch.Tensor:
        """Return ``n_arms`` independently transformed copies of the images in ``x``."""
        self.check_features(x.shape[-1])
        n = n_arms * x.shape[0]
        images = x.expand(n_arms, *x.shape).reshape(n, *self.image_shape)

        def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
            return torch.empty(n, *shape, device=x.device, dtype=x.dtype).uniform_(low, high)

        max_angle = math.radians(self.rotation)
        copies = self.transform(
            images,
            uniform(-max_angle, max_angle),
            uniform(*self.scale),
            uniform(-self.shift, self.shift, 2),
        )
        return copies.reshape(n_arms, *x.shape)
